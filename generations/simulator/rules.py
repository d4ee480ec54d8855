"""What each provider accepts and refuses, as the simulator enforces it.

Written from the providers' own documents (docs/providers.md, "Capability table", has the source of every rule)
and deliberately NOT imported from ``generations.catalog``: the catalog decides what the site offers, these
tables decide what the simulated provider takes, and the cross-check tests send one to the other. A mistake in
the catalog then shows up as a refusal instead of being copied into the simulator. (A test scans this package's
imports to keep it that way.)

Each ``check_*`` function returns "" for an acceptable create body, or the provider's refusal message; the
routes wrap it in the provider's own status, code and body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROMPT_MAX = 2500  # every provider: "Max 2500 characters"
SHOT_PROMPT_MAX = 512  # Kling multi-shot: "Max length per shot content: 512 characters"
MAX_SHOTS = 6  # "Max 6 shots, min 1 shot"
ASPECT_RATIOS = ("16:9", "9:16", "1:1")
CAMERA_TYPES = ("simple", "down_back", "forward_up", "right_turn_forward", "left_turn_forward")
CAMERA_AXES = ("horizontal", "vertical", "pan", "tilt", "roll", "zoom")
V3_SECONDS = tuple(range(3, 16))
# The one real camera-control refusal on record (KlingAIResearch/ComfyUI-KLingAI-API issue #14).
CAMERA_REFUSAL = "camera_control is only supported in std mode with 5s duration and kling-v1"


@dataclass(frozen=True)
class Model:
    modes: tuple[str, ...] = ("std", "pro")
    durations: tuple[int, ...] = (5, 10)
    sound: bool = False
    sound_needs_pro: bool = False  # std videos are silent only
    cfg_scale: bool = False
    negative_prompt: bool = True
    multi_shot: bool = False
    camera_control: bool = False  # kling-v1 text-to-video: std and 5 s only
    images: bool = False  # Segmind image_url / tail_image_url


@dataclass(frozen=True)
class ImageModel:
    """What an image-to-video route takes besides the start image: the end frame, where and how."""

    end_modes: tuple[str, ...] = ("pro",)  # Kling's capability map: "首尾帧" (first and last frame) in pro only
    end_durations: tuple[int, ...] = ()  # () = every duration; kling-v1 has first and last frame in 5 s only
    end_silent: bool = False  # kling-v2-6: first and last frame "仅无声视频" (silent video only)


# Kling official text2video, per account kind. PowerTokens forwards the same body to Kling.
_V3 = Model(durations=V3_SECONDS, sound=True, cfg_scale=True, multi_shot=True)
KLING: dict[str, dict[str, Model]] = {
    "kling": {
        "kling-v1": Model(cfg_scale=True, negative_prompt=False, camera_control=True),
        "kling-v1-6": Model(cfg_scale=True),
        "kling-v2-master": Model(modes=("pro",)),
        "kling-v2-1-master": Model(modes=("pro",)),
        "kling-v2-5-turbo": Model(),
        "kling-v2-6": Model(sound=True, sound_needs_pro=True),
        "kling-v3": _V3,
    },
    "powertokens": {  # one documented page per model
        "kling-v2-1-master": Model(modes=("pro",)),
        "kling-v2-5-turbo": Model(),
        "kling-v3": Model(
            modes=("std", "pro", "4k"), durations=V3_SECONDS, sound=True, cfg_scale=True, multi_shot=True
        ),
    },
}
# Kling image2video (model_name enum: kling-v1 … kling-v2-6, no kling-v3); the gateway proxies the same route.
_END_PRO, _NO_END = ImageModel(), ImageModel(end_modes=())
KLING_IMAGE: dict[str, dict[str, ImageModel]] = {
    "kling": {
        "kling-v1": ImageModel(end_modes=("std", "pro"), end_durations=(5,)),
        "kling-v1-6": _END_PRO,
        "kling-v2-master": _NO_END,
        "kling-v2-1-master": _NO_END,
        "kling-v2-5-turbo": _END_PRO,
        "kling-v2-6": ImageModel(end_silent=True),
    },
    "powertokens": {"kling-v2-1-master": _NO_END, "kling-v2-5-turbo": _END_PRO},
}
KLING_IMAGE_FIELDS = frozenset({
    "model_name", "image", "image_tail", "prompt", "negative_prompt", "voice_list", "sound", "cfg_scale", "mode",
    "static_mask", "dynamic_masks", "camera_control", "duration", "watermark_info", "callback_url",
    "external_task_id",
})  # fmt: skip
KLING_FIELDS = frozenset({
    "model_name", "multi_shot", "shot_type", "prompt", "multi_prompt", "negative_prompt", "sound", "voice_list",
    "cfg_scale", "mode", "camera_control", "aspect_ratio", "duration", "watermark_info", "callback_url",
    "external_task_id",
})  # fmt: skip

# MuleRun: the route names the model.
MULERUN: dict[str, Model] = {
    "kling-v2.5-turbo": Model(),
    "kling-v2.6": Model(sound=True, sound_needs_pro=True),
    "kling-v3": Model(durations=V3_SECONDS, sound=True, multi_shot=True),
}
MULERUN_FIELDS = frozenset({"prompt", "negative_prompt", "mode", "aspect_ratio", "duration"})
MULERUN_EXTRA = {"sound": ("sound",), "multi_shot": ("multi_shot", "shot_type", "multi_prompt")}
# MuleRun image-to-video routes (…/{model}/image-to-video/generation): image, image_tail, no aspect_ratio.
MULERUN_IMAGE: dict[str, ImageModel] = {"kling-v2.5-turbo": _END_PRO, "kling-v2.6": ImageModel(end_silent=True)}
MULERUN_IMAGE_FIELDS = frozenset({"image", "image_tail", "prompt", "negative_prompt", "mode", "duration",
                                  "static_mask", "dynamic_masks"})  # fmt: skip

# AI/ML API: one endpoint; the model id decides the mode (it has no mode field).
AIMLAPI: dict[str, Model] = {
    "klingai/v2.5-turbo/pro/text-to-video": Model(modes=("pro",), cfg_scale=True),
    "klingai/v2.1-master-text-to-video": Model(modes=("pro",), cfg_scale=True),
    "klingai/video-v2-6-pro-text-to-video": Model(modes=("pro",), sound=True, cfg_scale=True),
    "klingai/video-v3-standard-text-to-video": Model(
        modes=("std",), durations=V3_SECONDS, sound=True, cfg_scale=True, multi_shot=True
    ),
    "klingai/video-v3-pro-text-to-video": Model(
        modes=("pro",), durations=V3_SECONDS, sound=True, cfg_scale=True, multi_shot=True
    ),
}
# Image-to-video model ids: image_url (required), tail_image_url only on 2.6, no aspect_ratio; 2.6 has no cfg_scale.
AIMLAPI_IMAGE: dict[str, tuple[Model, ImageModel]] = {
    "klingai/v2.5-turbo/pro/image-to-video": (Model(modes=("pro",), cfg_scale=True), _NO_END),
    "klingai/video-v2-6-pro-image-to-video": (Model(modes=("pro",), sound=True), ImageModel(end_silent=True)),
}
AIMLAPI_IMAGE_FIELDS = frozenset({"model", "prompt", "image_url", "duration", "negative_prompt", "provider"})
AIMLAPI_SHOT_TYPES = ("customize", "intelligent")  # its spelling, not Kling's "intelligence"
AIMLAPI_FIELDS = frozenset({"model", "prompt", "duration", "negative_prompt", "cfg_scale", "aspect_ratio", "provider"})

# Segmind: the path names the model; pro only.
SEGMIND: dict[str, Model] = {
    "kling-2.5-turbo": Model(modes=("pro",), cfg_scale=True, images=True),
    "kling-2.6": Model(modes=("pro",), cfg_scale=True, sound=True),
}
SEGMIND_FIELDS = frozenset({"prompt", "negative_prompt", "cfg_scale", "duration", "mode", "aspect_ratio"})


def _text(body: dict[str, Any], name: str, *, required: bool = False, limit: int = PROMPT_MAX) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or len(value) > limit or (required and not value.strip()):
        return f"{name} is {'required and ' if required else ''}a string of at most {limit} characters"
    return ""


def _cfg(body: dict[str, Any]) -> str:
    cfg = body.get("cfg_scale", 0.5)
    if isinstance(cfg, bool) or not isinstance(cfg, int | float) or not 0 <= cfg <= 1:
        return "cfg_scale must be between 0 and 1"
    return ""


def _shots(shots: Any, total: int, *, string_seconds: bool, indexed: bool) -> str:
    """Kling's multi-shot rules; Kling writes each shot's seconds as a string, MuleRun and AI/ML API as a number."""
    if not isinstance(shots, list) or not 1 <= len(shots) <= MAX_SHOTS:
        return f"multi_prompt must hold 1 to {MAX_SHOTS} shots"
    seconds_total = 0
    for shot in shots:
        if not isinstance(shot, dict) or (indexed and type(shot.get("index")) is not int):
            index = "an integer index, " if indexed else ""
            return f"each multi_prompt item needs {index}a prompt and a duration"
        text, seconds = shot.get("prompt"), shot.get("duration")
        if not isinstance(text, str) or not text.strip() or len(text) > SHOT_PROMPT_MAX:
            return f"each shot prompt is required and at most {SHOT_PROMPT_MAX} characters"
        ok = (isinstance(seconds, str) and seconds.isdigit()) if string_seconds else type(seconds) is int
        if not ok or int(seconds) < 1:
            return "each shot duration must be " + ('a string of at least "1"' if string_seconds else "an integer >= 1")
        seconds_total += int(seconds)
    return "" if seconds_total == total else f"shot durations add up to {seconds_total}, not {total}"


def _sentence(problem: str) -> str:
    """MuleRun's messages end with a full stop."""
    return problem + "." if problem else ""


# -- Kling official and PowerTokens ---------------------------------------------------------------------------------
def _kling_head(body: Any, fields: frozenset[str] | set[str]) -> str:
    """What both Kling create routes refuse first: a body that is not an object, or a field the route lacks."""
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    if unknown := set(body) - fields:
        return f"Unknown parameter(s): {', '.join(sorted(unknown))}"
    return ""


def check_kling(body: Any, account: str) -> str:
    if problem := _kling_head(body, KLING_FIELDS):
        return problem
    name = body.get("model_name", "kling-v1")
    model = KLING[account].get(name) if isinstance(name, str) else None
    if model is None:
        return f"model_name {name} is not supported"
    if body.get("aspect_ratio", "16:9") not in ASPECT_RATIOS:
        return "aspect_ratio must be 16:9, 9:16 or 1:1"
    if problem := _kling_common(body, name, model):
        return problem
    if problem := _kling_camera(body, name, model):
        return problem
    return _kling_shots(body, model, int(body.get("duration", "5")))


def check_kling_image(body: Any, account: str) -> str:
    """``POST /v1/videos/image2video``: ``image`` and ``image_tail`` are URLs or raw Base64; the route decodes them."""
    if problem := _kling_head(body, KLING_IMAGE_FIELDS):
        return problem
    name = body.get("model_name", "kling-v1")
    model = KLING[account].get(name) if isinstance(name, str) else None
    pictures = KLING_IMAGE[account].get(name) if isinstance(name, str) else None
    if model is None or pictures is None:
        return f"model_name {name} is not supported for image2video"
    if not body.get("image") and not body.get("image_tail"):
        return "At least one parameter should be filled in between image and image_tail"
    if problem := _kling_common(body, name, model):
        return problem
    duration = int(body.get("duration", "5"))  # checked above
    if problem := _end_frame(body, "image_tail", name, pictures, body.get("mode", "std"), duration):
        return problem
    if "camera_control" in body:  # no model here lists camera control for image-to-video in the capability map
        return f"camera_control is not supported with an image for {name}"
    return _text(body, "prompt")


def _end_frame(body: dict[str, Any], field: str, name: str, pictures: ImageModel, mode: Any, duration: int) -> str:
    if not body.get(field):
        return ""
    if not pictures.end_modes:
        return f"{field} is not supported for {name}"
    if mode not in pictures.end_modes:
        return f"{field} is only supported in {' or '.join(pictures.end_modes)} mode for {name}"
    if pictures.end_durations and duration not in pictures.end_durations:
        return f"{field} is only supported with duration {', '.join(map(str, pictures.end_durations))} for {name}"
    if pictures.end_silent and body.get("sound") in ("on", True):
        return f"{field} is only supported for silent videos on {name}: sound must be off"
    return ""


def _kling_common(body: dict[str, Any], name: str, model: Model) -> str:
    """The fields text2video and image2video share."""
    duration = body.get("duration", "5")
    if not isinstance(duration, str) or duration not in {str(d) for d in model.durations}:
        return f"duration must be one of the strings {', '.join(str(d) for d in model.durations)} for {name}"
    mode = body.get("mode", "std")
    if mode not in model.modes:
        return f"mode must be one of {', '.join(model.modes)} for {name}"
    if "sound" in body:
        if not model.sound:
            return f"sound is not supported by {name}"
        if body["sound"] not in ("on", "off"):
            return "sound must be on or off"
        if body["sound"] == "on" and model.sound_needs_pro and mode != "pro":
            return f"sound is only supported in pro mode for {name}; std videos are silent"
    if "cfg_scale" in body:
        if not model.cfg_scale:
            return f"cfg_scale is not supported by {name}" + (" (kling-v2.x models)" if "-v2" in name else "")
        if problem := _cfg(body):
            return problem
    if "negative_prompt" in body and not model.negative_prompt:
        return f"negative_prompt is not supported by {name}"
    for field in ("negative_prompt", "callback_url", "external_task_id"):
        if problem := _text(body, field):
            return problem
    watermark = body.get("watermark_info", {"enabled": False})
    if not isinstance(watermark, dict) or not isinstance(watermark.get("enabled"), bool):
        return 'watermark_info must be {"enabled": true|false}'
    return ""


def _kling_camera(body: dict[str, Any], name: str, model: Model) -> str:
    camera = body.get("camera_control")
    if camera is None:
        return ""
    if not isinstance(camera, dict) or camera.get("type") not in CAMERA_TYPES:
        return "camera_control.type is invalid"
    if not model.camera_control or body.get("mode", "std") != "std" or body.get("duration", "5") != "5":
        return CAMERA_REFUSAL
    if camera["type"] == "simple":
        config = camera.get("config")
        if not isinstance(config, dict) or set(config) - set(CAMERA_AXES):
            return "camera_control.config is required for type simple"
        moving = [v for v in config.values() if v not in (0, 0.0)]
        if len(moving) != 1 or any(isinstance(v, bool) or not isinstance(v, int | float) for v in config.values()):
            return "camera_control.config: set exactly one of horizontal, vertical, pan, tilt, roll, zoom"
        if not -10 <= moving[0] <= 10:
            return "camera_control.config values must be in [-10, 10]"
    elif "config" in camera:
        return f"camera_control.config is only for type simple, not {camera['type']}"
    return ""


def _kling_shots(body: dict[str, Any], model: Model, duration: int) -> str:
    prompt = body.get("prompt", "")
    if not body.get("multi_shot"):
        if any(k in body for k in ("shot_type", "multi_prompt")):
            return "shot_type and multi_prompt need multi_shot true"
        return _text(body, "prompt", required=True)
    if not model.multi_shot or body["multi_shot"] is not True:
        return "multi_shot is not supported by this model"
    shot_type = body.get("shot_type")
    if shot_type == "intelligence":
        if "multi_prompt" in body:
            return "multi_prompt is only for shot_type customize"
        return _text(body, "prompt", required=True)
    if shot_type != "customize":
        return "shot_type must be customize or intelligence"
    if not isinstance(prompt, str):
        return "prompt must be a string"
    return _shots(body.get("multi_prompt"), duration, string_seconds=True, indexed=True)


# -- MuleRun ---------------------------------------------------------------------------------------------------------
def check_mulerun(body: Any, route_model: str) -> str:
    model = MULERUN[route_model]
    if not isinstance(body, dict):
        return "The body must be a JSON object."
    allowed = set(MULERUN_FIELDS)
    allowed |= set(MULERUN_EXTRA["sound"]) if model.sound else set()
    allowed |= set(MULERUN_EXTRA["multi_shot"]) if model.multi_shot else set()
    if unknown := set(body) - allowed:
        return f"Unknown field(s) for {route_model}: {', '.join(sorted(unknown))}."
    if problem := _text(body, "negative_prompt"):
        return _sentence(problem)
    mode = body.get("mode", "std")
    if mode not in model.modes:
        return f"mode must be one of {', '.join(model.modes)}."
    if body.get("aspect_ratio", "16:9") not in ASPECT_RATIOS:
        return "aspect_ratio must be one of 16:9, 9:16, 1:1."
    duration = body.get("duration", 5)
    if type(duration) is not int or duration not in model.durations:
        return f"duration must be an integer, one of {', '.join(str(d) for d in model.durations)}."
    if "sound" in body:
        if body["sound"] not in ("on", "off"):
            return "sound must be on or off."
        if body["sound"] == "on" and model.sound_needs_pro and mode != "pro":
            return "sound on requires mode pro."
    multi = body.get("multi_shot", False)
    if multi not in (True, False):
        return "multi_shot must be a boolean."
    if not multi:
        if "multi_prompt" in body or "shot_type" in body:
            return "shot_type and multi_prompt need multi_shot true."
        return _sentence(_text(body, "prompt", required=True))
    shot_type = body.get("shot_type", "customize")
    if shot_type == "intelligence":
        if "multi_prompt" in body:
            return "multi_prompt is only for shot_type customize."
        return _sentence(_text(body, "prompt", required=True))
    if shot_type != "customize":
        return "shot_type must be customize or intelligence."
    if "prompt" in body:
        return "prompt is mutually exclusive with multi_prompt."
    return _sentence(_shots(body.get("multi_prompt"), duration, string_seconds=False, indexed=False))


def check_mulerun_image(body: Any, route_model: str) -> str:
    """``…/{model}/image-to-video/generation``: image (URL or Base64), image_tail, integer duration."""
    model, pictures = MULERUN[route_model], MULERUN_IMAGE[route_model]
    if not isinstance(body, dict):
        return "The body must be a JSON object."
    allowed = set(MULERUN_IMAGE_FIELDS) | ({"sound"} if model.sound else set())
    if unknown := set(body) - allowed:
        return f"Unknown field(s) for {route_model} image-to-video: {', '.join(sorted(unknown))}."
    if not body.get("image"):
        return "image is required."
    mode = body.get("mode", "std")
    if mode not in model.modes:
        return f"mode must be one of {', '.join(model.modes)}."
    duration = body.get("duration", 5)
    if type(duration) is not int or duration not in model.durations:
        return f"duration must be an integer, one of {', '.join(str(d) for d in model.durations)}."
    if "sound" in body:
        if body["sound"] not in ("on", "off"):
            return "sound must be on or off."
        if body["sound"] == "on" and model.sound_needs_pro and mode != "pro":
            return "sound on requires mode pro."
    if problem := _end_frame(body, "image_tail", route_model, pictures, mode, duration):
        return _sentence(problem)
    for field in ("prompt", "negative_prompt"):
        if problem := _text(body, field, required=field == "prompt"):
            return _sentence(problem)
    return ""


# -- AI/ML API ------------------------------------------------------------------------------------------------------
def check_aimlapi(body: Any) -> str:
    if not isinstance(body, dict):
        return "Body validation error! Expected object."
    name = body.get("model")
    if isinstance(name, str) and name in AIMLAPI_IMAGE:
        return check_aimlapi_image(body, name)
    model = AIMLAPI.get(name) if isinstance(name, str) else None
    if model is None:
        return f"Body validation error! Invalid enum value. Received '{name}' for model"
    allowed = set(AIMLAPI_FIELDS) | ({"generate_audio"} if model.sound else set())
    allowed |= {"multi_prompt", "shot_type"} if model.multi_shot else set()
    if unknown := set(body) - allowed:
        return f"Body validation error! Unrecognized key(s) in object: {', '.join(sorted(unknown))}"
    duration = body.get("duration", 5)
    # The schema says integer; the older examples send "5": both are accepted.
    if isinstance(duration, bool) or str(duration) not in {str(d) for d in model.durations}:
        allowed_durations = " | ".join(str(d) for d in model.durations)
        return f"Body validation error! Invalid enum value. Expected {allowed_durations} for duration"
    if body.get("aspect_ratio", "16:9") not in ASPECT_RATIOS:
        return "Body validation error! Invalid enum value. Expected '16:9' | '9:16' | '1:1' for aspect_ratio"
    if problem := _cfg(body):
        return f"Body validation error! {problem}"
    if "generate_audio" in body and not isinstance(body["generate_audio"], bool):
        return "Body validation error! Expected boolean for generate_audio"
    if problem := _text(body, "negative_prompt"):
        return f"Body validation error! {problem}"
    shot_type = body.get("shot_type", "customize")
    if "shot_type" in body and shot_type not in AIMLAPI_SHOT_TYPES:
        return "Body validation error! Invalid enum value. Expected 'customize' | 'intelligent' for shot_type"
    if "multi_prompt" in body:
        if "prompt" in body:
            return "Body validation error! Either prompt or multi_prompt must be provided, but not both."
        if shot_type != "customize":
            return "Body validation error! multi_prompt needs shot_type customize"
        problem = _shots(body["multi_prompt"], int(duration), string_seconds=False, indexed=False)
        return f"Body validation error! {problem}" if problem else ""
    if problem := _text(body, "prompt", required=True):
        return f"Body validation error! {problem}"
    return ""


def check_aimlapi_image(body: dict[str, Any], name: str) -> str:
    model, pictures = AIMLAPI_IMAGE[name]
    allowed = set(AIMLAPI_IMAGE_FIELDS) | ({"generate_audio"} if model.sound else set())
    allowed |= {"cfg_scale"} if model.cfg_scale else set()
    allowed |= {"tail_image_url"} if pictures.end_modes else set()
    if unknown := set(body) - allowed:
        return f"Body validation error! Unrecognized key(s) in object: {', '.join(sorted(unknown))}"
    if not isinstance(body.get("image_url"), str) or not body["image_url"]:
        return "Body validation error! Required at image_url"
    duration = body.get("duration", 5)
    if isinstance(duration, bool) or str(duration) not in {str(d) for d in model.durations}:
        return "Body validation error! Invalid enum value. Expected 5 | 10 for duration"
    if problem := _cfg(body):
        return f"Body validation error! {problem}"
    if "generate_audio" in body and not isinstance(body["generate_audio"], bool):
        return "Body validation error! Expected boolean for generate_audio"
    sound = body.get("generate_audio", model.sound)  # "generate_audio … default: true"
    if problem := _end_frame({**body, "sound": sound}, "tail_image_url", name, pictures, "pro", int(duration)):
        return f"Body validation error! {problem}"
    for field in ("prompt", "negative_prompt"):
        if problem := _text(body, field, required=field == "prompt"):
            return f"Body validation error! {problem}"
    return ""


# -- Segmind ---------------------------------------------------------------------------------------------------------
def check_segmind(body: Any, path_model: str) -> str:
    model = SEGMIND[path_model]
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    allowed = set(SEGMIND_FIELDS) | ({"image_url", "tail_image_url"} if model.images else set())
    allowed |= {"generate_audio"} if model.sound else set()
    if unknown := set(body) - allowed:
        return f"Unknown parameter(s) for {path_model}: {', '.join(sorted(unknown))}"
    if problem := _text(body, "prompt", required=True):
        return problem
    duration = body.get("duration", 10)
    if isinstance(duration, bool) or str(duration) not in {str(d) for d in model.durations}:  # the examples send "10"
        return "duration must be 5 or 10"
    if body.get("mode", "pro") not in model.modes:
        return "mode must be pro"
    if body.get("aspect_ratio", "16:9") not in ASPECT_RATIOS:
        return "aspect_ratio must be 16:9, 9:16 or 1:1"
    if problem := _cfg(body):
        return problem
    if "generate_audio" in body and not isinstance(body["generate_audio"], bool):
        return "generate_audio must be a boolean"
    for name in ("negative_prompt", "image_url", "tail_image_url"):
        if not isinstance(body.get(name, ""), str):
            return f"{name} must be a string"
    if body.get("tail_image_url") and not body.get("image_url"):
        return "tail_image_url requires image_url"
    return ""
