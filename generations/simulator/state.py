"""In-memory tasks shared by every request thread. A task's state is computed from its age, never stored:
queued for the first fifth of ``seconds``, then running, then finished (or failed, or running forever)."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from generations.simulator.faults import Fault

Phase = Literal["queued", "running", "succeeded", "failed"]
QUEUED_SHARE = 0.2


class DuplicateExternalId(Exception):
    """The account already has a task with this external id."""


@dataclass
class Task:
    id: str
    provider: str
    model: str
    duration: int
    width: int
    height: int
    sound: bool
    seconds: float  # how long this task takes to finish
    prompt: str = ""  # the text fault markers were read from (Kling multi-shot: every shot, joined)
    outcome: str = ""  # "" (succeeds), "moderation" (fails), "never" (runs forever)
    external_id: str = ""
    callback_url: str = ""
    markers: tuple[Fault, ...] = ()
    request: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.monotonic)
    created_at: float = field(default_factory=time.time)  # wall clock, for the timestamps providers send
    file_token: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    caption: str = ""  # demo-style videos show the prompt's first words; "" renders the plain, cheap style
    picture: str = ""  # the start image's digest (VideoCache.pictures): the video begins with that picture

    def phase(self, now: float | None = None) -> Phase:
        elapsed = (time.monotonic() if now is None else now) - self.created
        if elapsed < self.seconds * QUEUED_SHARE:
            return "queued"
        if self.outcome == "never" or elapsed < self.seconds:
            return "running"
        return "failed" if self.outcome == "moderation" else "succeeded"

    def updated_at(self, now: float | None = None) -> float:
        """Wall-clock time of the latest state change."""
        phase = self.phase(now)
        if phase == "queued":
            return self.created_at
        if phase == "running":
            return self.created_at + self.seconds * QUEUED_SHARE
        return self.created_at + self.seconds

    def age(self) -> float:
        return time.monotonic() - self.created

    @property
    def video_key(self) -> tuple[int, int, int, bool, str, str]:
        return (self.duration, self.width, self.height, self.sound, self.caption, self.picture)


class TaskStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[str, Task] = {}
        self._external: dict[tuple[str, str], str] = {}
        self._files: dict[str, str] = {}

    def add(self, task: Task) -> Task:
        with self._lock:
            # external_task_id is unique per account; each provider here is one account.
            if task.external_id and (task.provider, task.external_id) in self._external:
                raise DuplicateExternalId(task.external_id)
            self._tasks[task.id] = task
            self._files[task.file_token] = task.id
            if task.external_id:
                self._external[(task.provider, task.external_id)] = task.id
        return task

    def get(self, provider: str, task_id: str) -> Task | None:
        with self._lock:
            task = self._tasks.get(task_id)
        return task if task and task.provider == provider else None

    def by_external_id(self, provider: str, external_id: str) -> Task | None:
        with self._lock:
            task_id = self._external.get((provider, external_id))
            return self._tasks.get(task_id) if task_id else None

    def by_file(self, token: str) -> Task | None:
        with self._lock:
            task_id = self._files.get(token)
            return self._tasks.get(task_id) if task_id else None

    def all(self, provider: str | None = None) -> list[Task]:
        with self._lock:
            return [t for t in self._tasks.values() if provider in (None, t.provider)]

    def __call__(self, provider: str | None = None) -> list[Task]:
        """``sim.tasks()``: every task so far (of one provider if given), for tests and admins to inspect."""
        return self.all(provider)
