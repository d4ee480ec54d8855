"""The recovery sweep: the database says what should be happening; this makes sure a job is on its way.

Runs every SWEEP_INTERVAL_SECONDS (enqueued by every worker's ticker, deduplicated through Redis) and from
`manage.py recover_generations`. It finds in-flight rows whose lease expired (the job died: SIGKILL, OOM,
deploy) or whose next step is overdue (the job was lost: Redis flushed, enqueue failed at commit) and enqueues
the step again. Steps are idempotent, so an extra enqueue is harmless.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta

from django.db.models import Q

from generations.clock import db_now
from generations.models import Generation
from generations.scheduling import queue_for, schedule
from generations.services import line
from generations.services.notify import notify_later, untold
from generations.services.pipeline import deadline_message, generation_fail, submit_step
from generations.services.team import grant_allowances
from generations.webhooks.services import deliveries_resume

log = logging.getLogger(__name__)
S = Generation.Status
GRACE = timedelta(seconds=30)  # how late a scheduled step may start before we assume its job was lost


def generations_recover(*, limit: int = 2000) -> Counter[str]:
    now = db_now()
    overdue = (
        Generation.objects.in_flight()
        .exclude(status=S.QUEUED, admitted_at__isnull=True)  # waiting in line: line_advance below lets it go
        .filter(
            Q(lease_until__lt=now)
            | Q(lease_until__isnull=True, next_run_at__lt=now - GRACE)
            | Q(lease_until__isnull=True, next_run_at__isnull=True, created_at__lt=now - GRACE)
        )
        .only(
            "pk", "status", "model", "credential_id", "deadline_at", "submit_attempts", "fetch_attempts", "created_at"
        )
        .order_by("next_run_at")[:limit]
    )
    done: Counter[str] = Counter()
    rounds: set[int] = set()
    for gen in overdue:
        # Only a row that was never sent fails here; one with a task id gets a poll, which asks the provider first.
        if gen.status == S.QUEUED and now >= gen.deadline_at:
            generation_fail(gen.pk, reason=deadline_message(gen), statuses={gen.status})
            done["failed_deadline"] += 1
            continue
        if gen.status in (S.QUEUED, S.SUBMITTING):
            schedule(submit_step(gen), gen.pk, key=f"s{gen.submit_attempts}")
        elif gen.status in Generation.POLLING:  # one round per account polls all its overdue rows
            rounds.add(gen.credential_id)
        elif gen.status == S.DOWNLOADING:
            schedule("fetch", gen.pk, key=f"s{gen.fetch_attempts}")
        done[gen.status] += 1
    for credential_id in rounds:
        schedule("poll_round", credential_id, key=f"s{now.timestamp():.0f}")
    if let_go := line.line_advance():
        done["let_go"] += let_go
    for pk in untold():
        notify_later(pk)
        done["notify"] += 1
    if webhooks := deliveries_resume():
        done["webhooks"] += webhooks
    if allowances_due():
        done["allowances"] += grant_allowances()
    if done:
        log.info("recovery sweep re-enqueued %s", dict(done))
    return done


ALLOWANCE_LOCK = "kling:allowances-run"
ALLOWANCE_EVERY_SECONDS = 600


UPLOAD_SWEEP_LOCK = "kling:upload-sweep"


def upload_sweep_due() -> bool:
    """Unused uploads are swept once a day across the fleet (a Redis lock)."""
    return bool(queue_for("default").connection.set(UPLOAD_SWEEP_LOCK, "1", nx=True, ex=86400))


def allowances_due() -> bool:
    """Allowances are checked every ten minutes across the fleet (a Redis lock), so a missed run is caught up."""
    return bool(queue_for("default").connection.set(ALLOWANCE_LOCK, "1", nx=True, ex=ALLOWANCE_EVERY_SECONDS))
