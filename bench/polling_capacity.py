"""Worker CPU per finished video, and how many in-flight videos one worker keeps polling on schedule.

Targets: <= 20 ms of worker CPU per finished video for the pipeline itself (issue 17; the media work, which grows
with the video, is printed apart); >= 2,000 in flight with p99 poll lateness < 2 s (issue 4).

    .venv/bin/python bench/polling_capacity.py [--finish 200] [--workers 1] [--cpu-only]
                                               [--in-flight 2000] [--window 90] [--warmup 150]

It uses its own SQLite file (or DATABASE_URL: give it a PostgreSQL database of its own), Redis database 11
(flushed) and a simulator subprocess on port 8799, then runs real workers (`generations.worker.Worker`, as the
Procfile does) in child processes: `--workers N` for the CPU run, one for the capacity run. It also prints the
Redis commands per finished video and, on PostgreSQL, the peak number of database connections. Lateness is how long
after a row's `next_run_at` its poll started, recorded by a thin wrapper around the poll service.
"""
from __future__ import annotations

import argparse
import json
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
MEMBERS = 50
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


def make_generations(count: int, members: int = MEMBERS) -> list[str]:
    """`count` videos spread over `members` members (each within the in-flight limit, so none waits in line, as in
    a team's usual day); `--members 1` queues them all for one member, which keeps the waiting line busy."""
    from django.contrib.auth import get_user_model

    from generations.services.create import generation_create
    from generations.services.credits import credits_grant
    from generations.services.demo import demo_credentials, prices_seed

    prices_seed()
    demo_credentials(f"http://127.0.0.1:{SIM_PORT}")
    users = []
    for m in range(members):
        user = get_user_model().objects.create_user(f"bench{time.time_ns()}-{m}")  # no password: no hashing
        credits_grant(user=user, amount=count * 100, reason="benchmark", actor=None)
        users.append(user)
    ids = []
    for i in range(count):
        gen = generation_create(user=users[i % members], model_key="mulerun:kling-v2.5-turbo",
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
    spent = {"media": 0.0, "bytes": 0.0}

    def counted(fn, kind):
        def wrapper(*args, **kwargs):
            start = time.process_time()  # the whole process: FFmpeg's decoding threads count too
            try:
                return fn(*args, **kwargs)
            finally:
                spent[kind] += time.process_time() - start

        return wrapper

    if media_file:
        from django.core.files.storage import FileSystemStorage

        pipeline.probe, pipeline.make_poster = counted(pipeline.probe, "media"), counted(pipeline.make_poster, "media")
        card_media.make = counted(card_media.make, "media")
        # Moving the video's bytes: the download (with its checksum) and every write to storage.
        pipeline.download = counted(pipeline.download, "bytes")
        FileSystemStorage._save = counted(FileSystemStorage._save, "bytes")
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
        Path(media_file).write_text(json.dumps(spent))
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
        make_generations(in_flight, members=max(in_flight // 4, 1))  # each member within the in-flight limit
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


def _db_connections() -> int:
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0] - 1  # not this one


def cpu_per_generation(count: int, workers: int = 1, members: int = MEMBERS, task_seconds: float = 3) -> None:
    import django_rq

    from generations.models import Generation

    redis = django_rq.get_connection("default")
    redis.flushdb()
    sim = start_simulator(task_seconds=task_seconds)
    media_files = [tempfile.mkstemp(suffix=".txt") for _ in range(workers)]
    for fd, _ in media_files:
        os.close(fd)
    try:
        ids = make_generations(count, members)
        before = os.times()
        commands = redis.info("stats")["total_commands_processed"]
        t0 = time.monotonic()
        pids = [run_worker(media_file=name) for _, name in media_files]
        peak_connections = 0
        while Generation.objects.filter(pk__in=ids, status__in=Generation.IN_FLIGHT).exists():
            if time.monotonic() - t0 > 900:
                raise SystemExit("generations did not finish within 15 minutes")
            peak_connections = max(peak_connections, _db_connections())
            time.sleep(0.5)
        elapsed = time.monotonic() - t0
        commands = redis.info("stats")["total_commands_processed"] - commands
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        for pid in pids:
            os.waitpid(pid, 0)
        after = os.times()
        total = (after.children_user + after.children_system) - (before.children_user + before.children_system)
        spent = [json.loads(Path(name).read_text()) for _, name in media_files]
        media, moved = sum(s["media"] for s in spent), sum(s["bytes"] for s in spent)
        ready = max(Generation.objects.filter(pk__in=ids, status="ready").count(), 1)
        clips = "with" if os.environ.get("PREVIEW_CLIPS", "1") not in ("0", "false", "False") else "without"
        print(f"{workers} worker(s), {members} member(s), {task_seconds:g} s tasks: {ready}/{count} ready "
              f"in {elapsed:.1f} s "
              f"({ready / elapsed:.2f} videos/s); "
              f"worker CPU {total:.2f} s = {1000 * total / ready:.1f} ms per finished video ({clips} preview clips)")
        print(f"  media work (probe, poster, card posters, clip): {1000 * media / ready:.1f} ms per video")
        print(f"  moving the video's bytes (download, checksum, storage): {1000 * moved / ready:.1f} ms per video")
        print(f"  the pipeline itself (RQ, Redis, database, provider calls): "
              f"{1000 * (total - media - moved) / ready:.1f} ms per video (target <= 20 ms)")
        print(f"  Redis commands: {commands / ready:.0f} per video (all clients); "
              f"peak database connections: {peak_connections or 'n/a (SQLite)'}")
    finally:
        sim.terminate()
        for _, name in media_files:
            Path(name).unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--in-flight", type=int, default=2000)
    parser.add_argument("--window", type=float, default=90)
    parser.add_argument("--finish", type=int, default=200)
    parser.add_argument("--warmup", type=float, default=150)
    parser.add_argument("--cpu-only", action="store_true", help="only the CPU per finished video")
    parser.add_argument("--workers", type=int, default=1, help="worker processes for the CPU run")
    parser.add_argument("--members", type=int, default=MEMBERS, help="members the CPU run's videos belong to")
    parser.add_argument("--task-seconds", type=float, default=3, help="how long the provider takes (CPU run)")
    args = parser.parse_args()
    setup_django()
    print(f"database: {os.environ['DATABASE_URL'].split('@')[-1]}")
    cpu_per_generation(args.finish, args.workers, args.members, args.task_seconds)
    if not args.cpu_only:
        capacity(args.in_flight, args.window, args.warmup)


if __name__ == "__main__":
    main()
