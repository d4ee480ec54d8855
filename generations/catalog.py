"""The one table of providers, models and the parameters each model accepts.

The form, validation, prices and the README read this module; every rule in it has a source in
docs/providers.md ("Capability table"). The simulator does NOT read it: it keeps its own copy of the
providers' rules (generations/simulator/rules.py), so the two check each other. Nothing here imports Django.

A model is addressed by its catalog key ``"<provider>:<model>"`` (e.g. ``"mulerun:kling-v2.6"``);
AI/ML API model ids contain slashes, so ``:`` is the separator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from generations.params import has_control_characters, parse_int

PROMPT_MAX = 2500
SHOT_PROMPT_MAX = 512
MAX_SHOTS = 6
ASPECT_RATIOS = ("16:9", "9:16", "1:1")
MODES = ("std", "pro", "4k")  # every mode any model has; most have STD_PRO
STD_PRO = ("std", "pro")
MODE_LABELS = {"std": "Standard · 720p", "pro": "Professional · 1080p", "4k": "4K · 2160p"}
SHOT_TYPES = ("customize", "intelligence")
CAMERA_TYPES = ("simple", "down_back", "forward_up", "right_turn_forward", "left_turn_forward")
CAMERA_AXES = ("horizontal", "vertical", "pan", "tilt", "roll", "zoom")


@dataclass(frozen=True)
class ProviderInfo:
    key: str
    label: str
    default_base_url: str
    # Names of the secrets a credential of this provider holds (all required).
    secret_fields: tuple[str, ...] = ("api_key",)
    # Whether the protocol accepts an idempotency key we choose (Kling's external_task_id).
    has_external_id: bool = False
    # Whether the provider calls back a URL we give it when a task changes state.
    has_callback: bool = False
    # Synchronous protocols answer the submit with the finished video itself.
    synchronous: bool = False


PROVIDERS: dict[str, ProviderInfo] = {
    p.key: p
    for p in (
        ProviderInfo("mulerun", "MuleRun", "https://api.mulerun.com"),
        ProviderInfo("aimlapi", "AI/ML API", "https://api.aimlapi.com"),
        ProviderInfo(
            "kling",
            "Kling official API",
            "https://api-singapore.klingai.com",
            secret_fields=("access_key", "secret_key"),
            has_external_id=True,
            has_callback=True,
        ),
        ProviderInfo(
            "powertokens",
            "PowerTokens (Kling-compatible)",
            "https://api.powertokens.ai",
            has_external_id=True,
            has_callback=True,
        ),
        ProviderInfo("segmind", "Segmind (async v2)", "https://api.segmind.com"),
        ProviderInfo("segmind_v1", "Segmind (synchronous v1)", "https://api.segmind.com", synchronous=True),
    )
}


@dataclass(frozen=True)
class ImageRules:
    """How a model takes pictures: a start image always; an end image (last frame) only where documented."""

    # The provider's image-to-video model id, where it differs from the text-to-video one (AI/ML API); the Kling
    # and MuleRun protocols name the same model on an image-to-video route instead.
    route: str = ""
    end_modes: tuple[str, ...] = ("pro",)  # modes in which an end image is accepted; () = never
    end_durations: tuple[int, ...] = ()  # durations in which it is accepted; () = every duration
    end_silent: bool = False  # the model makes a video with an end image silent only (kling-v2-6)
    cfg_scale: bool = True  # whether the image-to-video route takes cfg_scale


@dataclass(frozen=True)
class ModelSpec:
    provider: str
    model: str  # the provider's own model id or route name
    label: str
    modes: tuple[str, ...] = STD_PRO
    durations: tuple[int, ...] = (5, 10)
    aspect_ratios: tuple[str, ...] = ASPECT_RATIOS
    negative_prompt: bool = True
    sound: bool = False
    sound_requires_pro: bool = False
    sound_default: bool = False
    cfg_scale: bool = False
    cfg_default: float | None = None
    images: ImageRules | None = None  # image_url (start image) and tail_image_url (end image), if taken
    multi_shot: bool = False
    camera_control: bool = False  # Kling: std mode and 5 s only
    watermark: bool = False  # Kling: the member then gets Kling's watermarked copy (watermark_url)
    # Seconds the provider usually takes; the simulator and the first estimate use it.
    typical_seconds: int = 120
    notes: str = ""
    # Set on a copy for a task made from a start image (``for_image_task``): protocols whose image-to-video task
    # lives on its own route (Kling's image2video, MuleRun's image-to-video) poll that route.
    image_task: bool = False

    @property
    def image_urls(self) -> bool:
        return self.images is not None

    def for_image_task(self, from_image: bool = True) -> ModelSpec:
        return replace(self, image_task=from_image) if from_image != self.image_task else self

    @property
    def key(self) -> str:
        return f"{self.provider}:{self.model}"

    @property
    def provider_info(self) -> ProviderInfo:
        return PROVIDERS[self.provider]

    def field_names(self) -> list[str]:
        """The form fields this model shows, in display order."""
        names = ["prompt"]
        names += ["negative_prompt"] if self.negative_prompt else []
        names += ["mode", "aspect_ratio", "duration"]
        names += ["sound"] if self.sound else []
        names += ["cfg_scale"] if self.cfg_scale else []
        names += ["image_url", "tail_image_url"] if self.image_urls else []
        names += ["multi_shot", "shot_type", "shots"] if self.multi_shot else []
        names += ["camera_control"] if self.camera_control else []
        names += ["watermark"] if self.watermark else []
        return names


# Pictures (docs/providers.md, "Capability table"). Kling's capability map: an end image ("首尾帧") in pro mode
# only, on kling-v1 in 5 s videos only, silent only on kling-v2-6; none on the master models; no camera control
# with a picture on these models. Kling's image2video lists no kling-v3.
_END_PRO = ImageRules()
_NO_END = ImageRules(end_modes=())
_V26_IMAGES = ImageRules(end_silent=True)

# Kling protocol (official API and PowerTokens): every model can also return a watermarked copy.
_KLING = dict(watermark=True, typical_seconds=90)
_KLING_V3 = dict(
    durations=tuple(range(3, 16)), sound=True, cfg_scale=True, cfg_default=0.5, multi_shot=True, **_KLING
)
_SEGMIND = dict(modes=("pro",), cfg_scale=True, cfg_default=0.7, typical_seconds=134)
_SEGMIND_25 = dict(label="Kling 2.5 Turbo", images=_END_PRO, **_SEGMIND)
_SEGMIND_26 = dict(label="Kling 2.6", sound=True, sound_default=True, **_SEGMIND)
_AIML_V3 = dict(durations=tuple(range(3, 16)), cfg_scale=True, sound=True, sound_default=True, multi_shot=True)

CATALOG: dict[str, ModelSpec] = {
    m.key: m
    for m in (
        ModelSpec("mulerun", "kling-v2.5-turbo", "Kling 2.5 Turbo", images=_END_PRO),
        ModelSpec(
            "mulerun",
            "kling-v2.6",
            "Kling 2.6",
            sound=True,
            sound_requires_pro=True,
            images=_V26_IMAGES,
            notes="sound needs pro mode",
        ),
        ModelSpec("mulerun", "kling-v3", "Kling 3", durations=tuple(range(3, 16)), sound=True, multi_shot=True),
        ModelSpec(
            "aimlapi",
            "klingai/v2.5-turbo/pro/text-to-video",
            "Kling 2.5 Turbo Pro",
            modes=("pro",),
            cfg_scale=True,
            # Its image-to-video schema has image_url but no tail_image_url.
            images=ImageRules(route="klingai/v2.5-turbo/pro/image-to-video", end_modes=()),
        ),
        ModelSpec(
            "aimlapi", "klingai/v2.1-master-text-to-video", "Kling 2.1 Master", modes=("pro",), cfg_scale=True
        ),
        ModelSpec(
            "aimlapi",
            "klingai/video-v2-6-pro-text-to-video",
            "Kling 2.6 Pro",
            modes=("pro",),
            cfg_scale=True,
            sound=True,
            sound_default=True,
            # Its image-to-video schema has tail_image_url and generate_audio, and no cfg_scale.
            images=ImageRules(route="klingai/video-v2-6-pro-image-to-video", end_silent=True, cfg_scale=False),
        ),
        ModelSpec("aimlapi", "klingai/video-v3-standard-text-to-video", "Kling 3 Standard", modes=("std",), **_AIML_V3),
        ModelSpec("aimlapi", "klingai/video-v3-pro-text-to-video", "Kling 3 Pro", modes=("pro",), **_AIML_V3),
        # Camera control: kling-v1, std, 5 s only (Kling's capability map and a real 400 code 1201).
        ModelSpec(
            "kling",
            "kling-v1",
            "Kling 1.0",
            negative_prompt=False,
            camera_control=True,
            images=ImageRules(end_modes=("std", "pro"), end_durations=(5,)),
            **_KLING,
        ),
        ModelSpec("kling", "kling-v1-6", "Kling 1.6", cfg_scale=True, cfg_default=0.5, images=_END_PRO, **_KLING),
        ModelSpec("kling", "kling-v2-1-master", "Kling 2.1 Master", modes=("pro",), images=_NO_END, **_KLING),
        ModelSpec("kling", "kling-v2-5-turbo", "Kling 2.5 Turbo", images=_END_PRO, **_KLING),
        # Kling makes std videos on v2-6 silent only: sound needs pro.
        ModelSpec(
            "kling", "kling-v2-6", "Kling 2.6", sound=True, sound_requires_pro=True, images=_V26_IMAGES, **_KLING
        ),
        ModelSpec("kling", "kling-v3", "Kling 3", **_KLING_V3),
        ModelSpec("powertokens", "kling-v2-1-master", "Kling 2.1 Master", modes=("pro",), images=_NO_END, **_KLING),
        ModelSpec("powertokens", "kling-v2-5-turbo", "Kling 2.5 Turbo", images=_END_PRO, **_KLING),
        # The PowerTokens kling-v3 page describes a 4k mode next to std and pro.
        ModelSpec("powertokens", "kling-v3", "Kling 3", modes=("std", "pro", "4k"), **_KLING_V3),
        ModelSpec("segmind", "kling-2.5-turbo", **_SEGMIND_25),
        ModelSpec("segmind", "kling-2.6", **_SEGMIND_26),
        ModelSpec("segmind_v1", "kling-2.5-turbo", **_SEGMIND_25),
        ModelSpec("segmind_v1", "kling-2.6", **_SEGMIND_26),
    )
}


def models_for(provider: str) -> list[ModelSpec]:
    return [m for m in CATALOG.values() if m.provider == provider]


def get_model(key: str) -> ModelSpec:
    try:
        return CATALOG[key]
    except KeyError:
        raise CatalogError({"model": "Choose one of the models offered."}) from None


@dataclass(frozen=True)
class Shot:
    prompt: str
    duration: int


def title_of(prompt: str, shot_prompts: Sequence[str]) -> str:
    """A one-line prompt for cards and titles (multi-shot: the first shot)."""
    text = prompt or (shot_prompts[0] if shot_prompts else "")
    return " ".join(text.split())


@dataclass(frozen=True)
class GenerationParams:
    """Everything a member chose, validated and normalised for one model."""

    prompt: str
    negative_prompt: str = ""
    mode: str = "std"
    aspect_ratio: str = "16:9"
    duration: int = 5
    sound: bool = False
    cfg_scale: float | None = None
    image_url: str = ""
    tail_image_url: str = ""
    multi_shot: bool = False
    shot_type: str = ""
    shots: tuple[Shot, ...] = ()
    camera_control: dict[str, Any] | None = None
    watermark: bool = False

    @property
    def title(self) -> str:
        return title_of(self.prompt, [shot.prompt for shot in self.shots])

    def as_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "mode": self.mode,
            "aspect_ratio": self.aspect_ratio,
            "duration": self.duration,
            "sound": self.sound,
            "cfg_scale": self.cfg_scale,
            "image_url": self.image_url,
            "tail_image_url": self.tail_image_url,
            "multi_shot": self.multi_shot,
            "shot_type": self.shot_type,
            "shots": [{"prompt": s.prompt, "duration": s.duration} for s in self.shots],
            "camera_control": self.camera_control,
            "watermark": self.watermark,
        }


class CatalogError(ValueError):
    """Input a model does not accept; ``errors`` maps a field name to one readable sentence."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


@dataclass
class _Reader:
    raw: Mapping[str, Any]
    errors: dict[str, str] = field(default_factory=dict)

    def text(self, name: str, *, limit: int, required: bool = False, label: str = "") -> str:
        value = self.raw.get(name)
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.errors[name] = f"{label or name} must be text."
            return ""
        value = value.replace("\r\n", "\n").strip()
        if has_control_characters(value):
            self.errors[name] = f"{label or name} contains control characters."
        elif len(value) > limit:
            self.errors[name] = f"{label or name} is {len(value)} characters; the limit is {limit}."
        elif required and not value:
            self.errors[name] = f"{label or name} is required."
        return value

    def choice(self, name: str, options: tuple[Any, ...], default: Any, *, what: str) -> Any:
        value = self.raw.get(name)
        if value in (None, ""):
            return default
        if isinstance(value, bool):  # bool is an int: never let True pass as duration 1
            self.errors[name] = f"Choose a {what} from: {_list(options)}."
            return default
        for option in options:
            if str(option) == str(value).strip():
                return option
        self.errors[name] = f"This model offers {what} {_list(options)} only."
        return default

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.raw.get(name)
        if value in (None, ""):
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("1", "true", "on", "yes"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("0", "false", "off", "no"):
            return False
        self.errors[name] = "Must be on or off."
        return default

    def number(self, name: str, *, low: float, high: float, label: str) -> float | None:
        value = self.raw.get(name)
        if value in (None, ""):
            return None
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
        except (TypeError, ValueError):
            self.errors[name] = f"{label} must be a number between {low:g} and {high:g}."
            return None
        if not math.isfinite(number) or not low <= number <= high:
            self.errors[name] = f"{label} must be between {low:g} and {high:g}."
            return None
        return round(number, 3)

    def url(self, name: str, label: str) -> str:
        value = self.text(name, limit=2000, label=label)
        # "stored:<name>" is a picture in our own storage, set by the site (generations.media.images).
        if value and not value.lower().startswith(("https://", "http://", "stored:")):
            self.errors[name] = f"{label} must be an http(s) address."
        return value


def _list(options: tuple[Any, ...]) -> str:
    items = [str(o) for o in options]
    if len(items) > 6 and all(i.isdigit() for i in items):
        return f"{items[0]} to {items[-1]}"
    return ", ".join(items[:-1]) + (" or " if len(items) > 1 else "") + items[-1]


def validate(model_key: str, raw: Mapping[str, Any]) -> GenerationParams:
    """Check ``raw`` (form strings or JSON values) against one model; raise CatalogError or return params.

    Fields the model does not support are rejected when set to a non-default value, so a member is
    never charged for a setting that would be silently dropped.
    """
    spec = get_model(model_key)
    r = _Reader(raw)
    multi_shot = r.flag("multi_shot") if spec.multi_shot else False
    shot_type = ""
    shots: tuple[Shot, ...] = ()
    if multi_shot:
        shot_type = r.choice("shot_type", SHOT_TYPES, "", what="shot type")
        if not shot_type:
            r.errors.setdefault("shot_type", "Choose a shot type: customize or intelligence.")
    prompt_required = not (multi_shot and shot_type == "customize")
    prompt = r.text("prompt", limit=PROMPT_MAX, required=prompt_required, label="Prompt")
    negative = r.text("negative_prompt", limit=PROMPT_MAX, label="Negative prompt")
    mode = r.choice("mode", spec.modes, spec.modes[0], what="mode")
    aspect = r.choice("aspect_ratio", spec.aspect_ratios, spec.aspect_ratios[0], what="aspect ratio")
    duration = r.choice("duration", spec.durations, 5 if 5 in spec.durations else spec.durations[0], what="duration")
    image_url = r.url("image_url", "Start image URL")
    tail_url = r.url("tail_image_url", "End image URL")
    pictures = spec.images
    # An end image makes kling-v2-6 silent: it then defaults to no sound instead of refusing the default.
    silent_end = bool(tail_url and pictures and pictures.end_silent)
    sound = r.flag("sound", spec.sound_default and not silent_end)
    cfg = r.number("cfg_scale", low=0, high=1, label="CFG scale")
    watermark = r.flag("watermark")
    camera = _camera(r, spec, mode, duration)

    if negative and not spec.negative_prompt:
        r.errors["negative_prompt"] = f"{spec.label} does not take a negative prompt."
    if sound and not spec.sound:
        r.errors["sound"] = f"{spec.label} cannot generate sound; choose Kling 2.6 or later."
    elif sound and spec.sound_requires_pro and mode != "pro":
        r.errors["sound"] = f"Sound on {spec.label} needs Professional mode."
    if cfg is not None and not spec.cfg_scale:
        r.errors["cfg_scale"] = f"{spec.label} does not support CFG scale."
    _pictures(r, spec, image_url, tail_url, mode, duration, sound=sound, cfg=cfg, camera=camera)
    if watermark and not spec.watermark:
        r.errors["watermark"] = f"{spec.label} does not offer a watermark option."
    if not spec.multi_shot and r.flag("multi_shot"):
        r.errors["multi_shot"] = f"{spec.label} does not support multi-shot videos."
    if multi_shot and shot_type == "customize":
        shots = _shots(r, duration)
    if multi_shot and (image_url or tail_url):
        r.errors["multi_shot"] = "Multi-shot videos cannot start from an image."
    if r.errors:
        raise CatalogError(r.errors)
    return GenerationParams(
        prompt=prompt,
        negative_prompt=negative,
        mode=mode,
        aspect_ratio=aspect,
        duration=duration,
        sound=sound,
        cfg_scale=cfg if cfg is not None else spec.cfg_default,
        image_url=image_url,
        tail_image_url=tail_url,
        multi_shot=multi_shot,
        shot_type=shot_type,
        shots=shots,
        camera_control=camera,
        watermark=watermark,
    )


def _pictures(
    r: _Reader,
    spec: ModelSpec,
    image_url: str,
    tail_url: str,
    mode: str,
    duration: int,
    *,
    sound: bool,
    cfg: float | None,
    camera: dict[str, Any] | None,
) -> None:
    """The documented rules for start and end images (docs/providers.md, "Capability table")."""
    rules = spec.images
    if not (image_url or tail_url):
        return
    if rules is None:
        r.errors["image_url" if image_url else "tail_image_url"] = f"{spec.label} does not take images."
        return
    if tail_url and not image_url:
        r.errors["tail_image_url"] = "An end image needs a start image."
    elif tail_url and not rules.end_modes:
        r.errors["tail_image_url"] = f"{spec.label} does not take an end image here; choose another model."
    elif tail_url and mode not in rules.end_modes:
        r.errors["tail_image_url"] = "An end image needs Professional mode."
    elif tail_url and rules.end_durations and duration not in rules.end_durations:
        seconds = _list(rules.end_durations)
        r.errors["tail_image_url"] = f"An end image on {spec.label} works with a {seconds} s video only."
    elif tail_url and rules.end_silent and sound:
        r.errors["sound"] = f"{spec.label} makes a video with an end image silent; switch sound off."
    if camera and "camera_control" not in r.errors:
        r.errors["camera_control"] = "Camera control cannot be combined with a start image."
    if cfg is not None and not rules.cfg_scale:
        r.errors["cfg_scale"] = f"{spec.label} does not take CFG scale with a start image."


def _shots(r: _Reader, total: int) -> tuple[Shot, ...]:
    raw = r.raw.get("shots")
    if not isinstance(raw, list | tuple) or not 1 <= len(raw) <= MAX_SHOTS:
        r.errors["shots"] = f"Add between 1 and {MAX_SHOTS} shots."
        return ()
    shots = []
    for i, item in enumerate(raw, start=1):
        if not isinstance(item, Mapping):
            r.errors["shots"] = f"Shot {i} is not a prompt and a duration."
            return ()
        text = item.get("prompt")
        seconds = item.get("duration")
        if not isinstance(text, str) or not text.strip():
            r.errors["shots"] = f"Shot {i} needs a prompt."
            return ()
        if has_control_characters(text):
            r.errors["shots"] = f"Shot {i} prompt contains control characters."
            return ()
        if len(text.strip()) > SHOT_PROMPT_MAX:
            r.errors["shots"] = f"Shot {i} prompt is {len(text.strip())} characters; the limit is {SHOT_PROMPT_MAX}."
            return ()
        number = parse_int(seconds) if isinstance(seconds, str | int) else None
        if number is None or number < 1:
            r.errors["shots"] = f"Shot {i} duration must be a whole number of seconds, at least 1."
            return ()
        shots.append(Shot(" ".join(text.split()), number))
    if sum(s.duration for s in shots) != total:
        r.errors["shots"] = f"Shot durations add up to {sum(s.duration for s in shots)} s; they must equal {total} s."
        return ()
    return tuple(shots)


def _camera(r: _Reader, spec: ModelSpec, mode: str, duration: int) -> dict[str, Any] | None:
    raw = r.raw.get("camera_control")
    if raw in (None, "", {}):
        return None
    if not spec.camera_control:
        r.errors["camera_control"] = f"{spec.label} does not support camera control."
        return None
    if not isinstance(raw, Mapping) or raw.get("type") in (None, ""):
        r.errors["camera_control"] = "Choose a camera movement."
        return None
    kind = raw.get("type")
    if kind not in CAMERA_TYPES:
        r.errors["camera_control"] = f"Camera movement must be one of {_list(CAMERA_TYPES)}."
        return None
    if mode != "std" or duration != 5:
        r.errors["camera_control"] = "Camera control works only in Standard mode with a 5 s duration."
        return None
    if kind != "simple":
        return {"type": kind}
    config = raw.get("config") if isinstance(raw.get("config"), Mapping) else {}
    values: dict[str, float] = {}
    for axis in CAMERA_AXES:
        value = config.get(axis)
        if value in (None, "", 0, "0"):
            continue
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number) or not -10 <= number <= 10:
            r.errors["camera_control"] = f"Camera {axis} must be between -10 and 10."
            return None
        values[axis] = number
    if len(values) != 1:
        r.errors["camera_control"] = "A simple camera movement sets exactly one of " + _list(CAMERA_AXES) + "."
        return None
    return {"type": "simple", "config": {axis: values.get(axis, 0) for axis in CAMERA_AXES}}


def default_price(spec: ModelSpec, mode: str, duration: int, sound: bool) -> int:
    """Seed price in credits: 2 credits a second in std, 4 in pro, 8 in 4k, +50 % with sound."""
    per_second = {"std": 2, "pro": 4, "4k": 8}[mode]
    credits = per_second * duration
    return math.ceil(credits * 1.5) if sound else credits


def price_rows() -> list[tuple[str, str, int, bool, int]]:
    """Every (model key, mode, duration, sound, default credits) the catalog can produce."""
    rows = []
    for spec in CATALOG.values():
        for mode in spec.modes:
            for duration in spec.durations:
                for sound in (False, True) if spec.sound else (False,):
                    if sound and spec.sound_requires_pro and mode != "pro":
                        continue
                    rows.append((spec.key, mode, duration, sound, default_price(spec, mode, duration, sound)))
    return rows
