"""The RQ worker the Procfile runs: short jobs inline, long blocking calls forked, JSON jobs, a recovery ticker.

Jobs on the `default` and `fetch` queues (submit, poll, download + probe) run in the worker process itself, like
RQ's SimpleWorker. Forking a work-horse for each of them copied the whole Django process and opened a new
database connection per job: 125 ms of worker CPU per finished video with every job forked, 82 ms with polls
inline, 43 ms with downloads inline too (bench/polling_capacity.py). Time limits still hold (SIGALRM), and a job
that crashes the process only loses its lease: the sweep re-runs the step once a supervisor restarts the worker.
Segmind v1 calls (`long`) block for minutes and stay in a forked work-horse, so one of them dying cannot take
the worker with it. Database connections are checked around every inline job, as Django does around a request.

The ticker thread lives in the worker process and only talks to Redis:
- every SWEEP_INTERVAL_SECONDS one worker across the fleet wins a short Redis lock and enqueues the sweep job,
  which reads the database and re-enqueues overdue steps. Every worker runs a ticker, so the sweep survives any
  worker dying and a Redis flush.
- every second it moves scheduled jobs that are more than SCHEDULER_GRACE seconds overdue onto their queue.
  RQ's own scheduler normally does this within a second; but when the process holding RQ's scheduler lock is
  SIGKILLed, the lock lives on for ~61 s and a new scheduler is only tried at the next maintenance pass, so
  delayed polls would stall (RELIABILITY.md §1.6). A job is moved only by whoever removes it from the registry
  (ZREM returns 1 once), and a job that still gets pushed twice runs once: steps claim rows with a compare-and-set.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import rq
from django.conf import settings
from django.db import close_old_connections, connections
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer
from rq.worker import WorkerStatus

log = logging.getLogger(__name__)
SWEEP_LOCK = "kling:sweep-lock"
SCHEDULER_GRACE = 2.0


INLINE_QUEUES = {"default", "fetch"}


class Worker(rq.Worker):
    def __init__(self, *args: Any, **kwargs: Any):
        # Jobs are JSON (ids only). `rqworker` passes RQ's pickle default explicitly, so this is not a setdefault.
        kwargs["serializer"] = JSONSerializer
        kwargs.setdefault("maintenance_interval", 60)
        super().__init__(*args, **kwargs)
        self._ticker_stop = threading.Event()

    def execute_job(self, job: Any, queue: Any) -> None:
        if queue.name not in INLINE_QUEUES:
            connections.close_all()  # a forked horse must not share the parent's database socket
            return super().execute_job(job, queue)
        self.prepare_execution(job)
        close_old_connections()
        try:
            self.perform_job(job, queue)
        finally:
            close_old_connections()
        self.set_state(WorkerStatus.IDLE)

    def get_heartbeat_ttl(self, job: Any) -> int:
        """An inline job sends no heartbeats while it runs, so its registry entry must outlive its timeout."""
        if job.origin in INLINE_QUEUES:
            return int(job.timeout or 120) + 60
        return super().get_heartbeat_ttl(job)

    def work(self, *args: Any, **kwargs: Any) -> bool:
        if not kwargs.get("burst"):
            threading.Thread(target=self._tick, name="recovery-ticker", daemon=True).start()
        try:
            return super().work(*args, **kwargs)
        finally:
            self._ticker_stop.set()

    def _tick(self) -> None:
        interval = max(3, settings.SWEEP_INTERVAL_SECONDS)
        next_sweep = time.monotonic() + 1  # first sweep right after start: a restarted fleet recovers at once
        while not self._ticker_stop.wait(1.0):
            try:
                move_overdue_scheduled_jobs(self.queues, self.connection, self.serializer)
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + interval
                    # One sweep per time slot across the fleet; the key names the slot, so a worker configured
                    # with another interval can never hold back everyone else's sweeps.
                    slot = int(time.time() // interval)
                    if self.connection.set(f"{SWEEP_LOCK}:{interval}:{slot}", self.name, nx=True, ex=interval + 5):
                        from generations.scheduling import enqueue_now

                        enqueue_now("sweep", "all", key=f"{interval}-{slot}")
            except Exception:  # Redis away for a moment: the next tick tries again
                log.warning("recovery ticker could not reach Redis", exc_info=True)


def move_overdue_scheduled_jobs(queues: list[Any], connection: Any, serializer: Any) -> int:
    moved = 0
    cutoff = time.time() - SCHEDULER_GRACE
    for queue in queues:
        registry = ScheduledJobRegistry(queue.name, connection=connection, serializer=serializer)
        for job_id in registry.get_jobs_to_schedule(int(cutoff)):
            if connection.zrem(registry.key, job_id) != 1:
                continue  # RQ's scheduler or another worker took it
            try:
                queue._enqueue_job(Job.fetch(job_id, connection=connection, serializer=serializer))
                moved += 1
            except NoSuchJobError:
                continue
    return moved
