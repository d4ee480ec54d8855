from django.urls import path

from generations.reports import views

urlpatterns = [
    path("", views.usage_report, name="usage_report"),
    path("usage.csv", views.usage_csv, name="usage_csv"),
]
