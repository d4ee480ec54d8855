"""The few request/response types the route modules share, and how a call-level fault changes an answer."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from generations.simulator.faults import SHAPED_KINDS, Fault

if TYPE_CHECKING:
    from generations.simulator.server import Simulator

MALFORMED_BODY = b'{"status": "ok", "data": {"id": "'  # cut off mid-string: not JSON


class BadRequest(Exception):
    """The request body could not be read as JSON."""


@dataclass
class SimRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            raise BadRequest("The body is not valid JSON.") from None

    def bearer(self) -> str:
        value = self.headers.get("Authorization") or ""
        return value[7:].strip() if value.startswith("Bearer ") else ""


@dataclass
class SimResponse:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # wait this long before answering
    drop: bool = False  # after the delay, close without answering
    reset: bool = False  # abort the connection with a TCP reset instead of answering
    length: int | None = None  # announce this Content-Length instead of len(body) (truncated downloads)
    zeros: int = 0  # then stream this many zero bytes after ``body`` (oversize downloads)


Handler = Callable[["Simulator", SimRequest, "re.Match[str]"], SimResponse]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


def route(method: str, pattern: str, handler: Handler) -> Route:
    return Route(method, re.compile(pattern), handler)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> SimResponse:
    return SimResponse(status, json.dumps(data).encode(), headers=dict(headers or {}))


def faulted(
    sim: Simulator, fault: Fault | None, shape: Callable[[str], SimResponse], action: Callable[[], SimResponse]
) -> SimResponse:
    """Run ``action`` (which may create a task) unless a call-level fault replaces, delays or garbles its answer.

    ``reset`` and the shaped kinds (429, 5xx, auth, no_credit) answer before the action, so nothing is created;
    ``slow``, ``malformed`` and ``submit_timeout`` let the action happen and then spoil only the answer.
    """
    if fault is None:
        return action()
    if fault.kind == "reset":
        return SimResponse(reset=True)
    if fault.kind in SHAPED_KINDS:
        response = shape(fault.kind)
        if fault.kind == "429":
            response.headers["Retry-After"] = f"{sim.retry_after:g}"
        return response
    response = action()
    if fault.kind == "slow":
        response.delay = sim.slow_seconds
    elif fault.kind == "malformed":
        response.status, response.body, response.content_type = 200, MALFORMED_BODY, "application/json"
    elif fault.kind == "submit_timeout":
        response.delay, response.drop = sim.slow_seconds, True
    return response


def iso(ts: float) -> str:
    """ISO-8601 UTC with milliseconds, as MuleRun writes it: 2025-09-21T00:00:00.000Z."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def request_id() -> str:
    return str(uuid.uuid4())
