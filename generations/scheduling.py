"""Putting pipeline steps on RQ queues: after commit, deduplicated, never trusted as the record of truth.

Each step of a generation has a deterministic job id (step, generation, attempt counter), enqueued with
`unique=True`: the recovery sweep can re-enqueue a step at any time and a job already waiting is not doubled.
django-rq defers `enqueue` to commit but not `enqueue_in`, so both go through `transaction.on_commit` here.
"""

from __future__ import annotations

import functools
import logging
from datetime import timedelta
from typing import Any

import django_rq
from django.db import transaction
from django.utils import timezone
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.timeouts import JobTimeoutException

log = logging.getLogger(__name__)

STEPS: dict[str, tuple[str, str, int]] = {
    # step: (job function, queue, job timeout in seconds)
    "submit": ("generations.jobs.submit", "default", 90),
    "submit_sync": ("generations.jobs.submit", "long", 1200),
    "poll": ("generations.jobs.poll", "default", 60),  # one row at once: a provider callback, an admin resuming
    # args: a provider account's id. A round stops starting polls after ROUND_SECONDS; one call may take 60 s more.
    "poll_round": ("generations.jobs.poll_round", "default", 150),
    "fetch": ("generations.jobs.fetch", "fetch", 900),
    "sweep": ("generations.jobs.sweep", "default", 120),
    "notify": ("generations.jobs.notify", "default", 60),
    "line": ("generations.jobs.line", "default", 60),
    "webhook": ("generations.jobs.webhook", "hooks", 60),  # args: a WebhookDelivery id, not a generation's
}
_STALE = {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}


def schedule(step: str, gen_id: Any, *, key: str, delay: float = 0.0) -> None:
    """Run `step` for a generation after `delay` seconds, once the current transaction commits. An enqueue that
    fails is logged (the recovery sweep enqueues the step again); a job's time limit still stops the job."""

    def enqueue() -> None:
        try:
            enqueue_now(step, str(gen_id), key=key, delay=delay)
        except JobTimeoutException:
            raise
        except Exception:
            log.exception("could not enqueue %s for %s; the recovery sweep will", step, gen_id)

    transaction.on_commit(enqueue)


@functools.cache
def queue_for(name: str) -> Any:
    """One Queue (and so one Redis connection pool) per process: django-rq builds a new client on every
    get_queue() call, and a new pool per enqueue exhausted Redis's client limit under load."""
    return django_rq.get_queue(name)


def enqueue_now(step: str, gen_id: str, *, key: str, delay: float = 0.0) -> Job | None:
    func, queue_name, timeout = STEPS[step]
    queue = queue_for(queue_name)
    job_id = f"{step}-{gen_id}-{key}"
    for _ in range(2):
        job = queue.create_job(func, args=[gen_id], job_id=job_id, timeout=timeout, result_ttl=0, failure_ttl=7 * 86400)
        try:
            if delay > 0:
                return queue.schedule_job(job, timezone.now() + timedelta(seconds=delay), unique=True)
            return queue.enqueue_job(job, unique=True)
        except DuplicateJobError:
            if not _drop_if_stale(queue.connection, job_id, queue.serializer):
                return None  # the same step is already waiting or running
    return None


def _drop_if_stale(connection: Any, job_id: str, serializer: Any) -> bool:
    """A finished or failed job keeps its id for a while; such a job no longer stands for pending work."""
    try:
        existing = Job.fetch(job_id, connection=connection, serializer=serializer)
    except NoSuchJobError:
        return True
    if existing.get_status(refresh=True) in _STALE:
        existing.delete()
        return True
    return False
