"""Load: 50 members browse the gallery and submit videos against gunicorn + PostgreSQL, for 5 minutes.

Target (issue): 0 errors; gallery p95 <= 150 ms on a 2-core machine.

    .venv/bin/python bench/load.py [--seconds 300] [--members 50] [--think 2] [--gunicorn gthread|sync] [--keep]

Everything runs on loopback and stops by itself:
- PostgreSQL: the server in DATABASE_URL when it is PostgreSQL, else postgres://postgres@127.0.0.1:5432; always
  its database `kling_bench` (dropped and re-created unless --keep), migrated and seeded with --rows generations
  (bench/pages_latency.py's seed: 90 % ready, most shared, 50 members with 1,000 credits each);
- Redis database 7 (flushed), a simulator subprocess on port 8797 (tasks take 5 s), ONE RQ worker process
  (`manage.py rqworker default fetch long --with-scheduler`, as the Procfile runs it) and gunicorn with DEBUG off:
  `gthread` = 3 workers x 4 threads, `sync` = (2 x cores) + 1 sync workers.
Each virtual member (its own session cookie and connection) loops: gallery page 1, a random later page, a search,
a video's page, and in 1 loop out of 20 the New video form then a real form POST (CSRF token included) and the
new video's page; it waits --think seconds on average (uniformly 0 to 2x) before every request: 2 s by default,
a brisk human (50 members then offer ~25 requests/s; --think 0 measures saturation instead). A separate
client requests the baseline, /accounts/login/ (a template view through the same middleware, no database), 4
times a second. Times are measured by the client (which shares the CPUs) and by gunicorn itself (access log %D).
Exit status 1 if any request failed or any submitted video failed.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VAR = ROOT / "var"
SIM_PORT = 8797
REDIS_URL = "redis://127.0.0.1:6379/7"
BENCH_DB = "kling_bench"
MEDIA = VAR / "bench-load-media"
MODEL = "mulerun:kling-v2.5-turbo"


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    server = url if url.startswith(("postgres://", "postgresql://")) else "postgres://postgres@127.0.0.1:5432/postgres"
    parts = urlsplit(server)
    return parts._replace(path=f"/{BENCH_DB}").geturl()


os.environ.update(
    DJANGO_SETTINGS_MODULE="kling_site.settings",
    DATABASE_URL=_database_url(),
    REDIS_URL=REDIS_URL,
    # Bench-only keys: this throwaway database holds nothing worth protecting.
    SECRET_KEY="bench-load-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    CREDENTIAL_KEYS="35pdQvcYfcEYFo8pGfNh5iZeNzrZw66UhG2p6mKnxNc=",
    DEBUG="0",
    HTTPS="0",
    STATIC_MANIFEST="0",
    MEDIA_ROOT=str(MEDIA),
    FETCH_ALLOWED_HOSTS=f"127.0.0.1:{SIM_PORT}",
    LOG_LEVEL="WARNING",
    PYTHONUNBUFFERED="1",
)


def prepare_database(keep: bool) -> None:
    """Create (or re-create) the bench database with psycopg on the maintenance database."""
    import psycopg

    admin = urlsplit(os.environ["DATABASE_URL"])._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone()
        if exists and not keep:
            conn.execute(f'DROP DATABASE "{BENCH_DB}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{BENCH_DB}"')


def setup(rows: int, members: int) -> tuple[list[str], list[str], int]:
    """Migrate, seed, and return (session keys, ids of team-visible ready videos, simulator credential pk)."""
    import django

    django.setup()
    import django_rq
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command

    from generations.models import Generation, ProviderCredential
    from generations.services.demo import demo_credentials

    django_rq.get_connection("default").flushdb()
    call_command("migrate", verbosity=0)
    from bench.pages_latency import seed  # the page benchmark's seeding: same data shape, one place

    seed(rows)
    ProviderCredential.objects.exclude(base_url__contains=f":{SIM_PORT}").update(is_active=False)
    demo_credentials(f"http://127.0.0.1:{SIM_PORT}")
    cred = ProviderCredential.objects.get(provider="mulerun", is_active=True)
    users = list(get_user_model().objects.filter(username__startswith="member").order_by("pk")[:members])
    sessions = []
    for user in users:
        store = SessionStore()
        store.update({SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                      HASH_SESSION_KEY: user.get_session_auth_hash()})
        store.save()
        sessions.append(store.session_key)
    visible = Generation.objects.filter(status="ready", visibility="team").order_by("-created_at")
    ids = [str(pk) for pk in visible.values_list("pk", flat=True)[:3000]]
    return sessions, ids, cred.pk


# --- processes ------------------------------------------------------------------------------------------------
def _spawn(cmd: list[str], log: Path, **env: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as fh:
        return subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, **env), stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _wait_http(url: str, what: str, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what} did not start within {timeout:.0f} s")


def cpu_seconds(pgid: int) -> float:
    """User + system CPU of the live processes of a process group, with their reaped children (RQ's work-horses)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # after "(comm)": state, ppid, pgrp, ..., utime, stime, cutime, cstime (11-14)
            total += sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return total


def gunicorn_command(kind: str, port: int, access_log: Path) -> list[str]:
    if kind == "gthread":
        shape = ["--workers", "3", "--threads", "4"]
    else:
        shape = ["--workers", str(2 * (os.cpu_count() or 1) + 1), "--worker-class", "sync"]
    return [sys.executable, "-m", "gunicorn", "kling_site.wsgi", "--bind", f"127.0.0.1:{port}", *shape,
            "--timeout", "60", "--access-logfile", str(access_log),
            "--access-logformat", "%(s)s %(D)s %(m)s %(U)s?%(q)s"]


# --- the virtual members --------------------------------------------------------------------------------------
# gunicorn closes an idle keep-alive connection after 2 s; a client reusing it at that moment reads nothing
# (ReadError). Browsers retry such a request silently; here the client lets idle connections go first instead.
LIMITS_KEEPALIVE = 1.5
GEN_PAGE = re.compile(r"^/videos/[0-9a-f-]{36}/$")
BARE = "bare: /accounts/login/ (no DB)"
LABELS = ["gallery, page 1", "gallery, page 2-50", "gallery, search", "video page", "new video form",
          "new video POST", BARE]


def label_for(method: str, url: str) -> str:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if parts.path == "/":
        if "q" in query:
            return "gallery, search"
        return "gallery, page 1" if query.get("page", ["1"]) == ["1"] else "gallery, page 2-50"
    if GEN_PAGE.match(parts.path):
        return "video page"
    if parts.path == "/new/":
        return "new video POST" if method == "POST" else "new video form"
    if parts.path == "/accounts/login/":
        return BARE
    return f"other {method} {parts.path}"


class Recorder:
    def __init__(self) -> None:
        self.times: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter[str] = Counter()
        self.samples: dict[str, str] = {}
        self.created: list[str] = []

    def add(self, label: str, ms: float, error: str = "") -> None:
        self.times[label].append(ms)
        if error:
            self.errors[label] += 1
            self.samples.setdefault(label, error)


def _limits():
    import httpx

    return httpx.Limits(keepalive_expiry=LIMITS_KEEPALIVE)


async def _request(client, rec: Recorder, method: str, url: str, expect: int, **kwargs):
    import httpx

    label = label_for(method, url)
    t0 = time.perf_counter()
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        rec.add(label, (time.perf_counter() - t0) * 1000, f"{type(exc).__name__}: {exc}")
        return None
    ms = (time.perf_counter() - t0) * 1000
    rec.add(label, ms, "" if response.status_code == expect else f"HTTP {response.status_code} for {url}")
    return response if response.status_code == expect else None


async def member(base: str, session: str, ids: list[str], cred: int, rec: Recorder, stop_at: float, think: float,
                 seed: int) -> None:
    import httpx

    rng = random.Random(seed)

    async def pause() -> None:
        if think > 0:
            await asyncio.sleep(rng.uniform(0, 2 * think))

    cookies = {"sessionid": session}
    async with httpx.AsyncClient(base_url=base, cookies=cookies, timeout=30, limits=_limits()) as client:
        await asyncio.sleep(rng.uniform(0, max(think, 0.5)))  # do not all start in the same millisecond
        while time.monotonic() < stop_at:
            search = rng.choice(["forest", "lighthouse", "neon rain", "word17", "fox"])
            urls = ["/", f"/?page={rng.randint(2, 50)}", f"/?q={search}", f"/videos/{rng.choice(ids)}/"]
            for url in urls:
                await pause()
                if time.monotonic() >= stop_at:
                    return
                await _request(client, rec, "GET", url, 200)
            if rng.randrange(20) == 0:
                await pause()
                page = await _request(client, rec, "GET", "/new/", 200)
                token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text) if page else None
                if token is None:
                    continue
                await pause()
                data = {"csrfmiddlewaretoken": token.group(1), "model": f"{cred}:{MODEL}", "mode": "std",
                        "duration": "5", "aspect_ratio": "16:9", "visibility": "team",
                        "form_token": str(uuid.uuid4()), "prompt": f"Load test clip {rng.random():.6f} in the rain"}
                done = await _request(client, rec, "POST", "/new/", 302, data=data,
                                      headers={"Referer": f"{base}/new/"})
                location = done.headers.get("location", "") if done else ""
                if GEN_PAGE.match(location):
                    rec.created.append(location.split("/")[2])
                    await pause()
                    await _request(client, rec, "GET", location, 200)


async def baseline(base: str, rec: Recorder, stop_at: float) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=30, limits=_limits()) as client:
        while time.monotonic() < stop_at:
            await asyncio.sleep(0.25)
            await _request(client, rec, "GET", "/accounts/login/", 200)


async def run_load(base: str, sessions: list[str], ids: list[str], cred: int, seconds: float, think: float) -> Recorder:
    rec = Recorder()
    stop_at = time.monotonic() + seconds
    tasks = [member(base, s, ids, cred, rec, stop_at, think, i) for i, s in enumerate(sessions)]
    await asyncio.gather(baseline(base, rec, stop_at), *tasks)
    return rec


# --- report ---------------------------------------------------------------------------------------------------
def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]  # nearest rank


def server_times(access_log: Path) -> dict[str, list[float]]:
    out: dict[str, list[float]] = defaultdict(list)
    for line in access_log.read_text().splitlines():
        try:
            _status, micros, method, url = line.split(" ", 3)
            out[label_for(method, url.rstrip("?"))].append(int(micros) / 1000)
        except ValueError:
            continue
    return out


def report(rec: Recorder, server: dict[str, list[float]], seconds: float) -> int:
    total = sum(len(v) for v in rec.times.values())
    errors = sum(rec.errors.values())
    print(f"\n{'endpoint':<32} {'count':>6} {'errors':>6} | {'client p50':>10} {'p95':>7} {'p99':>7} "
          f"| {'server p50':>10} {'p95':>7} {'p99':>7}  (ms)")
    for label in [*LABELS, *sorted(set(rec.times) - set(LABELS))]:
        times, srv = rec.times.get(label, []), server.get(label, [])
        if not times:
            continue
        print(f"{label:<32} {len(times):>6} {rec.errors[label]:>6} | {pct(times, 50):>10.1f} {pct(times, 95):>7.1f} "
              f"{pct(times, 99):>7.1f} | {pct(srv, 50):>10.1f} {pct(srv, 95):>7.1f} {pct(srv, 99):>7.1f}")
    gallery = [t for k, v in rec.times.items() if k.startswith("gallery") for t in v]
    gallery_srv = [t for k, v in server.items() if k.startswith("gallery") for t in v]
    print(f"{'gallery, all':<32} {len(gallery):>6} {'':>6} | {pct(gallery, 50):>10.1f} {pct(gallery, 95):>7.1f} "
          f"{pct(gallery, 99):>7.1f} | {pct(gallery_srv, 50):>10.1f} {pct(gallery_srv, 95):>7.1f} "
          f"{pct(gallery_srv, 99):>7.1f}")
    print(f"total: {total} requests in {seconds:.0f} s = {total / seconds:.1f} requests/s, {errors} errors "
          f"(target: 0 errors, gallery p95 <= 150 ms)")
    for label, sample in rec.samples.items():
        print(f"  first error, {label}: {sample}")
    return errors


def drain(created: list[str], timeout: float) -> int:
    """Give the worker a moment to finish what was submitted; returns the number of failed videos."""
    from generations.models import Generation

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Generation.objects.filter(pk__in=created, status__in=Generation.IN_FLIGHT).exists():
            break
        time.sleep(1)
    counts = Counter(Generation.objects.filter(pk__in=created).values_list("status", flat=True))
    print(f"videos submitted: {len(created)}; after up to {timeout:.0f} s more: {dict(counts)}")
    for error in Generation.objects.filter(pk__in=created, status="failed").values_list("error", flat=True)[:3]:
        print(f"  failed: {error}")
    return counts.get("failed", 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--members", type=int, default=50, choices=range(1, 51), metavar="1..50")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--think", type=float, default=2.0,
                        help="mean seconds a member waits before each request (0: as fast as the server answers)")
    parser.add_argument("--gunicorn", choices=["gthread", "sync"], default="gthread")
    parser.add_argument("--drain", type=float, default=60, help="seconds to wait for submitted videos afterwards")
    parser.add_argument("--keep", action="store_true", help="reuse the seeded kling_bench database")
    args = parser.parse_args()

    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"database: {os.environ['DATABASE_URL'].split('@')[-1]}; redis: {REDIS_URL} (flushed)")
    VAR.mkdir(exist_ok=True)
    shutil.rmtree(MEDIA, ignore_errors=True)
    logs = Path(tempfile.mkdtemp(prefix="bench-load-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        prepare_database(args.keep)
        t0 = time.monotonic()
        sessions, ids, cred = setup(args.rows, args.members)
        print(f"set up in {time.monotonic() - t0:.1f} s: {len(sessions)} members, {len(ids)} shared ready videos")
        from django.db import connections

        connections.close_all()
        procs.append(_spawn([sys.executable, "-m", "generations.simulator", "--port", str(SIM_PORT),
                             "--task-seconds", "5", "--cache-dir", str(VAR / "simulator-cache")], logs / "sim.log"))
        _wait_http(f"http://127.0.0.1:{SIM_PORT}/_sim/health", "the simulator")
        procs.append(_spawn([sys.executable, "manage.py", "rqworker", "default", "fetch", "long", "--with-scheduler"],
                            logs / "worker.log", DEBUG="1"))
        from kling_site.devredis import free_port

        port = free_port()
        access = logs / "access.log"
        procs.append(_spawn(gunicorn_command(args.gunicorn, port, access), logs / "gunicorn.log"))
        base = f"http://127.0.0.1:{port}"
        _wait_http(f"{base}/accounts/login/", "gunicorn")
        shape = "3 workers x 4 threads" if args.gunicorn == "gthread" else f"{2 * (os.cpu_count() or 1) + 1} workers"
        print(f"gunicorn {args.gunicorn} ({shape}); {len(sessions)} members, think {args.think:g} s, "
              f"{args.seconds:.0f} s ...", flush=True)
        access.write_text("")  # only the measured requests
        sim_pid, worker_pid, web_pid = (p.pid for p in procs)

        def usage() -> dict[str, float]:
            return {"gunicorn": cpu_seconds(web_pid), "worker + simulator": cpu_seconds(worker_pid)
                    + cpu_seconds(sim_pid), "load generator": sum(os.times()[:2])}

        before = usage()
        rec = asyncio.run(run_load(base, sessions, ids, cred, args.seconds, args.think))
        cpu = {k: v - before[k] for k, v in usage().items()}
        errors = report(rec, server_times(access), args.seconds)
        served = sum(len(v) for v in rec.times.values())
        print("CPU used during the run: " + ", ".join(f"{k} {v:.0f} s" for k, v in cpu.items())
              + f" of {args.seconds * (os.cpu_count() or 1):.0f} CPU-seconds; gunicorn "
              f"{1000 * cpu['gunicorn'] / max(served, 1):.1f} ms of CPU per request")
        load = os.getloadavg()
        print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        failed = drain(rec.created, args.drain)
    finally:
        for proc in reversed(procs):
            _stop(proc)
        print(f"logs: {logs}")
    sys.exit(1 if errors or failed else 0)


if __name__ == "__main__":
    main()
