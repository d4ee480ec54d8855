"""Page weight (issue 17): a 24-card gallery transfers at most 1 MB, and hovering a card fetches a short clip.

The videos are the simulator's demo style at a realistic bitrate and Kling's std sizes (720p landscape, portrait
and square, 5 s, 2 to 5 MB each): what a team's gallery holds. Bytes are read from Chromium's network log
(tests/network_log.py) and printed; bench/page_weight.py prints the same figures next to the target.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from generations.simulator.videos import render
from tests.fixtures_browser import CHROMIUM, Session
from tests.network_log import NetworkLog, gallery_weight

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no /usr/bin/chromium on this machine"),
]
MB = 1_000_000
SHAPES = [(1280, 720), (720, 1280), (720, 720)]  # std 16:9, 9:16, 1:1


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("realistic")
    paths = []
    for width, height in SHAPES:
        path = folder / f"{width}x{height}.mp4"
        render(path, 5, width, height, True, caption="A RED KITE OVER THE DUNES AT DUSK")
        paths.append(path)
    return paths


@pytest.fixture
def tab(browser: Any, live_server: Any, alice: Any, credentials: Any, media_root: Path) -> Iterator[Session]:
    session = Session(browser, live_server.url, alice)
    yield session
    session.close()


def test_a_24_card_gallery_weighs_at_most_1_mb_and_a_hover_fetches_only_a_short_clip(
    tab: Session, alice: Any, bob: Any, ready_video: Any, sources: list[Path]
) -> None:
    now = timezone.now()
    for i in range(24):
        source = sources[i % 3]
        ready_video(bob if i % 2 else alice, source=source, size=SHAPES[i % 3], prompt=f"A red kite, take {i}",
                    created_at=now - timedelta(minutes=i))  # fmt: skip
    video_bytes = sum(p.stat().st_size for p in sources) * 8
    log = NetworkLog(tab.page)
    weight = gallery_weight(tab.page, log)
    print(f"\n24-card gallery: first screen {weight['first_screen']:,} B, with all 24 posters {weight['all_cards']:,} B"
          f" (target <= {MB:,} B; the 24 videos: {video_bytes:,} B); one hover {weight['hover']:,} B;"
          f" second load {weight['second_load']:,} B")  # fmt: skip
    assert weight["cards"] == 24
    posters = [url for url in weight["loaded"] if "/poster" in url]
    assert len(posters) == 24 and all("/poster-" in url and ".webp?v=" in url for url in posters), posters
    assert weight["all_cards"] <= MB

    hovered = list(weight["hover_urls"])
    assert any("/preview.mp4?v=" in url for url in hovered), hovered
    assert not any("/video.mp4" in url for url in hovered), hovered
    assert weight["hover"] <= MB
    assert weight["posters_fetched_again"] == []  # cached a year at their versioned URLs, no revalidation
    assert tab.errors == []
