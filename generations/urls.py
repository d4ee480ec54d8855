from django.urls import path

from generations.views import api_tokens, credits, detail, files, gallery, hooks, images, library, line, new, settings

urlpatterns = [
    path("", gallery.gallery, name="gallery"),
    path("gallery/", gallery.gallery, name="gallery_page"),
    path("new/", new.new_video, name="new_video"),
    path("new/quote.json", new.quote, name="quote"),
    path("videos/", library.my_videos, name="my_videos"),
    path("videos/<uuid:pk>/", detail.generation_detail, name="generation"),
    path("videos/<uuid:pk>/status.json", detail.generation_status, name="generation_status"),
    path("videos/<uuid:pk>/again/", detail.generation_again_view, name="generation_again"),
    path("videos/<uuid:pk>/cancel/", detail.generation_cancel_view, name="generation_cancel"),
    path("videos/<uuid:pk>/visibility/", detail.generation_visibility, name="generation_visibility"),
    path("videos/<uuid:pk>/delete/", detail.generation_delete_view, name="generation_delete"),
    path("videos/<uuid:pk>/favorite/", detail.generation_favorite, name="generation_favorite"),
    path("videos/<uuid:pk>/video.mp4", files.video_file, name="generation_video"),
    path("videos/<uuid:pk>/poster.jpg", files.poster_file, name="generation_poster"),
    path("videos/<uuid:pk>/poster-<int:width>.<str:ext>", files.card_poster_file, name="generation_card_poster"),
    path("videos/<uuid:pk>/preview.mp4", files.preview_file, name="generation_preview"),
    path("videos/<uuid:pk>/<str:which>-image", images.generation_image, name="generation_image"),
    path("new/picture/<str:token>", images.upload_preview, name="upload_preview"),
    path("img/<str:token>", images.provider_image, name="provider_image"),
    path("credits/", credits.credits_page, name="credits"),
    path("line/", line.line_page, name="line"),
    path("settings/", settings.member_settings, name="member_settings"),
    path("settings/api/", api_tokens.api_tokens, name="api_tokens"),
    path("settings/api/<int:token_id>/new/", api_tokens.api_token_created, name="api_token_created"),
    path("settings/api/<int:token_id>/revoke/", api_tokens.api_token_revoke, name="api_token_revoke"),
    path("hooks/<str:provider>/<str:secret>/", hooks.provider_hook, name="provider_hook"),
]
