"""Video and poster files, only for people who may see the generation (storage paths are never linked).

GET and HEAD: players and download managers ask HEAD first, and serve_stored_file answers it without a body.
``serve_video`` and ``serve_poster`` are the one way a generation's files are answered: the member pages below
and the share links (generations/sharing/views.py) call them after their own access check.
"""

from __future__ import annotations

import uuid

from django.db.models.fields.files import FieldFile
from django.http import Http404, HttpRequest, HttpResponseBase
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.http import require_safe

from generations.media import card_media
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
    return serve_stored_file(
        request,
        gen.poster.name,
        filename="poster.jpg",
        content_type="image/jpeg",
        immutable=_current(request, gen.poster),
    )


def _current(request: HttpRequest, file: FieldFile) -> bool:
    """Whether the URL carries this file's version (card_media.version): only then may the browser keep it a year."""
    return request.GET.get("v") == card_media.version(file.name)


@require_safe
def video_file(request: HttpRequest, pk: uuid.UUID) -> HttpResponseBase:
    return serve_video(request, get_generation_for_viewer(request, pk))


@require_safe
def poster_file(request: HttpRequest, pk: uuid.UUID) -> HttpResponseBase:
    return serve_poster(request, get_generation_for_viewer(request, pk))


@require_safe
def card_poster_file(request: HttpRequest, pk: uuid.UUID, width: int, ext: str) -> HttpResponseBase:
    """The poster at card size; the full poster for a video fetched before card posters existed (or whose copy
    is missing), so a card never shows a broken image."""
    gen = get_generation_for_viewer(request, pk)
    if width not in card_media.CARD_WIDTHS or ext not in card_media.CARD_FORMATS:
        raise Http404("No such size.")
    if not (gen.poster and gen.card_posters):
        return serve_poster(request, gen)
    name = card_media.card_poster_name(gen.poster.name, width, ext)
    content_type = card_media.CARD_FORMATS[ext]
    try:
        return serve_stored_file(
            request,
            name,
            filename=f"poster-{width}.{ext}",
            content_type=content_type,
            immutable=_current(request, gen.poster),
        )
    except Http404:
        return serve_poster(request, gen)


def preview_url(gen: Generation) -> str:
    return f"{reverse('generation_preview', args=[gen.pk])}?v={card_media.version(gen.preview.name)}"


@require_safe
def preview_file(request: HttpRequest, pk: uuid.UUID) -> HttpResponseBase:
    """The few seconds a card plays on hover (never the full video)."""
    gen = get_generation_for_viewer(request, pk)
    if not gen.preview:
        raise Http404("No preview.")
    return serve_stored_file(
        request,
        gen.preview.name,
        filename="preview.mp4",
        content_type="video/mp4",
        immutable=_current(request, gen.preview),
    )
