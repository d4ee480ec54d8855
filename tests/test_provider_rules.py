"""The catalog and the simulator check each other.

The catalog (what the site offers) and the simulator's rules (``generations/simulator/rules.py``, what the providers
accept) are written separately from docs/providers.md. (a) Every combination the catalog allows is sent to the
simulator through the real client code and must be accepted; (b) the known-invalid combinations from the capability
table are sent and must get the provider's own refusal, and the catalog must refuse them too. A mistake on either
side fails one of the two tests instead of being copied from one into the other.
"""

from __future__ import annotations

import ast
import base64
import itertools
import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from generations.catalog import CATALOG, CatalogError, GenerationParams, ModelSpec, Shot, validate
from generations.providers import get_client
from generations.providers.base import Client, ProviderError, SubmitRequest
from generations.providers.http import HttpOptions
from generations.simulator import Simulator
from generations.simulator.rules import CAMERA_REFUSAL
from tests.fixtures_simulator import PICTURES, client_for, credential

PICTURE = base64.b64encode(PICTURES["/start.png"]).decode()  # raw Base64, as Kling documents
SIMULATOR_PACKAGE = Path(__file__).resolve().parent.parent / "generations" / "simulator"


def test_the_simulator_package_imports_nothing_from_the_site() -> None:
    """Its rules must be its own copy: importing the catalog (or a module that does) would make the cross-check
    below compare the catalog with itself."""
    offenders = []
    for path in sorted(SIMULATOR_PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else ["." * node.level + (node.module or "")]
                names += [f"{node.module}.{a.name}" for a in node.names] if node.module == "generations" else []
            for name in names:
                site = name.startswith("generations") and not name.startswith("generations.simulator")
                if site or "catalog" in name or name.startswith("."):
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []


# -- (a) everything the catalog allows is accepted ------------------------------------------------------------


def _shot_variants(spec: ModelSpec, duration: int) -> list[dict[str, Any]]:
    if not spec.multi_shot:
        return [{}]
    split = [{"prompt": "a kettle steams", "duration": 1}, {"prompt": "a hand lifts it", "duration": duration - 1}]
    return [
        {},
        {"multi_shot": True, "shot_type": "intelligence"},
        {"multi_shot": True, "shot_type": "customize", "prompt": "", "shots": split},
    ]


def _camera_variants(spec: ModelSpec, mode: str, duration: int) -> list[dict[str, Any]]:
    # (the catalog refuses camera control with a start image: no model documents it for image-to-video)
    if not (spec.camera_control and mode == "std" and duration == 5):
        return [{}]
    simple = {"type": "simple", "config": {"zoom": -4}}
    return [{}, {"camera_control": simple}, {"camera_control": {"type": "down_back"}}]


START, END = "https://pictures.invalid/start.png", "https://pictures.invalid/end.png"  # see _reachable


def _image_variants(spec: ModelSpec, mode: str, duration: int, sound: bool) -> list[dict[str, Any]]:
    """No picture, a start image, and a start and end image where the model's documented rules allow one."""
    rules = spec.images
    if rules is None:
        return [{}]
    variants: list[dict[str, Any]] = [{}, {"image_url": START}]
    end_ok = mode in rules.end_modes and (not rules.end_durations or duration in rules.end_durations)
    if end_ok and not (rules.end_silent and sound):
        variants.append({"image_url": START, "tail_image_url": END})
    return variants


def _extras(spec: ModelSpec, pictures: bool = False) -> dict[str, Any]:
    """Every optional setting this model offers, switched on."""
    extras: dict[str, Any] = {}
    if spec.negative_prompt:
        extras["negative_prompt"] = "blur, text"
    if spec.cfg_scale and not (pictures and spec.images and not spec.images.cfg_scale):
        extras["cfg_scale"] = 0.25
    if spec.watermark:
        extras["watermark"] = True
    return extras


def _reachable(raw: dict[str, Any], base: str) -> dict[str, Any]:
    """The simulated providers fetch the pictures they are given: point the placeholders at picture_server."""
    swap = {START: f"{base}/start.png", END: f"{base}/end.png"}
    return {k: swap.get(v, v) if isinstance(v, str) else v for k, v in raw.items()}


def allowed_combinations() -> Iterator[tuple[str, dict[str, Any]]]:
    """(catalog key, form values) for every mode, duration, aspect ratio, sound, shot layout, camera movement and
    image input the catalog accepts, each once bare and once with every optional extra."""
    for spec in CATALOG.values():
        for mode, duration, aspect in itertools.product(spec.modes, spec.durations, spec.aspect_ratios):
            for sound in (False, True) if spec.sound else (False,):
                if sound and spec.sound_requires_pro and mode != "pro":
                    continue
                layouts = itertools.product(
                    _shot_variants(spec, duration),
                    _camera_variants(spec, mode, duration),
                    _image_variants(spec, mode, duration, sound),
                    (False, True),
                )
                for shots, camera, images, extra in layouts:
                    if images and (shots or camera):
                        continue  # the catalog refuses multi-shot or camera control with a picture (none documented)
                    extras = _extras(spec, bool(images)) if extra else {}
                    raw = {"prompt": "a paper boat on a canal", "mode": mode, "duration": duration,
                           "aspect_ratio": aspect, "sound": sound, **shots, **camera, **images, **extras}  # fmt: skip
                    yield spec.key, raw


def test_every_combination_the_catalog_allows_is_accepted_by_the_simulated_provider(
    sim: Simulator, picture_server: str
) -> None:
    sim.task_seconds = 0.0  # Segmind v1 answers at once; the fixture restores it
    sim.render_ahead = False
    clients = {provider: client_for(sim, provider) for provider in {s.provider for s in CATALOG.values()}}
    # Segmind v1 renders each new video while the call waits: give it longer than the usual test read timeout.
    patient = HttpOptions(timeout=httpx.Timeout(connect=2.0, read=60.0, write=2.0, pool=2.0), deadline=90.0)
    clients["segmind_v1"] = get_client(credential(sim, "segmind_v1"), options=patient)
    refused: list[str] = []
    sent = 0
    try:
        for key, raw in allowed_combinations():
            spec = CATALOG[key]
            params = validate(key, _reachable(raw, picture_server))  # the catalog accepts it: what this test is about
            request = SubmitRequest(spec, params, external_id=f"gen-{uuid.uuid4()}")
            try:
                _send(clients[spec.provider], request)
            except ProviderError as exc:
                refused.append(f"{key} {raw}: {exc.message}")
            sent += 1
    finally:
        sim.render_ahead = True
    assert refused == [], f"{len(refused)} of {sent} refused, e.g. {refused[:5]}"
    assert sent == COMBINATIONS == 4956  # pinned: a change in what the catalog offers shows here, on purpose


def _send(client: Client, request: SubmitRequest) -> None:
    if not client.synchronous:
        client.submit(request)
        return
    with client.generate(request) as chunks:
        for _ in chunks:
            pass


COMBINATIONS = sum(1 for _ in allowed_combinations())


# -- (b) the known-invalid combinations get the provider's refusal, and the catalog refuses them too ------------

KLING_400 = (400, "code", 1201)
MULERUN_400 = (400, "detail", None)
AIML_400 = (400, "statusCode", "400")
SEGMIND_400 = (400, "error", None)


def params(**fields: Any) -> GenerationParams:
    return GenerationParams(**{"prompt": "a paper boat on a canal", **fields})


# (catalog key, what the member asked for as form values, the params our client would send, refusal, words)
INVALID: list[tuple[str, dict[str, Any], GenerationParams, tuple[int, str, Any], str]] = [
    # Camera control, text-to-video: kling-v1, std, 5 s only (Kling capability map; a real 400 code 1201).
    *[
        (key, {"camera_control": {"type": "down_back"}}, params(camera_control={"type": "down_back"}),
         KLING_400, CAMERA_REFUSAL)
        for key in ("kling:kling-v2-5-turbo", "kling:kling-v2-6", "kling:kling-v3", "powertokens:kling-v2-5-turbo",
                    "powertokens:kling-v3", "kling:kling-v1-6")
    ],
    ("kling:kling-v2-1-master", {"mode": "pro", "camera_control": {"type": "down_back"}},
     params(mode="pro", camera_control={"type": "down_back"}), KLING_400, CAMERA_REFUSAL),
    ("kling:kling-v1", {"mode": "pro", "camera_control": {"type": "down_back"}},
     params(mode="pro", camera_control={"type": "down_back"}), KLING_400, CAMERA_REFUSAL),
    ("kling:kling-v1", {"duration": 10, "camera_control": {"type": "down_back"}},
     params(duration=10, camera_control={"type": "down_back"}), KLING_400, CAMERA_REFUSAL),
    # kling-v2-6 in std is silent only (capability map: "std ... (仅无声视频)", silent video only).
    ("kling:kling-v2-6", {"mode": "std", "sound": True}, params(mode="std", sound=True), KLING_400, "pro mode"),
    ("mulerun:kling-v2.6", {"mode": "std", "sound": True}, params(mode="std", sound=True), MULERUN_400,
     "sound on requires mode pro"),
    # 4k is described on PowerTokens' kling-v3 page only.
    ("kling:kling-v3", {"mode": "4k"}, params(mode="4k"), KLING_400, "mode must be one of std, pro"),
    ("powertokens:kling-v2-5-turbo", {"mode": "4k"}, params(mode="4k"), KLING_400, "mode must be one of std, pro"),
    # Durations: 5/10 before Kling 3.
    ("kling:kling-v2-5-turbo", {"duration": 7}, params(duration=7), KLING_400, "duration must be one of"),
    ("mulerun:kling-v2.5-turbo", {"duration": 15}, params(duration=15), MULERUN_400, "duration must be an integer"),
    ("aimlapi:klingai/v2.5-turbo/pro/text-to-video", {"duration": 7}, params(duration=7, mode="pro"), AIML_400,
     "Invalid enum value"),
    ("segmind:kling-2.6", {"duration": 7}, params(duration=7, mode="pro"), SEGMIND_400, "duration must be 5 or 10"),
    # Modes a model does not have.
    ("segmind:kling-2.5-turbo", {"mode": "std"}, params(mode="std"), SEGMIND_400, "mode must be pro"),
    ("kling:kling-v2-1-master", {"mode": "std"}, params(mode="std"), KLING_400, "mode must be one of pro"),
    # Multi-shot only on Kling 3; sound only from 2.6.
    ("kling:kling-v2-6", {"multi_shot": True, "shot_type": "intelligence"},
     params(mode="pro", multi_shot=True, shot_type="intelligence"), KLING_400, "multi_shot is not supported"),
    ("mulerun:kling-v2.5-turbo", {"sound": True}, params(sound=True), MULERUN_400, None),
    # Segmind: images only on kling-2.5-turbo, and an end image needs a start image.
    ("segmind:kling-2.6", {"image_url": "https://images.example/a.png"},
     params(mode="pro", image_url="https://images.example/a.png"), SEGMIND_400, "Unknown parameter"),
    ("segmind:kling-2.5-turbo", {"tail_image_url": "https://images.example/b.png"},
     params(mode="pro", tail_image_url="https://images.example/b.png"), SEGMIND_400, "requires image_url"),
    # Pictures (Kling's capability map): an end image in pro mode only, on kling-v1 in 5 s videos only, never on the
    # master models, silent only on kling-v2-6; no kling-v3 on image2video; AI/ML API 2.5 Turbo has no tail image.
    *[
        (key, {"mode": "std", "image_url": START, "tail_image_url": END},
         params(mode="std", image_url=START, tail_image_url=END), refusal, "only supported in pro mode")
        for key, refusal in (("kling:kling-v2-5-turbo", KLING_400), ("powertokens:kling-v2-5-turbo", KLING_400),
                             ("kling:kling-v1-6", KLING_400), ("kling:kling-v2-6", KLING_400),
                             ("mulerun:kling-v2.5-turbo", MULERUN_400), ("mulerun:kling-v2.6", MULERUN_400))
    ],
    ("kling:kling-v2-1-master", {"image_url": START, "tail_image_url": END},
     params(mode="pro", image_url=START, tail_image_url=END), KLING_400, "image_tail is not supported"),
    ("kling:kling-v1", {"mode": "pro", "duration": 10, "image_url": START, "tail_image_url": END},
     params(mode="pro", duration=10, image_url=START, tail_image_url=END), KLING_400, "duration 5"),
    ("kling:kling-v2-6", {"mode": "pro", "sound": True, "image_url": START, "tail_image_url": END},
     params(mode="pro", sound=True, image_url=START, tail_image_url=END), KLING_400, "silent"),
    ("mulerun:kling-v2.6", {"mode": "pro", "sound": True, "image_url": START, "tail_image_url": END},
     params(mode="pro", sound=True, image_url=START, tail_image_url=END), MULERUN_400, "silent"),
    ("aimlapi:klingai/video-v2-6-pro-text-to-video", {"sound": True, "image_url": START, "tail_image_url": END},
     params(mode="pro", sound=True, image_url=START, tail_image_url=END), AIML_400, "silent"),
    ("aimlapi:klingai/v2.5-turbo/pro/text-to-video", {"image_url": START, "tail_image_url": END},
     params(mode="pro", image_url=START, tail_image_url=END), AIML_400, "Unrecognized key"),
    ("kling:kling-v3", {"image_url": START}, params(image_url=START), KLING_400, "not supported for image2video"),
    ("powertokens:kling-v3", {"image_url": START}, params(image_url=START), KLING_400,
     "not supported for image2video"),
    # Shots must add up to the video's duration.
    ("kling:kling-v3", {"multi_shot": True, "shot_type": "customize", "prompt": "",
                        "shots": [{"prompt": "one", "duration": 2}]},
     params(prompt="", multi_shot=True, shot_type="customize", shots=(Shot("one", 2),)), KLING_400, "add up to 2"),
    ("aimlapi:klingai/video-v3-pro-text-to-video", {"multi_shot": True, "shot_type": "customize", "prompt": "",
                                                    "shots": [{"prompt": "one", "duration": 2}]},
     params(prompt="", mode="pro", multi_shot=True, shot_type="customize", shots=(Shot("one", 2),)), AIML_400,
     "add up to 2"),
]  # fmt: skip


def _spec_for(key: str, raw: dict[str, Any]) -> ModelSpec:
    """The catalog's spec, widened only where the client reads it to decide a field (sound on a silent model)."""
    spec = CATALOG[key]
    return replace(spec, sound=True) if raw.get("sound") and not spec.sound else spec


@pytest.mark.parametrize(("key", "raw", "sent", "refusal", "words"), INVALID, ids=[f"{c[0]}-{c[1]}" for c in INVALID])
def test_each_known_invalid_combination_gets_the_providers_refusal(
    key: str,
    raw: dict[str, Any],
    sent: GenerationParams,
    refusal: tuple[int, str, Any],
    words: str | None,
    sim: Simulator,
) -> None:
    with pytest.raises(CatalogError):  # the site never offers it ...
        validate(key, {"prompt": sent.prompt or "", **raw})
    spec = _spec_for(key, raw)
    client = client_for(sim, spec.provider)
    with pytest.raises(ProviderError) as raised:  # ... and the provider would refuse it, in its own words
        _send(client, SubmitRequest(spec, sent, external_id=f"gen-{uuid.uuid4()}"))
    exc = raised.value
    status, field, value = refusal
    body = json.loads(exc.body)
    assert (exc.status_code, exc.kind, exc.permanent) == (status, "validation", True)
    assert field in body and (value is None or body[field] == value)
    if words:
        assert words in json.dumps(body)


@pytest.mark.parametrize(
    ("provider", "path", "body", "status", "words"),
    [
        # Kling's duration is a string, and kling-v2.x takes no cfg_scale (our client never sends either).
        ("kling", "/v1/videos/text2video", {"model_name": "kling-v2-5-turbo", "prompt": "x", "duration": 5}, 400,
         "duration must be one of the strings"),
        ("kling", "/v1/videos/text2video", {"model_name": "kling-v2-6", "prompt": "x", "cfg_scale": 0.5}, 400,
         "cfg_scale is not supported by kling-v2-6"),
        ("kling", "/v1/videos/text2video", {"model_name": "kling-v2-5-turbo", "prompt": "x", "mode": "standard"},
         400, "mode must be one of std, pro"),
        # AI/ML API spells the shot type "intelligent", not Kling's "intelligence".
        ("aimlapi", "/v2/video/generations", {"model": "klingai/video-v3-standard-text-to-video", "prompt": "x",
                                               "shot_type": "intelligence"}, 400, "'customize' | 'intelligent'"),
        ("aimlapi", "/v2/video/generations", {"model": "klingai/video-v3-standard-text-to-video", "prompt": "x",
                                               "multi_prompt": [{"prompt": "a", "duration": 5}]}, 400,
         "Either prompt or multi_prompt"),
        ("aimlapi", "/v2/video/generations", {"model": "klingai/v2.5-turbo/pro/text-to-video", "prompt": "x",
                                               "generate_audio": True}, 400, "Unrecognized key"),
        ("mulerun", "/vendors/klingai/v1/kling-v3/text-to-video/generation", {"prompt": "x", "duration": 16}, 400,
         "duration must be an integer"),
        ("mulerun", "/vendors/klingai/v1/kling-v9/text-to-video/generation", {"prompt": "x"}, 404, "Not Found"),
        ("segmind", "/v2/kling-2.5-turbo", {"prompt": "x", "generate_audio": True}, 400, "Unknown parameter"),
        # Pictures: no camera control with an image on these models, raw Base64 only, no aspect_ratio where the
        # image-to-video schema has none, and each route takes only its own fields.
        ("kling", "/v1/videos/image2video", {"model_name": "kling-v1", "image": PICTURE, "camera_control":
                                             {"type": "down_back"}}, 400, "camera_control is not supported with"),
        ("kling", "/v1/videos/image2video", {"model_name": "kling-v2-5-turbo", "image": "data:image/png;base64,"
                                             + PICTURE}, 400, "without the data:image prefix"),
        ("kling", "/v1/videos/image2video", {"model_name": "kling-v2-5-turbo", "image": PICTURE,
                                             "aspect_ratio": "16:9"}, 400, "Unknown parameter"),
        ("kling", "/v1/videos/image2video", {"model_name": "kling-v2-5-turbo", "image": "bm90IGEgcGljdHVyZQ=="},
         400, "image format is not supported"),
        ("powertokens", "/kling/v1/videos/image2video", {"model_name": "kling-v2-5-turbo", "image": PICTURE,
                                                         "image_tail": PICTURE, "mode": "std"}, 400,
         "only supported in pro mode"),
        ("mulerun", "/vendors/klingai/v1/kling-v2.5-turbo/image-to-video/generation",
         {"image": PICTURE, "prompt": "x", "aspect_ratio": "16:9"}, 400, "Unknown field"),
        ("mulerun", "/vendors/klingai/v1/kling-v3/image-to-video/generation", {"image": PICTURE, "prompt": "x"},
         404, "Not Found"),
        ("aimlapi", "/v2/video/generations", {"model": "klingai/video-v2-6-pro-image-to-video", "prompt": "x",
                                               "image_url": PICTURE, "cfg_scale": 0.5}, 400, "Unrecognized key"),
        ("segmind", "/v2/kling-2.5-turbo", {"prompt": "x", "image_url": PICTURE}, 400, "must be a URL"),
    ],
)  # fmt: skip
def test_raw_bodies_our_client_never_builds_are_refused_too(
    provider: str, path: str, body: dict[str, Any], status: int, words: str, sim: Simulator
) -> None:
    client = client_for(sim, provider)
    headers = client._auth()  # the client's own auth header for this account
    answer = httpx.post(sim.base_url + path, json=body, headers=headers, timeout=5, trust_env=False)
    assert answer.status_code == status
    assert words in answer.text


# -- prices ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_combination_has_a_seeded_price_and_std_sound_on_kling_v2_6_has_none() -> None:
    """The migrations seed a default price for every (model, mode, duration, sound) the catalog allows, 4k included,
    and drop the std-with-sound prices of kling-v2-6 (Kling makes std videos on v2-6 silent only)."""
    from generations.catalog import price_rows
    from generations.models import Price

    have = set(Price.objects.values_list("model", "mode", "duration", "sound"))
    assert {row[:4] for row in price_rows()} <= have
    assert ("powertokens:kling-v3", "4k", 15, True) in have
    assert not Price.objects.filter(model="kling:kling-v2-6", mode="std", sound=True).exists()
    assert not Price.objects.filter(mode="4k").exclude(model="powertokens:kling-v3").exists()
