"""Fixtures for the page and admin tests: logged-in clients, credentials, prices and a generation factory.

The personas (``alice``, ``bob``, ``charlie``, ``admin_user``) and ``media_root`` live in conftest.py; this
module adds logged-in clients for them, credentials that reach nothing, and a generation factory.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files import File
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone

from generations.media import card_media as card_media_module
from generations.media.probe import make_poster
from generations.models import Generation, ProviderCredential
from generations.services.demo import prices_seed
from generations.simulator.demo_frames import caption_of
from generations.simulator.videos import render

BACKEND = "django.contrib.auth.backends.ModelBackend"
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens, connections are refused at once


def _client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user, backend=BACKEND)
    return client


@pytest.fixture
def prices(db: None) -> None:
    """The default price list (a migration seeds it, but transactional tests flush it)."""
    prices_seed()


@pytest.fixture
def alice_client(alice: Any) -> Client:
    return _client_for(alice)


@pytest.fixture
def bob_client(bob: Any) -> Client:
    return _client_for(bob)


@pytest.fixture
def charlie_client(charlie: Any) -> Client:
    return _client_for(charlie)


def make_credential(provider: str, label: str = "", *, priority: int = 100, **extra: Any) -> ProviderCredential:
    cred = ProviderCredential(
        provider=provider, label=label or f"{provider} test account", base_url=UNREACHABLE, priority=priority, **extra
    )
    if provider == "kling":
        cred.set_secrets({"access_key": "ak-test-0123456789", "secret_key": "sk-test-very-secret-0123456789-abcdefgh"})
    else:
        cred.set_secrets({"api_key": f"{provider}-test-key-0123456789"})
    cred.save()
    return cred


@pytest.fixture
def credentials(prices: None) -> dict[str, ProviderCredential]:
    """One active credential per provider the forms need, all pointing at a port where nothing listens."""
    return {p: make_credential(p, priority=i) for i, p in enumerate(("mulerun", "kling", "aimlapi", "segmind"))}


GenerationFactory = Callable[..., Generation]


@pytest.fixture
def make_generation(db: None) -> GenerationFactory:
    """Insert a generation row directly (no charge, no job), e.g. ``make_generation(alice, status="ready")``."""
    counter = iter(range(1, 1_000_000))

    def make(owner: Any, **fields: Any) -> Generation:
        n = next(counter)
        now = timezone.now()
        cred = fields.pop("credential", None) or ProviderCredential.objects.filter(provider="mulerun").first()
        cred = cred or make_credential("mulerun")
        status = fields.setdefault("status", Generation.Status.READY)
        pk = fields.pop("id", None) or uuid.uuid4()
        created = fields.pop("created_at", now - timedelta(minutes=n))
        defaults: dict[str, Any] = {
            "prompt": f"A test video number {n}",
            "model": "mulerun:kling-v2.6",
            "mode": "std",
            "aspect_ratio": "16:9",
            "duration": 5,
            "cost": 10,
            "deadline_at": created + timedelta(minutes=30),
            "admitted_at": created,  # made directly in its status: past the waiting line
        }
        if status == Generation.Status.READY:
            defaults |= {"video": f"videos/{pk}/video.mp4", "poster": f"videos/{pk}/poster.jpg"}
            defaults["finished_at"] = created + timedelta(seconds=90)
        elif status in (Generation.Status.FAILED, Generation.Status.CANCELED):
            defaults["finished_at"] = created + timedelta(seconds=30)
        gen = Generation(id=pk, owner=owner, credential=cred, provider=cred.provider, created_at=created)
        for key, value in (defaults | fields).items():
            setattr(gen, key, value)
        gen.save(force_insert=True)
        return gen

    return make


def write_tiny_mp4(path: Path, *, seconds: int = 2, width: int = 320, height: int = 180, caption: str = "") -> Path:
    """A real H.264 MP4, small enough to write in a test: the simulator's moving bar, or its demo style with a
    caption (what the screenshots show)."""
    render(path, seconds, width, height, False, caption)
    return path


@pytest.fixture
def ready_video(make_generation: GenerationFactory, media_root: Path, tmp_path: Path) -> Callable[..., Generation]:
    """A ready generation whose video and poster are real files in storage (for the player tests), with the card
    posters and preview clip that a fetch makes (``card_media=False``: a video fetched before they existed).
    ``source``: an MP4 already rendered (many cards from one file: its poster and card media are made once)."""
    made_from: dict[Path, tuple[Path, card_media_module.Made | None]] = {}

    def make(
        owner: Any, *, size: tuple[int, int] = (320, 180), source: Path | None = None, card_media: bool = True,
        **fields: Any,
    ) -> Generation:  # fmt: skip
        width, height = size
        if source is None:
            caption = caption_of(fields.get("prompt") or "")
            source = write_tiny_mp4(tmp_path / f"{uuid.uuid4().hex}.mp4", width=width, height=height, caption=caption)
        if source not in made_from:
            poster = tmp_path / f"{uuid.uuid4().hex}.jpg"
            make_poster(source, poster)
            # What generation_fetch does after the poster (services/pipeline.py _store).
            made_from[source] = poster, card_media_module.make(source, poster) if card_media else None
        poster, made = made_from[source]
        pk = uuid.uuid4()
        with source.open("rb") as video_file, poster.open("rb") as poster_file:
            video_name = default_storage.save(f"videos/{pk}/video.mp4", File(video_file))
            poster_name = default_storage.save(f"videos/{pk}/poster.jpg", File(poster_file))
        extras = card_media_module.Stored()
        if card_media:
            made = made or card_media_module.make(source, poster)
            extras = card_media_module.store(made, poster_name=poster_name, preview_name=f"videos/{pk}/preview.mp4")
        return make_generation(
            owner, id=pk, video=video_name, poster=poster_name, width=width, height=height, video_duration=2.0,
            file_size=source.stat().st_size, card_posters=extras.card_posters, preview=extras.preview, **fields,
        )  # fmt: skip

    return make
