"""Kling official text2video (``/v1/…``, JWT) and the PowerTokens gateway (``/kling/v1/…``, bearer key).

HTTP 200 + ``code: 0`` for every task state, failures included; numeric-string task ids (``task_…`` on the
gateway); millisecond timestamps (seconds on the gateway, as its envelope (a) shows); ``external_task_id`` unique
per account; flat callbacks on each status change. ``GET …/text2video?external_task_id=…`` finds a task by our id.
"""

from __future__ import annotations

import re
import secrets
import time
import warnings
from typing import TYPE_CHECKING, Any

import jwt
from jwt.warnings import InsecureKeyLengthWarning

from generations.simulator import pictures, rules
from generations.simulator.faults import FaultError, markers_in
from generations.simulator.state import DuplicateExternalId, Task
from generations.simulator.web import BadRequest, SimRequest, SimResponse, faulted, json_response, request_id, route

if TYPE_CHECKING:
    from generations.simulator.server import Simulator

warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)  # the demo keys are short on purpose

PREFIXES = {"": "kling", "/kling": "powertokens"}
BASE = r"^(?P<prefix>/kling)?/v1/videos/text2video"
# Image-to-video is another task kind with its own create and query routes; a task is found only on its own kind's
# route (new-api looks tasks up per action, and Kling documents GET /v1/videos/image2video/{id} separately).
IMAGE_BASE = r"^(?P<prefix>/kling)?/v1/videos/image2video"
STATUS = {"queued": "submitted", "running": "processing", "succeeded": "succeed", "failed": "failed"}
SHAPES = {
    "429": (429, 1302, "Rate limit exceeded, please slow down"),
    "500": (500, 5000, "Internal server error"),
    "502": (502, 5000, "Bad gateway"),
    "503": (503, 5001, "Service temporarily unavailable, under maintenance"),
    "auth": (401, 1000, "Authentication failed"),
    "no_credit": (429, 1102, "Account balance not enough: resource pack depleted or expired"),
    "spend_limit": (429, 1102, "Account balance not enough: resource pack depleted or expired"),
}
MODERATION_MESSAGE = "Failure to pass the risk control system"
WEB_PAGE = b'<!doctype html><html lang="en"><head><title>New API</title></head><body><div id="root"></div></body>'



def error(status: int, code: int, message: str) -> SimResponse:
    return json_response({"code": code, "message": message, "request_id": request_id()}, status)


def shape(kind: str) -> SimResponse:
    return error(*SHAPES[kind])


def authorize(sim: Simulator, provider: str, request: SimRequest) -> SimResponse | None:
    header = request.headers.get("Authorization") or ""
    if provider == "powertokens":
        key = request.bearer()
        return None if key and key == sim.keys["powertokens"] else error(401, 1002, f"Invalid token: {key or '(none)'}")
    if not header:
        return error(401, 1001, "Authorization is empty")
    if not header.startswith("Bearer "):
        return error(401, 1002, "Authorization is invalid")
    keys = sim.keys["kling"]
    try:
        claims = jwt.decode(
            header[7:].strip(),
            keys["secret_key"],
            algorithms=["HS256"],
            options={"require": ["iss", "exp", "nbf"]},
        )
    except jwt.ExpiredSignatureError:
        return error(401, 1004, "Authorization is expired")
    except jwt.ImmatureSignatureError:
        return error(401, 1003, "Authorization is not yet valid")
    except jwt.InvalidTokenError:
        return error(401, 1002, "Authorization is invalid")
    if claims.get("iss") != keys["access_key"]:
        return error(401, 1002, "Authorization is invalid")
    return None


def create(sim: Simulator, request: SimRequest, match: re.Match[str]) -> SimResponse:
    return _create(sim, request, match, image=False)


def create_image(sim: Simulator, request: SimRequest, match: re.Match[str]) -> SimResponse:
    return _create(sim, request, match, image=True)


def _create(sim: Simulator, request: SimRequest, match: re.Match[str], *, image: bool) -> SimResponse:
    provider = PREFIXES[match["prefix"] or ""]
    if denied := authorize(sim, provider, request):
        return denied
    picture = b""
    try:
        body = request.json()
        problem = (rules.check_kling_image if image else rules.check_kling)(body, provider)
        texts = [] if problem else [body.get("prompt", "")] + [s["prompt"] for s in body.get("multi_prompt", [])]
        markers = markers_in(*texts)
        if image and not problem:
            picture = pictures.load(body.get("image") or body["image_tail"], field="image")
            if body.get("image_tail"):
                pictures.load(body["image_tail"], field="image_tail")
    except (BadRequest, FaultError, pictures.PictureError) as exc:
        problem = str(exc)
    if problem:
        return error(400, 1201, problem)
    prompt = " | ".join(texts)

    def action() -> SimResponse:
        gateway = provider == "powertokens"
        try:
            task = sim.create_task(
                provider=provider,
                model=body.get("model_name", "kling-v1"),
                task_id=f"task_{secrets.token_hex(12)}" if gateway else str(secrets.randbelow(9 * 10**17) + 10**17),
                duration=int(body.get("duration", "5")),
                mode=body.get("mode", "std"),
                aspect_ratio=body.get("aspect_ratio", "16:9"),
                sound=body.get("sound") == "on",
                markers=markers,
                prompt=prompt,
                external_id=body.get("external_task_id", ""),
                callback_url=body.get("callback_url", ""),
                request=body,
                picture=picture,
            )
        except DuplicateExternalId as exc:
            return error(400, 1201, f"external_task_id {exc} already exists for this account")
        if task.callback_url:
            # Kling's callback body is flat: the task itself, not wrapped in {code, data}.
            sim.follow(task, lambda t: task_data(sim, t))
        data = task_data(sim, task)
        data.pop("task_result", None)
        return envelope(data, provider)

    fault = sim.pick(provider, "create", markers, scope=("prompt", provider, prompt))
    return faulted(sim, fault, shape, action)


def is_image(task: Task) -> bool:
    return "image" in task.request or "image_tail" in task.request


def query(sim: Simulator, request: SimRequest, match: re.Match[str]) -> SimResponse:
    provider = PREFIXES[match["prefix"] or ""]
    if denied := authorize(sim, provider, request):
        return denied
    task = sim.tasks.get(provider, match["task_id"])
    if task is not None and is_image(task) != ("/image2video/" in request.path):
        task = None  # the other kind's route does not know this task
    if task is None and provider == "powertokens":
        # new-api (relay/relay_task.go): TaskErrorWrapperLocal(errors.New("task_not_exist"), "task_not_exist", 400)
        return json_response({"code": "task_not_exist", "message": "task_not_exist", "data": None}, 400)
    if task is None:
        return error(404, 1203, f"task {match['task_id']} not found")
    return answer(sim, provider, task)


def lookup(sim: Simulator, request: SimRequest, match: re.Match[str]) -> SimResponse:
    """``?external_task_id=…`` finds one task by our id; otherwise the documented task list."""
    provider = PREFIXES[match["prefix"] or ""]
    if provider == "powertokens":
        # A new-api gateway registers no list route: its web router's NoRoute serves the web UI, HTTP 200 text/html.
        return SimResponse(200, WEB_PAGE, content_type="text/html; charset=utf-8")
    if denied := authorize(sim, provider, request):
        return denied
    image = request.path.rstrip("/").endswith("/image2video")
    external_id = request.query.get("external_task_id")
    if external_id is not None:
        task = sim.tasks.by_external_id(provider, external_id)
        if task is not None and is_image(task) != image:
            task = None
        if task is None:
            return error(404, 1203, f"task with external_task_id {external_id} not found")
        return answer(sim, provider, task)
    try:
        page, size = int(request.query.get("pageNum", "1")), int(request.query.get("pageSize", "30"))
    except ValueError:
        return error(400, 1201, "pageNum and pageSize must be integers")
    if not 1 <= page <= 1000 or not 1 <= size <= 500:
        return error(400, 1201, "pageNum must be 1-1000 and pageSize 1-500")
    own = [t for t in sim.tasks.all(provider) if is_image(t) == image]
    tasks = sorted(own, key=lambda t: t.created, reverse=True)[(page - 1) * size : page * size]
    fault = sim.pick(provider, "poll")
    return faulted(sim, fault, shape, lambda: envelope([task_data(sim, t) for t in tasks], provider))


def answer(sim: Simulator, provider: str, task: Task) -> SimResponse:
    fault = sim.pick(provider, "poll", task.markers, scope=task.id)
    return faulted(sim, fault, shape, lambda: envelope(task_data(sim, task), provider))


def envelope(data: Any, provider: str) -> SimResponse:
    body: dict[str, Any] = {"code": 0, "message": "SUCCEED", "request_id": request_id(), "data": data}
    if provider == "powertokens" and isinstance(data, dict):
        body = {"code": 0, "message": "", "task_id": data["task_id"], "request_id": request_id(), "data": data}
    return json_response(body)


def task_data(sim: Simulator, task: Task) -> dict[str, Any]:
    now = time.monotonic()
    phase = task.phase(now)
    # Kling writes milliseconds; the gateway's envelope (a) shows seconds.
    scale = 1 if task.provider == "powertokens" else 1000
    data: dict[str, Any] = {
        "task_id": task.id,
        "task_status": STATUS[phase],
        "task_status_msg": MODERATION_MESSAGE if phase == "failed" else "",
        "task_info": {"external_task_id": task.external_id} if task.external_id else {},
        "created_at": int(task.created_at * scale),
        "updated_at": int(task.updated_at(now) * scale),
        "task_result": {},
    }
    if phase == "succeeded":
        data["final_unit_deduction"] = str(task.duration // 5 or 1)
        data["watermark_info"] = task.request.get("watermark_info", {"enabled": False})
        video = {"id": f"v{task.id}", "url": sim.video_url(task), "watermark_url": "", "duration": f"{task.duration}.0"}
        if data["watermark_info"].get("enabled"):
            video["watermark_url"] = sim.video_url(task) + "?watermark=1"
        data["task_result"] = {"videos": [video]}
    return data


ROUTES = [
    route("POST", BASE + "$", create),
    route("GET", BASE + "$", lookup),
    route("GET", BASE + r"/(?P<task_id>[^/]+)$", query),
    route("POST", IMAGE_BASE + "$", create_image),
    route("GET", IMAGE_BASE + "$", lookup),
    route("GET", IMAGE_BASE + r"/(?P<task_id>[^/]+)$", query),
]
