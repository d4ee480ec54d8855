"""The five ways money or videos were lost (issue 9), each replayed against the real simulator, queues and storage.

Every test ends with the ledger audited, including money against status.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from generations.models import CreditAccount, CreditEntry, Generation, ProviderCredential
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
