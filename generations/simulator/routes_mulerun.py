"""MuleRun vendor routes: ``POST /vendors/klingai/v1/{model}/text-to-video/generation`` → 202 and
``GET …/{task_id}``; bearer key; ``task_info`` envelope; the Kling-route vocabulary
(pending/processing/completed/failed)."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from generations.simulator import pictures, rules
from generations.simulator.faults import FaultError, markers_in
from generations.simulator.state import Task
from generations.simulator.web import BadRequest, SimRequest, SimResponse, faulted, iso, json_response, route

if TYPE_CHECKING:
    from generations.simulator.server import Simulator

PROVIDER = "mulerun"
BASE = r"^/vendors/klingai/v1/(?P<model>[A-Za-z0-9._-]+)/(?P<kind>text|image)-to-video/generation"
STATUS = {"queued": "pending", "running": "processing", "succeeded": "completed", "failed": "failed"}
SHAPES = {
    "429": (429, "Too many requests: rate limit exceeded, please retry later."),
    # MuleRun's 429 also covers "quota, or daily spend limit exceeded" (its error-codes page).
    "spend_limit": (429, "Daily spend limit exceeded for this API key."),
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


def create(sim: Simulator, request: SimRequest, match: re.Match[str]) -> SimResponse:
    model, image = match["model"], match["kind"] == "image"
    if model not in (rules.MULERUN_IMAGE if image else rules.MULERUN):
        return json_response({"detail": "Not Found"}, 404)
    if denied := authorize(sim, request):
        return denied
    picture = b""
    try:
        body = request.json()
        problem = (rules.check_mulerun_image if image else rules.check_mulerun)(body, model)
        texts = [] if problem else [body.get("prompt", "")] + [s["prompt"] for s in body.get("multi_prompt", [])]
        markers = markers_in(*texts)
        if image and not problem:  # "Public URL or Base64 encoded data"
            picture = pictures.load(body["image"], field="image")
            if body.get("image_tail"):
                pictures.load(body["image_tail"], field="image_tail")
    except (BadRequest, FaultError) as exc:
        problem = str(exc)
    except pictures.PictureError as exc:
        problem = _sentence(str(exc))
    if problem:
        return json_response({"detail": problem}, 400)
    prompt = " | ".join(t for t in texts if t)

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
            picture=picture,
        )
        return json_response({"task_info": task_info(task)}, 202)

    fault = sim.pick(PROVIDER, "create", markers, scope=("prompt", PROVIDER, prompt))
    return faulted(sim, fault, shape, action)


def query(sim: Simulator, request: SimRequest, match: re.Match[str]) -> SimResponse:
    if denied := authorize(sim, request):
        return denied
    task = sim.tasks.get(PROVIDER, match["task_id"])
    # A task lives on the route that made it: its model and its kind (text- or image-to-video).
    if task is None or task.model != match["model"] or ("image" in task.request) != (match["kind"] == "image"):
        return json_response({"error_code": 2005, "detail": f"Task {match['task_id']} does not exist"}, 404)

    def action() -> SimResponse:
        return json_response(task_body(sim, task))

    return faulted(sim, sim.pick(PROVIDER, "poll", task.markers, scope=task.id), shape, action)


def _sentence(problem: str) -> str:
    return problem if problem.endswith(".") else problem + "."


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
