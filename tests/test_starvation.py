"""No member's slow provider calls hold anyone else's video (issue 10, and issue 12 item 12).

The worker processes are the Procfile's (and `make run`'s), started as real `rqworker` processes against the
simulator over loopback. A Segmind v1 call blocks for the whole generation; a submit can hang until its read
timeout. Neither may keep another member's video waiting.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from generations.management.commands.devserver import WORKERS
from generations.models import Generation
from generations.scheduling import STEPS
from tests import factories
from tests.conftest import ROOT, wait_for

pytestmark = pytest.mark.django_db(transaction=True)  # workers in other processes see committed rows
S = Generation.Status
V1 = "segmind_v1:kling-2.5-turbo"
MULERUN = "mulerun:kling-v2.5-turbo"


def _procfile_workers() -> dict[str, tuple[str, ...]]:
    """Queues of each Procfile process that runs `rqworker`."""
    out = {}
    for line in Path(ROOT, "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if "rqworker" in command:
            args = command.split("rqworker", 1)[1].split()
            out[name.strip()] = tuple(a for a in args if not a.startswith("-"))
    return out


def test_the_long_queue_has_its_own_process_in_the_procfile_and_in_make_run() -> None:
    procfile = _procfile_workers()
    assert [q for q in procfile.values() if "long" in q] == [("long",)]
    assert all(q == ("long",) or "long" not in q for _n, q in WORKERS)
    assert sum(1 for _n, q in WORKERS if "default" in q) >= 2, "one hung submit must not hold every short job"
    assert {q for _n, q in WORKERS} == set(procfile.values())


def test_webhook_deliveries_have_their_own_process_so_a_hanging_receiver_holds_no_video() -> None:
    """A member's receiver that hangs for its whole timeout, again and again, must not sit in a poll's worker."""
    queue = STEPS["webhook"][1]
    assert [q for q in _procfile_workers().values() if queue in q] == [(queue,)]
    assert [q for _n, q in WORKERS if queue in q] == [(queue,)]
    assert all(STEPS[step][1] != queue for step in STEPS if step != "webhook")


def _elapsed_until_ready(gen: Generation, timeout: float) -> float:
    started = time.monotonic()
    wait_for(
        lambda: Generation.objects.filter(pk=gen.pk, status__in=[S.READY, S.FAILED]).exists(),
        timeout=timeout,
        what=f"{gen.model} video to finish",
    )
    gen.refresh_from_db()
    assert gen.status == S.READY, gen.error
    return time.monotonic() - started


@pytest.fixture
def procfile_workers(worker_processes: Any, sim_credentials: Any, fast_polls: None, media_root: Path) -> Any:
    def start(**env: str) -> None:
        for queues in _procfile_workers().values():
            worker_processes(*queues, **env)

    return start


def test_three_segmind_v1_videos_do_not_hold_another_members_video(
    procfile_workers: Any, sim: Any, alice: Any, bob: Any
) -> None:
    sim.slow_seconds = 25.0  # each synchronous call holds its worker this long
    try:
        procfile_workers()
        slow = [
            factories.create(
                alice, "segmind_v1:kling-2.5-turbo", prompt=f"A slow river {uuid.uuid4().hex} [sim:create:slow]"
            )
            for _ in range(3)
        ]
        wait_for(
            lambda: Generation.objects.filter(pk=slow[0].pk, status=S.SUBMITTING).exists(),
            timeout=20,
            what="the first Segmind v1 call to be under way",
        )
        gen = factories.create(bob, "mulerun:kling-v2.5-turbo", prompt=f"A quick fox {uuid.uuid4().hex}")
        seconds = _elapsed_until_ready(gen, timeout=20)
        in_flight = Generation.objects.filter(pk__in=[g.pk for g in slow], status__in=Generation.IN_FLIGHT).count()
        print(f"\nBob's MuleRun video ready in {seconds:.1f} s while {in_flight} Segmind v1 videos were in flight")
        assert in_flight == 3, "the Segmind v1 calls finished first: the test proved nothing"
        assert seconds < 15
    finally:
        sim.slow_seconds = 5.0


def test_a_submit_hanging_until_its_timeout_does_not_hold_another_members_video(
    procfile_workers: Any, worker_processes: Any, sim: Any, alice: Any, bob: Any
) -> None:
    sim.slow_seconds = 25.0
    try:
        procfile_workers(PROVIDER_READ_TIMEOUT="20")
        worker_processes("default", "fetch", PROVIDER_READ_TIMEOUT="20")  # `make run` runs two short workers
        hung = factories.create(
            alice, "mulerun:kling-v2.5-turbo", prompt=f"A hang {uuid.uuid4().hex} [sim:create:slow]"
        )
        wait_for(
            lambda: Generation.objects.filter(pk=hung.pk, status=S.SUBMITTING).exists(),
            timeout=20,
            what="the hanging submit to be under way",
        )
        gen = factories.create(bob, "aimlapi:klingai/v2.5-turbo/pro/text-to-video", prompt=f"A fox {uuid.uuid4().hex}")
        seconds = _elapsed_until_ready(gen, timeout=18)
        hung.refresh_from_db()
        print(f"\nBob's AI/ML API video ready in {seconds:.1f} s while Alice's submit hung ({hung.status})")
        assert hung.status == S.SUBMITTING, "the hung submit ended first: the test proved nothing"
        assert seconds < 15
    finally:
        sim.slow_seconds = 5.0
