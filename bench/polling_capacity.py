"""How many in-flight generations one worker keeps polling on schedule, and worker CPU per finished generation.

Targets (issue 4): >= 2,000 in flight with p99 poll lateness < 2 s; <= 50 ms of worker CPU per finished video.

    .venv/bin/python bench/polling_capacity.py [--in-flight 2000] [--window 90] [--finish 200]

It uses its own SQLite file (or DATABASE_URL), Redis database 11 (flushed) and a simulator subprocess, then runs
ONE real forking worker (`generations.worker.Worker`, as the Procfile does) in a child process. Lateness is how long
after a row's `next_run_at` its poll job started, recorded by a thin wrapper around the poll service.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SIM_PORT = 8799
VAR = ROOT / "var"
VAR.mkdir(exist_ok=True)
os.environ.setdefault("DATABASE_URL", f"sqlite:///{VAR / 'bench-polling.sqlite3'}")
os.environ.update(
    DJANGO_SETTINGS_MODULE="kling_site.settings", DEBUG="1", REDIS_URL="redis://127.0.0.1:6379/11",
    FETCH_ALLOWED_HOSTS=f"127.0.0.1:{SIM_PORT}", LOG_LEVEL="WARNING",
)


def setup_django() -> None:
    import django

    django.setup()
    from django.core.management import call_command

    if os.environ["DATABASE_URL"].startswith("sqlite"):
        Path(os.environ["DATABASE_URL"].removeprefix("sqlite:///")).unlink(missing_ok=True)
    call_command("migrate", verbosity=0)


def start_simulator(task_seconds: float) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "generations.simulator", "--port", str(SIM_PORT), "--task-seconds", str(task_seconds),
         "--cache-dir", str(VAR / "simulator-cache")],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    import httpx

    for _ in range(100):
        try:
            httpx.get(f"http://127.0.0.1:{SIM_PORT}/_sim/health", timeout=0.5)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("the simulator did not start")


def make_generations(count: int) -> list[str]:
    from django.contrib.auth import get_user_model

    from generations.services.create import generation_create
    from generations.services.credits import credits_grant
    from generations.services.demo import demo_credentials, prices_seed

    prices_seed()
    demo_credentials(f"http://127.0.0.1:{SIM_PORT}")
    user = get_user_model().objects.create_user(f"bench{time.time_ns()}", password="x")
    credits_grant(user=user, amount=count * 100, reason="benchmark", actor=None)
    ids = []
    for i in range(count):
        gen = generation_create(user=user, model_key="mulerun:kling-v2.5-turbo",
                                params={"prompt": f"Benchmark clip {i}", "duration": "5"})
        ids.append(str(gen.pk))
    return ids


def run_worker(lateness_file: str | None = None, media_file: str | None = None) -> int:
    """Fork a real worker (as the Procfile runs it); returns the child's pid. With `lateness_file`, its polls
    record how late they started; with `media_file`, it writes the CPU seconds its media work took (probe, poster,
    card posters, clip) when it stops."""
    from django.db import connections

    connections.close_all()  # on PostgreSQL the child closing an inherited socket would end the parent's session
    pid = os.fork()
    if pid:
        return pid
    from django.db import connections
    from django.utils import timezone

    from generations.media import card_media
    from generations.models import Generation
    from generations.services import pipeline

    connections.close_all()
    if lateness_file:
        original = pipeline.generation_poll

        def timed_poll(pk, *args):
            due = Generation.objects.filter(pk=pk).values_list("next_run_at", flat=True).first()
            if due is not None:
                late = (timezone.now() - due).total_seconds()
                with open(lateness_file, "a") as fh:
                    fh.write(f"{late:.4f}\n")
            return original(pk, *args)

        pipeline.generation_poll = timed_poll
    media_cpu = [0.0]

    def counted(fn):
        def wrapper(*args, **kwargs):
            start = time.process_time()  # the whole process: FFmpeg's decoding threads count too
            try:
                return fn(*args, **kwargs)
            finally:
                media_cpu[0] += time.process_time() - start

        return wrapper

    if media_file:
        pipeline.probe, pipeline.make_poster = counted(pipeline.probe), counted(pipeline.make_poster)
        card_media.make = counted(card_media.make)
    import django_rq

    from generations.worker import Worker

    queues = [django_rq.get_queue(q) for q in ("default", "fetch", "long")]
    worker = Worker(queues, connection=queues[0].connection)
    if profile := os.environ.get("BENCH_PROFILE"):  # where the worker's CPU goes: a pstats file
        import cProfile

        cProfile.runctx('worker.work(with_scheduler=True, logging_level="WARNING")', globals(), locals(), profile)
    else:
        worker.work(with_scheduler=True, logging_level="WARNING")
    if media_file:
        Path(media_file).write_text(str(media_cpu[0]))
    os._exit(0)


def stop(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)
    os.waitpid(pid, 0)


def capacity(in_flight: int, window: float, warmup: float) -> None:
    import django_rq

    django_rq.get_connection("default").flushdb()
    sim = start_simulator(task_seconds=3600)  # nothing finishes: every generation stays in flight
    fd, lateness = tempfile.mkstemp(suffix=".txt")
    os.close(fd)
    try:
        t0 = time.monotonic()
        make_generations(in_flight)
        created = time.monotonic() - t0
        pid = run_worker(lateness)
        from generations.models import Generation

        deadline = time.monotonic() + 600
        while Generation.objects.filter(status__in=["queued", "submitting"]).exists():
            if time.monotonic() > deadline:
                raise SystemExit("the worker did not submit everything within 10 minutes")
            time.sleep(1)
        submitted = time.monotonic() - t0
        # Warm up: every generation was submitted within a minute, so for the first ~2 minutes they all poll at
        # 5, 10, 20, 40 s at once (a start-up burst). Measure the steady state, at the 60 s polling interval.
        print(f"warming up {warmup:.0f} s ...", flush=True)
        time.sleep(warmup)
        Path(lateness).write_text("")
        time.sleep(window)
        stop(pid)
        values = sorted(float(x) for x in Path(lateness).read_text().split())
        polling = Generation.objects.filter(status__in=["submitted", "running"]).count()
        if not values:
            raise SystemExit("no polls recorded")
        p50 = statistics.median(values)
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        print(f"in flight: {polling} generations polled by one worker for {window:.0f} s "
              f"(created in {created:.1f} s, all submitted after {submitted:.1f} s)")
        print(f"polls: {len(values)} ({len(values) / window:.1f}/s); lateness p50 {p50:.3f} s, p99 {p99:.3f} s, "
              f"max {values[-1]:.3f} s  (target: p99 < 2 s)")
    finally:
        sim.terminate()
        Path(lateness).unlink(missing_ok=True)


def cpu_per_generation(count: int) -> None:
    import django_rq

    from generations.models import Generation

    django_rq.get_connection("default").flushdb()
    sim = start_simulator(task_seconds=3)
    fd, media_file = tempfile.mkstemp(suffix=".txt")
    os.close(fd)
    try:
        ids = make_generations(count)
        before = os.times()
        t0 = time.monotonic()
        pid = run_worker(media_file=media_file)
        while Generation.objects.filter(pk__in=ids, status__in=Generation.IN_FLIGHT).exists():
            if time.monotonic() - t0 > 600:
                raise SystemExit("generations did not finish within 10 minutes")
            time.sleep(0.5)
        elapsed = time.monotonic() - t0
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
        after = os.times()
        total = (after.children_user + after.children_system) - (before.children_user + before.children_system)
        media = float(Path(media_file).read_text() or 0)
        ready = max(Generation.objects.filter(pk__in=ids, status="ready").count(), 1)
        clips = "with" if os.environ.get("PREVIEW_CLIPS", "1") not in ("0", "false", "False") else "without"
        print(f"finished: {ready}/{count} ready in {elapsed:.1f} s; worker CPU {total:.2f} s "
              f"= {1000 * total / ready:.1f} ms per finished video ({clips} preview clips)")
        print(f"  media work (probe, poster, card posters, clip): {1000 * media / ready:.1f} ms per video")
        print(f"  the pipeline itself (RQ, Redis, database, provider calls, storage): "
              f"{1000 * (total - media) / ready:.1f} ms per video (target <= 20 ms)")
    finally:
        sim.terminate()
        Path(media_file).unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--in-flight", type=int, default=2000)
    parser.add_argument("--window", type=float, default=90)
    parser.add_argument("--finish", type=int, default=200)
    parser.add_argument("--warmup", type=float, default=150)
    parser.add_argument("--cpu-only", action="store_true", help="only the CPU per finished video")
    args = parser.parse_args()
    setup_django()
    print(f"database: {os.environ['DATABASE_URL'].split('@')[-1]}")
    cpu_per_generation(args.finish)
    if not args.cpu_only:
        capacity(args.in_flight, args.window, args.warmup)


if __name__ == "__main__":
    main()
