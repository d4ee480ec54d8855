"""The expected provider time of a kind of video (services.timing), and the pipeline aiming its polls at it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from generations.models import Generation
from generations.poll_policy import EARLY_SHARE, dense_step
from generations.services.timing import expected_seconds
from tests import factories
from tests.conftest import run_jobs

pytestmark = [pytest.mark.django_db(transaction=True)]
S = Generation.Status
MODEL = "mulerun:kling-v2.5-turbo"


@pytest.fixture
def real_poll_settings(settings, media_root, sim_credentials, sim):
    settings.POLL_FIRST_SECONDS, settings.POLL_MAX_SECONDS = 5.0, 60.0
    settings.PROVIDER_READ_TIMEOUT = 1.0
    sim.task_seconds = 3600  # the provider keeps saying "running": only the schedule is under test


def made(user, seconds: float, *, mode: str = "std", duration: int = 5, days_ago: float = 0) -> Generation:
    """A ready video of the kind whose provider took `seconds` (submitted → seen finished)."""
    gen = factories.create(user, MODEL, mode=mode, duration=str(duration), aspect_ratio="16:9")
    done = timezone.now() - timedelta(days=days_ago)
    Generation.objects.filter(pk=gen.pk).update(
        status=S.READY,
        video=f"videos/{gen.pk}/video.mp4",
        submitted_at=done - timedelta(seconds=seconds + 2),
        downloading_at=done - timedelta(seconds=2),
        finished_at=done,
    )
    return gen


def submitted(user, **params) -> Generation:
    gen = factories.create(user, MODEL, aspect_ratio="16:9", **params)
    run_jobs()
    gen.refresh_from_db()
    assert gen.status == S.SUBMITTED, gen.error
    return gen


@pytest.mark.usefixtures("sim_credentials")
def test_the_expected_time_is_the_median_of_recent_ready_videos_of_the_same_kind(alice):
    for seconds in (100, 110, 200):
        made(alice, seconds)
    made(alice, 20, mode="pro")  # another mode,
    made(alice, 20, duration=10)  # another duration,
    made(alice, 20, days_ago=8)  # too old
    assert expected_seconds(MODEL, "std", 5) == 110
    assert expected_seconds(MODEL, "pro", 5) is None  # one sample is not enough


@pytest.mark.usefixtures("real_poll_settings")
def test_after_three_ready_videos_a_new_submit_first_polls_near_their_usual_time(alice):
    for seconds in (70, 80, 90):
        made(alice, seconds, duration=5)
    gen = submitted(alice, mode="std", duration="5")
    first = (gen.next_run_at - gen.submitted_at).total_seconds()
    assert first == pytest.approx(EARLY_SHARE * 80, abs=0.1)  # 52 s, where the old backoff said 5 s


@pytest.mark.usefixtures("real_poll_settings")
def test_a_kind_never_made_before_keeps_the_old_first_poll(alice):
    for seconds in (100, 110, 120):
        made(alice, seconds, duration=5)
    gen = submitted(alice, mode="std", duration="10")
    assert (gen.next_run_at - gen.submitted_at).total_seconds() == pytest.approx(5.0, abs=0.1)


@pytest.mark.usefixtures("real_poll_settings")
def test_a_poll_near_the_expected_end_schedules_the_next_one_within_seconds(alice):
    for seconds in (100, 110, 120):
        made(alice, seconds)
    gen = submitted(alice, mode="std", duration="5")
    # The task has been at the provider for its kind's usual 110 s: the poll is due now.
    now = timezone.now()
    Generation.objects.filter(pk=gen.pk).update(submitted_at=now - timedelta(seconds=110), next_run_at=now)
    from generations.services.pipeline import generation_poll

    generation_poll(gen.pk)
    gen.refresh_from_db()
    assert gen.status in Generation.POLLING and gen.poll_count == 1
    gap = (gen.next_run_at - timezone.now()).total_seconds()
    assert 0 < gap <= dense_step(110, cap_s=60) + 0.5  # the old backoff would wait 4-6 s here, then 8-12 s
