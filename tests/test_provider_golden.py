"""Golden tests: each request body, URL and auth header pinned exactly, and each response parser fed the
documented examples from shared/PROVIDERS.md verbatim. Fixed payloads, so ``httpx.MockTransport`` is the one
boundary mocked here; everything else runs against the real simulator in the other test files."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generations.catalog import CATALOG, CatalogError, validate
from generations.providers import CLIENTS, get_client
from generations.providers.base import (
    Client,
    Credential,
    PollResult,
    ProviderError,
    SubmitOutcomeUnknown,
    SubmitRequest,
    VideoAtLink,
)
from generations.providers.http import HttpOptions, classify_status, parse_retry_after

BASE = "https://api.example.test"
SECRETS = {
    "mulerun": {"api_key": "mr-secret-key-0001"},
    "aimlapi": {"api_key": "aiml-secret-key-0002"},
    "kling": {"access_key": "kling-access-0003", "secret_key": "kling-secret-key-0004-abcdefghijklmnopqrstuv"},
    "powertokens": {"api_key": "pt-secret-key-0005"},
    "segmind": {"api_key": "SG_0123456789abcdef"},
    "segmind_v1": {"api_key": "SG_0123456789abcdef"},
}
Reply = tuple[int, Any] | tuple[int, Any, dict[str, str]] | Exception


class Recorder:
    """Serves canned answers in order and keeps every request the client sent."""

    def __init__(self, *replies: Reply):
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        status, payload, *rest = reply
        headers = rest[0] if rest else {}
        if isinstance(payload, bytes | str):
            return httpx.Response(status, content=payload, headers=headers)
        return httpx.Response(status, json=payload, headers=headers)

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.requests[-1].content)


def client(provider: str, *replies: Reply) -> tuple[Client, Recorder]:
    recorder = Recorder(*replies)
    credential = Credential(provider, BASE, SECRETS[provider])
    return get_client(credential, options=HttpOptions(transport=httpx.MockTransport(recorder))), recorder


def request(key: str, external_id: str = "gen-1", callback_url: str = "", **raw: Any) -> SubmitRequest:
    return SubmitRequest(CATALOG[key], validate(key, raw), external_id=external_id, callback_url=callback_url)


def test_every_catalog_provider_has_a_client() -> None:
    assert {spec.provider for spec in CATALOG.values()} == set(CLIENTS)


# -- request bodies ---------------------------------------------------------------------------------------------

MULERUN_CREATED = {
    "task_info": {
        "id": "8e1e315e-b50d-4334-a231-be7d19a372f4",
        "status": "pending",
        "created_at": "2025-09-21T00:00:00.000Z",
        "updated_at": "2025-09-21T00:00:00.000Z",
    }
}


def test_mulerun_sends_the_seed_000_body_with_an_integer_duration() -> None:
    mulerun, sent = client("mulerun", (202, MULERUN_CREATED))
    raw = {
        "prompt": "A beautiful woman is dancing in a room",
        "negative_prompt": "ugly, bad, distorted",
        "mode": "std",
        "aspect_ratio": "16:9",
        "duration": 5,
    }
    result = mulerun.submit(request("mulerun:kling-v2.5-turbo", **raw))
    assert sent.body == raw
    assert b'"duration":5' in sent.requests[0].content.replace(b" ", b"")
    assert sent.requests[0].url == f"{BASE}/vendors/klingai/v1/kling-v2.5-turbo/text-to-video/generation"
    assert sent.requests[0].headers["authorization"] == "Bearer mr-secret-key-0001"
    assert sent.requests[0].headers["user-agent"] == "kling-site/0.1"
    assert (result.task_id, result.status) == ("8e1e315e-b50d-4334-a231-be7d19a372f4", "pending")


def test_mulerun_sends_sound_on_or_off_only_on_v2_6() -> None:
    mulerun, sent = client("mulerun", (202, MULERUN_CREATED))
    mulerun.submit(
        request(
            "mulerun:kling-v2.6",
            prompt="Cinematic shot of ocean waves crashing against rocks",
            negative_prompt="ugly, bad, distorted",
            mode="pro",
            aspect_ratio="16:9",
            duration=10,
            sound=True,
        )
    )
    assert sent.body == {
        "prompt": "Cinematic shot of ocean waves crashing against rocks",
        "negative_prompt": "ugly, bad, distorted",
        "mode": "pro",
        "aspect_ratio": "16:9",
        "duration": 10,
        "sound": "on",
    }
    mulerun.submit(request("mulerun:kling-v2.6", prompt="A person walking through a city at night", duration=5))
    assert sent.body == {
        "prompt": "A person walking through a city at night",
        "mode": "std",
        "aspect_ratio": "16:9",
        "duration": 5,
        "sound": "off",
    }
    assert sent.requests[-1].url.path == "/vendors/klingai/v1/kling-v2.6/text-to-video/generation"


AIMLAPI_CREATED = {
    "id": "2baf5bc0-9565-4ff1-a775-d66ce749164c:klingai/avatar-pro",
    "status": "queued",
    "meta": {"usage": {"tokens_used": 1207500}},
}


def test_aimlapi_sends_model_integer_duration_and_cfg_scale() -> None:
    aiml, sent = client("aimlapi", (200, AIMLAPI_CREATED))
    result = aiml.submit(
        request(
            "aimlapi:klingai/v2.5-turbo/pro/text-to-video",
            prompt="A cheerful white raccoon running through a sequoia forest",
            cfg_scale=0.9,
            aspect_ratio="9:16",
        )
    )
    assert sent.body == {
        "model": "klingai/v2.5-turbo/pro/text-to-video",
        "prompt": "A cheerful white raccoon running through a sequoia forest",
        "duration": 5,
        "aspect_ratio": "9:16",
        "cfg_scale": 0.9,
    }
    assert sent.requests[0].url == f"{BASE}/v2/video/generations"
    assert result.task_id == "2baf5bc0-9565-4ff1-a775-d66ce749164c:klingai/avatar-pro"


def test_aimlapi_v2_6_always_says_whether_to_generate_audio() -> None:
    aiml, sent = client("aimlapi", (201, AIMLAPI_CREATED))  # the older OpenAPI declares 201
    aiml.submit(request("aimlapi:klingai/video-v2-6-pro-text-to-video", prompt="x"))
    assert sent.body["generate_audio"] is True  # the model's default, said out loud
    aiml.submit(request("aimlapi:klingai/video-v2-6-pro-text-to-video", prompt="x", sound=False))
    assert sent.body["generate_audio"] is False
    assert sent.body["model"] == "klingai/video-v2-6-pro-text-to-video"


def test_aimlapi_url_encodes_the_generation_id() -> None:
    aiml, sent = client("aimlapi", (200, {"id": "x", "status": "queued"}))
    task_id = "a248abc5-3122-45a9-a9ee-352e4642e01c:klingai/v2.5-turbo/pro/text-to-video"
    aiml.poll(task_id, spec=CATALOG["aimlapi:klingai/v2.5-turbo/pro/text-to-video"])
    url = sent.requests[0].url
    assert url.path == "/v2/video/generations"
    assert url.query == (
        b"generation_id=a248abc5-3122-45a9-a9ee-352e4642e01c%3Aklingai%2Fv2.5-turbo%2Fpro%2Ftext-to-video"
    )


KLING_CREATED = {
    "code": 0,
    "message": "SUCCEED",
    "request_id": "c0656403-1e6e-4b7e-b8f8-2cdd2595f2b9",
    "data": {
        "task_id": "867283741759111202",
        "task_status": "submitted",
        "task_info": {"external_task_id": "text2video_kling_v3_final-1774805076"},
        "created_at": 1774805076166,
        "updated_at": 1774805076166,
    },
}


def test_kling_sends_string_durations_and_every_option_the_member_set() -> None:
    kling, sent = client("kling", (200, KLING_CREATED))
    result = kling.submit(
        request(
            "kling:kling-v2-5-turbo",
            external_id="gen-42",
            callback_url="https://studio.example/hooks/kling/abc",
            prompt="a dog surfing",
            negative_prompt="blur",
            mode="std",
            aspect_ratio="9:16",
            watermark=True,
        )
    )
    assert sent.body == {
        "model_name": "kling-v2-5-turbo",
        "prompt": "a dog surfing",
        "negative_prompt": "blur",
        "mode": "std",
        "aspect_ratio": "9:16",
        "duration": "5",
        "watermark_info": {"enabled": True},
        "callback_url": "https://studio.example/hooks/kling/abc",
        "external_task_id": "gen-42",
    }
    assert sent.requests[0].url == f"{BASE}/v1/videos/text2video"
    assert (result.task_id, result.status) == ("867283741759111202", "submitted")


def test_kling_sends_camera_control_on_kling_v1_std_5s_only() -> None:
    """Source: Kling capability map (WHQ25/rawgenai docs/research/kling/capability-map.md), kling-v1 text-to-video:
    camera control in the "std 5s" column only; body shape from docs/research/kling/text-to-video.md."""
    kling, sent = client("kling", (200, KLING_CREATED))
    kling.submit(
        request(
            "kling:kling-v1",
            external_id="gen-42",
            callback_url="https://studio.example/hooks/kling/abc",
            prompt="a dog surfing",
            mode="std",
            aspect_ratio="9:16",
            camera_control={"type": "simple", "config": {"zoom": 5}},
            watermark=True,
        )
    )
    assert sent.body == {
        "model_name": "kling-v1",
        "prompt": "a dog surfing",
        "mode": "std",
        "aspect_ratio": "9:16",
        "duration": "5",
        "camera_control": {
            "type": "simple",
            "config": {"horizontal": 0, "vertical": 0, "pan": 0, "tilt": 0, "roll": 0, "zoom": 5.0},
        },
        "watermark_info": {"enabled": True},
        "callback_url": "https://studio.example/hooks/kling/abc",
        "external_task_id": "gen-42",
    }
    for model, extra in [
        ("kling:kling-v1", {"mode": "pro"}),
        ("kling:kling-v1", {"duration": 10}),
        ("kling:kling-v2-5-turbo", {}),
        ("kling:kling-v2-6", {}),
        ("kling:kling-v3", {}),
        ("powertokens:kling-v3", {}),
    ]:
        with pytest.raises(CatalogError) as refused:
            request(model, prompt="x", camera_control={"type": "down_back"}, **extra)
        assert "camera_control" in refused.value.errors


def test_kling_v3_multi_shot_body() -> None:
    kling, sent = client("kling", (200, KLING_CREATED))
    shots = [{"prompt": "a kettle", "duration": 3}, {"prompt": "steam", "duration": 4}]
    raw = {"mode": "pro", "duration": 7, "sound": True, "multi_shot": True, "shot_type": "customize", "shots": shots}
    kling.submit(request("kling:kling-v3", prompt="", **raw))
    assert sent.body == {
        "model_name": "kling-v3",
        "multi_shot": True,
        "shot_type": "customize",
        "multi_prompt": [
            {"index": 1, "prompt": "a kettle", "duration": "3"},
            {"index": 2, "prompt": "steam", "duration": "4"},
        ],
        "mode": "pro",
        "aspect_ratio": "16:9",
        "duration": "7",
        "sound": "on",
        "cfg_scale": 0.5,  # v3 takes it; kling-v2.x never gets it
        "external_task_id": "gen-1",
    }


def test_kling_never_sends_cfg_scale_to_v2_models() -> None:
    kling, sent = client("kling", (200, KLING_CREATED))
    kling.submit(request("kling:kling-v2-6", prompt="x", sound=False))
    assert "cfg_scale" not in sent.body
    assert sent.body["sound"] == "off"


def test_kling_signs_a_fresh_hs256_jwt_per_request() -> None:
    kling, sent = client("kling", (200, KLING_CREATED))
    kling.submit(request("kling:kling-v2-5-turbo", prompt="x"))
    scheme, token = sent.requests[0].headers["authorization"].split(" ")
    assert scheme == "Bearer"
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(token, SECRETS["kling"]["secret_key"], algorithms=["HS256"])
    now = time.time()
    assert claims["iss"] == "kling-access-0003"
    assert abs(claims["exp"] - (now + 1800)) < 5 and abs(claims["nbf"] - (now - 5)) < 5
    assert claims["exp"] - claims["nbf"] == 1805


def test_powertokens_uses_the_kling_body_under_kling_with_a_bearer_key() -> None:
    gateway, sent = client("powertokens", (200, KLING_CREATED))
    gateway.submit(request("powertokens:kling-v2-5-turbo", prompt="x"))
    assert sent.requests[0].url == f"{BASE}/kling/v1/videos/text2video"
    assert sent.requests[0].headers["authorization"] == "Bearer pt-secret-key-0005"
    assert sent.body["model_name"] == "kling-v2-5-turbo" and sent.body["duration"] == "5"


SEGMIND_SUBMITTED = {
    "request_id": "2c7f59ea-13f1-402c-9353-915a2b5a2124",
    "status": "QUEUED",
    "poll_url": "https://api.segmind.com/v1/requests/2c7f59ea-…",
    "status_url": "https://api.segmind.com/v2/requests/2c7f59ea-…/status",
    "response_url": "https://api.segmind.com/v2/requests/2c7f59ea-…",
}


def test_segmind_sends_the_seed_004_body_with_x_api_key() -> None:
    segmind, sent = client("segmind", (200, SEGMIND_SUBMITTED))
    result = segmind.submit(
        request(
            "segmind:kling-2.5-turbo",
            prompt="A beloved community figure moves through a 1920s street carnival",
            negative_prompt="no dark tones, no blur, no distort",
            duration="10",
            image_url="https://example.com/first.png",
            tail_image_url="https://example.com/last.png",
        )
    )
    assert sent.body == {
        "prompt": "A beloved community figure moves through a 1920s street carnival",
        "negative_prompt": "no dark tones, no blur, no distort",
        "cfg_scale": 0.7,
        "duration": 10,
        "mode": "pro",
        "aspect_ratio": "16:9",
        "image_url": "https://example.com/first.png",
        "tail_image_url": "https://example.com/last.png",
    }
    assert sent.requests[0].url == f"{BASE}/v2/kling-2.5-turbo"
    assert sent.requests[0].headers["x-api-key"] == "SG_0123456789abcdef"
    assert "authorization" not in sent.requests[0].headers
    assert result.task_id == "2c7f59ea-13f1-402c-9353-915a2b5a2124"


# -- response parsers against the documented examples -----------------------------------------------------------


def poll(provider: str, *replies: Reply, task_id: str = "t1") -> PollResult:
    c, _ = client(provider, *replies)
    return c.poll(task_id, spec=next(s for s in CATALOG.values() if s.provider == provider))


MULERUN_COMPLETED = {
    "videos": ["https://mulerouter.muleusercontent.com/public/079c5ad5-3b81-4eee-af06-4d85029899d0/result_000.mp4"],
    "task_info": {
        "id": "8e1e315e-…",
        "status": "completed",
        "created_at": "2025-09-21T00:00:00.000Z",
        "updated_at": "…",
    },
}
MULERUN_FAILED = {
    "task_info": {
        "id": "123e4567-e89b-12d3-a456-426614174000",
        "status": "failed",
        "created_at": "2025-01-15T10:30:00Z",
        "updated_at": "2025-01-15T10:30:15Z",
        "error": {"code": 400, "title": "Invalid Request", "detail": "The prompt contains prohibited content"},
    }
}


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("pending", "queued"),
        ("queued", "queued"),
        ("running", "running"),
        ("processing", "running"),
        ("completed", "succeeded"),
        ("succeeded", "succeeded"),
        ("failed", "failed"),
        ("something-new", "running"),
    ],
)
def test_mulerun_understands_both_vocabularies(status: str, state: str) -> None:
    payload = {**MULERUN_COMPLETED, "task_info": {**MULERUN_COMPLETED["task_info"], "status": status}}
    result = poll("mulerun", (200, payload))
    assert (result.state, result.status) == (state, status)


def test_mulerun_completed_and_failed_examples() -> None:
    done = poll("mulerun", (200, MULERUN_COMPLETED))
    assert done.video_url == MULERUN_COMPLETED["videos"][0]
    failed = poll("mulerun", (200, MULERUN_FAILED))
    assert (failed.state, failed.reason) == ("failed", "The prompt contains prohibited content.")
    upstream = {"task_info": {"status": "failed", "error": {"code": 3001, "title": "Task Execution Error",
                                                              "detail": "Task execution failed"}}}  # fmt: skip
    assert (
        poll("mulerun", (200, upstream)).reason
        == "The video model could not finish this video (Task execution failed)."
    )


def test_mulerun_http_errors() -> None:
    with pytest.raises(ProviderError) as gone:
        poll("mulerun", (404, {"error_code": 2005, "detail": "Task 1 does not exist"}))
    assert (gone.value.kind, gone.value.permanent) == ("not_found", True)
    assert gone.value.message == "MuleRun does not know this task (HTTP 404): Task 1 does not exist."
    with pytest.raises(ProviderError) as broke:
        poll("mulerun", (402, {"detail": "Payment required"}))
    assert (broke.value.kind, broke.value.permanent) == ("no_credit", True)


AIMLAPI_COMPLETED = {
    "id": "a248abc5-3122-45a9-a9ee-352e4642e01c:klingai/v2.5-turbo/pro/text-to-video",
    "status": "completed",
    "video": {
        "url": "https://cdn.aimlapi.com/eagle/files/lion/l7XgndUauE6MRszEJjNSm_output.mp4",
        "content_type": "video/mp4",
        "file_name": "output.mp4",
        "file_size": 20235536,
    },
}
AIMLAPI_ERROR_DETAIL = {
    "id": "50f3e8ae-…:kling-video/v1.6/pro/effects",
    "status": "error",
    "error": {
        "detail": [
            {
                "loc": ["body", "image_url"],
                "msg": "Could not detect face in the image",
                "type": "face_detection_error",
                "input": "https://…",
            }
        ]
    },
}


@pytest.mark.parametrize(
    ("status", "state"),
    [("queued", "queued"), ("waiting", "queued"), ("generating", "running"), ("active", "running"), ("new", "running")],
)
def test_aimlapi_statuses(status: str, state: str) -> None:
    assert poll("aimlapi", (200, {"id": "x", "status": status})).state == state


def test_aimlapi_completed_and_both_error_shapes() -> None:
    assert poll("aimlapi", (200, AIMLAPI_COMPLETED)).video_url == AIMLAPI_COMPLETED["video"]["url"]
    assert poll("aimlapi", (200, AIMLAPI_ERROR_DETAIL)).reason == "Could not detect face in the image."
    schema_shape = {"id": "x", "status": "error", "error": {"name": "GenerationError", "message": "Model overloaded"}}
    assert poll("aimlapi", (200, schema_shape)).reason == "Model overloaded."


def test_aimlapi_http_errors() -> None:
    credits = {"message": "You've run out of credits. Please top up your balance…", "statusCode": "403"}
    with pytest.raises(ProviderError) as broke:
        poll("aimlapi", (403, credits))
    assert (broke.value.kind, broke.value.permanent) == ("no_credit", True)
    limited = {
        "message": "Too Many Requests",
        "path": "/v1/chat/completions",
        "requestId": "798b860e-…",
        "statusCode": "429",
        "timestamp": "2025-03-11T07:13:27.813Z",
    }
    with pytest.raises(ProviderError) as slow_down:
        poll("aimlapi", (429, limited, {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}))
    assert (slow_down.value.kind, slow_down.value.permanent) == ("rate_limited", False)
    assert slow_down.value.retry_after == 3600  # an HTTP-date, clamped to an hour


KLING_SUCCEED = {
    "code": 0,
    "message": "SUCCEED",
    "request_id": "…",
    "data": {
        "task_id": "867283741759111202",
        "task_status": "succeed",
        "task_status_msg": "",
        "task_info": {"external_task_id": "…"},
        "final_unit_deduction": "…",
        "watermark_info": {"enabled": False},
        "task_result": {"videos": [{"id": "…", "url": "https://…mp4", "watermark_url": "", "duration": "5.1"}]},
        "created_at": 1722769557708,
        "updated_at": 1722769557708,
    },
}
KLING_FAILED = {
    "code": 0,
    "data": {
        "task_id": "833446756*******",
        "task_info": {},
        "created_at": 1766737710125,
        "updated_at": 1766737711775,
        "task_result": {},
        "task_status": "failed",
        "task_status_msg": "Image pixel is invalid",
    },
    "message": "SUCCEED",
    "request_id": "ace7625a-3e18-49aa-abc4-*******",
}


def test_kling_succeed_and_a_failed_task_answered_with_http_200() -> None:
    done = poll("kling", (200, KLING_SUCCEED))
    assert (done.state, done.status, done.video_url) == ("succeeded", "succeed", "https://…mp4")
    failed = poll("kling", (200, KLING_FAILED))
    assert (failed.state, failed.reason) == ("failed", "Image pixel is invalid.")
    running = {
        "code": 0,
        "message": "SUCCEED",
        "request_id": "…",
        "data": {"task_id": "1", "task_status": "processing"},
    }
    assert poll("kling", (200, running)).state == "running"


@pytest.mark.parametrize(
    ("status", "body", "kind", "permanent"),
    [
        (
            400,
            {
                "code": 1201,
                "message": "camera_control is only supported in std mode with 5s duration and kling-v1",
                "request_id": "Cl68jmfO2ocAAAAAAKQIVw",
            },
            "validation",
            True,
        ),
        (400, {"code": 1301, "message": "content security", "request_id": "r"}, "content_policy", True),
        (401, {"code": 1004, "message": "token expired", "request_id": "r"}, "auth", True),
        (429, {"code": 1102, "message": "resource pack depleted", "request_id": "r"}, "no_credit", True),
        (
            429,
            {"code": 1303, "message": "parallel task over resource pack limit", "request_id": "r"},
            "rate_limited",
            False,
        ),
        (503, {"code": 5001, "message": "maintenance", "request_id": "r"}, "server", False),
        (200, {"code": 1203, "message": "task not found", "request_id": "r"}, "not_found", True),
    ],
)
def test_kling_business_codes_decide_the_class(status: int, body: dict[str, Any], kind: str, permanent: bool) -> None:
    with pytest.raises(ProviderError) as raised:
        poll("kling", (status, body))
    assert (raised.value.kind, raised.value.permanent) == (kind, permanent)
    assert f"[code {body['code']}]" in raised.value.message
    assert body["message"] in raised.value.message


def test_kling_camera_control_error_reads_well() -> None:
    kling, _ = client(
        "kling",
        (
            400,
            {
                "code": 1201,
                "message": "camera_control is only supported in std mode with 5s duration and kling-v1",
                "request_id": "Cl68jmfO2ocAAAAAAKQIVw",
            },
        ),
    )
    with pytest.raises(ProviderError) as raised:
        kling.submit(request("kling:kling-v2-5-turbo", prompt="x"))
    assert raised.value.message == (
        "Kling rejected the request as invalid (HTTP 400): camera_control is only supported in std mode with 5s "
        "duration and kling-v1 [code 1201]."
    )
    assert "Cl68jmfO2ocAAAAAAKQIVw" in raised.value.body  # the whole body is kept for the admin


POWERTOKENS_A = {
    "code": 0,
    "message": "",
    "task_id": "task_315wt…",
    "request_id": "…",
    "data": {
        "task_id": "task_315wt…",
        "task_status": "succeed",
        "task_status_msg": "",
        "watermark_info": {"enabled": False},
        "task_result": {
            "videos": [{"id": "", "url": "…", "watermark_url": "", "duration": "5.042"}],
            "images": None,
        },
        "created_at": 1775872087,
        "updated_at": 1775872159,
    },
}


def test_powertokens_envelope_a() -> None:
    result = poll("powertokens", (200, POWERTOKENS_A), task_id="task_315wt…")
    assert (result.state, result.video_url) == ("succeeded", "…")


@pytest.mark.parametrize(
    ("data", "state", "extra"),
    [
        ({"task_id": "task_1", "status": "queued"}, "queued", {}),
        ({"task_id": "task_1", "status": "processing"}, "running", {}),
        (
            {"task_id": "task_1", "status": "succeeded", "url": "https://cdn.example/v.mp4", "format": "mp4"},
            "succeeded",
            {"video_url": "https://cdn.example/v.mp4"},
        ),
        (
            {"task_id": "task_1", "status": "failed", "error": {"message": "upstream refused the prompt"}},
            "failed",
            {"reason": "upstream refused the prompt."},
        ),
    ],
)
def test_powertokens_envelope_b(data: dict[str, Any], state: str, extra: dict[str, str]) -> None:
    result = poll("powertokens", (200, {"code": "success", "message": "", "data": data}))
    assert result.state == state
    for name, value in extra.items():
        assert getattr(result, name) == value


def test_kling_lookup_by_external_id_only_trusts_an_exact_match() -> None:
    listing = {"code": 0, "message": "SUCCEED", "data": [{"task_id": "9", "task_info": {"external_task_id": "other"}}]}
    kling, sent = client("kling", (200, listing))
    assert kling.find_by_external_id("gen-1", spec=CATALOG["kling:kling-v2-6"]) is None
    assert sent.requests[0].url.params["external_task_id"] == "gen-1"
    single = {
        "code": 0,
        "message": "SUCCEED",
        "data": {**KLING_CREATED["data"], "task_info": {"external_task_id": "gen-1"}},
    }
    kling, _ = client("kling", (200, single))
    assert kling.find_by_external_id("gen-1", spec=CATALOG["kling:kling-v2-6"]).task_id == "867283741759111202"
    kling, _ = client("kling", (404, {"code": 1203, "message": "not found", "request_id": "r"}))
    assert kling.find_by_external_id("gen-1", spec=CATALOG["kling:kling-v2-6"]) is None


SEGMIND_RUNNING = {
    "status": "PROCESSING",
    "request_id": "…",
    "status_url": "…",
    "response_url": "…",
    "metrics": {},
}
SEGMIND_DONE = {"status": "COMPLETED", "request_id": "…", "metrics": {"inference_time": 13.06}}
SEGMIND_FAILED = {"status": "FAILED", "error": "<text>", "metrics": {"inference_time": 0.008}, "request_id": "…"}


def test_segmind_status_result_and_failed_as_422() -> None:
    assert poll("segmind", (200, SEGMIND_RUNNING)).state == "running"
    result = {"status": "COMPLETED", "error": None, "metrics": {}, "output": "https://cdn.segmind.com/v.mp4"}
    done = poll("segmind", (200, SEGMIND_DONE), (200, result))
    assert (done.state, done.video_url) == ("succeeded", "https://cdn.segmind.com/v.mp4")
    failed = poll("segmind", (422, SEGMIND_FAILED))
    assert (failed.state, failed.status, failed.reason) == ("failed", "FAILED", "<text>.")


@pytest.mark.parametrize(
    "output",
    [
        "https://cdn.segmind.com/v.mp4",
        ["https://cdn.segmind.com/v.mp4"],
        {"video": "https://cdn.segmind.com/v.mp4"},
        {"video_url": "https://cdn.segmind.com/v.mp4"},
        [{"url": "https://cdn.segmind.com/v.mp4"}],
    ],
)
def test_segmind_finds_the_video_in_any_plausible_output_shape(output: Any) -> None:
    result = {"status": "COMPLETED", "output": output}
    assert poll("segmind", (200, SEGMIND_DONE), (200, result)).video_url == "https://cdn.segmind.com/v.mp4"


def test_segmind_errors_read_the_error_field() -> None:
    with pytest.raises(ProviderError) as raised:
        poll("segmind", (401, {"error": "Invalid API key"}))
    assert raised.value.message == "Segmind did not accept the credentials (HTTP 401): Invalid API key."
    with pytest.raises(ProviderError) as broke:
        poll("segmind", (406, {"error": "Not enough credits"}))
    assert broke.value.kind == "no_credit"
    with pytest.raises(ProviderError) as expired:
        poll("segmind", (404, {"error": "Request not found or expired"}))
    assert (expired.value.kind, expired.value.permanent) == ("expired", True)


def test_segmind_v1_streams_video_bytes_and_tolerates_the_json_variant() -> None:
    v1, sent = client("segmind_v1", (200, b"\x00\x00\x00\x18ftypmp42", {"Content-Type": "video/mp4"}))
    with v1.generate(request("segmind_v1:kling-2.5-turbo", prompt="x")) as chunks:
        assert b"".join(chunks) == b"\x00\x00\x00\x18ftypmp42"
    assert sent.requests[0].url == f"{BASE}/v1/kling-2.5-turbo"

    v1, sent = client("segmind_v1", (200, {"video": [{"url": "https://files.segmind.example/out.mp4"}]}))
    with pytest.raises(VideoAtLink) as link, v1.generate(request("segmind_v1:kling-2.5-turbo", prompt="x")):
        pass
    # The link is handed to the pipeline's fetch step (retried alone); the client never downloads it itself.
    assert link.value.url == "https://files.segmind.example/out.mp4"
    assert len(sent.requests) == 1

    v1, _ = client("segmind_v1", (200, b"<html>Sign in</html>", {"Content-Type": "text/html"}))
    with pytest.raises(SubmitOutcomeUnknown) as raised, v1.generate(request("segmind_v1:kling-2.5-turbo", prompt="x")):
        pass
    assert raised.value.kind == "malformed"


# -- the HTTP helper's classification ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "permanent"),
    [
        (400, "validation", True),
        (422, "validation", True),
        (401, "auth", True),
        (403, "auth", True),
        (402, "no_credit", True),
        (406, "no_credit", True),
        (404, "not_found", True),
        (451, "content_policy", True),
        (429, "rate_limited", False),
        (500, "server", False),
        (502, "server", False),
        (503, "server", False),
        (504, "timeout", False),
        (302, "redirect", True),
    ],
)
def test_status_classification(status: int, kind: str, permanent: bool) -> None:
    assert classify_status(status) == (kind, permanent)


def test_retry_after_takes_seconds_or_an_http_date() -> None:
    assert parse_retry_after("7") == 7
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480) == 30
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("error", "unknown", "kind"),
    [
        (httpx.ConnectError("refused"), False, "connection"),
        (httpx.ConnectTimeout("slow dns"), False, "timeout"),
        (httpx.PoolTimeout("busy"), False, "timeout"),
        (httpx.ReadTimeout("slow"), True, "timeout"),
        (httpx.WriteTimeout("slow"), True, "timeout"),
        (httpx.ReadError("reset"), True, "connection"),
        (httpx.WriteError("reset"), True, "connection"),
        (httpx.RemoteProtocolError("closed"), True, "connection"),
    ],
)
def test_a_transport_error_on_submit_is_unknown_only_if_the_request_may_have_been_sent(
    error: Exception, unknown: bool, kind: str
) -> None:
    mulerun, _ = client("mulerun", error)
    with pytest.raises(ProviderError) as raised:
        mulerun.submit(request("mulerun:kling-v2.5-turbo", prompt="x"))
    assert isinstance(raised.value, SubmitOutcomeUnknown) is unknown
    assert (raised.value.kind, raised.value.retryable) == (kind, True)
    with pytest.raises(ProviderError) as polled:  # a GET never has an unknown outcome
        poll("mulerun", error)
    assert not isinstance(polled.value, SubmitOutcomeUnknown)


def test_a_gateway_timeout_on_submit_is_unknown_but_on_poll_just_retryable() -> None:
    mulerun, _ = client("mulerun", (504, {"detail": "Generation timeout"}))
    with pytest.raises(SubmitOutcomeUnknown):
        mulerun.submit(request("mulerun:kling-v2.5-turbo", prompt="x"))
    with pytest.raises(ProviderError) as raised:
        poll("mulerun", (504, {"detail": "Generation timeout"}))
    assert raised.value.retryable and not isinstance(raised.value, SubmitOutcomeUnknown)


def test_malformed_json_is_retryable_on_poll_and_unknown_on_submit() -> None:
    with pytest.raises(ProviderError) as raised:
        poll("aimlapi", (200, b'{"id": "x", "sta'))
    assert (raised.value.kind, raised.value.retryable) == ("malformed", True)
    aiml, _ = client("aimlapi", (200, b"<html>"))
    with pytest.raises(SubmitOutcomeUnknown):
        aiml.submit(request("aimlapi:klingai/v2.5-turbo/pro/text-to-video", prompt="x"))
    aiml, _ = client("aimlapi", (200, {"status": "queued"}))  # no id: the task may exist all the same
    with pytest.raises(SubmitOutcomeUnknown):
        aiml.submit(request("aimlapi:klingai/v2.5-turbo/pro/text-to-video", prompt="x"))


def test_redirects_are_not_followed() -> None:
    with pytest.raises(ProviderError) as raised:
        poll("mulerun", (302, b"", {"Location": "https://evil.example/"}))
    assert (raised.value.kind, raised.value.permanent) == ("redirect", True)


def test_the_error_body_is_kept_truncated_and_scrubbed() -> None:
    key = SECRETS["mulerun"]["api_key"]
    body = {"detail": f"bad key {key}", "padding": "x" * 10_000}
    with pytest.raises(ProviderError) as raised:
        poll("mulerun", (401, body))
    assert key not in raised.value.body and key not in raised.value.message
    assert "[redacted]" in raised.value.message
    assert 4000 <= len(raised.value.body) <= 4096 + 100


# -- robustness: no provider answer crashes a parser -------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
KEYS = st.sampled_from(["code", "data", "status", "task_status", "task_info", "videos", "video", "error", "output",
                        "task_result", "id", "task_id", "message", "detail"])  # fmt: skip
ANSWERS = st.dictionaries(KEYS, JSON, max_size=5)


@pytest.mark.parametrize("provider", ["mulerun", "aimlapi", "kling", "powertokens", "segmind"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answer=ANSWERS, status=st.sampled_from([200, 200, 200, 400, 404, 422, 429, 500]))
def test_any_json_answer_is_a_poll_result_or_a_provider_error(
    provider: str, answer: dict[str, Any], status: int
) -> None:
    try:
        result = poll(provider, (status, answer), (status, answer))
    except ProviderError as exc:
        assert exc.message.endswith(".")
    else:
        assert result.state in ("queued", "running", "succeeded", "failed")
        assert result.state != "succeeded" or result.video_url
        assert result.state != "failed" or result.reason
    submitter, _ = client(provider, (status, answer))
    spec = next(s for s in CATALOG.values() if s.provider == provider)
    try:
        submitted = submitter.submit(request(spec.key, prompt="x"))
    except ProviderError as exc:
        assert exc.message.endswith(".")
    else:
        assert submitted.task_id


# -- the whole line-up, and the audit's fixes (issue 11); every body quoted from the source named ---------------


def test_mulerun_kling_v3_sends_multi_shot_with_integer_shot_seconds() -> None:
    """Source: openmule/mulerouter-cli, the kling-v3 t2v endpoint: apiPath
    "/vendors/klingai/v1/kling-v3/text-to-video/generation", duration "Video duration in seconds (3-15)", shot_type
    enum "customize", "intelligence", multi_prompt 'Each item: {"prompt":"...","duration":N}', sound "off"/"on";
    prompt "Mutually exclusive with multi_prompt"."""
    mulerun, sent = client("mulerun", (202, MULERUN_CREATED))
    shots = [{"prompt": "a kettle", "duration": 5}, {"prompt": "steam", "duration": 7}]
    raw = {"mode": "std", "duration": 12, "sound": True, "multi_shot": True, "shot_type": "customize", "shots": shots}
    mulerun.submit(request("mulerun:kling-v3", prompt="", **raw))
    assert sent.requests[0].url.path == "/vendors/klingai/v1/kling-v3/text-to-video/generation"
    assert sent.body == {
        "mode": "std",
        "aspect_ratio": "16:9",
        "duration": 12,
        "sound": "on",
        "multi_shot": True,
        "shot_type": "customize",
        "multi_prompt": [{"prompt": "a kettle", "duration": 5}, {"prompt": "steam", "duration": 7}],
    }
    mulerun.submit(
        request("mulerun:kling-v3", prompt="a fox", duration=3, multi_shot=True, shot_type="intelligence")
    )
    assert sent.body["prompt"] == "a fox" and sent.body["shot_type"] == "intelligence" and sent.body["duration"] == 3


def test_aimlapi_kling_v3_spells_the_shot_type_its_own_way() -> None:
    """Source: aimlapi/api-docs docs/api-references/video-models/Kling-AI/video-v3-standard-text-to-video.json:
    the documented request {"model": "klingai/video-v3-standard-text-to-video", "prompt": "A menacing evil dragon
    appears …"}; shot_type enum ["customize", "intelligent"]; generate_audio "default": true; duration enum 3 … 15;
    "Either prompt or multi_prompt must be provided, but not both."."""
    aiml, sent = client("aimlapi", (200, AIMLAPI_CREATED))
    dragon = (
        "A menacing evil dragon appears in a distance above the tallest mountain, then rushes toward the camera with "
        "its jaws open, revealing massive fangs. We see it's coming."
    )
    aiml.submit(request("aimlapi:klingai/video-v3-standard-text-to-video", prompt=dragon))
    assert sent.body == {
        "model": "klingai/video-v3-standard-text-to-video",
        "prompt": dragon,
        "duration": 5,
        "aspect_ratio": "16:9",
        "generate_audio": True,  # the documented default, said out loud
    }
    aiml.submit(
        request("aimlapi:klingai/video-v3-pro-text-to-video", prompt=dragon, duration=15, sound=False,
                multi_shot=True, shot_type="intelligence")
    )  # fmt: skip
    assert (sent.body["shot_type"], sent.body["duration"], sent.body["generate_audio"]) == ("intelligent", 15, False)
    shots = [{"prompt": "the mountain", "duration": 2}, {"prompt": "the dragon", "duration": 3}]
    aiml.submit(
        request("aimlapi:klingai/video-v3-pro-text-to-video", prompt="", multi_shot=True, shot_type="customize",
                shots=shots)
    )  # fmt: skip
    assert "prompt" not in sent.body
    assert sent.body["multi_prompt"] == shots and sent.body["shot_type"] == "customize"


def test_segmind_kling_2_6_sends_generate_audio() -> None:
    """Source: www.segmind.com/models/kling-2.6/api, the documented body: {"prompt": …, "negative_prompt": "no noise,
    no distortion, no clutter", "cfg_scale": 0.8, "duration": "10", "mode": "pro", "aspect_ratio": "16:9",
    "generate_audio": true} (we send the duration as an integer, as the kling-2.5-turbo schema types it)."""
    segmind, sent = client("segmind", (200, SEGMIND_SUBMITTED))
    segmind.submit(
        request("segmind:kling-2.6", prompt="Visual: São Paulo, Brazil", negative_prompt="no noise, no distortion, "
                "no clutter", cfg_scale=0.8, duration=10, aspect_ratio="16:9", sound=True)
    )  # fmt: skip
    assert sent.requests[0].url.path == "/v2/kling-2.6"
    assert sent.body == {
        "prompt": "Visual: São Paulo, Brazil",
        "negative_prompt": "no noise, no distortion, no clutter",
        "cfg_scale": 0.8,
        "duration": 10,
        "mode": "pro",
        "aspect_ratio": "16:9",
        "generate_audio": True,
    }


def _kling_done(*, enabled: bool, watermark_url: str) -> dict[str, Any]:
    """The query answer of WHQ25/rawgenai docs/research/kling/text-to-video.md: task_result.videos[].url and
    .watermark_url, and data.watermark_info.enabled ("是否生成含水印的结果": whether to also make a watermarked
    result)."""
    data = {**KLING_SUCCEED["data"], "watermark_info": {"enabled": enabled}}
    video = {"id": "v1", "url": "https://cdn.klingai.com/plain.mp4", "watermark_url": watermark_url, "duration": "5"}
    return {**KLING_SUCCEED, "data": {**data, "task_result": {"videos": [video]}}}


def test_kling_gives_the_member_the_watermarked_copy_when_they_asked_for_it() -> None:
    marked = "https://cdn.klingai.com/marked.mp4"
    assert poll("kling", (200, _kling_done(enabled=True, watermark_url=marked))).video_url == marked
    plain = poll("kling", (200, _kling_done(enabled=False, watermark_url="")))
    assert plain.video_url == "https://cdn.klingai.com/plain.mp4"
    # Asked, but Kling sent no watermarked link: the paid video is kept rather than thrown away.
    missing = poll("kling", (200, _kling_done(enabled=True, watermark_url="")))
    assert (missing.state, missing.video_url) == ("succeeded", "https://cdn.klingai.com/plain.mp4")


NEW_API_PAGE = b'<!doctype html><html lang="zh"><head><title>New API</title></head><body><div id="root"></div></body>'
TASK_NOT_EXIST = {"code": "task_not_exist", "message": "task_not_exist", "data": None}


def test_a_new_api_gateway_web_page_and_task_not_exist_are_understood() -> None:
    """Source: QuantumNous/new-api router/video-router.go registers only POST and GET …/text2video/:task_id;
    router/web-router.go serves the web UI (HTTP 200 text/html) for any other route; relay/relay_task.go answers an
    unknown task id with TaskErrorWrapperLocal(errors.New("task_not_exist"), "task_not_exist", 400)."""
    html = (200, NEW_API_PAGE, {"content-type": "text/html; charset=utf-8"})
    gateway, _ = client("powertokens", html)
    with pytest.raises(ProviderError) as lookup:
        gateway.find_by_external_id("gen-1", spec=CATALOG["powertokens:kling-v3"])
    # "Cannot tell", not "not found" (which would allow a resend) and not "malformed"; and asking again cannot
    # help (the route does not exist there), so the pipeline hands the generation to an admin at once.
    assert (lookup.value.kind, lookup.value.permanent) == ("html", True)
    assert "web page" in lookup.value.message
    with pytest.raises(ProviderError) as unknown:
        poll("powertokens", (400, TASK_NOT_EXIST))
    assert (unknown.value.kind, unknown.value.permanent, unknown.value.status_code) == ("not_found", True, 400)
    # Test connection: the task route with an id that cannot exist; task_not_exist means the key got in.
    gateway, sent = client("powertokens", (400, TASK_NOT_EXIST))
    assert gateway.check() == "PowerTokens accepted the credentials."
    assert sent.requests[0].url.path == "/kling/v1/videos/text2video/kling-site-connection-check"
    gateway, _ = client("powertokens", html)
    with pytest.raises(ProviderError) as page:
        gateway.check()
    assert page.value.kind == "html"
    gateway, _ = client("powertokens", (401, {"code": 1002, "message": "Invalid token", "request_id": "r"}))
    with pytest.raises(ProviderError) as denied:
        gateway.check()
    assert denied.value.kind == "auth"


def test_the_kling_list_lookup_walks_every_page() -> None:
    """Source: WHQ25/rawgenai docs/research/kling/text-to-video.md, "查询任务 (列表)" (the list query):
    /v1/videos/text2video?pageNum=1&pageSize=30, pageNum [1,1000], pageSize [1,500]. A server that ignores our
    external_task_id filter answers with these pages; the task we look for is on the third page of 500."""

    def page(n: int, size: int) -> list[dict[str, Any]]:
        return [{"task_id": f"{n}-{i}", "task_info": {"external_task_id": f"other-{n}-{i}"}} for i in range(size)]

    first = page(0, 30)
    third = page(3, 500)
    third[123] = {"task_id": "867283741759111202", "task_status": "processing",
                  "task_info": {"external_task_id": "gen-1"}}  # fmt: skip
    replies = [(200, {"code": 0, "data": first}), (200, {"code": 0, "data": page(1, 500)}),
               (200, {"code": 0, "data": page(2, 500)}), (200, {"code": 0, "data": third})]  # fmt: skip
    kling, sent = client("kling", *replies)
    found = kling.find_by_external_id("gen-1", spec=CATALOG["kling:kling-v3"])
    assert found is not None and (found.task_id, found.status) == ("867283741759111202", "processing")
    assert [dict(r.url.params) for r in sent.requests[1:]] == [
        {"external_task_id": "gen-1", "pageNum": str(n), "pageSize": "500"} for n in (1, 2, 3)
    ]
    # The walk stops at a short page: the task is not there.
    kling, sent = client("kling", (200, {"code": 0, "data": first}), (200, {"code": 0, "data": page(1, 12)}))
    assert kling.find_by_external_id("gen-1", spec=CATALOG["kling:kling-v3"]) is None
    assert len(sent.requests) == 2


@pytest.mark.parametrize(
    ("detail", "kind", "permanent"),
    [
        ("Daily spend limit exceeded for this API key.", "no_credit", True),
        ("Quota exceeded", "no_credit", True),
        ("Rate limit exceeded, please retry later.", "rate_limited", False),
        ("Too many requests: rate limit, quota, or daily spend limit exceeded", "rate_limited", False),
    ],
)
def test_mulerun_429_is_out_of_credit_only_when_it_names_a_spend_limit(detail: str, kind: str, permanent: bool) -> None:
    """Source: mulerun.com/docs/api-reference/error-codes and mulerouter.ai/docs/get-started/error-codes:
    "429 … rate limit, quota, or daily spend limit exceeded"."""
    mulerun, _ = client("mulerun", (429, {"detail": detail}))
    with pytest.raises(ProviderError) as raised:
        mulerun.submit(request("mulerun:kling-v2.5-turbo", prompt="x"))
    assert (raised.value.kind, raised.value.permanent) == (kind, permanent)
    if kind == "no_credit":  # the sentence the admin sees on the credential says what to do
        assert raised.value.message.startswith("The MuleRun account is out of credit (HTTP 429): ")
        assert "daily spend limit" in raised.value.message
        assert "raise it in the MuleRun console" in raised.value.message


@pytest.mark.parametrize("status", [400, 404, 409, 410, 422])
def test_segmind_reads_a_failed_body_under_any_4xx(status: int) -> None:
    """Source: segmind/segmind-python segmind/v2.py `_fetch_terminal_tolerant`: "Treat any body that announces a
    recognised terminal state as a valid payload, regardless of HTTP code"; FAILED body from its SEG-52 test."""
    failed = poll("segmind", (status, SEGMIND_FAILED))
    assert (failed.state, failed.reason) == ("failed", "<text>.")


@pytest.mark.parametrize(
    ("body", "duplicate"),
    [
        ({"code": 1201, "message": "external_task_id gen-1 already exists for this account"}, True),
        ({"code": 1201, "message": "The external_task_id is invalid"}, True),  # 1201 naming our id: never refund
        ({"code": 1200, "message": "external_task_id duplicate"}, True),
        ({"code": 1200, "message": "Duplicate external task id"}, True),
        ({"code": 1201, "message": "camera_control is only supported in std mode with 5s duration and kling-v1"},
         False),
        ({"code": 1200, "message": "external_task_id must be a string"}, False),
    ],
)
def test_a_reused_external_task_id_is_recognised_by_code_and_wording(body: dict[str, Any], duplicate: bool) -> None:
    """No source gives Kling's refusal of a reused external_task_id ("must be unique per account", docs.qingque.cn);
    docs/providers.md says why both the code and the words are read."""
    kling, _ = client("kling", (400, {**body, "request_id": "r"}))
    with pytest.raises(ProviderError) as raised:
        kling.submit(request("kling:kling-v3", prompt="x"))
    assert (raised.value.kind == "duplicate") is duplicate
    assert classify_status(409) == ("duplicate", True)  # a plain 409 conflict means the same anywhere
