"""Page weight: the bytes Chromium transfers for a 24-card gallery on first load, and for hovering one card.

    .venv/bin/python bench/page_weight.py [--mode std|pro] [--without-card-media]

Renders the simulator's demo-style videos (colour, motion, film grain, a caption: a realistic bitrate) at Kling's
sizes for the mode (std 720p, pro 1080p), 5 s, in landscape, portrait and square; fills a throwaway database
(SQLite under var/) with 24 ready videos made from them, each with the poster, card posters and preview clip that a
fetch makes (``--without-card-media``: as videos fetched before those existed, with the full poster and no
preview); serves the site on a loopback port and opens the gallery in headless Chromium (/usr/bin/chromium) at
1280 x 900. Bytes are DevTools' "transferred" (headers and bodies) from the network log (tests/network_log.py):
the first screen, then every card scrolled into view, then one hover. Target (issue 17): <= 1 MB for the page,
and a hover that fetches a short clip (about 1 MB at most), never the video.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API keeps an event loop here

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.staticfiles.handlers import StaticFilesHandler  # noqa: E402
from django.core.files import File  # noqa: E402
from django.core.files.storage import default_storage  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.testcases import LiveServerThread  # noqa: E402
from django.utils import timezone  # noqa: E402

from generations.media.probe import make_poster  # noqa: E402
from generations.models import Generation, ProviderCredential  # noqa: E402
from generations.simulator.videos import render, resolution  # noqa: E402

try:
    from generations.media import card_media
except ImportError:  # an older checkout (the "before" figure): full posters, the full video on hover
    card_media = None  # type: ignore[assignment]

MB = 1_000_000
CARDS = 24
RATIOS = ("16:9", "9:16", "1:1")


def _create_db() -> None:
    connection.settings_dict["TEST"]["NAME"] = str(ROOT / "var" / "bench-pageweight.sqlite3")
    connection.creation.create_test_db(verbosity=0, autoclobber=True)


def seed(folder: Path, mode: str, with_card_media: bool) -> tuple[object, int]:
    user = get_user_model().objects.create_user("alice", password="bench-only-password")
    cred = ProviderCredential.objects.create(provider="mulerun", label="bench", base_url="http://127.0.0.1:9")
    sources = []
    for ratio in RATIOS:
        width, height = resolution(mode, ratio)
        video = folder / f"{width}x{height}.mp4"
        render(video, 5, width, height, True, caption="A RED KITE OVER THE DUNES AT DUSK")
        poster = video.with_suffix(".jpg")
        make_poster(video, poster)
        made = card_media.make(video, poster) if (card_media and with_card_media) else None
        sources.append((ratio, width, height, video, poster, made))
    now = timezone.now()
    video_bytes = 0
    for i in range(CARDS):
        ratio, width, height, video, poster, made = sources[i % len(sources)]
        pk = uuid.uuid4()
        with video.open("rb") as v, poster.open("rb") as p:
            video_name = default_storage.save(f"videos/{pk}/video-{pk.hex[:8]}.mp4", File(v))
            poster_name = default_storage.save(f"videos/{pk}/poster-{pk.hex[:8]}.jpg", File(p))
        extra = {}
        if made is not None:
            preview_name = f"videos/{pk}/preview-{pk.hex[:8]}.mp4"
            stored = card_media.store(made, poster_name=poster_name, preview_name=preview_name)
            extra = {"card_posters": stored.card_posters, "preview": stored.preview}
        created = now - timedelta(minutes=i)
        Generation.objects.create(
            id=pk, owner=user, credential=cred, provider="mulerun", model="mulerun:kling-v2.6", mode=mode,
            aspect_ratio=ratio, duration=5, cost=10, prompt=f"A red kite over the dunes at dusk, take {i}",
            status=Generation.Status.READY, created_at=created, admitted_at=created, finished_at=created,
            deadline_at=created + timedelta(minutes=30), video=video_name, poster=poster_name, width=width,
            height=height, video_duration=5.0, file_size=video.stat().st_size, **extra,
        )  # fmt: skip
        video_bytes += video.stat().st_size
    return user, video_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("std", "pro"), default="std", help="std: 720p videos; pro: 1080p")
    parser.add_argument("--without-card-media", action="store_true", help="videos fetched before card media existed")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from tests.fixtures_browser import ARGS, CHROMIUM, Session
    from tests.network_log import NetworkLog, gallery_weight

    with tempfile.TemporaryDirectory(prefix="pageweight-") as tmp:
        settings.MEDIA_ROOT = str(Path(tmp) / "media")
        settings.DEBUG = False
        _create_db()
        user, video_bytes = seed(Path(tmp), args.mode, not args.without_card_media)
        server = LiveServerThread("localhost", StaticFilesHandler)  # its own connection to the SQLite file
        server.daemon = True
        server.start()
        server.is_ready.wait()
        if server.error:
            raise server.error
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                session = Session(browser, f"http://localhost:{server.port}", user)
                weight = gallery_weight(session.page, NetworkLog(session.page))
                browser.close()
        finally:
            server.terminate()
    with_media = card_media is not None and not args.without_card_media
    kind = "with card media" if with_media else "without card media (full posters)"
    print(f"{CARDS} cards, {args.mode} videos ({video_bytes / MB:.1f} MB of video), {kind}")
    posters = [n for url, n in weight["loaded"].items() if "/poster" in url]
    each = sum(posters) / max(len(posters), 1) / 1000
    print(f"  posters loaded: {len(posters)}, {sum(posters):,} B ({each:.1f} kB each)")
    page_ok = "met" if weight["all_cards"] <= MB else "NOT met"
    print(f"  first screen:          {weight['first_screen']:>11,} B")
    print(f"  first load, 24 cards:  {weight['all_cards']:>11,} B   target <= {MB:,} B: {page_ok}")
    clip = [url for url in weight["hover_urls"] if "/preview" in url]
    full = [url for url in weight["hover_urls"] if "/video.mp4" in url or "/video-" in url]
    hover_ok = "met" if clip and not full and weight["hover"] <= MB else "NOT met"
    what = "the short clip" if clip and not full else ("the full video" if full else "nothing (poster only)")
    again = len(weight["posters_fetched_again"])
    print(f"  second load:           {weight['second_load']:>11,} B   posters fetched again: {again} (cached: 0)")
    print(f"  one hover:             {weight['hover']:>11,} B   fetches {what}; target a clip of ~1 MB: {hover_ok}")


if __name__ == "__main__":
    main()
