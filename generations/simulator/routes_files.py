"""Video downloads (``/files/<token>.mp4``, no auth, as CDN links are) and the simulator's own admin endpoints
(``/_sim/health``, ``/_sim/faults``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from generations.simulator.faults import Fault, FaultError
from generations.simulator.web import BadRequest, SimRequest, SimResponse, faulted, json_response, route

if TYPE_CHECKING:
    from generations.simulator.server import Simulator

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
EXPIRED_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Request has expired</Message></Error>"
)
WRONG_TYPE_BODY = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Please sign in.</body></html>"


def plain(status: int, text: str) -> SimResponse:
    return SimResponse(status, text.encode(), content_type="text/plain; charset=utf-8")


def download(sim: Simulator, request: SimRequest, match: re.Match[str]) -> SimResponse:
    task = sim.tasks.by_file(match["token"])
    if task is None or task.phase() != "succeeded":
        return plain(404, "Not Found")
    fault = sim.pick(task.provider, "download", task.markers, scope=task.id)
    path = sim.videos.get(task.video_key)
    return file_response(sim, path, request.headers.get("Range"), fault)


def file_response(sim: Simulator, path: Path, range_header: str | None, fault: Fault | None) -> SimResponse:
    """An MP4 answer (with single-range support), or the misbehaving one a download fault asks for."""
    kind = fault.kind if fault else ""
    if kind == "expired":
        return SimResponse(403, EXPIRED_BODY, content_type="application/xml")
    if kind == "wrong_type":
        return SimResponse(200, WRONG_TYPE_BODY, content_type="text/html; charset=utf-8")
    data = path.read_bytes()
    if kind == "truncated":
        return SimResponse(200, data[: len(data) // 2], content_type="video/mp4", length=len(data))
    if kind == "oversize":
        return SimResponse(200, data, content_type="video/mp4", zeros=max(sim.oversize_bytes - len(data), 0))
    headers = {"Accept-Ranges": "bytes"}

    def whole() -> SimResponse:
        match = _RANGE.match(range_header or "")
        if not match or not any(match.groups()):
            return SimResponse(200, data, content_type="video/mp4", headers=headers)
        size = len(data)
        if match[1]:
            start, end = int(match[1]), min(int(match[2]) if match[2] else size - 1, size - 1)
        else:  # "bytes=-N": the last N bytes
            start, end = max(size - int(match[2]), 0), size - 1
        if start >= size or start > end:
            return SimResponse(416, b"", content_type="video/mp4", headers={"Content-Range": f"bytes */{size}"})
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        return SimResponse(206, data[start : end + 1], content_type="video/mp4", headers=headers)

    # 429/5xx/auth on the file host come as plain text: a CDN does not speak the provider's JSON.
    return faulted(sim, fault, lambda k: plain(401 if k == "auth" else 403 if k == "no_credit" else int(k), k), whole)


def health(sim: Simulator, request: SimRequest, match: re.Match[str]) -> SimResponse:
    return json_response({"ok": True, "task_seconds": sim.task_seconds, "faults": sim.faults.active()})


def faults(sim: Simulator, request: SimRequest, match: re.Match[str]) -> SimResponse:
    """GET lists the global faults; POST ``{"faults": ["poll:503x2"], "provider": null}`` replaces them;
    DELETE clears them."""
    if request.method == "DELETE":
        sim.clear_faults()
    elif request.method == "POST":
        try:
            body = request.json() or {}
            sim.set_faults(body.get("faults") or [], provider=body.get("provider"))
        except (BadRequest, FaultError, AttributeError) as exc:
            return json_response({"error": str(exc)}, 400)
    return json_response({"faults": sim.faults.active()})


ROUTES = [
    route("GET", r"^/files/(?P<token>[A-Za-z0-9_-]+)\.mp4$", download),
    route("GET", r"^/_sim/health$", health),
    route("GET", r"^/_sim/faults$", faults),
    route("POST", r"^/_sim/faults$", faults),
    route("DELETE", r"^/_sim/faults$", faults),
]
