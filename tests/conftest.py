"""Shared fixtures: personas, a clean Redis, the simulator's credentials, and real RQ workers.

Personas follow healthchecks' hc/test.py: alice (member with credits), bob (teammate), charlie (another member
who must not see Alice's private things) and admin (staff).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from rq.serializers import JSONSerializer
from rq.worker import SimpleWorker

from generations.models import Generation, ProviderCredential
from generations.scheduling import queue_for
from generations.services.credits import credits_grant

pytest_plugins = [
    "tests.fixtures_simulator",
    "tests.fixtures_pages",
    "tests.fixtures_storage",
    "tests.fixtures_browser",
]
ROOT = Path(__file__).resolve().parent.parent
QUEUES = ("default", "fetch", "long", "hooks")


@pytest.fixture(autouse=True)
def _clean_redis() -> Iterator[None]:
    """Every test starts with empty queues (the test Redis database is never the development one)."""
    queue_for("default").connection.flushdb()
    yield


@pytest.fixture
def fast_polls(settings: Any) -> None:
    settings.POLL_FIRST_SECONDS = 0.2
    settings.POLL_MAX_SECONDS = 0.5


# --- personas -----------------------------------------------------------------------------------------------
def make_member(username: str, credits: int = 0, **extra: Any) -> Any:
    user = get_user_model().objects.create_user(username, f"{username}@example.com", "correct horse battery", **extra)
    if credits:
        credits_grant(user=user, amount=credits, reason="test credits", actor=None)
    return user


@pytest.fixture
def alice(db: None) -> Any:
    return make_member("alice", 500, first_name="Alice")


@pytest.fixture
def bob(db: None) -> Any:
    return make_member("bob", 100, first_name="Bob")


@pytest.fixture
def charlie(db: None) -> Any:
    return make_member("charlie", 0, first_name="Charlie")


@pytest.fixture
def admin_user(db: None) -> Any:
    return get_user_model().objects.create_superuser("admin", "admin@example.com", "correct horse battery")


# --- provider credentials pointing at the simulator --------------------------------------------------------
@pytest.fixture
def sim_credentials(db: None, simulator: Any) -> dict[str, ProviderCredential]:
    from generations.services.demo import demo_credentials, prices_seed

    prices_seed()
    demo_credentials(simulator.base_url)
    return {c.provider: c for c in ProviderCredential.objects.all()}


# --- workers ------------------------------------------------------------------------------------------------
class InProcessWorker(SimpleWorker):
    """Runs jobs in the test's own process and database connection (no fork), with our JSON serializer."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("serializer", JSONSerializer)
        super().__init__(*args, **kwargs)


def run_jobs() -> None:
    """Run everything queued now, moving due scheduled jobs onto the queues first."""
    queues = [queue_for(q) for q in QUEUES]
    InProcessWorker(queues, connection=queues[0].connection).work(burst=True, with_scheduler=True)


def wait_for(predicate: Callable[[], Any], *, timeout: float = 30, step: float = 0.05, what: str = "condition") -> Any:
    """Await a condition that another process (worker, simulator) brings about."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


def drive(*gens: Generation, timeout: float = 60) -> list[Generation]:
    """Work the queues in this process until every generation is out of flight."""
    ids = [g.pk for g in gens]

    def settled() -> bool:
        run_jobs()
        return not Generation.objects.filter(pk__in=ids, status__in=Generation.IN_FLIGHT).exists()

    try:
        wait_for(settled, timeout=timeout, step=0.05, what="generations to finish")
    except AssertionError:
        rows = Generation.objects.filter(pk__in=ids).values_list("status", "error", "poll_count", "next_run_at")
        raise AssertionError(f"generations still in flight: {list(rows)}; failed jobs: {failed_jobs()}") from None
    return list(Generation.objects.filter(pk__in=ids))


def failed_jobs() -> list[str]:
    """Tracebacks of jobs that raised (a job should never raise: services record errors on the row)."""
    out = []
    for name in QUEUES:
        queue = queue_for(name)
        for job in queue.failed_job_registry.get_job_ids():
            fetched = queue.fetch_job(job)
            out.append(f"{job}: {fetched.exc_info if fetched else '?'}")
    return out


def worker_env(**extra: str) -> dict[str, str]:
    """Environment for a worker subprocess that shares this test session's database and Redis."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        url = f"sqlite:///{db['NAME']}"
    else:
        url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = dict(os.environ, DATABASE_URL=url, TEST_REDIS_URL=settings.REDIS_URL, DJANGO_SETTINGS_MODULE="tests.settings")
    env.pop("PYTEST_XDIST_WORKER", None)  # the subprocess uses exactly this session's Redis database
    env.update(
        POLL_FIRST_SECONDS=str(settings.POLL_FIRST_SECONDS),
        POLL_MAX_SECONDS=str(settings.POLL_MAX_SECONDS),
        FETCH_ALLOWED_HOSTS=",".join(settings.FETCH_ALLOWED_HOSTS),
        WEBHOOK_ALLOWED_HOSTS=",".join(settings.WEBHOOK_ALLOWED_HOSTS),
        SWEEP_INTERVAL_SECONDS=str(settings.SWEEP_INTERVAL_SECONDS),
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class WorkerProcess:
    """A real `manage.py rqworker` process, as the Procfile runs it."""

    def __init__(self, env: dict[str, str], log: Path, queues: tuple[str, ...] = QUEUES):
        self.log = log
        self._fh = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "rqworker", *queues, "--with-scheduler"],
            cwd=ROOT,
            env=env,
            stdout=self._fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (worker, work-horse and scheduler), as a container stop would."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.kill(signal.SIGTERM)
        self._fh.close()


@pytest.fixture
def worker_processes(tmp_path: Path, settings: Any) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(*queues: str, **extra: str) -> WorkerProcess:
        log = tmp_path / f"worker-{len(started)}.log"
        proc = WorkerProcess(worker_env(**extra), log, tuple(queues) or QUEUES)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        try:
            proc.stop()
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Path(settings.MEDIA_ROOT)
