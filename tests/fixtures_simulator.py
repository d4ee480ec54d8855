"""The provider simulator as a pytest fixture, plus helpers to talk to it (loaded by tests/conftest.py).

One simulator per test session on a free loopback port; tasks take TASK_SECONDS. Clients built here use a short
read timeout (READ_TIMEOUT) and the simulator's ``slow`` faults wait SLOW_SECONDS, so timeouts are tested fast.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from generations.catalog import CATALOG, GenerationParams, ModelSpec, validate
from generations.providers import get_client
from generations.providers.base import Client, Credential, PollResult, SubmitRequest
from generations.providers.http import HttpOptions
from generations.simulator import DEFAULT_KEYS, Simulator

TASK_SECONDS = 1.0
SLOW_SECONDS = 5.0  # only the server waits this long; clients give up at their read timeout
READ_TIMEOUT = 1.0
# Segmind v1 holds the connection for a whole task, so its read timeout must outlast TASK_SECONDS.
V1_READ_TIMEOUT = 2.0
PROVIDERS = ("mulerun", "aimlapi", "kling", "powertokens", "segmind", "segmind_v1")


def simulator_keys() -> dict[str, Any]:
    """The keys the site's demo credentials use (settings.SIMULATOR_KEYS) when Django is set up, else the demo keys."""
    try:
        from django.conf import settings

        return dict(getattr(settings, "SIMULATOR_KEYS", DEFAULT_KEYS))
    except Exception:  # Django not installed or not configured: the simulator itself needs neither
        return dict(DEFAULT_KEYS)


@pytest.fixture(scope="session")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    sim = Simulator(
        port=0,
        keys=simulator_keys(),
        task_seconds=TASK_SECONDS,
        slow_seconds=SLOW_SECONDS,
        cache_dir=str(tmp_path_factory.mktemp("simulator-cache")),
    )
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def sim(simulator: Simulator) -> Iterator[Simulator]:
    """The session simulator, with global faults and timing reset around each test."""
    simulator.clear_faults()
    simulator.task_seconds, simulator.result_ttl, simulator.segmind_v1_link = TASK_SECONDS, 3600.0, False
    yield simulator
    simulator.clear_faults()
    simulator.task_seconds, simulator.result_ttl, simulator.segmind_v1_link = TASK_SECONDS, 3600.0, False


def png(size: tuple[int, int] = (640, 360), colours: tuple[tuple[int, int, int], ...] = ((200, 30, 40),)) -> bytes:
    """A picture of vertical bands of ``colours`` (left to right), as PNG bytes."""
    import io

    from PIL import Image

    image = Image.new("RGB", size)
    band = size[0] // len(colours)
    for i, colour in enumerate(colours):
        image.paste(colour, (i * band, 0, size[0] if i == len(colours) - 1 else (i + 1) * band, size[1]))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


PICTURES = {"/start.png": png(colours=((200, 30, 40), (30, 60, 200))), "/end.png": png(colours=((20, 170, 60),))}


@pytest.fixture(scope="session")
def picture_server() -> Iterator[str]:
    """A loopback web server with two pictures (/start.png, /end.png), for providers that fetch a start image."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = PICTURES.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def options(provider: str) -> HttpOptions:
    read = V1_READ_TIMEOUT if provider == "segmind_v1" else READ_TIMEOUT
    return HttpOptions(timeout=httpx.Timeout(connect=2.0, read=read, write=2.0, pool=2.0), deadline=20.0)


def credential(sim: Simulator, provider: str, **override: str) -> Credential:
    key = sim.keys[provider.removesuffix("_v1")]
    secrets = dict(key) if isinstance(key, dict) else {"api_key": key}
    return Credential(provider, sim.base_url, {**secrets, **override})


def client_for(sim: Simulator, provider: str, **override: str) -> Client:
    return get_client(credential(sim, provider, **override), options=options(provider))


def first_spec(provider: str) -> ModelSpec:
    return next(s for s in CATALOG.values() if s.provider == provider)


def make_request(
    spec: ModelSpec, prompt: str = "a red fox in the snow", *, callback_url: str = "", **raw: Any
) -> SubmitRequest:
    """A validated request with a unique external id; ``raw`` holds form values (mode, duration, sound, ...)."""
    params: GenerationParams = validate(spec.key, {"prompt": prompt, **raw})
    return SubmitRequest(spec, params, external_id=f"gen-{uuid.uuid4()}", callback_url=callback_url)


def unique(marker: str = "") -> str:
    """A prompt no other test uses (marker counts are kept per prompt)."""
    return f"{marker} a lighthouse at dusk {uuid.uuid4().hex[:8]}".strip()


def poll_until_done(client: Client, task_id: str, spec: ModelSpec, *, timeout: float = 15.0) -> PollResult:
    """Poll like the worker does, only faster; the protocol has no event to wait on."""
    deadline = time.monotonic() + timeout
    while True:
        result = client.poll(task_id, spec=spec)
        if result.state in ("succeeded", "failed") or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


@dataclass(frozen=True)
class Probe:
    duration: float
    width: int
    height: int
    video_codec: str
    pix_fmt: str
    has_audio: bool
    audio_codec: str


def probe(path: str | Path) -> Probe:
    """What PyAV sees in a file: container duration, the first video stream, whether audio exists."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        duration = (container.duration or 0) / av.time_base
        return Probe(
            duration=duration,
            width=video.codec_context.width,
            height=video.codec_context.height,
            video_codec=video.codec_context.name,
            pix_fmt=video.codec_context.pix_fmt or "",
            has_audio=audio is not None,
            audio_codec=audio.codec_context.name if audio is not None else "",
        )


def download(url: str, path: Path) -> httpx.Response:
    """Fetch a simulator file URL to ``path`` (tests only; the site's fetcher lives in generations.media)."""
    with httpx.stream("GET", url, timeout=10, trust_env=False) as response, path.open("wb") as fh:
        for chunk in response.iter_bytes():
            fh.write(chunk)
    return response
