"""/api/v1/generations and /api/v1/images: thin calls into the services the pages use."""

from __future__ import annotations

import uuid
from typing import Literal

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from ninja import Field, File, Query, Router, Schema, Status
from ninja.files import UploadedFile

from generations.api import form_input, out
from generations.api.auth import uploads_refused_for
from generations.api.idempotency import IDEMPOTENCY_KEY, form_token_for
from generations.api.problems import MEDIA_TYPE, Problem, problem
from generations.api.schemas import (
    DateTimeIn,
    GenerationIn,
    GenerationOut,
    GenerationPage,
    ImageOut,
    QuoteOut,
    VisibilityIn,
)
from generations.media import images
from generations.models import Generation
from generations.services import manage
from generations.services.create import generation_create
from generations.views import access, files
from generations.views.new import quote_for

router = Router(tags=["Generations"])
S = Generation.Status
BINARY = {"schema": {"type": "string", "format": "binary"}}
# Django's own answer to a range past the end: an empty text/html 416, not a problem.
OUTSIDE = {"description": "The range is outside the file", "content": {"text/html": {"schema": {"type": "string"}}}}


def _viewable(request: HttpRequest, pk: uuid.UUID) -> Generation:
    return access.get_generation_for_viewer(request, pk)


def _own(request: HttpRequest, pk: uuid.UUID) -> Generation:
    return access.get_generation_for_owner(request, pk)


@router.post("/quote", response=QuoteOut, summary="What a video would cost, and whether you can pay for it now")
def quote(request: HttpRequest, payload: GenerationIn) -> dict:
    return quote_for(request.user, payload.model, form_input.quote_values(payload, user=request.user))


@router.post(
    "/generations",
    response={201: GenerationOut, 200: GenerationOut, 402: None, 409: None},
    summary="Make a video (charged now, refunded if it fails); needs an Idempotency-Key",
)
def generation_new(request: HttpRequest, payload: GenerationIn, idempotency_key: str = IDEMPOTENCY_KEY) -> Status:
    form = form_input.checked_form(payload, user=request.user)
    token = form_token_for(request.user, idempotency_key, "generation", payload.dict())
    again = Generation.objects.filter(owner=request.user, form_token=token).first()
    kwargs = form.create_kwargs() | {"form_token": token}
    with form_input.price_as("max_cost"):
        gen = again or generation_create(user=request.user, **kwargs)
    return Status(200 if again else 201, out.generation_out(gen, request))


class ListFilters(Schema):
    scope: Literal["mine", "team"] = "mine"
    status: Literal["queued", "submitting", "submitted", "running", "downloading", "ready", "failed", "canceled",
                    "needs_attention", "in_flight", ""] = ""  # fmt: skip
    model: str = ""
    q: str = ""
    batch: uuid.UUID | None = None
    created_after: DateTimeIn | None = None
    created_before: DateTimeIn | None = None
    cursor: str = ""
    limit: int = Field(20, ge=1, le=100)


@router.get("/generations", response=GenerationPage, summary="Your videos, or the team's shared ones, newest first")
def generation_list(request: HttpRequest, filters: Query[ListFilters]) -> dict:
    user = request.user
    # "team": the gallery (every shared ready video, yours included); "mine": all of yours, in any state.
    qs = (
        Generation.objects.for_gallery(user)
        if filters.scope == "team"
        else Generation.objects.alive().filter(owner=user)
    )
    if filters.status == "in_flight":
        qs = qs.filter(status__in=Generation.IN_FLIGHT)
    elif filters.status:
        qs = qs.filter(status=filters.status)
    if filters.model:
        qs = qs.filter(model__in=out.model_keys(filters.model))
    if filters.q:
        qs = qs.matching(filters.q)
    if filters.batch:
        qs = qs.filter(batch_id=filters.batch)
    if filters.created_after:
        qs = qs.filter(created_at__gt=filters.created_after)
    if filters.created_before:
        qs = qs.filter(created_at__lt=filters.created_before)
    rows, cursor = out.page_of(qs.select_related("owner"), cursor=filters.cursor, limit=filters.limit)
    return {"items": [out.generation_out(g, request) for g in rows], "next_cursor": cursor}


@router.get("/generations/{uuid:pk}", response=GenerationOut, summary="One video, if you may see it")
def generation_get(request: HttpRequest, pk: uuid.UUID) -> dict:
    return out.generation_out(_viewable(request, pk), request)


@router.patch("/generations/{uuid:pk}", response=GenerationOut, summary="Change a video's visibility (yours)")
def generation_visibility(request: HttpRequest, pk: uuid.UUID, payload: VisibilityIn) -> dict:
    gen = _own(request, pk)
    manage.generation_set_visibility(generation=gen, visibility=payload.visibility)
    gen.refresh_from_db()
    return out.generation_out(gen, request)


@router.delete(
    "/generations/{uuid:pk}",
    response={204: None, 409: None},
    summary="Delete a finished video of yours (409 in flight)",
)
def generation_delete(request: HttpRequest, pk: uuid.UUID) -> Status:
    manage.generation_delete(generation=_own(request, pk), actor=request.user)
    return Status(204, None)


@router.post(
    "/generations/{uuid:pk}/cancel",
    response={200: GenerationOut, 409: None},
    summary="Cancel a video still waiting in line (refunded); one already at the provider cannot be",
)
def generation_cancel(request: HttpRequest, pk: uuid.UUID) -> dict:
    gen = _own(request, pk)
    manage.generation_cancel(generation=gen, actor=request.user)
    gen.refresh_from_db()
    return out.generation_out(gen, request)


_RANGED = {
    "responses": {
        "200": {"description": "The whole file", "content": {"video/mp4": BINARY}},
        "206": {"description": "The requested byte range (Range: bytes=…)", "content": {"video/mp4": BINARY}},
        "304": {"description": "Not modified (If-None-Match)"},
        "416": {
            "description": "The range is outside the file (Content-Range: bytes */size)",
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        },
    }
}


@router.get(
    "/generations/{uuid:pk}/video",
    summary="Download the video (Range requests resume)",
    openapi_extra=_RANGED,
)
def generation_video(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    return files.serve_video(request, _viewable(request, pk))


# HEAD, as download tools ask before resuming (curl -I, wget -c): the GET's answer without its body. Left out of
# the schema, where it would be the same operation a second time.
@router.api_operation(["HEAD"], "/generations/{uuid:pk}/video", include_in_schema=False)
def generation_video_head(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    return _headers_only(generation_video(request, pk))


@router.get(
    "/generations/{uuid:pk}/poster",
    summary="The video's poster image (JPEG)",
    openapi_extra={
        "responses": {
            "200": {"description": "The poster", "content": {"image/jpeg": BINARY}},
            "206": {"description": "A byte range", "content": {"image/jpeg": BINARY}},
            "304": {"description": "Not modified"},
            "416": {
                "description": "The range is outside the file (Content-Range: bytes */size)",
                "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            },
        }
    },
)
def generation_poster(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    return files.serve_poster(request, _viewable(request, pk))


@router.api_operation(["HEAD"], "/generations/{uuid:pk}/poster", include_in_schema=False)
def generation_poster_head(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    return _headers_only(generation_poster(request, pk))


def _headers_only(full: HttpResponseBase) -> HttpResponse:
    head = HttpResponse(status=full.status_code)
    for name, value in full.items():
        head[name] = value
    opened = getattr(full, "file_to_stream", None)  # a FileResponse's file (full.close() would end the request)
    if opened is not None:
        opened.close()
    return head


@router.post(
    "/images",
    response={201: ImageOut},
    summary="Upload a start or end image (JPEG, PNG or WebP, up to 10 MB); use its id in a create request",
)
def image_upload(request: HttpRequest, file: File[UploadedFile]) -> Status | HttpResponse:
    wait = uploads_refused_for(request.user)
    if wait:
        refused = problem(429, f"You have sent {settings.API_UPLOADS_PER_DAY} pictures today; send more tomorrow.")
        refused["Retry-After"] = str(wait)
        return refused
    try:
        checked = images.check_image(file, size=file.size)
    except images.InvalidImage as exc:
        raise Problem(422, str(exc), {"file": str(exc)}) from None
    name = images.store_upload(checked, owner_id=request.user.pk)
    ref = images.sign_upload(name, owner_id=request.user.pk)
    return Status(201, {"id": ref, "width": checked.width, "height": checked.height})
