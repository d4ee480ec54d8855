"""Poll rounds: one RQ job per provider account and second asks about every task of that account that is due.

Each row is still claimed, polled and moved on alone (pipeline.generation_poll), so the lease and money rules are
the single poll's (the stateful model runs rounds among its steps); what a round adds is which rows it takes and
what it leaves to the next round. Real HTTP to the simulator, real Redis.
"""

from __future__ import annotations

import math
import threading
import time
import types
from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone

from generations.models import Generation
from generations.providers import http
from generations.services import pipeline, recovery
from tests import factories
from tests.conftest import drive, run_jobs

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("sim_credentials")]
S = Generation.Status
MODEL = "mulerun:kling-v2.5-turbo"


@pytest.fixture(autouse=True)
def room(settings):
    settings.MAX_IN_FLIGHT_PER_MEMBER = 20  # every video goes straight to its provider


def sent(user, n: int) -> list[Generation]:
    """n videos the provider has taken (submitted, their first poll not yet due)."""
    gens = [factories.create(user, MODEL, prompt=f"A kite over the dunes, take {i}") for i in range(n)]
    for gen in gens:
        pipeline.generation_submit(gen.pk)
    django_rq.get_connection("default").flushdb()  # the jobs those steps queued: this test schedules its own
    rows = Generation.objects.filter(pk__in=[g.pk for g in gens])
    assert set(rows.values_list("status", flat=True)) == {S.SUBMITTED}
    return list(rows)


def round_jobs() -> list[str]:
    queue = django_rq.get_queue("default")
    ids = queue.get_job_ids() + queue.scheduled_job_registry.get_job_ids()
    return sorted(j for j in ids if j.startswith("poll_round-"))


def test_polls_due_in_the_same_second_share_one_job_that_runs_once_all_are_due(alice):
    gens = sent(alice, 3)
    slot = math.ceil(time.time() + 1.2)
    for offset, gen in zip((0.9, 0.5, 0.1), gens, strict=True):
        pipeline.poll_later(gen, slot - offset - time.time())
    queue = django_rq.get_queue("default")
    assert round_jobs() == [f"poll_round-{gens[0].credential_id}-{slot}"]
    runs_at = queue.scheduled_job_registry.get_scheduled_time(round_jobs()[0]).timestamp()
    assert runs_at >= slot - 0.1  # not before the last of them is due


def test_a_round_polls_every_due_row_of_its_account_and_nothing_else(alice, sim, sim_credentials):
    due, later, held = sent(alice, 3), *sent(alice, 2)
    sim.task_seconds = 3600  # nothing finishes: every polled row is rescheduled
    now = timezone.now()
    Generation.objects.filter(pk__in=[g.pk for g in due]).update(next_run_at=now - timedelta(seconds=1))
    Generation.objects.filter(pk=later.pk).update(next_run_at=now + timedelta(seconds=30))
    Generation.objects.filter(pk=held.pk).update(  # another job is polling it right now
        next_run_at=now - timedelta(seconds=1), lease_until=now + timedelta(seconds=60)
    )
    other = factories.create(alice, "kling:kling-v2-5-turbo", prompt="Another account video")
    pipeline.generation_submit(other.pk)
    Generation.objects.filter(pk=other.pk).update(next_run_at=now - timedelta(seconds=1))
    django_rq.get_connection("default").flushdb()

    assert pipeline.polls_due(due[0].credential_id) == 3

    counts = dict(Generation.objects.values_list("pk", "poll_count"))
    assert [counts[g.pk] for g in due] == [1, 1, 1]
    assert (counts[later.pk], counts[held.pk], counts[other.pk]) == (0, 0, 0)
    for gen in Generation.objects.filter(pk__in=[g.pk for g in due]):
        assert gen.status in Generation.POLLING and gen.next_run_at > now and gen.lease_until is None
    # each polled row is back in a round of its account, at the second its next poll falls due
    assert round_jobs() and all(j.startswith(f"poll_round-{due[0].credential_id}-") for j in round_jobs())


def test_a_round_leaves_what_it_cannot_take_to_a_new_round_at_once(alice, sim, monkeypatch):
    monkeypatch.setattr(pipeline, "ROUND_ROWS", 2)
    gens = sent(alice, 3)
    sim.task_seconds = 3600
    Generation.objects.filter(pk__in=[g.pk for g in gens]).update(next_run_at=timezone.now() - timedelta(seconds=1))
    django_rq.get_connection("default").flushdb()

    assert pipeline.polls_due(gens[0].credential_id) == 2
    queue = django_rq.get_queue("default")
    assert [j for j in queue.get_job_ids() if j.startswith("poll_round-")], "no round queued for the third row"
    run_jobs()
    assert sorted(Generation.objects.filter(pk__in=[g.pk for g in gens]).values_list("poll_count", flat=True)) == [
        1,
        1,
        1,
    ]


def test_the_sweep_puts_overdue_rows_back_in_their_accounts_round(alice, sim):
    gens = sent(alice, 2)
    overdue = timezone.now() - recovery.GRACE - timedelta(seconds=5)
    Generation.objects.filter(pk__in=[g.pk for g in gens]).update(next_run_at=overdue)  # their round job was lost
    recovery.generations_recover()
    jobs = round_jobs()
    assert len(jobs) == 1 and jobs[0].startswith(f"poll_round-{gens[0].credential_id}-s")


def test_videos_become_ready_through_rounds_with_real_jobs(alice, sim):
    gens = [factories.create(alice, MODEL, prompt=f"A lantern drifts on a lake, take {i}") for i in range(3)]
    assert {g.status for g in drive(*gens)} == {S.READY}
    assert all(g.poll_count >= 1 for g in Generation.objects.filter(pk__in=[g.pk for g in gens]))


def test_status_requests_reuse_this_threads_client_and_never_another_threads():
    timeout = pipeline.httpx.Timeout(5.0)
    mine = http._pooled("http://127.0.0.1:9", timeout)
    assert http._pooled("http://127.0.0.1:9", timeout) is mine
    theirs = []
    thread = threading.Thread(target=lambda: theirs.append(http._pooled("http://127.0.0.1:9", timeout)))
    thread.start()
    thread.join()
    assert theirs[0] is not mine


def test_rounds_ending_in_the_same_second_leave_one_follow_up_between_them(alice, sim, monkeypatch):
    monkeypatch.setattr(pipeline, "ROUND_ROWS", 1)
    frozen = types.SimpleNamespace(time=lambda: 1_900_000_000.2, monotonic=time.monotonic)
    monkeypatch.setattr(pipeline, "time", frozen)
    gens = sent(alice, 3)
    sim.task_seconds = 3600
    Generation.objects.filter(pk__in=[g.pk for g in gens]).update(next_run_at=timezone.now() - timedelta(seconds=1))
    django_rq.get_connection("default").flushdb()
    assert pipeline.polls_due(gens[0].credential_id) == 1
    assert pipeline.polls_due(gens[0].credential_id) == 1
    follow_ups = [j for j in round_jobs() if "-more" in j]
    assert follow_ups == [f"poll_round-{gens[0].credential_id}-more1900000000"]


def test_an_answer_ends_a_run_of_poll_errors(alice, sim):
    """Three errors, then an answer: a later "not found" is the first of a new run, not the fourth (which would
    fail and refund a task the provider may still finish)."""
    [gen] = sent(alice, 1)
    Generation.objects.filter(pk=gen.pk).update(poll_errors=3, next_run_at=timezone.now() - timedelta(seconds=1))
    assert pipeline.polls_due(gen.credential_id) == 1
    assert Generation.objects.get(pk=gen.pk).poll_errors == 0


def test_a_failed_enqueue_is_logged_but_a_jobs_time_limit_still_stops_the_job(monkeypatch, caplog):
    from rq.timeouts import JobTimeoutException

    from generations import scheduling

    def broken(*args, **kwargs):
        raise ConnectionError("Redis is away")

    monkeypatch.setattr(scheduling, "enqueue_now", broken)
    scheduling.schedule("poll_round", 1, key="x")  # outside a transaction: at once
    assert "the recovery sweep will" in caplog.text

    def time_is_up(*args, **kwargs):
        raise JobTimeoutException("Task exceeded maximum timeout value (60 seconds)")

    monkeypatch.setattr(scheduling, "enqueue_now", time_is_up)
    with pytest.raises(JobTimeoutException):
        scheduling.schedule("poll_round", 1, key="y")
