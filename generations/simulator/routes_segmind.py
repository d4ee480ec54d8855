"""Segmind routes, ``x-api-key`` auth, ``{"error": …}`` bodies.

v2 async: ``POST /v2/{model}`` → request_id/status_url/response_url; ``GET /v2/requests/{id}/status`` and
``GET /v2/requests/{id}``; FAILED is HTTP 422 with a valid body; requests are forgotten ``result_ttl`` after
submission. v1 sync: ``POST /v1/{model}`` blocks for the whole generation and answers with the MP4 itself.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from generations.simulator import pictures, routes_files, rules
from generations.simulator.faults import FaultError, markers_in
from generations.simulator.state import Task
from generations.simulator.web import BadRequest, SimRequest, SimResponse, faulted, json_response, route

if TYPE_CHECKING:
    from generations.simulator.server import Simulator

PROVIDER = "segmind"
STATUS = {"queued": "QUEUED", "running": "PROCESSING", "succeeded": "COMPLETED", "failed": "FAILED"}
SHAPES = {
    "429": (429, "Rate limit exceeded. Free accounts get 5 requests per minute."),
    "500": (500, "Internal server error"),
    "502": (502, "Service temporarily unavailable"),
    "503": (503, "Service unavailable"),
    "auth": (401, "Invalid API key"),
    "no_credit": (406, "Not enough credits to process this request"),
    "spend_limit": (406, "Not enough credits to process this request"),
}
MODERATION_MESSAGE = "The prompt was flagged by content moderation (NSFW content detected)"


def error(status: int, message: str) -> SimResponse:
    return json_response({"error": message}, status)


def shape(kind: str) -> SimResponse:
    return error(*SHAPES[kind])


def authorize(sim: Simulator, request: SimRequest) -> SimResponse | None:
    key = request.headers.get("x-api-key") or ""
    if key and key == sim.keys[PROVIDER]:
        return None
    # Echoing the presented key is deliberate: tests prove the client scrubs secrets from what it keeps.
    return error(401, f"Invalid API key: {key or '(missing x-api-key header)'}")


def _read_create(sim: Simulator, request: SimRequest, match: re.Match[str]) -> tuple[Any, list, SimResponse | None]:
    if match["model"] not in rules.SEGMIND:
        return None, [], error(404, f"Model {match['model']} not found")
    if denied := authorize(sim, request):
        return None, [], denied
    try:
        body = request.json()
        problem = rules.check_segmind(body, match["model"])
        markers = [] if problem else markers_in(body["prompt"])
        if not problem and body.get("image_url"):  # a URL ("uri"); the picture is fetched and checked now
            body = {**body, "_picture": pictures.load(body["image_url"], field="image_url", base64_ok=False)}
            if body.get("tail_image_url"):
                pictures.load(body["tail_image_url"], field="tail_image_url", base64_ok=False)
    except (BadRequest, FaultError, pictures.PictureError) as exc:
        problem, markers = str(exc), []
    return body, markers, error(400, problem) if problem else None


def _new_task(sim: Simulator, model: str, body: dict[str, Any], markers: list, provider: str = PROVIDER) -> Task:
    picture = body.pop("_picture", b"")  # the fetched start image, not part of what the member sent
    return sim.create_task(
        provider=provider,
        model=model,
        duration=int(body.get("duration", 10)),
        mode="pro",
        aspect_ratio=body.get("aspect_ratio", "16:9"),
        sound=rules.SEGMIND[model].sound and body.get("generate_audio", True),
        markers=markers,
        prompt=body["prompt"],
        request=body,
        picture=picture,
    )


def submit(sim: Simulator, request: SimRequest, match: re.Match[str]) -> SimResponse:
    body, markers, problem = _read_create(sim, request, match)
    if problem:
        return problem

    def action() -> SimResponse:
        task = _new_task(sim, match["model"], body, markers)
        return json_response(
            {
                "request_id": task.id,
                "status": "QUEUED",
                "poll_url": f"{sim.base_url}/v1/requests/{task.id}",
                "status_url": f"{sim.base_url}/v2/requests/{task.id}/status",
                "response_url": f"{sim.base_url}/v2/requests/{task.id}",
            }
        )

    fault = sim.pick(PROVIDER, "create", markers, scope=("prompt", PROVIDER, body["prompt"]))
    return faulted(sim, fault, shape, action)


def status(sim: Simulator, request: SimRequest, match: re.Match[str]) -> SimResponse:
    return _lookup(sim, request, match, result=False)


def result(sim: Simulator, request: SimRequest, match: re.Match[str]) -> SimResponse:
    return _lookup(sim, request, match, result=True)


def _lookup(sim: Simulator, request: SimRequest, match: re.Match[str], *, result: bool) -> SimResponse:
    if denied := authorize(sim, request):
        return denied
    task = sim.tasks.get(PROVIDER, match["id"])
    if task is None or sim.expired(task):
        return error(404, "Request not found or expired")
    fault = sim.pick(PROVIDER, "poll", task.markers, scope=task.id)
    return faulted(sim, fault, shape, lambda: _answer(sim, task, result=result))


def _answer(sim: Simulator, task: Task, *, result: bool) -> SimResponse:
    now = time.monotonic()
    phase = task.phase(now)
    elapsed = round(min(task.age(), task.seconds), 3)
    body: dict[str, Any] = {"status": STATUS[phase], "request_id": task.id, "metrics": {}}
    if phase == "failed":
        body.update(error=MODERATION_MESSAGE, metrics={"inference_time": 0.008})
        return json_response(body, 422)  # FAILED is HTTP 422 on both endpoints (segmind-python SEG-52)
    if phase == "succeeded":
        body["metrics"] = {"inference_time": elapsed}
        if result:
            body.update(error=None, output=sim.video_url(task))
        return json_response(body)
    body.update(
        status_url=f"{sim.base_url}/v2/requests/{task.id}/status", response_url=f"{sim.base_url}/v2/requests/{task.id}"
    )
    if result:
        body.update(error=None, output=None)
    return json_response(body)


def generate_v1(sim: Simulator, request: SimRequest, match: re.Match[str]) -> SimResponse:
    """The synchronous call: wait for the whole generation, then answer with the MP4 bytes."""
    body, markers, problem = _read_create(sim, request, match)
    if problem:
        return problem
    started = time.monotonic()

    def action() -> SimResponse:
        task = _new_task(sim, match["model"], body, markers, provider="segmind_v1")
        if task.outcome == "never":  # a sync call that never finishes just hangs until the client gives up
            return SimResponse(delay=sim.slow_seconds, drop=True)
        if task.outcome == "moderation":
            return error(400, MODERATION_MESSAGE)
        path = sim.videos.get(task.video_key)
        sim.stopping.wait(max(0.0, task.seconds - (time.monotonic() - started)))
        if sim.segmind_v1_link:  # the finished video at a link; its download faults apply to that link
            return json_response({"video": [{"url": sim.video_url(task)}]})
        download = sim.pick("segmind_v1", "download", task.markers, scope=task.id)
        response = routes_files.file_response(sim, path, None, download)
        response.headers["x-remaining-credits"] = "1000.00"
        return response

    fault = sim.pick("segmind_v1", "create", markers, scope=("prompt", "segmind_v1", body["prompt"]))
    return faulted(sim, fault, shape, action)


ROUTES = [
    route("POST", r"^/v2/(?P<model>[A-Za-z0-9._-]+)$", submit),
    route("GET", r"^/v2/requests/(?P<id>[^/]+)/status$", status),
    route("GET", r"^/v1/requests/(?P<id>[^/]+)$", status),  # the poll_url the submit answer also gives
    route("GET", r"^/v2/requests/(?P<id>[^/]+)$", result),
    route("POST", r"^/v1/(?P<model>[A-Za-z0-9._-]+)$", generate_v1),
]
