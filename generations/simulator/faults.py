"""Misbehaviour on demand: per task with a marker in the prompt (``[sim:429x2]``), or globally with flags.

A fault spec is ``[phase:]kind[xN]``: ``429`` fails every create with a 429, ``429x2`` only the first two (so a
retry then succeeds), ``poll:503x1`` fails the first poll of that task. Several specs go in one marker separated by
commas (``[sim:429x1,poll:500x1]``) or in several markers.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

# Every fault kind with one line for the README (docs/providers.md is generated from this dict).
FAULTS: dict[str, str] = {
    "429": "HTTP 429 in the provider's own error shape, with a Retry-After header.",
    "500": "HTTP 500 internal server error in the provider's own error shape.",
    "502": "HTTP 502 bad gateway in the provider's own error shape.",
    "503": "HTTP 503 service unavailable in the provider's own error shape.",
    "reset": "The connection is reset (TCP RST) after the request was read; nothing is created.",
    "slow": "The answer only comes after --slow-seconds, later than the client's read timeout.",
    "malformed": "HTTP 200 with a body that is not valid JSON; on a create the task is still created.",
    "moderation": "The task fails with a content-moderation message in the provider's own failure shape.",
    "never": "The task never finishes: it stays processing forever.",
    "truncated": "The video download sends fewer bytes than its Content-Length promises, then closes.",
    "wrong_type": "The video download is served as text/html with an HTML page instead of the MP4.",
    "expired": "The video download URL answers 403, as an expired or deleted link does.",
    "oversize": "The video download announces and streams --oversize-bytes bytes, more than any sane cap.",
    "no_credit": "Out of credit in the provider's shape: MuleRun 402, AI/ML API 403, Kling 429 code 1102, Segmind 406.",
    "spend_limit": "MuleRun's 429 \"daily spend limit exceeded\" (not a rate limit); the others answer as no_credit.",
    "auth": "HTTP 401 in the provider's shape, exactly as for a wrong key.",
    "submit_timeout": "The create makes the task, then hangs past the client's timeout and closes: outcome unknown.",
}

# Faults that replace or delay one HTTP answer; they can hit a create, a poll or a download.
CALL_KINDS = frozenset(
    {"429", "500", "502", "503", "reset", "slow", "malformed", "auth", "no_credit", "spend_limit"}
)
TASK_KINDS = frozenset({"moderation", "never"})  # decided when the task is made, seen when it is polled
DOWNLOAD_KINDS = frozenset({"truncated", "wrong_type", "expired", "oversize"})
# Answered in the provider's own shape.
SHAPED_KINDS = frozenset({"429", "500", "502", "503", "auth", "no_credit", "spend_limit"})
PHASES = ("create", "poll", "download", "task")

_SPEC = re.compile(r"^(?:(?P<phase>create|poll|download|task):)?(?P<kind>[a-z0-9_]+?)(?:x(?P<count>\d+))?$")
_MARKER = re.compile(r"\[sim:([^\]]*)\]")


class FaultError(ValueError):
    """A fault spec the simulator does not understand."""


@dataclass(frozen=True)
class Fault:
    kind: str
    phase: str
    count: int | None = None  # None: every matching call; N: only the first N
    provider: str | None = None  # global faults may be limited to one protocol

    def __str__(self) -> str:
        text = f"{self.phase}:{self.kind}" + (f"x{self.count}" if self.count is not None else "")
        return f"{self.provider}/{text}" if self.provider else text


def markdown_table() -> str:
    """The fault table of docs/providers.md (a test keeps the two identical)."""
    rows = ["| fault | what happens |", "|---|---|"] + [f"| `{kind}` | {text} |" for kind, text in FAULTS.items()]
    return "\n".join(rows)


def default_phase(kind: str) -> str:
    if kind in TASK_KINDS:
        return "task"
    if kind in DOWNLOAD_KINDS:
        return "download"
    return "create"


def parse(spec: str, *, provider: str | None = None) -> Fault:
    """``"poll:503x2"`` → Fault("503", "poll", 2). Raises FaultError for anything else."""
    match = _SPEC.match(spec.strip().lower())
    if not match or match["kind"] not in FAULTS:
        raise FaultError(f"Unknown simulator fault {spec!r}; known: {', '.join(FAULTS)}.")
    kind = match["kind"]
    phase = match["phase"] or default_phase(kind)
    allowed = {"task"} if kind in TASK_KINDS else {"download"} if kind in DOWNLOAD_KINDS else set()
    if kind == "submit_timeout":
        allowed = {"create"}
    if kind in CALL_KINDS:
        allowed = {"create", "poll", "download"}
    if phase not in allowed:
        raise FaultError(f"Fault {kind!r} cannot apply to the {phase} phase.")
    count = int(match["count"]) if match["count"] else None
    return Fault(kind, phase, count, provider)


def markers_in(*texts: str) -> list[Fault]:
    """Every fault named in ``[sim:…]`` markers in the given prompt texts."""
    return [parse(spec) for text in texts if text for marker in _MARKER.findall(text) for spec in marker.split(",")]


class FaultBoard:
    """Global faults plus the remaining counts of ``xN`` faults, shared by all request threads."""

    def __init__(self, specs: Iterable[str] = ()):
        self._lock = threading.Lock()
        self._global: list[Fault] = []
        self._left: dict[Hashable, int] = {}
        self.set(specs)

    def set(self, specs: Iterable[str], *, provider: str | None = None) -> list[Fault]:
        """Replace the global faults (validating all of them first)."""
        faults = [parse(s, provider=provider) for s in specs]
        with self._lock:
            self._global = faults
            self._left = {k: v for k, v in self._left.items() if not (isinstance(k, tuple) and k[0] == "global")}
        return faults

    def clear(self) -> None:
        self.set(())

    def active(self) -> list[str]:
        with self._lock:
            return [str(f) for i, f in enumerate(self._global) if self._remaining(("global", i), f) != 0]

    def pick(self, *, provider: str, phase: str, markers: Iterable[Fault] = (), scope: Hashable = None) -> Fault | None:
        """The fault that hits this call, consuming one use of it; per-task markers win over global flags.

        ``scope`` keys the counts of marker faults: the prompt for creates (so a resend of the same prompt sees
        the count go down), the task id for polls and downloads.
        """
        with self._lock:
            for i, fault in enumerate(markers):
                if fault.phase == phase and self._take(("marker", scope, i), fault):
                    return fault
            for i, fault in enumerate(self._global):
                if fault.phase == phase and fault.provider in (None, provider) and self._take(("global", i), fault):
                    return fault
        return None

    def _remaining(self, key: Hashable, fault: Fault) -> int | None:
        if fault.count is None:
            return None
        return self._left.get(key, fault.count)

    def _take(self, key: Hashable, fault: Fault) -> bool:
        left = self._remaining(key, fault)
        if left is None:
            return True
        if left <= 0:
            return False
        self._left[key] = left - 1
        return True
