"""What members and admins do to a generation besides creating it. Each starts with a state guard."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction

from generations.clock import db_now
from generations.media import card_media
from generations.models import Favorite, Generation
from generations.scheduling import schedule
from generations.services.credits import credits_refund
from generations.services.pipeline import generation_fail

S = Generation.Status


class ActionRefused(ValueError):
    """The action does not fit the generation's state; the message says why."""


def generation_cancel(*, generation: Generation, actor: Any) -> None:
    """Cancel while still queued (nothing sent to the provider yet): full refund."""
    now = db_now()
    with transaction.atomic():
        moved = Generation.objects.filter(pk=generation.pk, status=S.QUEUED, lease_until__isnull=True).update(
            status=S.CANCELED, finished_at=now, updated_at=now, next_run_at=None, error="Canceled by its owner."
        )
        if moved != 1:
            raise ActionRefused(_why_not_cancelable(Generation.objects.get(pk=generation.pk).status))
        credits_refund(generation=Generation.objects.get(pk=generation.pk), reason="canceled before it was sent")


def _why_not_cancelable(status: str) -> str:
    if status == S.CANCELED:
        return "This video is already canceled (its credits are back)."
    if status in Generation.FINISHED:
        return "This video has already finished."
    return "This video has already been sent to the provider and can no longer be canceled."


def generation_mark_failed(*, generation: Generation, actor: Any, reason: str = "") -> None:
    """Admin: give up on a generation (stuck, needs attention) and refund it."""
    reason = reason.strip() or "An admin stopped this generation."
    if not generation_fail(generation.pk, reason=reason):
        raise ActionRefused("Only generations that are still in progress or need attention can be marked failed.")


def generation_resume(*, generation: Generation, actor: Any, task_id: str) -> None:
    """Admin: the provider did receive an ambiguous submit; attach its task id and poll it."""
    task_id = task_id.strip()
    if not task_id or len(task_id) > 200:
        raise ActionRefused("Enter the provider's task id (at most 200 characters).")
    now = db_now()
    moved = Generation.objects.filter(pk=generation.pk, status=S.NEEDS_ATTENTION).update(
        status=S.SUBMITTED,
        provider_task_id=task_id,
        submitted_at=now,
        # Admins get to such rows late: the old deadline would fail the video before its first poll.
        deadline_at=now + timedelta(seconds=settings.GENERATION_DEADLINE_SECONDS),
        next_run_at=now,
        lease_until=None,
        lease_token=None,
        error="",
        updated_at=now,
    )
    if moved != 1:
        raise ActionRefused("Only generations that need attention can be resumed with a task id.")
    generation.refresh_from_db()
    schedule("poll", generation.pk, key=f"resume{generation.poll_count}")


def generation_repoll(*, generation: Generation) -> None:
    """Admin: ask the provider now instead of at the next scheduled poll."""
    now = db_now()
    moved = Generation.objects.filter(pk=generation.pk, status__in=Generation.POLLING).update(
        next_run_at=now, lease_until=None, lease_token=None, updated_at=now
    )
    if moved != 1:
        raise ActionRefused("Only submitted or generating videos can be polled.")
    generation.refresh_from_db()
    schedule("poll", generation.pk, key=f"admin{generation.poll_count}")


def generation_set_visibility(*, generation: Generation, visibility: str) -> None:
    if visibility not in Generation.Visibility.values:
        raise ActionRefused("Choose Team or Private.")
    Generation.objects.filter(pk=generation.pk).update(visibility=visibility, updated_at=db_now())
    generation.visibility = visibility


def generation_delete(*, generation: Generation, actor: Any) -> None:
    """Hide a finished generation and remove its files; its ledger rows stay (the ledger is append-only)."""
    if generation.status in Generation.IN_FLIGHT:
        raise ActionRefused("This video is still being made; cancel it or wait until it finishes.")
    now = db_now()
    moved = (
        Generation.objects.filter(pk=generation.pk, deleted_at__isnull=True)
        .exclude(status__in=Generation.IN_FLIGHT)
        .update(deleted_at=now, updated_at=now)
    )
    if moved != 1:
        raise ActionRefused("This video was already deleted.")
    files = card_media.stored_names(generation)
    transaction.on_commit(lambda: [default_storage.delete(name) for name in files])


def favorite_toggle(*, generation: Generation, user: Any) -> bool:
    """Star or unstar; returns whether it is now a favourite."""
    deleted, _ = Favorite.objects.filter(user=user, generation=generation).delete()
    if deleted:
        return False
    Favorite.objects.get_or_create(user=user, generation=generation)
    return True


__all__ = [
    "ActionRefused",
    "favorite_toggle",
    "generation_cancel",
    "generation_delete",
    "generation_mark_failed",
    "generation_repoll",
    "generation_resume",
    "generation_set_visibility",
]
