"""The five ways money or videos were lost (issue 9), each replayed against the real simulator, queues and storage.

Every test ends with the ledger audited, including money against status.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connections
from django.utils import timezone

from generations.media import card_media
from generations.models import CreditAccount, CreditEntry, Generation, ProviderCredential
from generations.services import pipeline
from generations.services.credits import credits_audit
from generations.services.manage import generation_resume
from generations.services.recovery import generations_recover
from tests import factories
from tests.conftest import drive, run_jobs, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("guarantee_settings")]
S = Generation.Status
V1 = "segmind_v1:kling-2.5-turbo"
MULERUN = "mulerun:kling-v2.5-turbo"


@pytest.fixture
def guarantee_settings(settings, media_root, fast_polls, sim_credentials, sim):
    settings.PROVIDER_READ_TIMEOUT = 1.0
    settings.PROVIDER_SYNC_READ_TIMEOUT = 3.0
    yield
    assert credits_audit() == []


def _v1(alice, prompt: str) -> Generation:
    return factories.create(alice, V1, prompt=prompt, mode="pro", duration="5", aspect_ratio="16:9")


def _v1_tasks(sim, prompt: str) -> int:
    return sum(1 for t in sim.tasks() if t.provider == "segmind_v1" and t.prompt == prompt)


def _kinds(gen: Generation) -> list[str]:
    return sorted(CreditEntry.objects.filter(generation=gen).values_list("kind", flat=True))


# --- 1. Segmind v1 answered with a link: only the download is retried -----------------------------------------
def test_a_segmind_v1_link_whose_download_fails_is_fetched_again_never_resubmitted(alice, sim):
    sim.segmind_v1_link = True
    prompt = "A kite over dunes [sim:download:500x2]"
    gen = _v1(alice, prompt)
    (gen,) = drive(gen)
    assert gen.status == S.READY, gen.error
    assert _v1_tasks(sim, prompt) == 1  # one paid POST, whatever happened to the download
    assert gen.submit_attempts == 1 and gen.fetch_attempts == 3
    assert _kinds(gen) == ["charge"]


def test_an_expired_segmind_v1_link_goes_to_an_admin_with_the_link_kept_not_refunded(alice, sim):
    sim.segmind_v1_link = True
    prompt = "A kite over dunes [sim:download:expired]"
    gen = _v1(alice, prompt)
    (gen,) = drive(gen)
    assert gen.status == S.NEEDS_ATTENTION
    assert gen.video_url.startswith(sim.base_url + "/files/")  # everything an admin needs to recover it
    assert _v1_tasks(sim, prompt) == 1
    assert _kinds(gen) == ["charge"]  # the provider billed it: no silent refund
    assert CreditAccount.balance_of(alice) == 500 - gen.cost
    assert ProviderCredential.objects.get(pk=gen.credential_id).last_error == ""  # not a key problem


# --- 3. The deadline never fails a video with a task id without one last look at the provider ----------------
def _past_deadline(gen: Generation) -> None:
    Generation.objects.filter(pk=gen.pk).update(deadline_at=timezone.now() - timedelta(seconds=1))


def test_resume_after_the_deadline_polls_the_task_and_delivers_the_video(alice, admin_user, sim):
    prompt = "Lost answer [sim:create:submit_timeout]"
    gen = factories.create(alice, MULERUN, prompt=prompt)
    (gen,) = drive(gen)
    assert gen.status == S.NEEDS_ATTENTION
    _past_deadline(gen)  # admins get to such rows late
    task = next(t for t in sim.tasks() if t.prompt == prompt)
    generation_resume(generation=gen, actor=admin_user, task_id=task.id)
    gen.refresh_from_db()
    assert gen.deadline_at > timezone.now()  # a fresh deadline
    (gen,) = drive(gen)
    assert gen.status == S.READY, gen.error
    assert _kinds(gen) == ["charge"]


def test_a_video_finished_just_before_its_deadline_is_delivered_by_a_late_poll(alice, sim):
    gen = factories.create(alice, MULERUN, prompt="Late poll")
    run_jobs()  # submitted; the task finishes at the simulator while no poll runs
    wait_for(lambda: all(t.phase() == "succeeded" for t in sim.tasks() if t.prompt == "Late poll"), what="task")
    _past_deadline(gen)
    Generation.objects.filter(pk=gen.pk).update(next_run_at=timezone.now() - timedelta(minutes=5))
    generations_recover()  # the sweep finds it overdue and past its deadline: it must ask, not fail
    (gen,) = drive(gen)
    assert gen.status == S.READY, gen.error
    assert _kinds(gen) == ["charge"]


def test_past_its_deadline_a_task_still_running_fails_after_one_last_poll(alice, sim):
    gen = factories.create(alice, MULERUN, prompt="Endless [sim:never]")
    run_jobs()
    polls = Generation.objects.get(pk=gen.pk).poll_count
    _past_deadline(gen)
    (gen,) = drive(gen)
    assert gen.status == S.FAILED and "did not finish" in gen.error
    assert gen.poll_count == polls + 1
    assert _kinds(gen) == ["charge", "refund"]


# --- 4 and 5. Leases: kept alive through every long phase, and fenced -------------------------------------------
class Paused:
    """Run one job step in a worker thread that stops at a checkpoint (a network call or a storage write)."""

    def __init__(self, monkeypatch, point: str, step, pk):
        self.point, self.reached, self.go = point, threading.Event(), threading.Event()
        real = pipeline.checkpoint

        def checkpoint(name, gen):
            if name == self.point and gen.pk == pk and not self.reached.is_set():
                self.reached.set()
                assert self.go.wait(60)
            real(name, gen)

        monkeypatch.setattr(pipeline, "checkpoint", checkpoint)

        def run():
            try:
                step(pk)
            finally:
                connections.close_all()

        self.thread = threading.Thread(target=run)
        self.thread.start()
        assert self.reached.wait(30), f"the step never reached {point}"

    def resume(self) -> None:
        self.go.set()
        self.thread.join(60)
        assert not self.thread.is_alive()


def _lease_time_passes(gen: Generation, leases: float = 2.5) -> None:
    """Wait until the row's lease would have expired `leases` times over without a heartbeat."""
    end = timezone.now() + timedelta(seconds=leases * settings.LEASE_SECONDS)
    wait_for(lambda: timezone.now() > end, timeout=30, what="the lease period to pass")


def _downloading(alice, sim) -> Generation:
    """A generation whose video is finished at the provider and waits for its fetch."""
    gen = factories.create(alice, MULERUN, prompt="A slow store")
    pipeline.generation_submit(gen.pk)
    wait_for(lambda: sim.tasks()[-1].phase() == "succeeded", what="the provider to finish")
    Generation.objects.filter(pk=gen.pk).update(next_run_at=None)
    pipeline.generation_poll(gen.pk)
    assert Generation.objects.get(pk=gen.pk).status == S.DOWNLOADING
    return gen


def test_a_slow_store_keeps_its_lease_so_no_second_fetch_destroys_the_video(alice, sim, monkeypatch, settings):
    settings.LEASE_SECONDS = 1
    gen = _downloading(alice, sim)
    first = Paused(monkeypatch, "fetch:store", pipeline.generation_fetch, gen.pk)  # a big upload to S3
    _lease_time_passes(gen)
    sim.set_faults(["download:expired"])  # a second fetch would now meet an expired link
    generations_recover()
    run_jobs()
    row = Generation.objects.get(pk=gen.pk)
    assert (row.status, row.fetch_attempts) == (S.DOWNLOADING, 1)  # nobody took the row from the live fetch
    first.resume()
    row.refresh_from_db()
    assert row.status == S.READY and default_storage.exists(row.video.name)
    assert _kinds(row) == ["charge"]


def test_a_fetch_that_lost_its_lease_changes_nothing_and_deletes_only_its_own_files(
    alice, sim, monkeypatch, settings
):
    settings.LEASE_SECONDS = 1
    monkeypatch.setattr(pipeline._Heartbeat, "use_thread", False)  # a frozen process: no heartbeat reaches the row
    gen = _downloading(alice, sim)
    stale = Paused(monkeypatch, "fetch:final", pipeline.generation_fetch, gen.pk)  # stored, about to mark ready
    _lease_time_passes(gen)
    live = Paused(monkeypatch, "fetch:download", pipeline.generation_fetch, gen.pk)  # the sweep's fetch claims it
    token = Generation.objects.get(pk=gen.pk).lease_token
    stale.resume()
    row = Generation.objects.get(pk=gen.pk)
    assert (row.status, row.lease_token, row.video.name) == (S.DOWNLOADING, token, "")  # the stale write was refused
    live.resume()
    row.refresh_from_db()
    assert row.status == S.READY
    stored = sorted(default_storage.listdir(f"videos/{gen.pk}")[1])
    assert stored == sorted(name.rsplit("/", 1)[1] for name in card_media.stored_names(row))  # the live fetch's only
    assert _kinds(row) == ["charge"]


def test_a_stalled_segmind_v1_body_keeps_its_lease_and_the_video_is_kept(alice, sim, monkeypatch, settings):
    settings.LEASE_SECONDS = 1
    gen = _v1(alice, "A stalled body")
    stalled = Paused(monkeypatch, "sync:body", pipeline.generation_submit, gen.pk)  # headers in, then silence
    _lease_time_passes(gen)
    generations_recover()
    run_jobs()
    row = Generation.objects.get(pk=gen.pk)
    assert (row.status, row.fetch_attempts) == (S.DOWNLOADING, 0)  # the sweep's fetch did not take it
    stalled.resume()
    row.refresh_from_db()
    assert row.status == S.READY and default_storage.exists(row.video.name)
    assert _kinds(row) == ["charge"]


# --- local storage is durable before READY ----------------------------------------------------------------------
def test_local_storage_fsyncs_the_video_and_its_directory_before_ready(alice, sim, monkeypatch):
    import os

    synced: list[tuple[str, str]] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:  # a spy: no test can pull the power cord, so we watch the calls instead
        real_fsync(fd)
        path = os.readlink(f"/proc/self/fd/{fd}")
        synced.append((path, Generation.objects.values_list("status", flat=True).get(pk=gen.pk)))

    gen = _downloading(alice, sim)
    monkeypatch.setattr(os, "fsync", fsync)
    pipeline.generation_fetch(gen.pk)
    gen.refresh_from_db()
    assert gen.status == S.READY
    video = default_storage.path(gen.video.name)
    assert (video, S.DOWNLOADING) in synced
    assert (os.path.dirname(video), S.DOWNLOADING) in synced  # the directory entry too, before READY


# --- a gateway's 5xx on create: looked up by our external id before any resend ----------------------------------
@pytest.mark.parametrize("status", ["500", "502"])
def test_a_kling_gateway_5xx_on_create_is_looked_up_before_it_is_resent(alice, sim, monkeypatch, status):
    from generations.providers.kling import KlingClient

    calls: list[str] = []
    for name in ("submit", "find_by_external_id"):
        real = getattr(KlingClient, name)

        def spy(self, *args, _real=real, _name=name, **kwargs):  # records the order; the real call still runs
            calls.append(_name)
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(KlingClient, name, spy)
    gen = factories.create(alice, "kling:kling-v2-5-turbo", prompt=f"A gateway hiccup [sim:create:{status}x1]")
    (gen,) = drive(gen)
    assert gen.status == S.READY, gen.error
    assert calls[:3] == ["submit", "find_by_external_id", "submit"]
    assert [t.external_id for t in sim.tasks()].count(gen.external_id) == 1
    assert _kinds(gen) == ["charge"]


@pytest.mark.django_db(transaction=True)
def test_an_orphaned_heartbeat_stops_beating_so_the_sweep_can_hand_the_row_on(alice, settings, monkeypatch) -> None:
    """A job cut off where its heartbeat's exit never runs must not keep the lease alive for ever: no beat outlives
    the longest job (MAX_BEAT_SECONDS), after which the lease lapses and the sweep takes the row."""
    factories.credential("mulerun")
    gen = factories.create(alice, prompt="A heron over a misty pond")
    settings.LEASE_SECONDS = 0.2  # a beat every 50 ms
    monkeypatch.setattr(pipeline, "MAX_BEAT_SECONDS", 0.3)
    Generation.objects.filter(pk=gen.pk).update(lease_token=pipeline.uuid.uuid4())
    gen.refresh_from_db()
    beat = pipeline._Heartbeat(gen)
    beat.__enter__()  # and never __exit__: the orphan
    beat._thread.join(timeout=10)
    still_beating = beat._thread.is_alive()
    beat._stop.set()  # whatever happened, no thread outlives this test
    beat._thread.join()
    pipeline._Heartbeat.active.discard(beat)
    assert not still_beating, "the heartbeat is still beating past the longest job"
