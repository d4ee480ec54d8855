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

from generations.catalog import ASPECT_RATIOS, CAMERA_TYPES, CATALOG, MAX_SHOTS, MODES, PROMPT_MAX, SHOT_PROMPT_MAX
from generations.simulator.faults import FaultError, markers_in
from generations.simulator.state import DuplicateExternalId, Task
from generations.simulator.web import BadRequest, SimRequest, SimResponse, faulted, json_response, request_id, route

if TYPE_CHECKING:
    from generations.simulator.server import Simulator

warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)  # the demo keys are short on purpose

PREFIXES = {"": "kling", "/kling": "powertokens"}
BASE = r"^(?P<prefix>/kling)?/v1/videos/text2video"
STATUS = {"queued": "submitted", "running": "processing", "succeeded": "succeed", "failed": "failed"}
FIELDS = {
    "model_name", "multi_shot", "shot_type", "prompt", "multi_prompt", "negative_prompt", "sound", "voice_list",
    "cfg_scale", "mode", "camera_control", "aspect_ratio", "duration", "watermark_info", "callback_url",
    "external_task_id",
}  # fmt: skip
SHAPES = {
    "429": (429, 1302, "Rate limit exceeded, please slow down"),
    "500": (500, 5000, "Internal server error"),
    "502": (502, 5000, "Bad gateway"),
    "503": (503, 5001, "Service temporarily unavailable, under maintenance"),
    "auth": (401, 1000, "Authentication failed"),
    "no_credit": (429, 1102, "Account balance not enough: resource pack depleted or expired"),
}
MODERATION_MESSAGE = "Failure to pass the risk control system"


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


def validate(body: Any, provider: str) -> str:
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    unknown = set(body) - FIELDS
    if unknown:
        return f"Unknown parameter(s): {', '.join(sorted(unknown))}"
    model = body.get("model_name", "kling-v1")
    spec = CATALOG.get(f"{provider}:{model}")
    if spec is None:
        return f"model_name {model} is not supported"
    duration = body.get("duration", "5")
    if not isinstance(duration, str) or duration not in {str(d) for d in spec.durations}:
        return f"duration must be one of the strings {', '.join(str(d) for d in spec.durations)}"
    if body.get("mode", "std") not in MODES:
        return "mode must be std or pro"
    if body.get("aspect_ratio", "16:9") not in ASPECT_RATIOS:
        return "aspect_ratio must be 16:9, 9:16 or 1:1"
    if "sound" in body and (not spec.sound or body["sound"] not in ("on", "off")):
        return f"sound is not supported by {model}" if not spec.sound else "sound must be on or off"
    if "cfg_scale" in body:
        if model.startswith("kling-v2"):
            return "cfg_scale is not supported by kling-v2.x models"
        cfg = body["cfg_scale"]
        if isinstance(cfg, bool) or not isinstance(cfg, int | float) or not 0 <= cfg <= 1:
            return "cfg_scale must be between 0 and 1"
    for name in ("negative_prompt", "callback_url", "external_task_id"):
        if not isinstance(body.get(name, ""), str) or len(body.get(name, "")) > PROMPT_MAX:
            return f"{name} must be a string"
    watermark = body.get("watermark_info", {"enabled": False})
    if not isinstance(watermark, dict) or not isinstance(watermark.get("enabled"), bool):
        return 'watermark_info must be {"enabled": true|false}'
    if problem := _check_camera(body, model):
        return problem
    return _check_shots(body, spec.multi_shot, int(duration))


def _check_camera(body: dict[str, Any], model: str) -> str:
    camera = body.get("camera_control")
    if camera is None:
        return ""
    if not isinstance(camera, dict) or camera.get("type") not in CAMERA_TYPES:
        return "camera_control.type is invalid"
    if body.get("mode", "std") != "std" or body.get("duration", "5") != "5":
        return f"camera_control is only supported in std mode with 5s duration and {model}"
    return ""


def _check_shots(body: dict[str, Any], supports: bool, duration: int) -> str:
    prompt = body.get("prompt", "")
    if not body.get("multi_shot"):
        if any(k in body for k in ("shot_type", "multi_prompt")):
            return "shot_type and multi_prompt need multi_shot true"
        if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > PROMPT_MAX:
            return f"prompt is required and cannot exceed {PROMPT_MAX} characters"
        return ""
    if not supports or body["multi_shot"] is not True:
        return "multi_shot is not supported by this model"
    shot_type = body.get("shot_type")
    if shot_type == "intelligence":
        return "" if isinstance(prompt, str) and prompt.strip() else "prompt is required for intelligence shots"
    if shot_type != "customize":
        return "shot_type must be customize or intelligence"
    shots = body.get("multi_prompt")
    if not isinstance(shots, list) or not 1 <= len(shots) <= MAX_SHOTS:
        return f"multi_prompt must hold 1 to {MAX_SHOTS} shots"
    total = 0
    for shot in shots:
        if not isinstance(shot, dict) or type(shot.get("index")) is not int:
            return "each multi_prompt item needs an integer index"
        text, seconds = shot.get("prompt"), shot.get("duration")
        if not isinstance(text, str) or not text.strip() or len(text) > SHOT_PROMPT_MAX:
            return f"each shot prompt is required and at most {SHOT_PROMPT_MAX} characters"
        if not isinstance(seconds, str) or not seconds.isdigit() or int(seconds) < 1:
            return 'each shot duration is a string of at least "1"'
        total += int(seconds)
    return "" if total == duration else f"shot durations add up to {total}, not {duration}"


def create(sim: Simulator, request: SimRequest, match: re.Match[str]) -> SimResponse:
    provider = PREFIXES[match["prefix"] or ""]
    if denied := authorize(sim, provider, request):
        return denied
    try:
        body = request.json()
        problem = validate(body, provider)
        texts = [] if problem else [body.get("prompt", "")] + [s["prompt"] for s in body.get("multi_prompt", [])]
        markers = markers_in(*texts)
    except (BadRequest, FaultError) as exc:
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


def query(sim: Simulator, request: SimRequest, match: re.Match[str]) -> SimResponse:
    provider = PREFIXES[match["prefix"] or ""]
    if denied := authorize(sim, provider, request):
        return denied
    task = sim.tasks.get(provider, match["task_id"])
    if task is None:
        return error(404, 1203, f"task {match['task_id']} not found")
    return answer(sim, provider, task)


def lookup(sim: Simulator, request: SimRequest, match: re.Match[str]) -> SimResponse:
    """``?external_task_id=…`` finds one task by our id; otherwise the documented task list."""
    provider = PREFIXES[match["prefix"] or ""]
    if denied := authorize(sim, provider, request):
        return denied
    external_id = request.query.get("external_task_id")
    if external_id is not None:
        task = sim.tasks.by_external_id(provider, external_id)
        if task is None:
            return error(404, 1203, f"task with external_task_id {external_id} not found")
        return answer(sim, provider, task)
    try:
        page, size = int(request.query.get("pageNum", "1")), int(request.query.get("pageSize", "30"))
    except ValueError:
        return error(400, 1201, "pageNum and pageSize must be integers")
    if not 1 <= page <= 1000 or not 1 <= size <= 500:
        return error(400, 1201, "pageNum must be 1-1000 and pageSize 1-500")
    tasks = sorted(sim.tasks.all(provider), key=lambda t: t.created, reverse=True)[(page - 1) * size : page * size]
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
]
