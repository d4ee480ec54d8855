"""Outages: a provider that is down for minutes, and PostgreSQL going away under a running worker.

Generations wait and recover, are charged once and never refunded for an outage, and the pages keep working and
say what is happening. Timings are CRASH_ENV's (backoff 0.3 s doubling to 1 s, 3 s leases, a sweep every 5 s), so
"minutes" of production backoff are seconds here.

PostgreSQL outages run only when the test database is PostgreSQL. By default the outage is confined to this
session's test database (every connection to it is cut and new ones are refused), which is what the site sees of
a restart without disturbing anyone else using the server. Set KLING_TEST_PG_RESTART=1 (as root, with
pg_ctlcluster) to stop and start the real cluster instead: that cuts every other session's connections too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import psycopg
import pytest
from django.db import connection
from django.test import Client
from django.utils.html import escape

from generations.models import Generation
from generations.services.credits import credits_audit
from tests import factories
from tests.conftest import wait_for
from tests.test_crash import CRASH_ENV

pytestmark = pytest.mark.django_db(transaction=True)
S = Generation.Status
KLING = "kling:kling-v2-5-turbo"  # looked up by our external id after an interrupted submit: never resent blindly


@pytest.fixture
def outage_settings(settings, media_root, sim_credentials, sim):
    for key, value in CRASH_ENV.items():
        setattr(settings, key, float(value))
    settings.DEBUG = False
    yield
    assert credits_audit() == []


def _row(gen: Generation) -> Generation:
    return Generation.objects.get(pk=gen.pk)


def _kinds(gen: Generation) -> list[str]:
    return list(gen.credit_entries.values_list("kind", flat=True))


def _assert_pages_work_and_explain(client: Client, gen: Generation) -> None:
    row = _row(gen)
    assert row.status in Generation.IN_FLIGHT and row.error, (row.status, row.error)
    page = client.get(f"/videos/{gen.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "data-retrying>Retrying:" in html  # shown, not hidden
    assert escape(row.error) in html
    status = client.get(f"/videos/{gen.pk}/status.json").json()
    assert status["error"] == row.error
    for url in ("/", "/videos/", "/credits/", "/new/"):
        assert client.get(url).status_code == 200, url


def test_a_provider_down_for_minutes_while_generating_waits_then_finishes(outage_settings, sim, alice,
                                                                          worker_processes):
    """Every status check fails with a 503 for many backoff rounds; the video waits, then finishes, charged once."""
    client = Client()
    client.force_login(alice)
    sim.set_faults(["poll:503"])  # the provider took the job, then went down
    gen = factories.create(alice, "mulerun:kling-v2.5-turbo", prompt=f"A lighthouse in a storm {uuid.uuid4().hex}")
    worker_processes(**CRASH_ENV)
    # Nine failed polls in a row: with production backoff (5 s doubling to 60 s) that is over five minutes down.
    wait_for(lambda: _row(gen).poll_errors >= 9, timeout=40, step=0.1, what="nine failed polls")
    row = _row(gen)
    assert row.status in Generation.POLLING
    assert row.error.startswith("MuleRun had a server error (HTTP 503)"), row.error
    assert row.error.endswith(".") and "Traceback" not in row.error
    _assert_pages_work_and_explain(client, gen)
    assert _kinds(gen) == ["charge"]  # no refund for a provider that is only down

    sim.clear_faults()
    wait_for(lambda: _row(gen).status not in Generation.IN_FLIGHT, timeout=40, step=0.1, what="the video to finish")
    row = _row(gen)
    assert row.status == S.READY, row.error
    assert row.error == ""  # the "Retrying" line goes away
    assert _kinds(gen) == ["charge"]
    assert sum(1 for t in sim.tasks() if t.prompt == gen.prompt) == 1
    assert "data-retrying hidden" in client.get(f"/videos/{gen.pk}/").content.decode()


def test_a_provider_down_for_minutes_at_submit_waits_then_finishes(outage_settings, sim, alice, worker_processes):
    client = Client()
    client.force_login(alice)
    sim.set_faults(["create:503", "poll:503"])  # down before the video is even sent
    gen = factories.create(alice, KLING, prompt=f"A harbour at night {uuid.uuid4().hex}")
    worker_processes(**CRASH_ENV)
    wait_for(lambda: _row(gen).error, timeout=20, step=0.1, what="the first failed submit")
    _assert_pages_work_and_explain(client, gen)
    time.sleep(8)  # with production backoff, 8 s of these retries is over 2 minutes of outage
    assert _row(gen).status in Generation.IN_FLIGHT, _row(gen).error
    sim.clear_faults()
    wait_for(lambda: _row(gen).status not in Generation.IN_FLIGHT, timeout=40, step=0.1, what="the video to finish")
    assert _row(gen).status == S.READY
    assert _kinds(gen) == ["charge"]


# --- PostgreSQL goes away ------------------------------------------------------------------------------------
def _maintenance_dsn() -> str:
    db = connection.settings_dict
    return (f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} user={db['USER']} dbname=postgres"
            + (f" password={db['PASSWORD']}" if db["PASSWORD"] else ""))


def _cluster() -> tuple[str, str] | None:
    """(version, name) of the local cluster serving the test database, when we may restart it."""
    if os.environ.get("KLING_TEST_PG_RESTART") != "1" or os.geteuid() != 0 or not shutil.which("pg_ctlcluster"):
        return None
    port = str(connection.settings_dict["PORT"] or 5432)
    out = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        version, name, cluster_port, *_ = line.split()
        if cluster_port == port:
            return version, name
    return None


def _pg_up() -> bool:
    try:
        with psycopg.connect(_maintenance_dsn(), connect_timeout=1):
            return True
    except psycopg.Error:
        return False


@contextmanager
def postgres_down() -> Iterator[str]:
    """PostgreSQL unreachable for the body of the with-block; back up afterwards whatever happens."""
    cluster = _cluster()
    name = connection.settings_dict["NAME"]
    try:
        if cluster:
            version, cluster_name = cluster
            ctl = ["pg_ctlcluster", "--skip-systemctl-redirect", version, cluster_name]
            subprocess.run([*ctl, "stop", "-m", "fast"], check=True, capture_output=True, timeout=60)
            try:
                yield f"cluster {version}/{cluster_name} stopped"
            finally:
                if not _pg_up():
                    subprocess.run([*ctl, "start"], check=True, capture_output=True, timeout=60)
                wait_for(_pg_up, timeout=60, step=0.2, what="PostgreSQL to accept connections again")
        else:
            with psycopg.connect(_maintenance_dsn(), autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
                try:
                    admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
                    yield f"database {name} closed to connections"
                finally:
                    admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    finally:
        with suppress(Exception):
            connection.close()  # this process's socket died with the server; the next query reconnects


@pytest.fixture
def postgresql(db):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL outages need a PostgreSQL test database (set DATABASE_URL=postgres://...)")


def test_postgresql_going_away_mid_work_loses_nothing_and_pages_say_so(postgresql, outage_settings, sim, alice,
                                                                        worker_processes, tmp_path):
    sim.task_seconds = 6
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    gens = [factories.create(alice, KLING, prompt=f"A tram in the fog {i} {uuid.uuid4().hex}") for i in range(4)]
    worker_processes(**CRASH_ENV)
    wait_for(lambda: Generation.objects.filter(pk__in=[g.pk for g in gens], status__in=Generation.POLLING).count()
             == len(gens), timeout=30, step=0.1, what="every video to be at the provider")
    with postgres_down() as what:
        time.sleep(1.0)  # the worker keeps polling into the outage: its jobs fail against the database
        page = client.get("/")
        assert page.status_code == 500, what
        html = page.content.decode()
        assert "Something went wrong on our side" in html and "try again in a moment" in html
        assert "Traceback" not in html and "OperationalError" not in html and "postgres" not in html.lower()
        time.sleep(3.0)
    assert client.get("/").status_code == 200  # the next request reconnects (gunicorn: CONN_HEALTH_CHECKS)
    log = tmp_path / "worker-0.log"
    ids = [g.pk for g in gens]
    # Jobs that died with the database are re-enqueued by the sweep once their step is overdue (recovery.GRACE).
    wait_for(lambda: not Generation.objects.filter(pk__in=ids, status__in=Generation.IN_FLIGHT).exists(),
             timeout=75, step=0.25, what="every video to finish after the outage")
    for gen in Generation.objects.filter(pk__in=ids):
        assert gen.status == S.READY, (gen.status, gen.error, log.read_text()[-3000:])
        assert _kinds(gen) == ["charge"]
        assert sum(1 for t in sim.tasks() if t.prompt == gen.prompt) == 1  # sent once, never resent
    assert "OperationalError" in log.read_text()  # the outage did hit the worker's jobs
