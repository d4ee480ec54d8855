"""RQ jobs: thin. Each takes a generation id (a poll round: a provider account's), and one service re-reads the
row and moves it on (or not).

After every pipeline step the waiting line may move: the step may have freed a place at a provider."""

from __future__ import annotations

import uuid

from generations.api import idempotency
from generations.media import upload_sweep
from generations.services import line as line_service
from generations.services import notify as notify_service
from generations.services import pipeline, recovery
from generations.webhooks import services as webhooks


def submit(gen_id: str) -> None:
    pipeline.generation_submit(uuid.UUID(gen_id))
    line_service.line_advance_safely()


def poll(gen_id: str) -> None:
    pipeline.generation_poll(uuid.UUID(gen_id))
    line_service.line_advance_safely()


def poll_round(credential_id: str) -> None:
    pipeline.polls_due(int(credential_id))
    line_service.line_advance_safely()


def fetch(gen_id: str) -> None:
    pipeline.generation_fetch(uuid.UUID(gen_id))
    line_service.line_advance_safely()


def sweep(_: str = "") -> None:
    recovery.generations_recover()
    if recovery.upload_sweep_due():  # once a day across the fleet
        upload_sweep.uploads_sweep()
        idempotency.keys_forget_old()


def notify(gen_id: str) -> None:
    notify_service.generation_notify(uuid.UUID(gen_id))


def line(_: str = "") -> None:
    line_service.line_advance()


def webhook(delivery_id: str) -> None:
    webhooks.delivery_attempt(uuid.UUID(delivery_id))
