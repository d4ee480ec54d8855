"""Provider callbacks (/hooks/<provider>/<secret>/): only the URL's secret authenticates, the body is never
trusted, a spent secret is refused, and however many callbacks arrive at most one extra poll waits at a time.

Ends with a real round trip: the simulator speaking Kling's protocol POSTs its callbacks to the site served by
pytest-django's live_server, and the video is ready long before the first scheduled poll would have run.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import django_rq
import httpx
import pytest
from django.test import Client
from django.utils import timezone

from generations.models import Generation
from generations.scheduling import enqueue_now
from tests import factories
from tests.conftest import drive, run_jobs

pytestmark = pytest.mark.django_db(transaction=True)
S = Generation.Status
KLING = "kling:kling-v2-5-turbo"


def hook_url(gen: Generation, secret: str | None = None, provider: str | None = None) -> str:
    return f"/hooks/{provider or gen.provider}/{secret if secret is not None else gen.callback_secret}/"


def poll_jobs(gen: Generation) -> dict[str, list[str]]:
    """Poll jobs of this generation waiting in the queue (now) and in the scheduler (later)."""
    queue = django_rq.get_queue("default")
    prefix = f"poll-{gen.pk}-"
    return {
        "queued": [j for j in queue.get_job_ids() if j.startswith(prefix)],
        "scheduled": [j for j in queue.scheduled_job_registry.get_job_ids() if j.startswith(prefix)],
    }


def fetch_jobs() -> list[str]:
    queue = django_rq.get_queue("fetch")
    return queue.get_job_ids() + queue.scheduled_job_registry.get_job_ids()


@pytest.fixture
def in_flight(alice: Any) -> Generation:
    """A Kling generation the provider has accepted, its next poll a minute away (as the pipeline leaves it)."""
    factories.credential("kling", access_key="ak-hooks-0123456789", secret_key="sk-hooks-" + "0123456789" * 4)
    gen = factories.create(alice, KLING, prompt="A heron lifts off a misty pond")
    django_rq.get_connection("default").flushdb()  # the submit job generation_create queued: not this test's
    now = timezone.now()
    Generation.objects.filter(pk=gen.pk).update(
        status=S.SUBMITTED, provider_task_id="task-123", submitted_at=now, next_run_at=now + timedelta(seconds=60)
    )
    enqueue_now("poll", str(gen.pk), key="0", delay=60)
    gen.refresh_from_db()
    return gen


# --- who may call --------------------------------------------------------------------------------------------------


def test_a_wrong_short_or_other_providers_secret_is_404(in_flight: Generation) -> None:
    client = Client()
    wrong = "x" * len(in_flight.callback_secret)
    assert client.post(hook_url(in_flight, wrong)).status_code == 404
    assert client.post(hook_url(in_flight, in_flight.callback_secret[:20])).status_code == 404
    last = "B" if in_flight.callback_secret.endswith("A") else "A"
    assert client.post(hook_url(in_flight, in_flight.callback_secret[:-1] + last)).status_code == 404
    assert client.post(hook_url(in_flight, provider="powertokens")).status_code == 404
    assert client.post(hook_url(in_flight, provider="nonsense")).status_code == 404
    assert poll_jobs(in_flight) == {"queued": [], "scheduled": [f"poll-{in_flight.pk}-0"]}
    assert Generation.objects.get(pk=in_flight.pk).callbacks_received == 0


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete", "head", "options"])
def test_only_post_is_accepted(method: str, in_flight: Generation) -> None:
    response = getattr(Client(), method)(hook_url(in_flight))
    assert response.status_code == 405
    assert poll_jobs(in_flight)["queued"] == []


def test_no_login_and_no_csrf_token_are_needed(in_flight: Generation) -> None:
    response = Client(enforce_csrf_checks=True).post(hook_url(in_flight), {"task_status": "processing"})
    assert response.status_code == 200
    assert len(poll_jobs(in_flight)["queued"]) == 1


@pytest.mark.parametrize("status", [S.READY, S.FAILED, S.CANCELED, S.NEEDS_ATTENTION])
def test_a_spent_secret_is_refused_and_polls_nothing(status: str, in_flight: Generation) -> None:
    video = {"video": f"videos/{in_flight.pk}/video.mp4"} if status == S.READY else {}
    Generation.objects.filter(pk=in_flight.pk).update(status=status, next_run_at=None, **video)
    django_rq.get_connection("default").flushdb()
    response = Client().post(hook_url(in_flight), {"task_status": "succeed"}, content_type="application/json")
    assert response.status_code == 410
    assert poll_jobs(in_flight) == {"queued": [], "scheduled": []}
    assert Generation.objects.get(pk=in_flight.pk).status == status


@pytest.mark.parametrize("status", [S.QUEUED, S.SUBMITTING, S.DOWNLOADING])
def test_an_early_or_late_callback_while_in_flight_is_accepted_but_polls_nothing(
    status: str, in_flight: Generation
) -> None:
    Generation.objects.filter(pk=in_flight.pk).update(status=status)
    assert Client().post(hook_url(in_flight)).status_code == 200
    assert poll_jobs(in_flight)["queued"] == []
    assert Generation.objects.get(pk=in_flight.pk).status == status


# --- floods --------------------------------------------------------------------------------------------------------


def test_a_flood_of_callbacks_makes_one_extra_poll_at_a_time(in_flight: Generation) -> None:
    client = Client()
    for _ in range(50):
        assert client.post(hook_url(in_flight), {"task_status": "processing"}).status_code == 200
    jobs = poll_jobs(in_flight)
    assert jobs == {"queued": [f"poll-{in_flight.pk}-0cb"], "scheduled": [f"poll-{in_flight.pk}-0"]}
    row = Generation.objects.get(pk=in_flight.pk)
    assert row.callbacks_received == 1 and row.next_run_at <= timezone.now()

    run_jobs()  # the extra poll runs (the provider is unreachable here: it records the error and backs off)
    row = Generation.objects.get(pk=in_flight.pk)
    assert row.poll_count == 1 and row.status == S.SUBMITTED and row.next_run_at > timezone.now()
    for _ in range(50):
        client.post(hook_url(in_flight))
    assert poll_jobs(in_flight)["queued"] == [f"poll-{in_flight.pk}-1cb"]  # again exactly one


def test_a_concurrent_flood_makes_one_extra_poll(in_flight: Generation, live_server: Any) -> None:
    url = live_server.url + hook_url(in_flight)

    def send(_: int) -> int:
        return httpx.post(url, json={"task_status": "succeed"}, timeout=30, trust_env=False).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(send, range(50)))
    assert statuses == [200] * 50
    assert poll_jobs(in_flight)["queued"] == [f"poll-{in_flight.pk}-0cb"]
    # Usually 1; two racing callbacks can both pass generation_poll_soon's "next poll is later" check (each
    # compares with its own clock reading), and then the job id, not the counter, keeps the extra poll single.
    assert Generation.objects.get(pk=in_flight.pk).callbacks_received >= 1


# --- the body is never trusted -------------------------------------------------------------------------------------


def test_a_forged_success_with_a_video_url_changes_nothing_only_a_poll_does(
    alice: Any, sim: Any, sim_credentials: Any, settings: Any, media_root: Any
) -> None:
    sim.task_seconds = 30  # the provider is still working on it when the forged callback arrives
    gen = factories.create(alice, KLING, prompt="A fox in the snow", mode="std", duration="5")
    run_jobs()  # submit
    gen.refresh_from_db()
    assert gen.status == S.SUBMITTED and gen.provider_task_id
    forged = {
        "task_id": gen.provider_task_id,
        "task_status": "succeed",
        "task_result": {"videos": [{"id": "1", "url": "http://169.254.169.254/latest/meta-data/", "duration": "5"}]},
    }
    response = Client().post(hook_url(gen), forged, content_type="application/json")
    assert response.status_code == 200
    row = Generation.objects.get(pk=gen.pk)
    assert (row.status, row.video_url, row.provider_status) == (S.SUBMITTED, "", gen.provider_status)
    assert fetch_jobs() == []
    run_jobs()  # the extra poll asks the provider, which says: not done yet
    row = Generation.objects.get(pk=gen.pk)
    assert row.poll_count == 1 and row.provider_status in ("submitted", "processing")
    assert row.status in (S.SUBMITTED, S.RUNNING) and row.video_url == "" and fetch_jobs() == []
    assert "169.254" not in str(row.provider_response)


# --- end to end: the simulator calls the live site back --------------------------------------------------------------


def test_kling_callbacks_reach_the_site_and_the_video_is_ready_before_the_first_poll(
    alice: Any, sim: Any, sim_credentials: Any, settings: Any, media_root: Any, live_server: Any
) -> None:
    settings.PUBLIC_BASE_URL = live_server.url
    settings.POLL_FIRST_SECONDS = 60  # without a callback nothing would look at the task for a minute
    settings.POLL_MAX_SECONDS = 60
    started = time.monotonic()
    gen = factories.create(alice, KLING, prompt="A kite over a windy beach", mode="std", duration="5")
    (gen,) = drive(gen, timeout=45)
    assert gen.status == S.READY, gen.error
    assert gen.callbacks_received >= 1
    assert time.monotonic() - started < 45  # well before the 60 s poll: the callbacks did it
    assert gen.poll_count >= 1 and gen.video and gen.video_url.startswith(sim.base_url)
