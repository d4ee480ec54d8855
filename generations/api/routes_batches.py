"""/api/v1/batches: many prompts admitted together (all charged, or none), as the batch page does."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from generations.api import form_input, out
from generations.api.idempotency import IDEMPOTENCY_KEY, form_token_for
from generations.api.problems import Problem
from generations.api.schemas import BatchIn, BatchOut, BatchPage
from generations.batches.services import Item, RowsRefused, batch_create
from generations.batches.views import get_batch_for_owner, progress
from generations.models import Batch

router = Router(tags=["Batches"])


def _detail(batch: Batch, request: HttpRequest) -> dict[str, Any]:
    gens = batch.generations.alive().select_related("owner").order_by("batch_row")
    return out.batch_out(batch, progress(batch)) | {"generations": [out.generation_out(g, request) for g in gens]}


@router.post(
    "/batches",
    response={201: BatchOut, 200: BatchOut, 402: None},
    summary="Up to 50 prompts of one model, charged together or not at all; needs an Idempotency-Key",
)
def batch_new(request: HttpRequest, payload: BatchIn, idempotency_key: str = IDEMPOTENCY_KEY) -> Status:
    shared = payload.dict(include={"mode", "duration", "aspect_ratio", "sound", "negative_prompt"})
    base = {k: v for k, v in shared.items() if v not in (None, "")}
    items = [
        Item(n, payload.model, base | {k: v for k, v in row.dict().items() if v not in (None, "")}, payload.account)
        for n, row in enumerate(payload.rows, start=1)
    ]
    token = form_token_for(request.user, idempotency_key, "batch", payload.dict())
    again = Batch.objects.filter(owner=request.user, form_token=token).first()
    try:
        with form_input.price_as("max_total"):
            batch = again or batch_create(
                user=request.user,
                items=items,
                title=payload.title,
                visibility=payload.visibility,
                form_token=token,
                quoted_total=payload.max_total,
            )
    except RowsRefused as exc:
        raise Problem(
            422, "Some rows are refused; nothing was charged.", {f"rows.{n - 1}": m for n, m in exc.rows.items()}
        ) from None
    return Status(200 if again else 201, _detail(batch, request))


class BatchFilters(Schema):
    cursor: str = ""
    limit: int = Field(20, ge=1, le=100)


@router.get("/batches", response=BatchPage, summary="Your batches, newest first")
def batch_list(request: HttpRequest, filters: Query[BatchFilters]) -> dict[str, Any]:
    rows, cursor = out.page_of(Batch.objects.filter(owner=request.user), cursor=filters.cursor, limit=filters.limit)
    return {"items": [out.batch_out(b, progress(b)) for b in rows], "next_cursor": cursor}


@router.get("/batches/{uuid:pk}", response=BatchOut, summary="One batch of yours, with its videos in row order")
def batch_get(request: HttpRequest, pk: uuid.UUID) -> dict[str, Any]:
    return _detail(get_batch_for_owner(request, pk), request)
