"""MuleRun vendor routes: ``POST /vendors/klingai/v1/{model}/text-to-video/generation`` → 202 and
``GET …/{task_id}``; bearer key; ``task_info`` envelope; the Kling-route vocabulary
(pending/processing/completed/failed)."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from generations.catalog import ASPECT_RATIOS, CATALOG, MODES, PROMPT_MAX
from generations.simulator.faults import FaultError, markers_in
from generations.simulator.state import Task
from generations.simulator.web import BadRequest, SimRequest, SimResponse, faulted, iso, json_response, route

if TYPE_CHECKING:
    from generations.simulator.server import Simulator

PROVIDER = "mulerun"
BASE = r"^/vendors/klingai/v1/(?P<model>[A-Za-z0-9._-]+)/text-to-video/generation"
STATUS = {"queued": "pending", "running": "processing", "succeeded": "completed", "failed": "failed"}
FIELDS = {"prompt", "negative_prompt", "mode", "aspect_ratio", "duration", "sound"}
SHAPES = {
    "429": (429, "Too many requests: rate limit, quota or daily spend limit reached."),
    "500": (500, "Internal server error, please try again later."),
    "502": (502, "Bad gateway, please try again later."),
    "503": (503, "Service temporarily unavailable, please try again later."),
    "auth": (401, "Invalid or expired token."),
    "no_credit": (402, "Payment required: your balance is too low."),
}


def shape(kind: str) -> SimResponse:
    status, detail = SHAPES[kind]
    return json_response({"detail": detail}, status)


def authorize(sim: Simulator, request: SimRequest) -> SimResponse | None:
    key = request.bearer()
    if key and key == sim.keys[PROVIDER]:
        return None
    # Echoing the presented key is deliberate: tests prove the client scrubs secrets from what it keeps.
    return json_response({"detail": f"Invalid or expired token: {key or '(none)'}"}, 401)


def validate(body: Any, model: str) -> str:
    """The first problem with a create body, or ""."""
    spec = CATALOG.get(f"{PROVIDER}:{model}")
    if not isinstance(body, dict):
        return "The body must be a JSON object."
    unknown = set(body) - FIELDS
    if unknown:
        return f"Unknown field(s): {', '.join(sorted(unknown))}."
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > PROMPT_MAX:
        return f"prompt is required and cannot exceed {PROMPT_MAX} characters."
    negative = body.get("negative_prompt", "")
    if not isinstance(negative, str) or len(negative) > PROMPT_MAX:
        return f"negative_prompt must be text of at most {PROMPT_MAX} characters."
    if body.get("mode", "std") not in MODES:
        return "mode must be one of std, pro."
    if body.get("aspect_ratio", "16:9") not in ASPECT_RATIOS:
        return "aspect_ratio must be one of 16:9, 9:16, 1:1."
    duration = body.get("duration", 5)
    if type(duration) is not int or spec is None or duration not in spec.durations:
        return "duration must be the integer 5 or 10."
    if "sound" in body:
        if spec is None or not spec.sound:
            return f"sound is not supported by {model}."
        if body["sound"] not in ("on", "off"):
            return "sound must be on or off."
        if body["sound"] == "on" and body.get("mode", "std") != "pro":
            return "sound on requires mode pro."
    return ""


def create(sim: Simulator, request: SimRequest, match: re.Match[str]) -> SimResponse:
    model = match["model"]
    if f"{PROVIDER}:{model}" not in CATALOG:
        return json_response({"detail": "Not Found"}, 404)
    if denied := authorize(sim, request):
        return denied
    try:
        body = request.json()
        problem = validate(body, model)
        markers = [] if problem else markers_in(body["prompt"])
    except (BadRequest, FaultError) as exc:
        problem = str(exc)
    if problem:
        return json_response({"detail": problem}, 400)
    prompt = body["prompt"]

    def action() -> SimResponse:
        task = sim.create_task(
            provider=PROVIDER,
            model=model,
            duration=body.get("duration", 5),
            mode=body.get("mode", "std"),
            aspect_ratio=body.get("aspect_ratio", "16:9"),
            sound=body.get("sound") == "on",
            markers=markers,
            prompt=prompt,
            request=body,
        )
        return json_response({"task_info": task_info(task)}, 202)

    fault = sim.pick(PROVIDER, "create", markers, scope=("prompt", PROVIDER, prompt))
    return faulted(sim, fault, shape, action)


def query(sim: Simulator, request: SimRequest, match: re.Match[str]) -> SimResponse:
    if denied := authorize(sim, request):
        return denied
    task = sim.tasks.get(PROVIDER, match["task_id"])
    if task is None or task.model != match["model"]:
        return json_response({"error_code": 2005, "detail": f"Task {match['task_id']} does not exist"}, 404)

    def action() -> SimResponse:
        return json_response(task_body(sim, task))

    return faulted(sim, sim.pick(PROVIDER, "poll", task.markers, scope=task.id), shape, action)


def task_info(task: Task, now: float | None = None) -> dict[str, Any]:
    now = time.monotonic() if now is None else now
    phase = task.phase(now)
    info: dict[str, Any] = {
        "id": task.id,
        "status": STATUS[phase],
        "created_at": iso(task.created_at),
        "updated_at": iso(task.updated_at(now)),
    }
    if phase == "failed":
        info["error"] = {"code": 400, "title": "Invalid Request", "detail": "The prompt contains prohibited content"}
    return info


def task_body(sim: Simulator, task: Task) -> dict[str, Any]:
    now = time.monotonic()  # one instant for the whole answer, so status and videos agree
    body: dict[str, Any] = {"task_info": task_info(task, now)}
    if task.phase(now) == "succeeded":
        body = {"videos": [sim.video_url(task)], **body}
    return body


ROUTES = [
    route("POST", BASE + "$", create),
    route("GET", BASE + r"/(?P<task_id>[^/]+)$", query),
]
