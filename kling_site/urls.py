"""URL map: the member pages live in generations/urls.py, the usage reports in generations/reports/urls.py, share
links (a video's share box and the public /s/<token>/ pages) in generations/sharing/urls.py, batches in
generations/batches/urls.py, prompt templates in generations/prompts/urls.py; accounts and admin are Django's own."""

from django.contrib import admin
from django.urls import include, path

from generations.api import main as api_urls
from kling_site import accounts

admin.site.site_header = admin.site.site_title = "Kling Studio admin"
admin.site.index_template = "admin/kling_index.html"
admin.site.login_form = accounts.AdminLoginForm

urlpatterns = [
    path("accounts/login/", accounts.login_view, name="login"),
    path("accounts/password_reset/", accounts.password_reset_view, name="password_reset"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", include("kling_site.rq_dashboard")),  # first: 404s for dashboard indexes that name nothing
    path("admin/", admin.site.urls),
    path("api/", include((api_urls.urlpatterns, "api"), namespace="api")),  # the REST API (generations/api/main.py)
    path("reports/", include("generations.reports.urls")),  # usage reports: their own sub-package
    path("batch/", include("generations.batches.urls")),  # batches and variants
    path("", include("generations.sharing.urls")),  # share links: /videos/<pk>/share/… and the public /s/<token>/
    path("templates/", include("generations.prompts.urls")),  # prompt templates and history: their own sub-package
    path("", include("generations.urls")),
]
