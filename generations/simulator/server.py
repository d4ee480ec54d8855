"""The simulator: every provider protocol on one port, under the real paths and auth schemes.

Usable from tests (``Simulator(port=0).start()`` runs it in a background thread) and from the command line
(``python -m generations.simulator``, ``manage.py simulator``). No Django here.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import socket
import struct
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from generations.simulator import pictures, routes_aimlapi, routes_files, routes_kling, routes_mulerun, routes_segmind
from generations.simulator.demo_frames import caption_of
from generations.simulator.faults import Fault, FaultBoard
from generations.simulator.state import Task, TaskStore
from generations.simulator.videos import VideoCache, resolution
from generations.simulator.web import Route, SimRequest, SimResponse, json_response

logger = logging.getLogger("generations.simulator")

# Demo keys for local runs and tests; they protect nothing and are not secrets.
DEFAULT_KEYS: dict[str, Any] = {
    "mulerun": "sim-mulerun-key",
    "aimlapi": "sim-aimlapi-key",
    "kling": {"access_key": "sim-kling-access-key", "secret_key": "sim-kling-secret-key-for-the-local-simulator"},
    "powertokens": "sim-powertokens-key",
    "segmind": "sim-segmind-key",
}
CALLBACK_TIMEOUT = 3.0


class Simulator:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 8765,
        keys: Mapping[str, Any] | None = None,
        task_seconds: float = 10.0,
        faults: Iterable[str] = (),
        cache_dir: str = "var/simulator-cache",
        slow_seconds: float = 40.0,
        retry_after: float = 1.0,
        result_ttl: float = 3600.0,
        oversize_bytes: int = 2 << 30,
        public_url: str = "",
        video_style: str = "plain",
    ):
        self.host, self.port = host, port
        self.keys: dict[str, Any] = {**copy.deepcopy(DEFAULT_KEYS), **dict(keys or {})}
        self.task_seconds = task_seconds  # read at task creation: tests may change it between tasks
        self.slow_seconds = slow_seconds  # longer than the client's read timeout
        self.retry_after = retry_after
        self.result_ttl = result_ttl  # Segmind v2 forgets a request this long after submission
        self.oversize_bytes = oversize_bytes
        # Render each new task's video in the background at once (off: only when it is first downloaded; the
        # catalog cross-check sends thousands of creates and downloads none of them).
        self.render_ahead = True
        # "demo": colourful videos with the prompt's first words at a realistic bitrate; "plain": cheap (tests).
        self.video_style = video_style
        # Segmind v1 answers some routes with ``{"video": [{"url": …}]}`` instead of the MP4 bytes; tests switch it on.
        self.segmind_v1_link = False
        self.public_url = public_url.rstrip("/")  # where clients reach us, if not host:port (e.g. behind Docker)
        self.tasks = TaskStore()
        self.faults = FaultBoard(faults)
        self.videos = VideoCache(cache_dir)
        self.routes: list[Route] = [
            *routes_mulerun.ROUTES,
            *routes_aimlapi.ROUTES,
            *routes_kling.ROUTES,
            *routes_segmind.ROUTES,
            *routes_files.ROUTES,
        ]
        self.stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def bind(self) -> None:
        self._server = _Server((self.host, self.port), _Handler)
        self._server.sim = self
        self.port = self._server.server_address[1]

    def start(self) -> Simulator:
        """Serve in a background thread; returns self so ``sim = Simulator(port=0).start()`` reads well."""
        self.bind()
        assert self._server is not None
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="simulator", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until stopped (Ctrl-C in a terminal)."""
        if self._server is None:
            self.bind()
        assert self._server is not None
        try:
            self._server.serve_forever(poll_interval=0.2)
        finally:
            self.stop()

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            if self._thread is not None:
                self._server.shutdown()
                self._thread.join(timeout=5)
            self._server.server_close()
            self._server = None
        self.videos.close()

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    # -- faults ------------------------------------------------------------------------------------------------

    def set_faults(self, specs: Iterable[str], *, provider: str | None = None) -> list[Fault]:
        """Replace the global faults, e.g. ``sim.set_faults(["poll:503x2"], provider="kling")``."""
        return self.faults.set(specs, provider=provider)

    def clear_faults(self) -> None:
        self.faults.clear()

    def pick(self, provider: str, phase: str, markers: Iterable[Fault] = (), scope: Any = None) -> Fault | None:
        return self.faults.pick(provider=provider, phase=phase, markers=markers, scope=scope)

    # -- tasks -------------------------------------------------------------------------------------------------

    def create_task(
        self,
        *,
        provider: str,
        model: str,
        duration: int,
        mode: str,
        aspect_ratio: str,
        sound: bool,
        markers: list[Fault],
        prompt: str,
        task_id: str = "",
        external_id: str = "",
        callback_url: str = "",
        request: dict[str, Any] | None = None,
        picture: bytes = b"",
    ) -> Task:
        """Record a task (raises DuplicateExternalId) and start rendering its video in the background.

        ``picture`` is a start image (pictures.load): the video begins with it, and takes the shape nearest to the
        picture's, as the providers do when an image is given."""
        outcome = self.pick(provider, "task", markers, scope=("prompt", provider, prompt))
        if picture:
            aspect_ratio = pictures.nearest_aspect(picture)
        width, height = resolution(mode, aspect_ratio)
        task = Task(
            id=task_id or str(uuid.uuid4()),
            provider=provider,
            model=model,
            duration=duration,
            width=width,
            height=height,
            sound=sound,
            seconds=self.task_seconds,
            prompt=prompt,
            outcome=outcome.kind if outcome else "",
            external_id=external_id,
            callback_url=callback_url,
            markers=tuple(f for f in markers if f.phase in ("poll", "download")),
            request=request or {},
            caption=caption_of(prompt) or "UNTITLED" if self.video_style == "demo" else "",
            picture=self.videos.add_picture(picture),
        )
        self.tasks.add(task)
        if self.render_ahead:
            self.videos.prepare(task.video_key)
        return task

    def video_url(self, task: Task) -> str:
        return f"{self.base_url}/files/{task.file_token}.mp4"

    def expired(self, task: Task) -> bool:
        return task.age() > self.result_ttl

    def follow(self, task: Task, body: Callable[[Task], dict[str, Any]]) -> None:
        """POST ``body(task)`` to the task's callback URL on each state change (best effort, in a thread)."""

        def run() -> None:
            sent = ""
            while not self.stopping.is_set():
                phase = task.phase()
                if phase != sent:
                    sent = phase
                    self._post(task.callback_url, body(task))
                if phase in ("succeeded", "failed"):
                    return
                self.stopping.wait(0.05)

        threading.Thread(target=run, name=f"sim-callback-{task.id}", daemon=True).start()

    def _post(self, url: str, body: dict[str, Any]) -> None:
        try:
            httpx.post(url, json=body, timeout=CALLBACK_TIMEOUT, trust_env=False)
        except httpx.HTTPError as exc:
            logger.info("Callback to %s failed: %s", url, type(exc).__name__)

    # -- dispatch ----------------------------------------------------------------------------------------------

    def handle(self, request: SimRequest) -> SimResponse:
        allowed = False
        for candidate in self.routes:
            match = candidate.pattern.match(request.path)
            if not match:
                continue
            method = "GET" if request.method == "HEAD" else request.method
            if candidate.method != method:
                allowed = True
                continue
            return candidate.handler(self, request, match)
        if allowed:
            return json_response({"error": "Method not allowed"}, 405)
        return json_response({"error": "Not found"}, 404)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    sim: Simulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kling-site-simulator/0.1"
    server: _Server

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_HEAD = do_DELETE = do_PUT = do_GET

    def _dispatch(self) -> None:
        sim = self.server.sim
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        request = SimRequest(self.command, url.path, query, self.headers, body)  # type: ignore[arg-type]
        try:
            response = sim.handle(request)
        except Exception:
            logger.exception("Simulator error on %s %s", self.command, url.path)
            response = json_response({"error": "Simulator error"}, 500)
        with contextlib.suppress(OSError):  # the client gave up, e.g. its read timeout fired during a slow answer
            self._send(response)

    def _send(self, response: SimResponse) -> None:
        self.close_connection = True
        if response.delay and self.server.sim.stopping.wait(response.delay):
            return
        if response.reset:
            # SO_LINGER 0 turns the close into a TCP RST once the handler's file objects are closed.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        if response.drop:
            return
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        length = response.length if response.length is not None else len(response.body) + response.zeros
        self.send_header("Content-Length", str(length))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        self.wfile.write(response.body)
        left, zeros = response.zeros, bytes(64 * 1024)
        while left > 0 and not self.server.sim.stopping.is_set():
            self.wfile.write(zeros[: min(left, len(zeros))])
            left -= len(zeros)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)
