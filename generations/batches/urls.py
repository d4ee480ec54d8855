from django.urls import path

from generations.batches import views

urlpatterns = [
    path("", views.batch_list, name="batch_list"),
    path("new/", views.batch_new, name="batch_new"),
    path("<uuid:pk>/", views.batch_detail, name="batch"),
    path("<uuid:pk>/status.json", views.batch_status, name="batch_status"),
    path("<uuid:pk>/videos.zip", views.batch_zip, name="batch_zip"),
]
