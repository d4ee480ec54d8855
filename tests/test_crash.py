"""Killing real worker processes at the worst moments, and flushing Redis: nothing is lost or charged twice.

Workers here are real `manage.py rqworker ... --with-scheduler` processes sharing this test's database and
Redis. Leases are shortened (LEASE_SECONDS) so the sweep notices a dead job within seconds instead of minutes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import uuid

import django_rq
import pytest

from generations.models import Generation
from generations.services.credits import credits_audit
from tests import factories
from tests.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("crash_settings")]
S = Generation.Status
CRASH_ENV = {
    "LEASE_SECONDS": "3",
    "SWEEP_INTERVAL_SECONDS": "5",
    "PROVIDER_READ_TIMEOUT": "1",
    "POLL_FIRST_SECONDS": "0.3",
    "POLL_MAX_SECONDS": "1",
}


@pytest.fixture
def crash_settings(settings, media_root, sim_credentials, sim):
    for key, value in CRASH_ENV.items():
        setattr(settings, key, float(value))
    yield
    assert credits_audit() == []


def _finished(*gens, timeout=60):
    ids = [g.pk for g in gens]
    wait_for(
        lambda: not Generation.objects.filter(pk__in=ids, status__in=Generation.IN_FLIGHT).exists(),
        timeout=timeout,
        step=0.1,
        what="generations to finish",
    )
    return list(Generation.objects.filter(pk__in=ids))


def _state(gen, *, statuses, leased=True):
    def check():
        row = Generation.objects.get(pk=gen.pk)
        return row.status in statuses and (row.lease_until is not None) == leased

    return check


def _kill_mid_step(worker_processes, alice, model, marker, statuses):
    gen = factories.create(alice, model, prompt=f"A glass city at night {uuid.uuid4().hex} [sim:{marker}]")
    victim = worker_processes(**CRASH_ENV)
    wait_for(_state(gen, statuses=statuses), timeout=30, step=0.02, what=f"the job to be inside {statuses}")
    victim.kill(signal.SIGKILL)
    worker_processes(**CRASH_ENV)  # a fresh worker; its sweep ticker finds the dead job's expired lease
    (gen,) = _finished(gen)
    return gen


def test_a_worker_killed_during_submit_is_recovered_through_the_external_id(worker_processes, alice):
    gen = _kill_mid_step(worker_processes, alice, "kling:kling-v2-5-turbo", "create:slowx1", {S.SUBMITTING})
    assert gen.status == S.READY, gen.error
    assert gen.credit_entries.count() == 1  # charged once, no refund


def test_a_worker_killed_during_submit_without_idempotency_is_flagged_not_resent(worker_processes, alice, sim):
    gen = _kill_mid_step(worker_processes, alice, "mulerun:kling-v2.5-turbo", "create:slowx1", {S.SUBMITTING})
    assert gen.status == S.NEEDS_ATTENTION
    assert gen.credit_entries.count() == 1
    assert sum(1 for t in sim.tasks() if t.prompt == gen.prompt) <= 1  # sent at most once, never resent


def test_a_worker_killed_during_poll_is_recovered(worker_processes, alice):
    gen = _kill_mid_step(worker_processes, alice, "mulerun:kling-v2.5-turbo", "poll:slowx1", Generation.POLLING)
    assert gen.status == S.READY, gen.error
    assert gen.credit_entries.count() == 1


def test_a_worker_killed_during_fetch_is_recovered(worker_processes, alice):
    gen = _kill_mid_step(
        worker_processes, alice, "aimlapi:klingai/v2.5-turbo/pro/text-to-video", "download:slowx1", {S.DOWNLOADING}
    )
    assert gen.status == S.READY, gen.error
    assert gen.credit_entries.count() == 1


def test_a_killed_work_horse_alone_is_recovered_by_the_sweep(worker_processes, alice, sim):
    """As the kernel's OOM killer would: only the forked horse dies; RQ's on_failure never runs.

    Segmind v1 calls run in a work-horse (the `long` queue). The horse dies mid-call, so nobody knows whether the
    provider made (and billed) the video: the sweep notices the expired lease and hands it to an admin, never
    resending it and never charging twice.
    """
    sim.task_seconds = 5  # the synchronous call blocks this long
    gen = factories.create(alice, "segmind_v1:kling-2.5-turbo", prompt="A desert train at noon", mode="pro")
    victim = worker_processes(**CRASH_ENV)
    wait_for(_state(gen, statuses={S.SUBMITTING}), timeout=30, step=0.02, what="the synchronous call to be running")
    # The newest child of the worker is the work-horse forked for this job (the scheduler was forked at start).
    horse = subprocess.run(["pgrep", "-n", "-P", str(victim.proc.pid)], capture_output=True, text=True).stdout
    assert horse.strip(), "the worker has a work-horse child"
    os.kill(int(horse), signal.SIGKILL)
    (gen,) = _finished(gen)
    assert gen.status == S.NEEDS_ATTENTION, gen.error
    assert gen.credit_entries.count() == 1  # charged once, not refunded behind the admin's back, not resent
    assert victim.proc.poll() is None  # the parent worker survived, as with a real OOM kill


def test_flushing_redis_mid_work_loses_nothing(worker_processes, alice, sim):
    sim.task_seconds = 3
    gens = [factories.create(alice, "mulerun:kling-v2.5-turbo", prompt=f"Harbour at dawn {i}") for i in range(4)]
    worker_processes(**CRASH_ENV)
    wait_for(
        lambda: Generation.objects.filter(status__in=Generation.POLLING).count() >= 2, timeout=30, what="work in flight"
    )
    django_rq.get_connection("default").flushdb()  # scheduled polls and the sweep's own lock are gone
    gens = _finished(*gens, timeout=90)
    assert {g.status for g in gens} == {S.READY}
    assert all(g.credit_entries.count() == 1 for g in gens)
