"""RQ jobs: thin. Each takes a generation id, and one service re-reads the row and moves it on (or not)."""

from __future__ import annotations

import uuid

from generations.services import notify as notify_service
from generations.services import pipeline, recovery


def submit(gen_id: str) -> None:
    pipeline.generation_submit(uuid.UUID(gen_id))


def poll(gen_id: str) -> None:
    pipeline.generation_poll(uuid.UUID(gen_id))


def fetch(gen_id: str) -> None:
    pipeline.generation_fetch(uuid.UUID(gen_id))


def sweep(_: str = "") -> None:
    recovery.generations_recover()


def notify(gen_id: str) -> None:
    notify_service.generation_notify(uuid.UUID(gen_id))
