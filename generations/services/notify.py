"""Telling a member by email that their video is ready or failed, once, if they asked for it.

The pipeline schedules ``notify`` when a video reaches READY or FAILED; the recovery sweep re-schedules any
that a lost job left untold. ``notified_at`` is claimed before the mail is sent, so two jobs never send twice
(a crash between the claim and the send loses that one mail, never the video or the credits).
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from generations.models import Generation
from generations.scheduling import schedule

log = logging.getLogger(__name__)
S = Generation.Status
TOLD = (S.READY, S.FAILED)
# Older finished videos are never mailed about (an opt-in today does not mail last month's videos).
RECENT = timedelta(hours=6)


def wants_mail() -> Q:
    return Q(owner__member_settings__email_when_finished=True) & ~Q(owner__email="")


def notify_later(gen_id: uuid.UUID) -> None:
    """A job only for an owner who wants the email (most do not: a job per video was a worker's CPU for nothing)."""
    if Generation.objects.filter(pk=gen_id).filter(wants_mail()).exists():
        schedule("notify", gen_id, key="0")


def generation_notify(pk: uuid.UUID) -> bool:
    """Send the one email for a finished video if its owner wants it; True if sent."""
    now = timezone.now()
    claimed = (
        Generation.objects.filter(pk=pk, status__in=TOLD, notified_at__isnull=True, finished_at__gte=now - RECENT)
        .filter(wants_mail())
        .update(notified_at=now)
    )
    if not claimed:
        return False
    gen = Generation.objects.select_related("owner").get(pk=pk)
    link = reverse("generation", args=[gen.pk])
    if settings.PUBLIC_BASE_URL:
        link = settings.PUBLIC_BASE_URL.rstrip("/") + link
    if gen.status == S.READY:
        subject = f"Your video is ready: {gen.title[:60]}"
        body = f"“{gen.title[:200]}” is ready to watch and download.\n\n{link}\n"
    else:
        subject = f"Your video failed: {gen.title[:60]}"
        body = (
            f"“{gen.title[:200]}” could not be made: {gen.error}\n"
            f"Its {gen.cost} credits are back in your balance.\n\n{link}\n"
        )
    body += "\nYou get these emails because you asked for them on your Settings page.\n"
    send_mail(subject, body, None, [gen.owner.email])
    log.info("generation %s: owner notified by email", pk)
    return True


def untold(limit: int = 500) -> list[uuid.UUID]:
    """Finished videos whose owner wants an email and has not had it (a lost notify job)."""
    since = timezone.now() - RECENT
    return list(
        Generation.objects.filter(status__in=TOLD, notified_at__isnull=True, finished_at__gte=since)
        .filter(wants_mail())
        .values_list("pk", flat=True)[:limit]
    )
