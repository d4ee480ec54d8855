"""URL map: the member pages live in generations/urls.py; accounts and admin are Django's own."""

from django.contrib import admin
from django.urls import include, path

admin.site.site_header = admin.site.site_title = "Kling Studio admin"
admin.site.index_template = "admin/kling_index.html"

urlpatterns = [
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("", include("generations.urls")),
]
