"""AI/ML API routes: ``POST /v2/video/generations`` (and the legacy ``/v2/generate/video/kling/generation``),
``GET`` the same path with ``?generation_id=<uuid>:<model>``; bearer key; queued/generating/completed/error."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from generations.simulator import pictures, rules
from generations.simulator.faults import FaultError, markers_in
from generations.simulator.state import Task
from generations.simulator.web import BadRequest, SimRequest, SimResponse, faulted, json_response, request_id, route

if TYPE_CHECKING:
    from generations.simulator.server import Simulator

PROVIDER = "aimlapi"
PATHS = r"^/v2/(?:video/generations|generate/video/kling/generation)$"
STATUS = {"queued": "queued", "running": "generating", "succeeded": "completed", "failed": "error"}
SHAPES = {
    "429": (429, "Too Many Requests"),
    "500": (500, "Internal server error"),
    "502": (502, "Bad Gateway"),
    "503": (503, "Service unavailable"),
    "auth": (401, "This request requires a valid API key. Get one at https://aimlapi.com/app/keys"),
    "no_credit": (403, "You've run out of credits. Please top up your balance to continue."),
    "spend_limit": (403, "You've run out of credits. Please top up your balance to continue."),
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


def create(sim: Simulator, request: SimRequest, match: re.Match[str]) -> SimResponse:
    if denied := authorize(sim, request):
        return denied
    picture = b""
    try:
        body = request.json()
        problem = rules.check_aimlapi(body)
        texts = [] if problem else [body.get("prompt", "")] + [s["prompt"] for s in body.get("multi_prompt", [])]
        markers = markers_in(*texts)
        if not problem and body["model"] in rules.AIMLAPI_IMAGE:  # "a direct link … or a Base64-encoded … image"
            picture = pictures.load(body["image_url"], field="image_url")
            if body.get("tail_image_url"):
                pictures.load(body["tail_image_url"], field="tail_image_url")
    except (BadRequest, FaultError) as exc:
        problem = str(exc)
    except pictures.PictureError as exc:
        problem = f"Body validation error! {exc}"
    if problem:
        return error(400, problem, request.path)
    name = body["model"]
    model = rules.AIMLAPI_IMAGE[name][0] if name in rules.AIMLAPI_IMAGE else rules.AIMLAPI[name]
    prompt = " | ".join(t for t in texts if t)

    def action() -> SimResponse:
        task = sim.create_task(
            provider=PROVIDER,
            model=name,
            task_id=f"{uuid.uuid4()}:{name}",  # contains ':' and '/', as the real ids do
            duration=int(body.get("duration", 5)),
            mode=model.modes[0],  # the model id names the mode
            aspect_ratio=body.get("aspect_ratio", "16:9"),
            sound=model.sound and body.get("generate_audio", True),  # "generate_audio … default: true"
            markers=markers,
            prompt=prompt,
            request=body,
            picture=picture,
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
