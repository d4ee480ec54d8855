"""Pictures a video starts or ends with: for the members who may see the video, and for the provider's fetch.

The provider's link (``provider_image``) needs no login: it is a signed, expiring token naming one stored picture,
so it reveals that picture and nothing else. Everything else follows the video's own visibility.
"""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from generations.media import images
from generations.media.serving import serve_stored_file
from generations.views.access import get_generation_for_viewer

FIELDS = {"start": "image_url", "end": "tail_image_url"}


def _serve(request: HttpRequest, name: str) -> HttpResponse:
    content_type = "image/png" if name.endswith(".png") else "image/jpeg"
    response = serve_stored_file(request, name, filename=name.rsplit("/", 1)[-1], content_type=content_type)
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response


@login_not_required
@require_safe
def provider_image(request: HttpRequest, token: str) -> HttpResponse:
    name = images.unsign_name(token)
    if not name:
        raise Http404("This link has expired.")
    return _serve(request, name)


@require_safe
def generation_image(request: HttpRequest, pk: uuid.UUID, which: str) -> HttpResponse:
    gen = get_generation_for_viewer(request, pk)
    name = images.stored_name(getattr(gen, FIELDS.get(which, ""), "") or "")
    if not name:
        raise Http404("This video has no such picture.")
    return _serve(request, name)


@require_safe
def upload_preview(request: HttpRequest, token: str) -> HttpResponse:
    """A picture the member chose but has not submitted yet (after a form error, or a frame to continue from)."""
    name = images.unsign_upload(token, owner_id=request.user.pk)
    if not name:
        raise Http404("No such picture.")
    return _serve(request, name)
