from django.urls import path

from generations.sharing import views

urlpatterns = [
    # A member's side, next to the video's own pages (owner or staff).
    path("videos/<uuid:pk>/share/", views.share_create, name="share_create"),
    path("videos/<uuid:pk>/share/<int:link_id>/", views.share_created, name="share_created"),
    path("videos/<uuid:pk>/share/<int:link_id>/revoke/", views.share_revoke, name="share_revoke"),
    # The client's side: open without login (views.shared_*), one video per token.
    path("s/<str:token>/", views.shared_page, name="shared_page"),
    path("s/<str:token>/video.mp4", views.shared_video, name="shared_video"),
    path("s/<str:token>/poster.jpg", views.shared_poster, name="shared_poster"),
]
