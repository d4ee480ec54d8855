"""Every model in the catalog, end to end over real HTTP: submit to the simulator, poll to completion, download the
MP4 and check it with PyAV (duration, resolution for the mode and aspect ratio, audio iff sound)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from generations.catalog import CATALOG
from generations.providers.base import Client, SubmitRequest, SubmitResult
from generations.simulator import Simulator
from tests.fixtures_simulator import client_for, download, make_request, poll_until_done, probe

ZOOM = {"type": "simple", "config": {"zoom": 5}}
SHOTS = [{"prompt": "a kettle starts to steam", "duration": 3}, {"prompt": "a hand lifts the kettle", "duration": 4}]

# (catalog key, form values, expected width x height, expected audio, expected seconds)
CASES: list[tuple[str, dict[str, Any], tuple[int, int], bool, int]] = [
    ("mulerun:kling-v2.5-turbo", {"mode": "std", "aspect_ratio": "16:9"}, (1280, 720), False, 5),
    ("mulerun:kling-v2.6", {"mode": "pro", "aspect_ratio": "9:16", "sound": True}, (1080, 1920), True, 5),
    (
        "mulerun:kling-v3",
        {"mode": "std", "duration": 7, "sound": True, "multi_shot": True, "shot_type": "customize", "shots": SHOTS},
        (1280, 720),
        True,
        7,
    ),
    (
        "aimlapi:klingai/v2.5-turbo/pro/text-to-video",
        {"aspect_ratio": "1:1", "cfg_scale": 0.9, "negative_prompt": "blur"},
        (1080, 1080),
        False,
        5,
    ),
    ("aimlapi:klingai/v2.1-master-text-to-video", {"aspect_ratio": "9:16"}, (1080, 1920), False, 5),
    ("aimlapi:klingai/video-v2-6-pro-text-to-video", {"aspect_ratio": "16:9"}, (1920, 1080), True, 5),
    (
        "aimlapi:klingai/video-v3-standard-text-to-video",
        {"duration": 7, "sound": False, "multi_shot": True, "shot_type": "customize", "shots": SHOTS},
        (1280, 720),
        False,
        7,
    ),
    (
        "aimlapi:klingai/video-v3-pro-text-to-video",
        {"duration": 3, "aspect_ratio": "1:1", "multi_shot": True, "shot_type": "intelligence"},
        (1080, 1080),
        True,
        3,
    ),
    ("kling:kling-v1", {"mode": "std", "aspect_ratio": "9:16", "camera_control": ZOOM}, (720, 1280), False, 5),
    ("kling:kling-v1-6", {"mode": "pro", "cfg_scale": 0.3, "negative_prompt": "blur"}, (1920, 1080), False, 5),
    ("kling:kling-v2-1-master", {"aspect_ratio": "1:1"}, (1080, 1080), False, 5),
    ("kling:kling-v2-5-turbo", {"mode": "std", "aspect_ratio": "9:16"}, (720, 1280), False, 5),
    (
        "kling:kling-v2-6",
        {"mode": "pro", "aspect_ratio": "1:1", "duration": 10, "sound": True, "watermark": True},
        (1080, 1080),
        True,
        10,
    ),
    (
        "kling:kling-v3",
        {"mode": "std", "duration": 7, "sound": True, "multi_shot": True, "shot_type": "customize", "shots": SHOTS},
        (1280, 720),
        True,
        7,
    ),
    ("powertokens:kling-v2-1-master", {"aspect_ratio": "16:9"}, (1920, 1080), False, 5),
    ("powertokens:kling-v2-5-turbo", {"mode": "pro", "aspect_ratio": "16:9"}, (1920, 1080), False, 5),
    (
        "powertokens:kling-v3",
        {"mode": "4k", "aspect_ratio": "1:1", "multi_shot": True, "shot_type": "intelligence"},
        (1080, 1080),  # the simulator renders 4k at 1080p
        False,
        5,
    ),
    ("segmind:kling-2.5-turbo", {"aspect_ratio": "9:16", "duration": 5}, (1080, 1920), False, 5),
    ("segmind:kling-2.6", {"aspect_ratio": "16:9", "duration": 5}, (1920, 1080), True, 5),
    ("segmind_v1:kling-2.5-turbo", {"aspect_ratio": "16:9", "duration": 5}, (1920, 1080), False, 5),
    ("segmind_v1:kling-2.6", {"aspect_ratio": "1:1", "duration": 5, "sound": False}, (1080, 1080), False, 5),
]


def test_every_catalog_model_has_a_case() -> None:
    assert {key for key, *_ in CASES} == set(CATALOG)


@pytest.fixture(scope="module")
def submitted(simulator: Simulator) -> dict[str, tuple[Client, SubmitRequest, SubmitResult]]:
    """Submit every asynchronous case up front, so their simulated generation times overlap."""
    out = {}
    for key, raw, *_ in CASES:
        spec = CATALOG[key]
        if spec.provider_info.synchronous:
            continue
        client = client_for(simulator, spec.provider)
        request = make_request(spec, f"e2e {key}", **raw)
        out[key] = (client, request, client.submit(request))
    return out


@pytest.mark.parametrize(("key", "raw", "size", "sound", "seconds"), CASES, ids=[c[0] for c in CASES])
def test_it_generates_the_requested_video(
    key: str,
    raw: dict[str, Any],
    size: tuple[int, int],
    sound: bool,
    seconds: int,
    submitted: dict[str, tuple[Client, SubmitRequest, SubmitResult]],
    simulator: Simulator,
    tmp_path: Path,
) -> None:
    spec = CATALOG[key]
    path = tmp_path / "video.mp4"
    if spec.provider_info.synchronous:
        client = client_for(simulator, spec.provider)
        with client.generate(make_request(spec, f"e2e {key}", **raw)) as chunks, path.open("wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
    else:
        client, _, result = submitted[key]
        assert result.task_id and result.raw
        done = poll_until_done(client, result.task_id, spec)
        assert (done.state, done.reason) == ("succeeded", "")
        assert done.video_url.startswith(simulator.base_url + "/files/")
        # Watermark asked: the member gets Kling's watermarked copy (watermark_url), not the plain url.
        assert done.video_url.endswith("?watermark=1") is bool(raw.get("watermark"))
        response = download(done.video_url, path)
        assert response.status_code == 200
        assert response.headers["content-type"] == "video/mp4"
        assert int(response.headers["content-length"]) == path.stat().st_size

    info = probe(path)
    assert abs(info.duration - seconds) <= 0.5
    assert (info.width, info.height) == size
    assert (info.video_codec, info.pix_fmt) == ("h264", "yuv420p")
    assert info.has_audio is sound
    if sound:
        assert info.audio_codec == "aac"
