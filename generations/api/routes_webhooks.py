"""/api/v1/webhooks: where to POST when one of your videos is ready or failed (generations/webhooks)."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest
from ninja import Router, Status

from generations.api.problems import Problem
from generations.api.schemas import DeliveryOut, WebhookCreatedOut, WebhookIn, WebhookOut
from generations.models import Webhook
from generations.webhooks import services

router = Router(tags=["Webhooks"])


def _out(hook: Webhook) -> dict[str, Any]:
    return {"id": hook.pk, "url": hook.url, "events": hook.events, "active": hook.active, "created_at": hook.created_at}


def _own(request: HttpRequest, pk: int) -> Webhook:
    hook = Webhook.objects.filter(pk=pk, owner=request.user).first()
    if hook is None:
        raise Http404("No such webhook.")
    return hook


@router.post("/webhooks", response={201: WebhookCreatedOut}, summary="Register an endpoint; its secret is shown once")
def webhook_new(request: HttpRequest, payload: WebhookIn) -> Status:
    try:
        hook, secret = services.webhook_create(
            owner=request.user, url=payload.url, events=payload.events, token=request.auth
        )
    except services.WebhookRefused as exc:
        raise Problem(422, str(exc), {"url": str(exc)}) from None
    return Status(201, _out(hook) | {"secret": secret})


@router.get("/webhooks", response=list[WebhookOut], summary="Your endpoints")
def webhook_list(request: HttpRequest) -> list[dict[str, Any]]:
    return [_out(h) for h in services.webhooks_of(request.user)]


@router.delete("/webhooks/{int:pk}", response={204: None}, summary="Stop telling this endpoint")
def webhook_delete(request: HttpRequest, pk: int) -> Status:
    services.webhook_delete(webhook=_own(request, pk))
    return Status(204, None)


@router.get("/webhooks/{int:pk}/deliveries", response=list[DeliveryOut], summary="The last 100 deliveries")
def webhook_deliveries(request: HttpRequest, pk: int) -> list[dict[str, Any]]:
    return [
        {
            "id": d.pk,
            "event": d.event,
            "generation": d.generation_id,
            "attempts": d.attempts,
            "status_code": d.status_code,
            "error": d.error,
            "created_at": d.created_at,
            "next_attempt_at": d.next_attempt_at,
            "delivered_at": d.delivered_at,
            "gave_up_at": d.gave_up_at,
        }
        for d in services.deliveries_of(_own(request, pk))
    ]
