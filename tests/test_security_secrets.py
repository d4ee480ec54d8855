"""Provider secrets: encrypted at rest, rotatable, and never written to a log, an error, the ledger or a page.

The leak test runs the whole pipeline against the simulator for every fault it can produce and every protocol,
with fresh random keys (so a hit can only be a leak, never a coincidence), and collects every log record at
DEBUG from every logger.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import include, path

from generations.catalog import CATALOG
from generations.models import CreditEntry, Generation, ProviderCredential
from generations.providers import kling
from generations.services.credits import credits_audit, credits_grant
from generations.services.demo import demo_credentials, prices_seed
from generations.services.recovery import generations_recover
from generations.simulator.faults import CALL_KINDS, DOWNLOAD_KINDS, FAULTS, TASK_KINDS
from tests import factories
from tests.conftest import failed_jobs, run_jobs, wait_for

MODELS = {
    "mulerun": "mulerun:kling-v2.5-turbo",
    "aimlapi": "aimlapi:klingai/v2.5-turbo/pro/text-to-video",
    "kling": "kling:kling-v2-5-turbo",
    "powertokens": "powertokens:kling-v2-5-turbo",
    "segmind": "segmind:kling-2.5-turbo",
    "segmind_v1": "segmind_v1:kling-2.5-turbo",
}


def _markers() -> list[str]:
    """Every fault kind in every phase it can hit: once (``x1``, the pipeline then carries on and logs more) and,
    for the kinds that end a video, for good."""
    out = []
    for kind in FAULTS:
        if kind in CALL_KINDS:
            out += [f"{phase}:{kind}x1" for phase in ("create", "poll", "download")]
            out += [f"create:{kind}"] if kind in ("auth", "no_credit") else []
        elif kind in TASK_KINDS:
            out.append(f"task:{kind}")
        elif kind in DOWNLOAD_KINDS:
            out += [f"download:{kind}x1", f"download:{kind}"]
        else:
            out.append(f"create:{kind}")  # submit_timeout
    return out


MARKERS = _markers()


def _is_call_fault_after_create(marker: str) -> bool:
    phase, _, kind = marker.partition(":")
    return phase == "poll" or (phase == "download" and kind.removesuffix("x1") in CALL_KINDS)


def _random_keys() -> dict[str, Any]:
    return {
        "mulerun": "mr-" + secrets.token_urlsafe(24),
        "aimlapi": "am-" + secrets.token_urlsafe(24),
        "kling": {"access_key": "ak-" + secrets.token_urlsafe(16), "secret_key": "ks-" + secrets.token_urlsafe(32)},
        "powertokens": "pt-" + secrets.token_urlsafe(24),
        "segmind": "sg-" + secrets.token_urlsafe(24),
    }


def _values(keys: dict[str, Any]) -> list[str]:
    return [v for key in keys.values() for v in (key.values() if isinstance(key, dict) else [key])]


# --- (a) at rest -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_database_column_holds_ciphertext_only() -> None:
    api_key = "sk-live-" + secrets.token_urlsafe(24)
    cred = factories.credential("mulerun", api_key=api_key)
    kling_cred = factories.credential("kling", access_key="ak-" + "A" * 20, secret_key="the-kling-secret-" + "B" * 20)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, secrets_encrypted, secret_hint FROM generations_providercredential")
        rows = {pk: (raw, hint) for pk, raw, hint in cursor.fetchall()}
    raw, hint = rows[cred.pk]
    assert api_key not in raw and api_key[:12] not in raw
    assert raw.startswith("gAAAAA")  # a Fernet token (version byte 0x80)
    assert hint == api_key[-4:]
    kling_raw, _ = rows[kling_cred.pk]
    assert "the-kling-secret" not in kling_raw and "AAAAAAAAAAAAAAAAAAAA" not in kling_raw
    assert ProviderCredential.objects.get(pk=cred.pk).get_secrets() == {"api_key": api_key}
    assert ProviderCredential.objects.get(pk=kling_cred.pk).get_secrets()["secret_key"].startswith("the-kling-secret")


@pytest.mark.django_db
def test_the_ciphertext_is_useless_without_the_key(settings: Any) -> None:
    cred = factories.credential("mulerun", api_key="sk-" + secrets.token_urlsafe(24))
    settings.CREDENTIAL_KEYS = [Fernet.generate_key().decode()]  # a leaked dump, read with any other key
    with pytest.raises(Exception, match="cannot be decrypted with any key in CREDENTIAL_KEYS"):
        ProviderCredential.objects.get(pk=cred.pk).get_secrets()


# --- (b) rotation ------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_rotation_re_encrypts_every_row_under_the_new_key_and_can_be_repeated(settings: Any) -> None:
    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.CREDENTIAL_KEYS = [key_a]
    plain = {
        factories.credential("mulerun", api_key="mr-" + secrets.token_hex(16)).pk: None,
        factories.credential("aimlapi", api_key="am-" + secrets.token_hex(16)).pk: None,
        factories.credential(
            "kling", access_key="ak-" + secrets.token_hex(8), secret_key="ks-" + secrets.token_hex(16)
        ).pk: None,
    }
    empty = ProviderCredential.objects.create(provider="segmind", label="no secret yet")
    for pk in plain:
        plain[pk] = ProviderCredential.objects.get(pk=pk).get_secrets()

    settings.CREDENTIAL_KEYS = [key_b, key_a]
    call_command("rotate_credential_keys", stdout=_Sink())
    settings.CREDENTIAL_KEYS = [key_b]
    for pk, values in plain.items():
        assert ProviderCredential.objects.get(pk=pk).get_secrets() == values
    first_pass = dict(ProviderCredential.objects.values_list("pk", "secrets_encrypted"))
    assert ProviderCredential.objects.get(pk=empty.pk).secrets_encrypted == ""

    settings.CREDENTIAL_KEYS = [key_b, key_a]
    call_command("rotate_credential_keys", stdout=_Sink())  # the operator runs it again: nothing breaks
    settings.CREDENTIAL_KEYS = [key_b]
    call_command("rotate_credential_keys", stdout=_Sink())  # ... even after the old key is gone
    for pk, values in plain.items():
        row = ProviderCredential.objects.get(pk=pk)
        assert row.get_secrets() == values
        with pytest.raises(InvalidToken):
            Fernet(key_a).decrypt(row.secrets_encrypted.encode())
        assert row.secrets_encrypted != first_pass[pk]  # re-encrypted (fresh IV), still the same secret


@pytest.mark.django_db
def test_rotation_that_meets_an_unreadable_row_changes_nothing(settings: Any) -> None:
    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.CREDENTIAL_KEYS = [key_a]
    good = factories.credential("mulerun", api_key="mr-" + secrets.token_hex(16))
    before = ProviderCredential.objects.get(pk=good.pk).secrets_encrypted
    settings.CREDENTIAL_KEYS = [Fernet.generate_key().decode()]
    factories.credential("aimlapi", api_key="am-" + secrets.token_hex(16))  # under a key that is then lost
    settings.CREDENTIAL_KEYS = [key_b, key_a]
    with pytest.raises(Exception):  # fails loudly ...
        call_command("rotate_credential_keys", stdout=_Sink())
    assert ProviderCredential.objects.get(pk=good.pk).secrets_encrypted == before  # ... and atomically


class _Sink:
    def write(self, *_: Any) -> None:
        pass

    def flush(self) -> None:
        pass


# --- (c) never in a log, an error or the ledger --------------------------------------------------------------------


@pytest.fixture
def random_keys(settings: Any, sim: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Fresh keys in the simulator and the site, a fresh Fernet key, and every JWT the Kling client builds."""
    keys = _random_keys()
    for name, value in keys.items():
        monkeypatch.setitem(sim.keys, name, value)
    settings.SIMULATOR_KEYS = keys
    settings.CREDENTIAL_KEYS = [Fernet.generate_key().decode()]
    tokens: list[str] = []
    real = kling.make_token

    def spy(*args: Any, **kwargs: Any) -> str:
        token = real(*args, **kwargs)
        tokens.append(token)
        return token

    monkeypatch.setattr(kling, "make_token", spy)
    yield {"keys": keys, "tokens": tokens}


@pytest.fixture
def everything_logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """DEBUG from the root and from the loggers settings.LOGGING quietens (they stop propagating nothing)."""
    for name in (None, "generations", "rq", "rq.worker", "httpx", "httpcore", "django", "axes", "urllib3", "boto3"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def _haystacks(caplog: pytest.LogCaptureFixture) -> Iterator[tuple[str, str]]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in caplog.records:
        yield f"log {record.name}", formatter.format(record)  # message, args and any traceback
    for gen in Generation.objects.all():
        yield (
            f"generation {gen.prompt[-40:]}",
            " ".join(
                [gen.error, gen.error_detail, gen.provider_status, gen.video_url, json.dumps(gen.provider_response)]
            ),
        )
    for reason in CreditEntry.objects.values_list("reason", flat=True):
        yield "ledger", reason
    for cred in ProviderCredential.objects.all():
        yield f"credential {cred.label}", f"{cred.last_error} {cred.secret_hint}"
    for text in failed_jobs():
        yield "failed job", text


def _secrets_of(random_keys: dict[str, Any], settings: Any) -> list[str]:
    found = _values(random_keys["keys"]) + list(settings.CREDENTIAL_KEYS)
    for token in random_keys["tokens"]:
        found += [token, token.rsplit(".", 1)[-1]]  # the whole JWT and its signature alone
    return found


def _drive_with_sweep(gens: list[Generation], *, timeout: float) -> list[Generation]:
    """Like tests.conftest.drive, plus the recovery sweep production runs every 30 s (with short leases here).

    Needed because a Segmind v1 body cut off mid-stream leaves its row in "downloading" until the sweep hands
    it on (pipeline._generate_sync: its SubmitOutcomeUnknown branch expects SUBMITTING; reported to the lead).
    """
    ids = [g.pk for g in gens]

    def settled() -> bool:
        run_jobs()
        generations_recover()
        return not Generation.objects.filter(pk__in=ids, status__in=Generation.IN_FLIGHT).exists()

    wait_for(settled, timeout=timeout, what="generations to finish")
    return list(Generation.objects.filter(pk__in=ids))


@pytest.mark.django_db(transaction=True)
def test_no_secret_reaches_a_log_an_error_or_the_ledger_whatever_the_provider_does(
    random_keys: dict[str, Any],
    everything_logged: pytest.LogCaptureFixture,
    settings: Any,
    sim: Any,
    media_root: Any,
    fast_polls: None,
    alice: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every protocol and every fault marker, all driven at once (one in-process worker: the slow faults overlap)."""
    credits_grant(user=alice, amount=100_000, reason="test credits", actor=None)
    prices_seed()
    demo_credentials(sim.base_url)
    # Short timeouts and tasks: one in-process worker runs every step in turn, so waits add up.
    settings.PROVIDER_READ_TIMEOUT = 0.5
    settings.PROVIDER_SYNC_READ_TIMEOUT = 1.5
    settings.VIDEO_MAX_BYTES = 8 * 1024 * 1024
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:9"  # callback URLs are built (and go nowhere): more code paths
    settings.LEASE_SECONDS = 4
    settings.MAX_IN_FLIGHT_PER_MEMBER = 0  # every video at once: this is about secrets, not the waiting line
    sim.task_seconds = 0.1
    monkeypatch.setattr(sim, "slow_seconds", 1.0)  # still past the provider read timeout; a slow download waits it
    gens = []
    for provider, model in MODELS.items():
        mode = CATALOG[model].modes[0]
        # Segmind v1 answers the create with the video: there is no poll to fault, and a call fault on its
        # "download" hits every resend (each is a new task), so it only waits for the deadline like create faults.
        sync = CATALOG[model].provider_info.synchronous
        for marker in [m for m in [*MARKERS, ""] if not (sync and _is_call_fault_after_create(m))]:
            # "never" ends at its deadline: a short one, so the test does not wait for the others' long one
            settings.GENERATION_DEADLINE_SECONDS = 5 if marker == "task:never" else 90
            prompt = f"A lighthouse in a storm ({provider}) [sim:{marker}]" if marker else f"A calm sea ({provider})"
            gens.append(factories.create(alice, model, prompt=prompt, mode=mode, duration="5"))
    finished = _drive_with_sweep(gens, timeout=240)
    by_provider = {p: {g.status for g in finished if g.provider == p} for p in MODELS}
    for provider, statuses in by_provider.items():  # the faults did bite, and the pipeline went all the way too
        assert {Generation.Status.READY, Generation.Status.FAILED} <= statuses, (provider, statuses)

    # Rejected keys: the provider answers 401 (AI/ML API and PowerTokens repeat the key they received).
    wrong_values: list[str] = []
    rejected = []
    for provider, model in MODELS.items():
        cred = ProviderCredential.objects.get(provider=provider)
        wrong = {name: f"wrong-{name}-" + secrets.token_urlsafe(20) for name in cred.get_secrets()}
        wrong_values += wrong.values()
        cred.set_secrets(wrong)
        cred.save()
        mode = CATALOG[model].modes[0]
        rejected.append(factories.create(alice, model, prompt=f"A rejected key ({provider})", mode=mode, duration="5"))
    assert {g.status for g in _drive_with_sweep(rejected, timeout=60)} == {Generation.Status.FAILED}

    assert random_keys["tokens"], "the Kling client built JWTs"
    leaks = [
        (where, secret[:6] + "…")
        for where, text in _haystacks(everything_logged)
        for secret in [*_secrets_of(random_keys, settings), *wrong_values]
        if secret and secret in text
    ]
    assert leaks == []
    assert len(everything_logged.records) > 500, "DEBUG logging was captured"
    assert credits_audit() == []


# --- (d) the admin never shows a secret --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_list_and_change_pages_never_contain_the_secret(admin_client: Client) -> None:
    api_key = "sk-admin-" + secrets.token_urlsafe(24)
    cred = factories.credential("aimlapi", api_key=api_key)
    access, secret = "ak-" + secrets.token_urlsafe(16), "ks-" + secrets.token_urlsafe(32)
    kcred = factories.credential("kling", access_key=access, secret_key=secret)
    base = "/admin/generations/providercredential/"
    for url in [base, f"{base}{cred.pk}/change/", f"{base}{kcred.pk}/change/", f"{base}?q=aimlapi",
                f"{base}{cred.pk}/history/"]:  # fmt: skip
        html = admin_client.get(url).content.decode()
        for value in (api_key, access, secret):
            assert value not in html and value[:-4] not in html, url
    assert f"••••{api_key[-4:]}" in admin_client.get(base).content.decode()


@pytest.mark.django_db
def test_a_form_sent_back_with_errors_does_not_echo_the_typed_secret(admin_client: Client) -> None:
    typed = "sk-typed-" + secrets.token_urlsafe(24)
    response = admin_client.post(
        "/admin/generations/providercredential/add/",
        {"provider": "mulerun", "label": "", "api_key": typed, "priority": "100", "is_active": "on"},
    )
    assert response.status_code == 200 and b"errornote" in response.content
    assert typed not in response.content.decode()


@pytest.mark.django_db
def test_test_connection_with_a_rejected_key_shows_no_key(admin_client: Client, sim: Any) -> None:
    """AI/ML API and PowerTokens repeat a rejected key in their 401 body; the admin message must not."""
    shown = []
    for provider in ("aimlapi", "powertokens", "kling"):
        values = (
            {"access_key": "ak-" + secrets.token_urlsafe(16), "secret_key": "ks-" + secrets.token_urlsafe(32)}
            if provider == "kling"
            else {"api_key": f"{provider}-" + secrets.token_urlsafe(24)}
        )
        cred = factories.credential(provider, base_url=sim.base_url, **values)
        response = admin_client.post(
            "/admin/generations/providercredential/",
            {"action": "test_connection", "_selected_action": [cred.pk]},
            follow=True,
        )
        html = response.content.decode()
        cred.refresh_from_db()
        assert cred.last_error, provider
        shown.append(cred.last_error)
        for value in values.values():
            assert value not in html and value not in cred.last_error, provider
    assert any("[redacted]" in e or "Invalid" in e or "valid" in e for e in shown)


# --- (e) a crash shows a generic page --------------------------------------------------------------------------------

_CRASH_SECRET = "sk-crash-" + secrets.token_urlsafe(24)


def _boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(f"provider refused key {_CRASH_SECRET}")


urlpatterns = [path("boom/", _boom), path("", include("kling_site.urls"))]


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_a_server_error_page_is_generic_when_debug_is_off(alice: Any, settings: Any) -> None:
    settings.DEBUG = False
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    response = client.get("/boom/")
    assert response.status_code == 500
    html = response.content.decode()
    assert _CRASH_SECRET not in html
    assert "Traceback" not in html and "RuntimeError" not in html and "provider refused" not in html
    assert "Server Error" in html or "went wrong" in html.lower()
