"""Outgoing webhooks, end to end: a real local receiver gets the signed POST when a video made through the real
pipeline (simulator, Redis, RQ worker) is ready or fails; retries, giving up, the recovery sweep, the claim, and
the address rules at registration and at delivery.

The receiver listens on 127.0.0.1, allowed through WEBHOOK_ALLOWED_HOSTS exactly as an operator would allow it.
Signatures are checked with the verification snippet the README gives members, run as it is written there.
"""

from __future__ import annotations

import json
import re
import socket
import textwrap
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.db import connection, transaction

from generations import clock, jobs
from generations.models import Generation, Webhook, WebhookDelivery
from generations.scheduling import queue_for
from generations.services.pipeline import generation_fail
from generations.services.recovery import generations_recover
from generations.webhooks import services
from generations.webhooks.services import WebhookRefused, delivery_attempt, events_record, webhook_create
from tests import factories
from tests.conftest import ROOT, drive, make_member, run_jobs

pytestmark = pytest.mark.django_db(transaction=True)
S = Generation.Status
EVENTS = ["generation.ready", "generation.failed"]


# --- a real receiver --------------------------------------------------------------------------------------------
class Receiver:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[int] = []  # status codes to answer, in order; 200 once empty
        self.hold: threading.Event | None = None  # when set: each request waits for it before answering
        self.arrived = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append({"path": self.path, "headers": self.headers, "body": body})
                outer.arrived.set()
                if outer.hold is not None:
                    outer.hold.wait(10)
                code = outer.answers.pop(0) if outer.answers else 200
                self.send_response(code)
                if 300 <= code < 400:
                    self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/kling?team=7"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.requests]


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    rec = Receiver()
    rec.thread.start()
    settings.WEBHOOK_ALLOWED_HOSTS = [f"127.0.0.1:{rec.port}"]
    try:
        yield rec
    finally:
        if rec.hold is not None:
            rec.hold.set()
        rec.server.shutdown()
        rec.server.server_close()


@pytest.fixture
def readme_verify() -> Any:
    """The README's verification snippet, executed as a member would paste it."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Webhooks\n", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "the README's Webhooks section has a Python verification snippet"
    namespace: dict[str, Any] = {}
    exec(textwrap.dedent(code.group(1)), namespace)  # our own README, as a member would paste it
    return namespace["verify"]


@pytest.fixture
def pipeline(settings, media_root, fast_polls, sim_credentials, sim) -> None:
    settings.PROVIDER_READ_TIMEOUT = 1.0


def _params(prompt: str) -> dict[str, Any]:
    return {"prompt": prompt, "mode": "std", "duration": "5", "aspect_ratio": "9:16"}


def _travel(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Move the site's clock (generations.clock, what every schedule is compared with) forward."""
    monkeypatch.setattr(clock, "shift", clock.shift + timedelta(seconds=seconds))


def _video(alice: Any) -> Generation:
    """A video in line for a provider account that nobody answers at (its jobs are never run here)."""
    from generations.models import ProviderCredential

    if not ProviderCredential.objects.exists():
        factories.credential()
    return factories.create(alice, prompt="A kite over a beach")


def _failed_video(alice: Any) -> Generation:
    gen = _video(alice)
    assert generation_fail(gen.pk, reason="The provider refused the prompt.")
    return Generation.objects.get(pk=gen.pk)


# --- through the real pipeline ----------------------------------------------------------------------------------
def test_a_ready_video_is_posted_signed_to_the_endpoint(alice, receiver, readme_verify, pipeline, settings, sim):
    settings.PUBLIC_BASE_URL = "https://videos.example.com"
    hook, secret = webhook_create(owner=alice, url=receiver.url, events=EVENTS)
    gen = factories.create(alice, **_params("A paper boat drifts down a rain gutter"))
    (gen,) = drive(gen)
    assert gen.status == S.READY, gen.error
    run_jobs()

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request["path"] == "/hooks/kling?team=7"
    assert request["headers"]["Content-Type"] == "application/json"
    assert readme_verify(secret, request["headers"], request["body"])
    assert not readme_verify(secret, request["headers"], request["body"] + b" ")  # a changed body fails
    other_secret = webhook_create(owner=alice, url=receiver.url, events=EVENTS)[1]
    assert not readme_verify(other_secret, request["headers"], request["body"])

    (body,) = receiver.bodies()
    delivery = WebhookDelivery.objects.get(webhook=hook)
    assert request["headers"]["Webhook-Id"] == body["delivery_id"] == str(delivery.pk)
    assert body["type"] == "generation.ready"
    data = body["data"]
    assert data["id"] == str(gen.pk) and data["status"] == "ready" and data["cost"] == gen.cost
    assert data["title"] == gen.title and data["model"] == "kling-2-5-turbo"
    assert data["url"] == f"https://videos.example.com/api/v1/generations/{gen.pk}"
    assert data["video_url"] == f"https://videos.example.com/api/v1/generations/{gen.pk}/video"
    assert data["finished_at"].endswith("Z")
    _nothing_secret_in(request["body"].decode(), gen, secret, sim)

    assert delivery.delivered_at and delivery.attempts == 1 and delivery.status_code == 200
    assert delivery.error == "" and delivery.next_attempt_at is None
    assert [d.pk for d in services.deliveries_of(hook)] == [delivery.pk]  # the owner's delivery log


def test_a_failed_video_is_posted_once_with_its_reason(alice, receiver, readme_verify, pipeline):
    hook, secret = webhook_create(owner=alice, url=receiver.url, events=["generation.failed"])
    gen = factories.create(alice, **_params("A lighthouse in a storm [sim:create:no_credit]"))
    (gen,) = drive(gen)
    assert gen.status == S.FAILED
    run_jobs()

    (body,) = receiver.bodies()
    assert readme_verify(secret, receiver.requests[0]["headers"], receiver.requests[0]["body"])
    assert body["type"] == "generation.failed"
    assert body["data"]["status"] == "failed" and body["data"]["error"] == gen.error
    assert "video_url" not in body["data"]
    assert body["data"]["url"] == f"/api/v1/generations/{gen.pk}"  # no PUBLIC_BASE_URL: the path

    # The status change runs again (a second job, an admin): the event stays recorded once, and is sent once.
    assert not generation_fail(gen.pk, reason="again")
    with transaction.atomic():
        assert events_record(gen) == 0
    run_jobs()
    assert WebhookDelivery.objects.filter(webhook=hook).count() == 1
    assert len(receiver.requests) == 1


def _nothing_secret_in(text: str, gen: Generation, secret: str, sim: Any) -> None:
    gen.refresh_from_db()
    assert gen.provider_task_id and gen.provider_task_id not in text
    assert gen.video_url and gen.video_url not in text
    assert gen.callback_secret not in text and gen.external_id not in text
    assert secret not in text and secret.removeprefix("whsec_") not in text
    assert sim.base_url not in text and "sim-" not in text
    for value in gen.credential.get_secrets().values():
        assert str(value) not in text


# --- the outbox -------------------------------------------------------------------------------------------------
def test_an_event_is_written_with_the_status_change_or_not_at_all(alice, receiver):
    webhook_create(owner=alice, url=receiver.url, events=EVENTS)
    gen = _video(alice)
    with pytest.raises(RuntimeError), transaction.atomic():
        assert generation_fail(gen.pk, reason="The provider refused the prompt.")
        assert WebhookDelivery.objects.count() == 1
        raise RuntimeError("crash before the commit")
    assert Generation.objects.get(pk=gen.pk).status == S.QUEUED
    assert WebhookDelivery.objects.count() == 0
    assert not [j for j in queue_for("hooks").job_ids if j.startswith("webhook-")]  # nothing scheduled either


def test_only_the_owners_active_endpoints_for_that_event_are_told(alice, receiver):
    charlie = make_member("charlie")
    webhook_create(owner=charlie, url=receiver.url, events=EVENTS)  # another member's endpoint
    webhook_create(owner=alice, url=receiver.url, events=["generation.ready"])  # not this event
    off, _ = webhook_create(owner=alice, url=receiver.url, events=EVENTS)
    services.webhook_deactivate(webhook=off)
    wanted, _ = webhook_create(owner=alice, url=receiver.url, events=["generation.failed", "generation.failed"])
    assert wanted.events == ["generation.failed"]
    _failed_video(alice)
    assert list(WebhookDelivery.objects.values_list("webhook", flat=True)) == [wanted.pk]
    run_jobs()
    assert len(receiver.requests) == 1


# --- retries ----------------------------------------------------------------------------------------------------
def test_a_500_is_retried_with_backoff_and_the_same_id_until_a_200(alice, receiver, readme_verify, monkeypatch):
    hook, secret = webhook_create(owner=alice, url=receiver.url, events=EVENTS)
    _failed_video(alice)
    delivery = WebhookDelivery.objects.get(webhook=hook)
    receiver.answers = [500, 503]

    assert delivery_attempt(delivery.pk) == "retry"
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.status_code) == (1, 500)
    assert delivery.error == "The endpoint answered HTTP 500."
    wait = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
    assert 8 <= wait <= 12  # 10 s ± 20 %
    scheduled = queue_for("hooks").scheduled_job_registry.get_job_ids()
    assert f"webhook-{delivery.pk}-a1" in scheduled  # the next try is waiting in Redis
    assert delivery_attempt(delivery.pk) is None  # not due yet: nothing is sent
    assert len(receiver.requests) == 1

    _travel(monkeypatch, wait + 1)
    jobs.webhook(str(delivery.pk))  # the scheduled job, run now
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.status_code) == (2, 503)
    wait = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
    assert 48 <= wait <= 72  # 1 min ± 20 %

    _travel(monkeypatch, wait + 1)
    assert delivery_attempt(delivery.pk) == "delivered"
    delivery.refresh_from_db()
    assert delivery.attempts == 3 and delivery.status_code == 200 and delivery.delivered_at
    assert delivery.error == "" and delivery.next_attempt_at is None
    ids = {r["headers"]["Webhook-Id"] for r in receiver.requests}
    assert ids == {str(delivery.pk)} and len(receiver.requests) == 3
    assert all(readme_verify(secret, r["headers"], r["body"]) for r in receiver.requests)
    assert delivery_attempt(delivery.pk) is None  # delivered: never sent again


def test_it_gives_up_after_the_last_attempt_on_the_backoff_schedule(alice, receiver, monkeypatch):
    hook, _ = webhook_create(owner=alice, url=receiver.url, events=EVENTS)
    _failed_video(alice)
    delivery = WebhookDelivery.objects.get(webhook=hook)
    receiver.answers = [500] * 20
    waits = []
    for attempt in range(1, services.MAX_ATTEMPTS + 1):
        outcome = delivery_attempt(delivery.pk)
        delivery.refresh_from_db()
        assert delivery.attempts == attempt
        if attempt < services.MAX_ATTEMPTS:
            assert outcome == "retry"
            waits.append((delivery.next_attempt_at - delivery.last_attempt_at).total_seconds())
            _travel(monkeypatch, waits[-1] + 1)
        else:
            assert outcome == "gave up"
    for wait, planned in zip(waits, services.RETRY_DELAYS, strict=True):
        assert planned * 0.8 <= wait <= planned * 1.2
    assert services.RETRY_DELAYS == (10, 60, 300, 1800, 7200, 21600, 43200)
    assert delivery.gave_up_at and delivery.next_attempt_at is None and delivery.delivered_at is None
    assert delivery.status_code == 500 and len(receiver.requests) == services.MAX_ATTEMPTS
    _travel(monkeypatch, 86400)
    assert delivery_attempt(delivery.pk) is None
    assert services.deliveries_resume() == 0  # the sweep leaves it alone too


def test_a_redirect_is_not_followed_and_counts_as_a_failure(alice, receiver):
    hook, _ = webhook_create(owner=alice, url=receiver.url, events=EVENTS)
    _failed_video(alice)
    receiver.answers = [302]
    delivery = WebhookDelivery.objects.get(webhook=hook)
    assert delivery_attempt(delivery.pk) == "retry"
    delivery.refresh_from_db()
    assert delivery.status_code == 302 and "not followed" in delivery.error
    assert len(receiver.requests) == 1


def test_the_sweep_sends_a_delivery_whose_job_was_lost(alice, receiver, monkeypatch):
    hook, _ = webhook_create(owner=alice, url=receiver.url, events=EVENTS)
    _failed_video(alice)
    queue_for("default").connection.flushdb()  # Redis lost every job
    _travel(monkeypatch, 60)
    done = generations_recover()
    assert done["webhooks"] == 1
    run_jobs()
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get(webhook=hook).delivered_at


def test_two_jobs_never_post_the_same_attempt_at_once(alice, receiver):
    hook, _ = webhook_create(owner=alice, url=receiver.url, events=EVENTS)
    _failed_video(alice)
    delivery = WebhookDelivery.objects.get(webhook=hook)
    receiver.hold = threading.Event()
    outcome: list[Any] = []

    def first_job() -> None:
        try:
            outcome.append(delivery_attempt(delivery.pk))
        finally:
            connection.close()

    thread = threading.Thread(target=first_job)
    thread.start()
    assert receiver.arrived.wait(10), "the first job's POST arrived"
    assert delivery_attempt(delivery.pk) is None  # the second job finds the attempt held
    assert services.deliveries_resume() == 0  # and so does the sweep
    receiver.hold.set()
    thread.join(15)
    assert outcome == ["delivered"] and len(receiver.requests) == 1


# --- address rules ----------------------------------------------------------------------------------------------
def _fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, str]) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in answers:
            family = socket.AF_INET6 if ":" in answers[host] else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:{port}/hook", "private or reserved address (127.0.0.1)"),  # not on the allow-list
        ("http://10.1.2.3/hook", "private or reserved address (10.1.2.3)"),
        ("http://169.254.169.254/latest/meta-data/", "private or reserved address (169.254.169.254)"),
        ("http://[::1]:8080/hook", "private or reserved address (::1)"),
        ("http://2130706433/hook", "private or reserved address (127.0.0.1)"),
        ("http://intranet.example.test/hook", "private or reserved address (10.20.30.40)"),
        ("https://user:secret@hooks.example.test/x", "with a user name or password"),
        ("ftp://hooks.example.test/x", "Only http and https"),
        ("javascript:alert(1)", "Only http and https"),
        ("http://no-such-host.invalid/hook", "Could not resolve the webhook host"),
        ("https://hooks.example.test/" + "a" * 2000, "under 2000 characters"),
        ("", "Give the URL"),
    ],
)
def test_registration_refuses_urls_the_downloader_would_refuse(alice, receiver, monkeypatch, url, message):
    _fake_dns(monkeypatch, {"intranet.example.test": "10.20.30.40"})
    with pytest.raises(WebhookRefused) as refused:
        webhook_create(owner=alice, url=url.replace("{port}", "1"), events=EVENTS)
    assert message in str(refused.value)
    assert "secret" not in str(refused.value)  # the credentials in a URL are never repeated
    assert not Webhook.objects.exists()


@pytest.mark.parametrize(
    ("events", "message"),
    [([], "Choose at least one event"), ("generation.ready", "Choose at least one event"), (["video.done"], "Unknown")],
)
def test_registration_refuses_unknown_events(alice, receiver, events, message):
    with pytest.raises(WebhookRefused, match=message):
        webhook_create(owner=alice, url=receiver.url, events=events)
    assert not Webhook.objects.exists()


def test_the_secret_is_stored_encrypted_and_the_endpoints_are_limited(alice, receiver):
    hook, secret = webhook_create(owner=alice, url=receiver.url, events=EVENTS)
    assert secret.startswith("whsec_") and len(secret) > 40
    assert secret not in hook.secret_encrypted and hook.get_secret() == secret
    for _ in range(services.MAX_WEBHOOKS_PER_MEMBER - 1):
        webhook_create(owner=alice, url=receiver.url, events=EVENTS)
    with pytest.raises(WebhookRefused, match="at most 10"):
        webhook_create(owner=alice, url=receiver.url, events=EVENTS)
    services.webhook_delete(webhook=hook)
    assert len(services.webhooks_of(alice)) == services.MAX_WEBHOOKS_PER_MEMBER - 1


def test_delivery_checks_the_address_again(alice, receiver, settings):
    hook, _ = webhook_create(owner=alice, url=receiver.url, events=EVENTS)
    _failed_video(alice)
    settings.WEBHOOK_ALLOWED_HOSTS = []  # the operator took the receiver off the allow-list
    delivery = WebhookDelivery.objects.get(webhook=hook)
    assert delivery_attempt(delivery.pk) == "retry"
    delivery.refresh_from_db()
    assert delivery.status_code is None and "private or reserved address (127.0.0.1)" in delivery.error
    assert receiver.requests == []


@pytest.mark.parametrize("rebound", ["169.254.169.254", "10.0.0.7", "::1", "127.0.0.1"])
def test_a_host_whose_dns_turns_private_after_registration_gets_nothing(alice, receiver, monkeypatch, rebound):
    # Registered while its name answered with a public address (never contacted here)...
    _fake_dns(monkeypatch, {"hooks.example.test": "93.184.216.34"})
    hook, _ = webhook_create(owner=alice, url=f"http://hooks.example.test:{receiver.port}/x", events=EVENTS)
    _failed_video(alice)
    # ... then the name answers with a private one: the delivery refuses it and connects nowhere.
    _fake_dns(monkeypatch, {"hooks.example.test": rebound})
    delivery = WebhookDelivery.objects.get(webhook=hook)
    assert delivery_attempt(delivery.pk) == "retry"
    delivery.refresh_from_db()
    assert "private or reserved address" in delivery.error and delivery.status_code is None
    assert receiver.requests == []


def test_the_post_goes_to_the_checked_address_with_the_name_as_host(alice, receiver, monkeypatch, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = [f"hooks.example.test:{receiver.port}"]
    _fake_dns(monkeypatch, {"hooks.example.test": "127.0.0.1"})
    hook, _ = webhook_create(owner=alice, url=f"http://hooks.example.test:{receiver.port}/x", events=EVENTS)
    _failed_video(alice)
    assert delivery_attempt(WebhookDelivery.objects.get(webhook=hook).pk) == "delivered"
    assert receiver.requests[0]["headers"]["Host"] == f"hooks.example.test:{receiver.port}"


# --- the admin --------------------------------------------------------------------------------------------------
def test_admins_see_webhooks_without_their_secret_and_deliveries_read_only(alice, admin_user, receiver, client):
    hook, secret = webhook_create(owner=alice, url=receiver.url, events=EVENTS)
    _failed_video(alice)
    delivery = WebhookDelivery.objects.get(webhook=hook)
    client.force_login(admin_user)
    for url in (
        "/admin/generations/webhook/",
        f"/admin/generations/webhook/{hook.pk}/change/",
        "/admin/generations/webhookdelivery/",
        f"/admin/generations/webhookdelivery/{delivery.pk}/change/",
    ):
        page = client.get(url)
        assert page.status_code == 200, url
        text = page.content.decode()
        assert secret not in text and hook.secret_encrypted not in text
        assert "team=7" not in text  # the URL's path and query may carry a token: only the origin is listed
    assert "generation.failed" in client.get("/admin/generations/webhookdelivery/").content.decode()
    assert client.get("/admin/generations/webhookdelivery/add/").status_code == 403
    response = client.post(
        "/admin/generations/webhook/", {"action": "turn_off", "_selected_action": [hook.pk]}, follow=True
    )
    assert "Turned off 1 webhook" in response.content.decode()
    hook.refresh_from_db()
    assert not hook.active
