"""Outgoing webhooks: registered, recorded and delivered here only.

* ``webhook_create`` checks the URL with the downloader's address rules and returns the signing secret once.
* ``events_record`` runs inside the transaction that moves a video to READY or FAILED (the outbox): one delivery
  row per matching endpoint, so a crash never loses an event, and the unique (webhook, video, event) records it once.
* ``delivery_attempt`` (the ``webhook`` job) claims one attempt with a compare-and-set, POSTs, and either marks
  it delivered, schedules the next try (backoff with jitter) or gives up after ``MAX_ATTEMPTS``.
* ``deliveries_resume`` (the recovery sweep) re-enqueues due attempts whose job was lost.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q

from generations.clock import db_now
from generations.crypto import encrypt_secrets
from generations.models import Generation, Webhook, WebhookDelivery
from generations.scheduling import schedule
from generations.services import routing
from generations.webhooks import sender, signing

log = logging.getLogger(__name__)
S = Generation.Status
EVENT_OF_STATUS = {S.READY: Webhook.Event.READY, S.FAILED: Webhook.Event.FAILED}

URL_MAX = 2000
MAX_WEBHOOKS_PER_MEMBER = 10
MAX_ATTEMPTS = 8
# Seconds to wait after failed attempt 1, 2, … (±20 % jitter): about 21 hours from the first try to the last.
RETRY_DELAYS = (10, 60, 300, 1800, 7200, 21600, 43200)
JITTER = 0.2
LEASE = timedelta(seconds=90)  # longer than the job's timeout (scheduling.STEPS)
GRACE = timedelta(seconds=30)  # how late a due attempt may start before the sweep assumes its job was lost
EARLY = timedelta(seconds=1)  # RQ's scheduler keeps whole seconds


class WebhookRefused(ValueError):
    """The request cannot be done; the message says why in one sentence."""


# --- registration -------------------------------------------------------------------------------------------
def url_problem(url: str) -> str | None:
    """Why ``url`` cannot receive webhooks, or None. Checked at registration and again before every POST."""
    if not url:
        return "Give the URL that should receive the webhooks."
    if len(url) > URL_MAX:
        return f"Keep the webhook URL under {URL_MAX} characters."
    if any(c.isspace() for c in url):
        return "The webhook URL cannot contain spaces."
    return sender.destination_problem(url, settings.WEBHOOK_ALLOWED_HOSTS)


def webhook_create(*, owner: Any, url: str, events: Any, token: Any = None) -> tuple[Webhook, str]:
    """A new endpoint for ``owner``; returns the row and its signing secret, which is never shown again."""
    url = (url or "").strip()
    if problem := url_problem(url):
        raise WebhookRefused(problem)
    chosen = _events(events)
    if Webhook.objects.filter(owner=owner).count() >= MAX_WEBHOOKS_PER_MEMBER:
        raise WebhookRefused(f"A member can have at most {MAX_WEBHOOKS_PER_MEMBER} webhooks; delete one first.")
    secret = signing.new_secret()
    hook = Webhook.objects.create(
        owner=owner, token=token, url=url, events=chosen, secret_encrypted=encrypt_secrets({"secret": secret})
    )
    log.info("webhook %s registered by member %s", hook.pk, owner.pk)
    return hook, secret


def _events(events: Any) -> list[str]:
    names = ", ".join(Webhook.Event.values)
    if isinstance(events, str) or not isinstance(events, list | tuple) or not events:
        raise WebhookRefused(f"Choose at least one event: {names}.")
    chosen: list[str] = []
    for event in events:
        if event not in Webhook.Event.values:
            raise WebhookRefused(f"Unknown event {str(event)[:40]!r}; the events are {names}.")
        if event not in chosen:
            chosen.append(event)
    return chosen


def webhook_delete(*, webhook: Webhook) -> None:
    """Remove an endpoint and its delivery log; a POST already under way finishes, no further one is made."""
    Webhook.objects.filter(pk=webhook.pk).delete()


def webhook_deactivate(*, webhook: Webhook) -> bool:
    """Stop delivering to an endpoint (admins); pending deliveries wait and go if it is turned on again."""
    return Webhook.objects.filter(pk=webhook.pk, active=True).update(active=False) == 1


def webhooks_of(owner: Any) -> list[Webhook]:
    return list(Webhook.objects.filter(owner=owner))


def deliveries_of(webhook: Webhook, *, limit: int = 100) -> list[WebhookDelivery]:
    """The delivery log of one endpoint, newest first: event, attempts, last status code and error, times."""
    return list(WebhookDelivery.objects.filter(webhook=webhook).select_related("generation")[:limit])


# --- the outbox ---------------------------------------------------------------------------------------------
def events_record(gen: Generation) -> int:
    """Record the event of ``gen``'s new status for each matching active endpoint of its owner; returns how many.

    Call it inside the transaction that changed the status: the rows commit with the change or not at all, and
    their first POST is scheduled after the commit. Running it twice records nothing new."""
    hooks = list(Webhook.objects.filter(owner_id=gen.owner_id, active=True))
    if not hooks:
        return 0
    fresh = Generation.objects.get(pk=gen.pk)
    event = EVENT_OF_STATUS.get(fresh.status)
    if event is None:
        return 0
    now = db_now()
    recorded = 0
    for hook in hooks:
        if event not in hook.events:
            continue
        delivery_id = uuid.uuid4()
        try:
            with transaction.atomic():  # a savepoint: a duplicate leaves the caller's transaction usable
                WebhookDelivery.objects.create(
                    id=delivery_id,
                    webhook=hook,
                    generation=fresh,
                    event=event,
                    payload=payload_for(fresh, event, delivery_id, now),
                    next_attempt_at=now,
                )
        except IntegrityError:
            continue  # already recorded
        schedule("webhook", delivery_id, key="a0")
        recorded += 1
    return recorded


def payload_for(gen: Generation, event: str, delivery_id: uuid.UUID, at: datetime) -> dict[str, Any]:
    """What the endpoint receives: facts a member sees on the video's page and the API's links; never a provider
    URL, task id, credential or secret."""
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    api = f"{base}/api/v1/generations/{gen.pk}"
    data: dict[str, Any] = {
        "id": str(gen.pk),
        "status": gen.status,
        "title": gen.title,
        "model": routing.model_ids(gen.model)[0],  # as the API names models (GET /api/v1/models)
        "cost": gen.cost,
        "created_at": _iso(gen.created_at),
        "finished_at": _iso(gen.finished_at),
        "url": api,
    }
    if gen.status == S.READY:
        data["video_url"] = f"{api}/video"
    else:
        data["error"] = gen.error  # the one sentence the video's page shows
    return {"type": event, "timestamp": _iso(at), "delivery_id": str(delivery_id), "data": data}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


# --- delivery -----------------------------------------------------------------------------------------------
def retry_delay(attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
    base = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS)) - 1]
    return round(base * random.uniform(1 - JITTER, 1 + JITTER), 2)


def body_of(delivery: WebhookDelivery) -> bytes:
    return json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()


def delivery_attempt(pk: uuid.UUID) -> str | None:
    """Make the due attempt of one delivery; returns "delivered", "retry" or "gave up", or None when there is
    nothing to do (not due, held by another job, finished, endpoint turned off or deleted)."""
    now = db_now()
    claimed = (
        WebhookDelivery.objects.filter(
            pk=pk,
            delivered_at__isnull=True,
            gave_up_at__isnull=True,
            next_attempt_at__lte=now + EARLY,
            webhook__active=True,
        )
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + LEASE, attempts=F("attempts") + 1, last_attempt_at=now)
    )
    if claimed != 1:
        return None
    delivery = WebhookDelivery.objects.select_related("webhook").get(pk=pk)
    hook = delivery.webhook
    body = body_of(delivery)
    headers = signing.headers(hook.get_secret(), str(delivery.pk), int(time.time()), body)
    # The address is checked again (DNS may have changed since registration) and the POST goes to that address.
    sent = sender.post(hook.url, body, headers, allowed_hosts=settings.WEBHOOK_ALLOWED_HOSTS)
    return _attempt_done(delivery, sent)


def _attempt_done(delivery: WebhookDelivery, sent: sender.Sent) -> str | None:
    now = db_now()
    # The fence: only the claim that made this attempt may record it.
    mine = WebhookDelivery.objects.filter(
        pk=delivery.pk, attempts=delivery.attempts, delivered_at__isnull=True, gave_up_at__isnull=True
    )
    fields: dict[str, Any] = {"status_code": sent.status_code, "error": sent.error[:300], "lease_until": None}
    if sent.ok:
        outcome, fields["delivered_at"], fields["next_attempt_at"] = "delivered", now, None
    elif delivery.attempts >= MAX_ATTEMPTS:
        outcome, fields["gave_up_at"], fields["next_attempt_at"] = "gave up", now, None
    else:
        delay = retry_delay(delivery.attempts)
        outcome, fields["next_attempt_at"] = "retry", now + timedelta(seconds=delay)
    if mine.update(**fields) != 1:
        return None
    if outcome == "retry":
        schedule("webhook", delivery.pk, key=f"a{delivery.attempts}", delay=delay)
    log.info("webhook delivery %s attempt %s: %s (%s)", delivery.pk, delivery.attempts, outcome, sent.status_code)
    return outcome


def deliveries_resume(*, limit: int = 500) -> int:
    """The sweep: re-enqueue attempts that are overdue and held by no live job (their job was lost)."""
    now = db_now()
    due = (
        WebhookDelivery.objects.filter(
            next_attempt_at__lt=now - GRACE, delivered_at__isnull=True, gave_up_at__isnull=True, webhook__active=True
        )
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("pk", "attempts")[:limit]
    )
    count = 0
    for pk, attempts in due:
        schedule("webhook", pk, key=f"a{attempts}")
        count += 1
    return count
