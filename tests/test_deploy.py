"""Operations under pressure: a deploy in the middle of work, a stuck job, and 200 simultaneous submits over HTTP
to a real gunicorn with several workers."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from django.conf import settings as django_settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from generations import clock
from generations.models import CreditAccount, CreditEntry, Generation
from generations.services.create import price_for
from generations.services.credits import credits_audit, credits_grant
from generations.services.pipeline import _claim, _lease
from generations.services.recovery import generations_recover
from kling_site.devredis import free_port
from tests import factories
from tests.conftest import ROOT, make_member, wait_for, worker_env
from tests.test_crash import CRASH_ENV

pytestmark = pytest.mark.django_db(transaction=True)
S = Generation.Status


def test_a_deploy_in_the_middle_of_work_finishes_every_video_once(
    settings, media_root, sim_credentials, sim, worker_processes
):
    """20 in flight; every process gets SIGTERM, then SIGKILL after a grace period; new processes take over."""
    for key, value in CRASH_ENV.items():
        setattr(settings, key, float(value))
    sim.task_seconds = 3
    settings.MAX_IN_FLIGHT_PER_MEMBER = 0  # all 20 at the providers at once (the line: test_line)
    member = make_member("dora", 10_000)
    gens = [factories.create(member, "mulerun:kling-v2.5-turbo" if i % 2 else "kling:kling-v2-5-turbo",
                             prompt=f"Deploy clip {i}") for i in range(20)]
    old = [worker_processes(**CRASH_ENV, MAX_IN_FLIGHT_PER_MEMBER="0") for _ in range(2)]
    wait_for(lambda: Generation.objects.filter(status__in=Generation.POLLING).count() >= 5, timeout=60,
             what="work in flight")
    for proc in old:
        proc.proc.send_signal(signal.SIGTERM)  # warm shutdown: finish the current job, take no new one
    time.sleep(1.0)  # the grace period a platform gives before it kills
    for proc in old:
        proc.kill(signal.SIGKILL)
    [worker_processes(**CRASH_ENV, MAX_IN_FLIGHT_PER_MEMBER="0") for _ in range(2)]
    wait_for(lambda: not Generation.objects.filter(status__in=Generation.IN_FLIGHT).exists(), timeout=120,
             step=0.2, what="all 20 to finish")
    assert set(Generation.objects.values_list("status", flat=True)) == {S.READY}
    for gen in gens:
        assert list(CreditEntry.objects.filter(generation=gen).values_list("kind", flat=True)) == ["charge"]
    assert credits_audit() == []


def test_a_stuck_generation_is_detected_within_3_minutes(settings, alice, monkeypatch):
    """With production timings, a job that died holding a row is noticed by the first sweep after its lease."""
    assert settings.LEASE_SECONDS + settings.SWEEP_INTERVAL_SECONDS <= 180
    factories.credential("mulerun")
    gen = factories.create(alice)
    # Leases are read from the database's clock (generations/clock.py), so time moves through its test offset.
    monkeypatch.setattr(clock, "shift", timedelta(0))
    assert _claim(gen.pk, {S.QUEUED}, _lease("submit"), status=S.SUBMITTING) is not None  # then the job "dies"
    monkeypatch.setattr(clock, "shift", timedelta(seconds=settings.LEASE_SECONDS - 1))
    assert sum(generations_recover().values()) == 0  # still within its lease: a live job may hold it
    monkeypatch.setattr(clock, "shift", timedelta(seconds=settings.LEASE_SECONDS + settings.SWEEP_INTERVAL_SECONDS))
    assert generations_recover()[S.SUBMITTING] == 1  # the sweep hands the step to a new job


@pytest.fixture
def gunicorn(live_server):  # live_server only to get a migrated, shared test database in transactional mode
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "kling_site.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "4",
         "--threads", "4", "--timeout", "60"],
        cwd=ROOT, env=worker_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _up(url), timeout=30, step=0.1, what="gunicorn to listen")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/accounts/login/", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _session_cookie(user) -> str:
    store = SessionStore()
    store.update({SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                  HASH_SESSION_KEY: user.get_session_auth_hash()})
    store.save()
    return store.session_key


def test_200_simultaneous_submits_with_credit_for_100_accept_exactly_100(gunicorn):
    cred = factories.credential("mulerun")
    member = make_member("flo", 0)
    cost = price_for("mulerun:kling-v2.5-turbo", mode="std", duration=5, sound=False)
    credits_grant(user=member, amount=cost * 100, reason="exactly one hundred videos", actor=None)
    cookies = {django_settings.SESSION_COOKIE_NAME: _session_cookie(member)}
    page = httpx.get(f"{gunicorn}/new/", cookies=cookies)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    cookies["csrftoken"] = page.cookies["csrftoken"]
    lowest = [cost * 100]

    def submit(i: int) -> str:
        data = {"csrfmiddlewaretoken": csrf, "model": f"{cred.pk}:mulerun:kling-v2.5-turbo", "mode": "std",
                "duration": "5", "aspect_ratio": "16:9", "visibility": "team", "form_token": str(uuid.uuid4()),
                "prompt": f"Concurrent clip {i}"}
        response = httpx.post(f"{gunicorn}/new/", data=data, cookies=cookies, timeout=60,
                              headers={"Referer": f"{gunicorn}/new/"})
        lowest[0] = min(lowest[0], CreditAccount.balance_of(member))
        if response.status_code == 302 and "/videos/" in response.headers["location"]:
            return "accepted"
        if response.status_code == 200 and "not enough credits" in response.text.lower():
            return "refused"
        return f"unexpected {response.status_code}"

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(submit, range(200)))
    assert outcomes.count("accepted") == 100, sorted(set(outcomes))
    assert outcomes.count("refused") == 100
    assert lowest[0] >= 0
    assert CreditAccount.balance_of(member) == 0
    assert Generation.objects.filter(owner=member).count() == 100
    assert credits_audit() == []
