"""Records as the API shows them: what a member may see of a video, never a provider URL, account or task id."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.urls import reverse

from generations import catalog
from generations.api.problems import Problem
from generations.models import Batch, CreditEntry, Generation
from generations.services import routing
from generations.services.routing import model_slug


def model_keys(model: str) -> list[str]:
    """The catalog keys a model filter names: a member's model id ("kling-2-5-turbo") or one catalog key."""
    return [k for k, spec in catalog.CATALOG.items() if model in (k, model_slug(spec))]


def absolute(request: Any, path: str) -> str:
    """A link a script can follow as it is: PUBLIC_BASE_URL when set (as in webhooks), else this request's host."""
    if settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL.rstrip("/") + path
    return request.build_absolute_uri(path)


def generation_out(gen: Generation, request: Any) -> dict[str, Any]:
    user = request.user
    slug, name = routing.model_ids(gen.model)
    ready = gen.status == Generation.Status.READY and bool(gen.video)
    return {
        "id": gen.pk,
        "status": gen.status,
        "title": gen.title,
        "prompt": gen.prompt,
        "negative_prompt": gen.negative_prompt,
        "model": slug,
        "model_name": name,
        "mode": gen.mode,
        "aspect_ratio": gen.aspect_ratio,
        "duration": gen.duration,
        "sound": gen.sound,
        "cfg_scale": gen.cfg_scale,
        "multi_shot": gen.multi_shot,
        "shots": gen.shots or [],
        "camera_control": gen.camera_control,
        "watermark": gen.watermark,
        "start_image": bool(gen.image_url),
        "end_image": bool(gen.tail_image_url),
        "visibility": gen.visibility,
        "cost": gen.cost,
        "owner": gen.owner.get_username(),
        "mine": gen.owner_id == user.pk,
        "error": gen.error,
        "batch": gen.batch_id,
        "created_at": gen.created_at,
        "finished_at": gen.finished_at,
        "page_url": absolute(request, reverse("generation", args=[gen.pk])),
        "video": {
            "url": absolute(request, reverse("api:generation_video", args=[gen.pk])),
            "poster_url": absolute(request, reverse("api:generation_poster", args=[gen.pk])) if gen.poster else None,
            "size": gen.file_size,
            "width": gen.width,
            "height": gen.height,
            "duration": gen.video_duration,
            "has_audio": gen.has_audio,
        }
        if ready
        else None,
    }


def entry_out(entry: CreditEntry) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "kind": entry.kind,
        "amount": entry.amount,
        "balance_after": entry.balance_after,
        "reason": entry.reason,
        "generation": entry.generation_id,
        "batch": entry.batch_id,
        "created_at": entry.created_at,
    }


def batch_out(batch: Batch, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "id": batch.pk,
        "kind": batch.kind,
        "title": str(batch),
        "total_cost": batch.total_cost,
        "created_at": batch.created_at,
        "counts": counts,
    }


# --- cursor pagination: newest first, keyed by (created_at, id), so new rows never shift a page ------------------


def _cursor_of(row: Any) -> str:
    return base64.urlsafe_b64encode(f"{row.created_at.isoformat()}|{row.pk}".encode()).decode().rstrip("=")


def page_of(qs: QuerySet[Any], *, cursor: str | None, limit: int) -> tuple[list[Any], str | None]:
    """One page of ``qs`` after ``cursor`` (from a previous page); a cursor we did not make is a 422."""
    qs = qs.order_by("-created_at", "-pk")
    if cursor:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            when, _, pk = raw.partition("|")
            moment = datetime.fromisoformat(when)
            key = qs.model._meta.pk.to_python(pk)
        except (ValueError, binascii.Error, ValidationError) as exc:
            raise Problem(422, "Bad cursor.", {"cursor": "Use the next_cursor of a previous page."}) from exc
        if moment.tzinfo is None:
            raise Problem(422, "Bad cursor.", {"cursor": "Use the next_cursor of a previous page."})
        qs = qs.filter(Q(created_at__lt=moment) | Q(created_at=moment, pk__lt=key))
    rows = list(qs[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (_cursor_of(rows[-1]) if more and rows else None)
