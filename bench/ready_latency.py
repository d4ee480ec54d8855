"""Ready latency: how long a finished video waits at the provider before the site sees it (issue 17).

Targets: from the provider finishing to the video moving on to its download (download time excluded), median <= 3 s
and p95 <= 10 s, with task times of 30-300 s, at <= 1 status request per 10 s of generation time on average.

    .venv/bin/python bench/ready_latency.py [--quick]

Two parts, both with the site's own code:

1. A discrete-event simulation of the pipeline's scheduling decisions, in simulated time (nothing compressed: each
   decision is computed for the real second it would be taken at). New policy: `pipeline.next_poll_in`, the function
   the poll step calls, i.e. `poll_policy.poll_delay` fed by `services.timing.expected_seconds`, which queries real
   Generation rows that the simulation writes as it sees videos finish (its one-minute cache is off: the clock is
   simulated). Old policy: the first poll after POLL_FIRST_SECONDS, then `pipeline.backoff` (5 s doubling to 60 s).
   Both run on the same task times. RQ's scheduler is modelled as it works: a job due at t starts at floor(t) + U(0, 1)
   s (scores are whole seconds, checked every second), plus 50 ms for the job and its HTTP request.
   Task times: K kinds of video (model, mode, duration), each with a usual time drawn uniformly from 30-300 s; a task
   takes its kind's usual time x lognormal(sigma), clipped to 30-300 s. Videos arrive every ~4 s, kinds at random.
   "Steady" counts videos whose kind had >= 3 ready videos when they were submitted (the schedule's precondition);
   "all" adds each kind's first videos, polled with the old backoff.
2. End to end, in real time: the provider simulator (in this process) and one real worker (`generations.worker.Worker`
   in a forked child, as the Procfile runs it), a handful of videos of kinds with 5 ready videos in their history
   (rows written beforehand, their times drawn like the tasks'), each task's time set with the simulator's
   `task_seconds` knob before its submit. Overhead = the row's `downloading_at` - the simulator task's finish time.

It uses its own SQLite file (or DATABASE_URL) and Redis database BENCH_REDIS_URL (default db 13, flushed).
"""

from __future__ import annotations

import argparse
import heapq
import math
import os
import random
import signal
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SIM_PORT = 8797
VAR = ROOT / "var"
VAR.mkdir(exist_ok=True)
os.environ.setdefault("DATABASE_URL", f"sqlite:///{VAR / 'bench-ready.sqlite3'}")
os.environ.update(
    DJANGO_SETTINGS_MODULE="kling_site.settings",
    DEBUG="1",
    REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"),
    FETCH_ALLOWED_HOSTS=f"127.0.0.1:{SIM_PORT}",
    LOG_LEVEL="WARNING",
    MAX_IN_FLIGHT_PER_MEMBER="0",  # every video goes to the provider at once (the waiting line is not measured)
    POLL_FIRST_SECONDS="5",
    POLL_MAX_SECONDS="60",
)
MODEL = "mulerun:kling-v3"  # 2 modes x 13 durations: 26 kinds of video
TARGET = "target: median <= 3 s, p95 <= 10 s, <= 1 request per 10 s"


def setup_django() -> None:
    import django

    django.setup()
    from django.core.management import call_command

    if os.environ["DATABASE_URL"].startswith("sqlite"):
        Path(os.environ["DATABASE_URL"].removeprefix("sqlite:///")).unlink(missing_ok=True)
    call_command("migrate", verbosity=0)


def bench_user():
    from django.contrib.auth import get_user_model

    from generations.services.credits import credits_grant
    from generations.services.demo import demo_credentials, prices_seed

    prices_seed()
    demo_credentials(f"http://127.0.0.1:{SIM_PORT}")
    user = get_user_model().objects.create_user(f"bench{time.time_ns()}", password="x")
    credits_grant(user=user, amount=100_000, reason="benchmark", actor=None)
    return user


def kinds(count: int, rnd: random.Random) -> list[tuple[str, int, float]]:
    """(mode, duration, usual seconds) of `count` distinct kinds of video."""
    from generations.catalog import CATALOG

    spec = CATALOG[MODEL]
    every = [(mode, d) for mode in spec.modes for d in spec.durations]
    return [(mode, d, rnd.uniform(30, 300)) for mode, d in rnd.sample(every, count)]


def task_time(usual: float, sigma: float | None, rnd: random.Random) -> float:
    """One task of a kind: its usual time x lognormal(sigma), 30-300 s (None: any time in 30-300 s, kind or not)."""
    if sigma is None:
        return rnd.uniform(30, 300)
    return min(max(usual * rnd.lognormvariate(0, sigma), 30.0), 300.0)


def ready_row(user, credential, mode: str, duration: int, submitted: datetime, seen: datetime):
    from generations.models import Generation

    return Generation.objects.create(
        owner=user, credential=credential, provider="mulerun", model=MODEL, mode=mode, aspect_ratio="16:9",
        duration=duration, cost=1, status="ready", video="videos/bench.mp4", deadline_at=submitted + timedelta(hours=1),
        created_at=submitted, submitted_at=submitted, running_at=submitted, downloading_at=seen,
        finished_at=seen + timedelta(seconds=2),
    )


# --- 1. discrete-event simulation of the scheduling decisions ----------------------------------------------------
@dataclass
class Video:
    kind: int
    submitted: float
    takes: float
    steady: bool = False
    polls: int = 0
    seen: float | None = None

    @property
    def overhead(self) -> float:
        assert self.seen is not None
        return self.seen - (self.submitted + self.takes)


@dataclass
class Scenario:
    sigma: float | None
    videos: int
    kinds: int
    seed: int
    label: str = field(default="")


def simulate(scenario: Scenario, policy: str, user, credential) -> list[Video]:
    """Every video of the scenario, submitted, polled as `policy` decides, and seen finished."""
    from django.test import override_settings
    from django.utils import timezone

    from generations.models import Generation
    from generations.services import pipeline

    Generation.objects.filter(owner=user).delete()
    rnd = random.Random(scenario.seed)
    kinds_ = kinds(scenario.kinds, rnd)
    origin = timezone.now() - timedelta(days=1)  # rows within timing.RECENT
    phase = rnd.random()  # where the whole seconds of RQ's scheduler fall
    videos, events, t = [], [], 0.0
    for i in range(scenario.videos):
        t += rnd.expovariate(1 / 4.0)
        k = rnd.randrange(len(kinds_))
        videos.append(Video(kind=k, submitted=t, takes=task_time(kinds_[k][2], scenario.sigma, rnd)))
        heapq.heappush(events, (t, i, "submit"))
    jitter = random.Random(scenario.seed + 1)  # the scheduler's and the backoff's own randomness
    random.seed(scenario.seed + 2)  # pipeline.backoff's jitter
    ready = [0] * len(kinds_)

    def run_at(due: float) -> float:
        return math.floor(due + phase) - phase + jitter.random() + 0.05

    with override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}):
        while events:
            now, i, what = heapq.heappop(events)
            v = videos[i]
            mode, duration, _ = kinds_[v.kind]
            if what == "poll":
                v.polls += 1
                if now >= v.submitted + v.takes:
                    v.seen = now
                    ready[v.kind] += 1
                    ready_row(user, credential, mode, duration, origin + timedelta(seconds=v.submitted),
                              origin + timedelta(seconds=now))
                    continue
                fallback = pipeline.backoff(v.polls)
            else:
                v.steady = ready[v.kind] >= 3
                fallback = pipeline.settings.POLL_FIRST_SECONDS
            if policy == "old":
                delay = fallback
            else:
                gen = Generation(model=MODEL, mode=mode, duration=duration,
                                 submitted_at=origin + timedelta(seconds=v.submitted))
                delay = pipeline.next_poll_in(gen, now=origin + timedelta(seconds=now), fallback=fallback)
            heapq.heappush(events, (run_at(now + delay), i, "poll"))
    return videos


def figures(videos: list[Video]) -> tuple[float, float, float, float, float]:
    """median and p95 overhead, polls per video, requests per 10 s (all polls / all time, and per video)."""
    over = sorted(v.overhead for v in videos)
    p95 = over[min(len(over) - 1, math.ceil(0.95 * len(over)) - 1)]
    per_video = statistics.mean(v.polls for v in videos)
    pooled = 10 * sum(v.polls for v in videos) / sum(v.takes for v in videos)
    mean_ratio = statistics.mean(10 * v.polls / v.takes for v in videos)
    return statistics.median(over), p95, per_video, pooled, mean_ratio


def row(label: str, videos: list[Video]) -> str:
    med, p95, per_video, pooled, mean_ratio = figures(videos)
    return (f"  {label:<26} {len(videos):>5}  {med:6.1f} s  {p95:6.1f} s  {per_video:7.1f}  "
            f"{pooled:6.2f} / {mean_ratio:4.2f}")


def part_one(scenarios: list[Scenario], user, credential) -> list[Video]:
    print("1. scheduling decisions in simulated time (same task times for both policies)")
    print(f"  {'':<26} {'videos':>5}  {'median':>8}  {'p95':>8}  {'polls':>7}  per 10 s (pooled / mean)")
    headline: list[Video] = []
    for scenario in scenarios:
        print(f" {scenario.label}")
        old = simulate(scenario, "old", user, credential)
        new = simulate(scenario, "new", user, credential)
        print(row("old backoff, all", old))
        print(row("new schedule, all", new))
        print(row("new schedule, steady", [v for v in new if v.steady]))
        print(row("old backoff, same videos", [o for o, v in zip(old, new, strict=True) if v.steady]))
        if not headline:
            headline = [v for v in new if v.steady]
    return headline


# --- 2. end to end: simulator + one real worker, real time ----------------------------------------------------------
def run_worker() -> int:
    pid = os.fork()
    if pid:
        return pid
    import django_rq
    from django.db import connections

    from generations.worker import Worker

    connections.close_all()
    queues = [django_rq.get_queue(q) for q in ("default", "fetch", "long")]
    level = os.environ.get("BENCH_WORKER_LOG", "WARNING")
    Worker(queues, connection=queues[0].connection).work(with_scheduler=True, logging_level=level)
    os._exit(0)


def part_two(count: int, longest: float, sigma: float, user, credential, worker: int) -> None:
    from django.db import connections
    from django.utils import timezone

    from generations.models import Generation
    from generations.services.create import generation_create
    from generations.simulator import Simulator

    print(f"2. end to end: {count} videos, simulator + one real worker, real time (usual times 30-{longest:.0f} s)")
    Generation.objects.filter(owner=user).delete()
    rnd = random.Random(7)
    sim = Simulator(port=SIM_PORT, task_seconds=60, cache_dir=str(VAR / "simulator-cache")).start()
    try:
        gens = []
        for mode, duration, _ in kinds(count, rnd):
            usual = rnd.uniform(30, longest)
            now = timezone.now()
            for h in range(5):  # the kind's history: five ready videos of the last hours
                took = task_time(usual, sigma, rnd)
                done = now - timedelta(hours=h + 1)
                ready_row(user, credential, mode, duration, done - timedelta(seconds=took + 1),
                          done - timedelta(seconds=1))
            sim.task_seconds = task_time(usual, sigma, rnd)  # read when the worker's submit creates the task
            made = len(sim.tasks())
            gen = generation_create(user=user, model_key=MODEL, params={
                "prompt": f"Ready latency {len(gens)}", "mode": mode, "duration": str(duration), "aspect_ratio": "16:9",
            })
            gens.append(gen)
            deadline = time.monotonic() + 30
            while len(sim.tasks()) == made:  # the worker has not submitted it yet
                if time.monotonic() > deadline:
                    raise SystemExit("the worker did not submit within 30 s")
                time.sleep(0.05)
        deadline = time.monotonic() + longest * 1.5 + 120
        ids = [g.pk for g in gens]
        while Generation.objects.filter(pk__in=ids, status__in=Generation.IN_FLIGHT).exists():
            if time.monotonic() > deadline:
                raise SystemExit("videos did not finish in time")
            time.sleep(0.5)
        over, polls, to_ready, takes = [], [], [], []
        for gen in Generation.objects.filter(pk__in=ids):
            task = sim.tasks.get("mulerun", gen.provider_task_id)
            finished = datetime.fromtimestamp(task.created_at + task.seconds, tz=gen.downloading_at.tzinfo)
            over.append((gen.downloading_at - finished).total_seconds())
            to_ready.append((gen.finished_at - finished).total_seconds())
            polls.append(gen.poll_count)
            takes.append(task.seconds)
            print(f"  {gen.mode} {gen.duration:>2} s video: provider took {task.seconds:5.1f} s, seen {over[-1]:4.1f} s"
                  f" after it finished, ready {to_ready[-1]:4.1f} s after (download included), {gen.poll_count} polls")
        over.sort()
        print(f"  median {statistics.median(over):.1f} s, max {over[-1]:.1f} s, polls per video "
              f"{statistics.mean(polls):.1f} ({10 * sum(polls) / sum(takes):.2f} per 10 s); ready incl. download: "
              f"median {statistics.median(to_ready):.1f} s")
    finally:
        sim.stop()
        connections.close_all()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="under 2 minutes")
    args = parser.parse_args()
    setup_django()
    import django_rq

    from generations.models import ProviderCredential

    django_rq.get_connection("default").flushdb()
    user = bench_user()
    credential = ProviderCredential.objects.get(provider="mulerun")
    from django.db import connections

    connections.close_all()
    worker = run_worker()  # forked before any thread (the simulator's) starts
    try:
        if args.quick:
            scenarios = [Scenario(0.15, 400, 8, 1, "spread 15 % around each kind's usual time")]
        else:
            scenarios = [
                Scenario(0.15, 1500, 12, 1, "spread 15 % around each kind's usual time"),
                Scenario(0.05, 1500, 12, 2, "spread 5 %"),
                Scenario(0.25, 1500, 12, 3, "spread 25 %"),
                Scenario(None, 1500, 12, 4, "no kind: every task 30-300 s at random (history says nothing)"),
            ]
        t0 = time.monotonic()
        headline = part_one(scenarios, user, credential)
        print(f"  ({time.monotonic() - t0:.0f} s)  {TARGET}")
        t0 = time.monotonic()
        part_two(4 if args.quick else 8, 50 if args.quick else 150, 0.15, user, credential, worker)
        print(f"  ({time.monotonic() - t0:.0f} s)")
    finally:
        os.kill(worker, signal.SIGTERM)
        os.waitpid(worker, 0)
    med, p95, per_video, _, _ = figures(headline)
    print(f"ready overhead median {med:.1f} s p95 {p95:.1f} s, polls per video {per_video:.1f}")


if __name__ == "__main__":
    main()
