"""Video and poster files, only for people who may see the generation (storage paths are never linked).

GET and HEAD: players and download managers ask HEAD first, and serve_stored_file answers it without a body.
"""

from __future__ import annotations

import uuid

from django.http import Http404, HttpRequest, HttpResponse
from django.utils.text import slugify
from django.views.decorators.http import require_safe

from generations.media.serving import serve_stored_file
from generations.views.access import get_generation_for_viewer


@require_safe
def video_file(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    gen = get_generation_for_viewer(request, pk)
    if not gen.video:
        raise Http404("This video is not ready.")
    name = f"{slugify(gen.title)[:60] or 'video'}.mp4"
    return serve_stored_file(
        request, gen.video.name, filename=name, content_type="video/mp4", as_attachment="download" in request.GET
    )


@require_safe
def poster_file(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    gen = get_generation_for_viewer(request, pk)
    if not gen.poster:
        raise Http404("No poster yet.")
    return serve_stored_file(request, gen.poster.name, filename="poster.jpg", content_type="image/jpeg")
