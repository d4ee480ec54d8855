"""Every simulator fault against every protocol, over real HTTP: the client raises the right error class (retryable,
permanent, or SubmitOutcomeUnknown) or returns the right PollResult, with a readable message and no secret in any
message, stored body or log line."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from generations.providers.base import Client, ProviderError, SubmitOutcomeUnknown, SubmitResult
from generations.providers.http import REDACTED
from generations.simulator import FAULTS, Simulator
from tests.fixtures_simulator import PROVIDERS, TASK_SECONDS, client_for, first_spec, make_request, unique

ASYNC = tuple(p for p in PROVIDERS if p != "segmind_v1")
LABELS = {
    "mulerun": "MuleRun",
    "aimlapi": "AI/ML API",
    "kling": "Kling",
    "powertokens": "PowerTokens",
    "segmind": "Segmind",
    "segmind_v1": "Segmind",
}
# kind → (ProviderError.kind, permanent, HTTP status; None = per provider)
SHAPED = {
    "429": ("rate_limited", False, 429),
    "500": ("server", False, 500),
    "502": ("server", False, 502),
    "503": ("server", False, 503),
    "auth": ("auth", True, 401),
    "no_credit": ("no_credit", True, None),
    # MuleRun: 429 "daily spend limit exceeded" is out of credit, not a rate limit (its error-codes page).
    "spend_limit": ("no_credit", True, None),
}
NO_CREDIT_STATUS = {"mulerun": 402, "aimlapi": 403, "kling": 429, "powertokens": 429, "segmind": 406, "segmind_v1": 406}
TASK_FAULTS = ("moderation", "never", "truncated", "wrong_type", "expired", "oversize")


def test_every_fault_kind_is_covered_here() -> None:
    covered = {*SHAPED, "reset", "slow", "malformed", "submit_timeout", *TASK_FAULTS}
    assert covered == set(FAULTS)


def attempt(client: Client, prompt: str) -> SubmitResult | int:
    """Submit (or, for a synchronous protocol, generate and read the whole body)."""
    spec = first_spec(client.provider)
    request = make_request(spec, prompt)
    if not client.synchronous:
        return client.submit(request)
    with client.generate(request) as chunks:
        return sum(len(c) for c in chunks)


def secrets_of(sim: Simulator, provider: str) -> list[str]:
    key = sim.keys[provider.removesuffix("_v1")]
    return list(key.values()) if isinstance(key, dict) else [key]


def assert_readable_and_scrubbed(
    exc: ProviderError, sim: Simulator, provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert exc.message and exc.message[0].isupper() and exc.message.endswith("."), exc.message
    assert LABELS[provider] in exc.message or "Segmind" in exc.message
    texts = [exc.message, str(exc), exc.body, *(record.getMessage() for record in caplog.records)]
    for text in texts:
        assert "eyJ" not in text  # no JWT (a Kling bearer token) either: base64 of '{"'
        for secret in secrets_of(sim, provider):
            assert secret not in text


@pytest.fixture(autouse=True)
def _debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included


# -- answers replaced in the provider's own shape -----------------------------------------------------------


@pytest.mark.parametrize("kind", list(SHAPED))
@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_shaped_fault_on_submit_is_classified(
    provider: str, kind: str, sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    expected_kind, permanent, status = SHAPED[kind]
    with pytest.raises(ProviderError) as raised:
        attempt(client_for(sim, provider), unique(f"[sim:{kind}]"))
    exc = raised.value
    assert not isinstance(exc, SubmitOutcomeUnknown)
    assert (exc.kind, exc.permanent, exc.status_code) == (
        expected_kind,
        permanent,
        status or (429 if kind == "spend_limit" and provider == "mulerun" else NO_CREDIT_STATUS[provider]),
    )
    assert f"HTTP {exc.status_code}" in exc.message
    if kind == "429":
        assert exc.retry_after == sim.retry_after
        assert "retry in" in exc.message
    assert_readable_and_scrubbed(exc, sim, provider, caplog)


@pytest.mark.parametrize("provider", ["mulerun", "aimlapi", "powertokens", "segmind"])
def test_a_key_echoed_in_an_error_body_is_scrubbed(
    provider: str, sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    # The simulator echoes a rejected key in its 401 body, as some real APIs do.
    wrong = client_for(sim, provider, api_key="sk-wrong-but-still-secret-0123")
    with pytest.raises(ProviderError) as raised:
        attempt(wrong, unique())
    assert raised.value.kind == "auth"
    assert REDACTED in raised.value.body
    assert "sk-wrong-but-still-secret-0123" not in raised.value.body + raised.value.message
    assert_readable_and_scrubbed(raised.value, sim, provider, caplog)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_counted_fault_clears_so_a_retry_succeeds(provider: str, sim: Simulator) -> None:
    client = client_for(sim, provider)
    prompt = unique("[sim:503x2]")
    for _ in range(2):
        with pytest.raises(ProviderError) as raised:
            attempt(client, prompt)
        assert raised.value.retryable
    assert attempt(client, prompt)


# -- transport faults ---------------------------------------------------------------------------------------


def created(sim: Simulator, provider: str, prompt: str) -> bool:
    return any(t.request.get("prompt") == prompt for t in sim.tasks.all(provider))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_reset_after_sending_a_submit_leaves_the_outcome_unknown(
    provider: str, sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    prompt = unique("[sim:reset]")
    with pytest.raises(SubmitOutcomeUnknown) as raised:
        attempt(client_for(sim, provider), prompt)
    assert raised.value.kind == "connection" and raised.value.retryable
    assert not created(sim, provider, prompt)  # this time it never arrived; the client cannot know that
    assert_readable_and_scrubbed(raised.value, sim, provider, caplog)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_slow_submit_leaves_the_outcome_unknown(
    provider: str, sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(SubmitOutcomeUnknown) as raised:
        attempt(client_for(sim, provider), unique("[sim:slow]"))
    assert raised.value.kind == "timeout"
    assert "did not answer in time" in raised.value.message
    assert_readable_and_scrubbed(raised.value, sim, provider, caplog)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_submit_timeout_leaves_the_outcome_unknown_although_the_task_exists(
    provider: str, sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_for(sim, provider)
    spec = first_spec(provider)
    request = make_request(spec, unique("[sim:submit_timeout]"))
    with pytest.raises(SubmitOutcomeUnknown) as raised:
        if client.synchronous:
            with client.generate(request) as chunks:
                list(chunks)
        else:
            client.submit(request)
    assert raised.value.retryable
    assert created(sim, provider, request.params.prompt)
    if provider == "kling":  # the pipeline's way out: look the task up instead of resending
        found = client.find_by_external_id(request.external_id, spec=spec)
        assert found is not None and found.task_id
    elif client.has_external_id:  # a new-api gateway cannot look up by our id: "cannot tell", never "not found"
        with pytest.raises(ProviderError) as lookup:
            client.find_by_external_id(request.external_id, spec=spec)
        assert lookup.value.kind == "html"
    assert_readable_and_scrubbed(raised.value, sim, provider, caplog)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_malformed_json_from_a_submit_leaves_the_outcome_unknown(
    provider: str, sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    prompt = unique("[sim:malformed]")
    with pytest.raises(SubmitOutcomeUnknown) as raised:
        attempt(client_for(sim, provider), prompt)
    assert raised.value.kind == "malformed"
    assert created(sim, provider, prompt)
    assert_readable_and_scrubbed(raised.value, sim, provider, caplog)


@pytest.mark.parametrize("kind", ["reset", "slow", "malformed", "503", "429"])
@pytest.mark.parametrize("provider", ASYNC)
def test_a_poll_fault_is_retryable_and_the_next_poll_works(
    provider: str, kind: str, sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_for(sim, provider)
    spec = first_spec(provider)
    task = client.submit(make_request(spec, unique(f"[sim:poll:{kind}x1]")))
    with pytest.raises(ProviderError) as raised:
        client.poll(task.task_id, spec=spec)
    exc = raised.value
    assert not isinstance(exc, SubmitOutcomeUnknown)
    assert exc.retryable
    assert exc.kind == {"reset": "connection", "slow": "timeout", "malformed": "malformed"}.get(
        kind, "server" if kind == "503" else "rate_limited"
    )
    assert client.poll(task.task_id, spec=spec).state in ("queued", "running", "succeeded")
    assert_readable_and_scrubbed(exc, sim, provider, caplog)


def test_a_global_fault_hits_only_its_provider_and_only_n_times(sim: Simulator) -> None:
    sim.set_faults(["502x1"], provider="kling")
    assert attempt(client_for(sim, "mulerun"), unique())
    with pytest.raises(ProviderError) as raised:
        attempt(client_for(sim, "kling"), unique())
    assert raised.value.status_code == 502
    assert attempt(client_for(sim, "kling"), unique())


# -- task and download faults: submitted together so their generation times overlap -------------------------


@pytest.fixture(scope="module")
def batch(simulator: Simulator) -> Iterator[dict[tuple[str, str], tuple[Client, SubmitResult, float]]]:
    out = {}
    for provider in ASYNC:
        client = client_for(simulator, provider)
        for kind in TASK_FAULTS:
            result = client.submit(make_request(first_spec(provider), unique(f"[sim:{kind}]")))
            out[(provider, kind)] = (client, result, time.monotonic())
    yield out


def finished(batch: dict[Any, Any], provider: str, kind: str) -> Any:
    client, task, _ = batch[(provider, kind)]
    spec = first_spec(provider)
    deadline = time.monotonic() + 10
    while (result := client.poll(task.task_id, spec=spec)).state not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, "task did not finish"
        time.sleep(0.1)
    return result


@pytest.mark.parametrize("provider", ASYNC)
def test_moderation_fails_the_task_with_the_providers_reason(provider: str, batch: dict[Any, Any]) -> None:
    result = finished(batch, provider, "moderation")
    assert result.state == "failed"
    assert result.raw
    words = ("prohibited", "moderation", "risk control")
    assert any(w in result.reason.lower() for w in words), result.reason
    assert result.reason.endswith(".")


@pytest.mark.parametrize("provider", ASYNC)
def test_a_task_that_never_finishes_keeps_reporting_running(provider: str, batch: dict[Any, Any]) -> None:
    client, task, submitted_at = batch[(provider, "never")]
    time.sleep(max(0.0, submitted_at + TASK_SECONDS + 0.3 - time.monotonic()))
    result = client.poll(task.task_id, spec=first_spec(provider))
    assert result.state == "running"


@pytest.mark.parametrize("kind", ["truncated", "wrong_type", "expired", "oversize"])
@pytest.mark.parametrize("provider", ASYNC)
def test_the_download_really_misbehaves(provider: str, kind: str, batch: dict[Any, Any], sim: Simulator) -> None:
    result = finished(batch, provider, kind)
    assert result.state == "succeeded"
    with httpx.stream("GET", result.video_url, timeout=5, trust_env=False) as response:
        if kind == "expired":
            assert response.status_code == 403
        elif kind == "wrong_type":
            assert response.headers["content-type"].startswith("text/html")
            assert response.read().startswith(b"<!DOCTYPE html>")
        elif kind == "oversize":
            assert response.headers["content-type"] == "video/mp4"
            assert int(response.headers["content-length"]) == sim.oversize_bytes > 1 << 30
            assert next(response.iter_bytes())  # it really streams; we stop reading here
        else:
            announced = int(response.headers["content-length"])
            with pytest.raises(httpx.RemoteProtocolError):
                response.read()
            assert announced > 0


# -- the synchronous protocol ---------------------------------------------------------------------------------


def test_moderation_on_the_synchronous_call_is_a_permanent_content_policy_error(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ProviderError) as raised:
        attempt(client_for(sim, "segmind_v1"), unique("[sim:moderation]"))
    assert (raised.value.kind, raised.value.permanent) == ("content_policy", True)
    assert_readable_and_scrubbed(raised.value, sim, "segmind_v1", caplog)


def test_a_synchronous_call_that_never_finishes_leaves_the_outcome_unknown(sim: Simulator) -> None:
    with pytest.raises(SubmitOutcomeUnknown) as raised:
        attempt(client_for(sim, "segmind_v1"), unique("[sim:never]"))
    assert raised.value.kind == "timeout"


@pytest.mark.parametrize("kind", ["truncated", "wrong_type"])
def test_a_broken_synchronous_body_leaves_the_outcome_unknown(kind: str, sim: Simulator) -> None:
    with pytest.raises(SubmitOutcomeUnknown) as raised:
        attempt(client_for(sim, "segmind_v1"), unique(f"[sim:{kind}]"))
    assert raised.value.kind == ("malformed" if kind == "wrong_type" else "connection")


def test_an_oversize_synchronous_body_streams_past_any_cap(sim: Simulator) -> None:
    client = client_for(sim, "segmind_v1")
    read = 0
    with client.generate(make_request(first_spec("segmind_v1"), unique("[sim:oversize]"))) as chunks:
        for chunk in chunks:
            read += len(chunk)
            if read > 4 * 1024 * 1024:
                break  # the pipeline's cap stops here; the body would go on for oversize_bytes
    assert read > 4 * 1024 * 1024
