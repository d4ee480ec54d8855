"""AI/ML API routes: ``POST /v2/video/generations`` (and the legacy ``/v2/generate/video/kling/generation``),
``GET`` the same path with ``?generation_id=<uuid>:<model>``; bearer key; queued/generating/completed/error."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from generations.catalog import ASPECT_RATIOS, CATALOG, PROMPT_MAX
from generations.simulator.faults import FaultError, markers_in
from generations.simulator.state import Task
from generations.simulator.web import BadRequest, SimRequest, SimResponse, faulted, json_response, request_id, route

if TYPE_CHECKING:
    from generations.simulator.server import Simulator

PROVIDER = "aimlapi"
PATHS = r"^/v2/(?:video/generations|generate/video/kling/generation)$"
STATUS = {"queued": "queued", "running": "generating", "succeeded": "completed", "failed": "error"}
FIELDS = {"model", "prompt", "duration", "negative_prompt", "cfg_scale", "aspect_ratio", "provider", "generate_audio"}
SHAPES = {
    "429": (429, "Too Many Requests"),
    "500": (500, "Internal server error"),
    "502": (502, "Bad Gateway"),
    "503": (503, "Service unavailable"),
    "auth": (401, "This request requires a valid API key. Get one at https://aimlapi.com/app/keys"),
    "no_credit": (403, "You've run out of credits. Please top up your balance to continue."),
}


def error(status: int, message: str, path: str = "") -> SimResponse:
    return json_response(
        {
            "message": message,
            "path": path,
            "requestId": request_id(),
            "statusCode": str(status),  # a string in the documented example
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        },
        status,
    )


def shape(kind: str) -> SimResponse:
    return error(*SHAPES[kind])


def authorize(sim: Simulator, request: SimRequest) -> SimResponse | None:
    key = request.bearer()
    if key and key == sim.keys[PROVIDER]:
        return None
    # Echoing the presented key is deliberate: tests prove the client scrubs secrets from what it keeps.
    return error(401, f"{SHAPES['auth'][1]} (received {key or 'no key'})", request.path)


def validate(body: Any) -> str:
    if not isinstance(body, dict):
        return "Body validation error! Expected object."
    unknown = set(body) - FIELDS
    if unknown:
        return f"Body validation error! Unrecognized key(s) in object: {', '.join(sorted(unknown))}"
    spec = CATALOG.get(f"{PROVIDER}:{body.get('model')}")
    if spec is None:
        return f"Body validation error! Invalid enum value. Received '{body.get('model')}' for model"
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > PROMPT_MAX:
        return f"Body validation error! prompt is required and at most {PROMPT_MAX} characters"
    duration = body.get("duration", 5)
    # The schema says integer; every doc example sends "5": both are accepted.
    if isinstance(duration, bool) or str(duration) not in {str(d) for d in spec.durations}:
        return "Body validation error! Invalid enum value. Expected 5 | 10 for duration"
    if body.get("aspect_ratio", "16:9") not in ASPECT_RATIOS:
        return "Body validation error! Invalid enum value. Expected '16:9' | '9:16' | '1:1' for aspect_ratio"
    cfg = body.get("cfg_scale", 0.5)
    if isinstance(cfg, bool) or not isinstance(cfg, int | float) or not 0 <= cfg <= 1:
        return "Body validation error! cfg_scale must be a number between 0 and 1"
    if "generate_audio" in body and (not spec.sound or not isinstance(body["generate_audio"], bool)):
        return "Body validation error! generate_audio is a boolean and only for models with audio"
    if not isinstance(body.get("negative_prompt", ""), str):
        return "Body validation error! negative_prompt must be a string"
    return ""


def create(sim: Simulator, request: SimRequest, match: re.Match[str]) -> SimResponse:
    if denied := authorize(sim, request):
        return denied
    try:
        body = request.json()
        problem = validate(body)
        markers = [] if problem else markers_in(body["prompt"])
    except (BadRequest, FaultError) as exc:
        problem = str(exc)
    if problem:
        return error(400, problem, request.path)
    spec = CATALOG[f"{PROVIDER}:{body['model']}"]
    prompt = body["prompt"]

    def action() -> SimResponse:
        task = sim.create_task(
            provider=PROVIDER,
            model=spec.model,
            task_id=f"{uuid.uuid4()}:{spec.model}",  # contains ':' and '/', as the real ids do
            duration=int(body.get("duration", 5)),
            mode="pro",  # every AI/ML API Kling route here is a pro (1080p) model
            aspect_ratio=body.get("aspect_ratio", "16:9"),
            sound=spec.sound and body.get("generate_audio", spec.sound_default),
            markers=markers,
            prompt=prompt,
            request=body,
        )
        return json_response({"id": task.id, "status": "queued", "meta": {"usage": {"credits_used": 420000}}})

    fault = sim.pick(PROVIDER, "create", markers, scope=("prompt", PROVIDER, prompt))
    return faulted(sim, fault, shape, action)


def query(sim: Simulator, request: SimRequest, match: re.Match[str]) -> SimResponse:
    if denied := authorize(sim, request):
        return denied
    generation_id = request.query.get("generation_id", "")
    if not generation_id:
        return error(400, "Body validation error! generation_id is required", request.path)
    task = sim.tasks.get(PROVIDER, generation_id)
    if task is None:
        return error(404, "Not Found", request.path)
    return faulted(
        sim, sim.pick(PROVIDER, "poll", task.markers, scope=task.id), shape, lambda: json_response(task_body(sim, task))
    )


def task_body(sim: Simulator, task: Task) -> dict[str, Any]:
    now = time.monotonic()
    phase = task.phase(now)
    body: dict[str, Any] = {"id": task.id, "status": STATUS[phase]}
    if phase == "succeeded":
        path = sim.videos.path_for(task.video_key)
        size = path.stat().st_size if path.exists() else 0
        body["video"] = {
            "url": sim.video_url(task),
            "content_type": "video/mp4",
            "file_name": "output.mp4",
            "file_size": size,
        }
        body["meta"] = {"usage": {"credits_used": 420000}}
    elif phase == "failed":
        # The real failed shape is {detail: [...]}, not the schema's {name, message}.
        body["error"] = {
            "detail": [
                {
                    "loc": ["body", "prompt"],
                    "msg": "The prompt was flagged by content moderation",
                    "type": "content_policy_violation",
                    "input": task.request.get("prompt", ""),
                }
            ]
        }
    return body


ROUTES = [
    route("POST", PATHS, create),
    route("GET", PATHS, query),
]
