"""Check at start-up that the services this process needs are there; fail with one sentence naming the variable."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from kling_site.devredis import reachable


def problems() -> list[str]:
    found = []
    if not reachable(settings.REDIS_URL, timeout=2):
        found.append(f"REDIS_URL: no Redis answers at {_safe(settings.REDIS_URL)}.")
    if not settings.AWS_STORAGE_BUCKET_NAME:
        media = Path(settings.MEDIA_ROOT)
        try:
            media.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=media):
                pass
        except OSError as exc:
            found.append(f"MEDIA_ROOT: the media folder {media} is not writable ({exc.strerror}).")
    return found


def _safe(url: str) -> str:
    """The URL without its password."""
    from urllib.parse import urlparse

    parsed = urlparse(url)
    return parsed._replace(netloc=f"{parsed.hostname}:{parsed.port or 6379}").geturl()


class Command(BaseCommand):
    help = "Check Redis and media storage before starting web or worker processes."
    requires_system_checks: list[str] = []

    def handle(self, *args: object, **options: object) -> None:
        found = problems()
        if found:
            raise CommandError(" ".join(found))
        self.stdout.write("preflight: Redis and media storage are ready.")
