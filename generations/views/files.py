"""Video and poster files, only for people who may see the generation (storage paths are never linked).

GET and HEAD: players and download managers ask HEAD first, and serve_stored_file answers it without a body.
``serve_video`` and ``serve_poster`` are the one way a generation's files are answered: the member pages below
and the share links (generations/sharing/views.py) call them after their own access check.
"""

from __future__ import annotations

import uuid

from django.http import Http404, HttpRequest, HttpResponseBase
from django.utils.text import slugify
from django.views.decorators.http import require_safe

from generations.media.serving import serve_stored_file
from generations.models import Generation
from generations.views.access import get_generation_for_viewer


def serve_video(request: HttpRequest, gen: Generation) -> HttpResponseBase:
    """The video file of ``gen``, whom the caller has already allowed to see it; ``?download`` saves it."""
    if not gen.video:
        raise Http404("This video is not ready.")
    name = f"{slugify(gen.title)[:60] or 'video'}.mp4"
    return serve_stored_file(
        request, gen.video.name, filename=name, content_type="video/mp4", as_attachment="download" in request.GET
    )


def serve_poster(request: HttpRequest, gen: Generation) -> HttpResponseBase:
    if not gen.poster:
        raise Http404("No poster yet.")
    return serve_stored_file(request, gen.poster.name, filename="poster.jpg", content_type="image/jpeg")


@require_safe
def video_file(request: HttpRequest, pk: uuid.UUID) -> HttpResponseBase:
    return serve_video(request, get_generation_for_viewer(request, pk))


@require_safe
def poster_file(request: HttpRequest, pk: uuid.UUID) -> HttpResponseBase:
    return serve_poster(request, get_generation_for_viewer(request, pk))
