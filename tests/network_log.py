"""Bytes a Chromium tab transfers, from the DevTools protocol's network events (what DevTools shows as "transferred").

Used by tests/test_browser_page_weight.py and bench/page_weight.py. A request's bytes are its
``Network.loadingFinished`` encodedDataLength (headers and body as they came over the wire), or, for a request
that never finished (a video the browser stopped buffering), the sum of its ``Network.dataReceived`` chunks.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

# Scroll every card into view, one after another, so that lazily loaded posters are all fetched, then come back.
SCROLL_THROUGH = """async () => {
  for (const tile of document.querySelectorAll('.tile')) {
    tile.scrollIntoView();
    await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  }
  window.scrollTo(0, 0);
}"""
IMAGES_LOADED = "() => [...document.images].every(i => i.complete)"


class NetworkLog:
    def __init__(self, page: Any):
        self.page = page
        self.cdp = page.context.new_cdp_session(page)
        self.urls: dict[str, str] = {}
        self.received: dict[str, int] = defaultdict(int)
        self.finished: dict[str, int] = {}
        self.cdp.on("Network.requestWillBeSent", self._sent)
        self.cdp.on("Network.dataReceived", self._data)
        self.cdp.on("Network.loadingFinished", self._done)
        self.cdp.on("Network.loadingFailed", self._failed)
        self.cdp.send("Network.enable")

    def _sent(self, event: dict[str, Any]) -> None:
        self.urls[event["requestId"]] = event["request"]["url"]

    def _data(self, event: dict[str, Any]) -> None:
        self.received[event["requestId"]] += int(event.get("encodedDataLength") or 0)

    def _done(self, event: dict[str, Any]) -> None:
        self.finished[event["requestId"]] = int(event.get("encodedDataLength") or 0)

    def _failed(self, event: dict[str, Any]) -> None:
        self.finished.setdefault(event["requestId"], 0)  # canceled: what came is in dataReceived

    def pending(self) -> list[str]:
        return [url for request_id, url in self.urls.items() if request_id not in self.finished]

    def settle(self, seconds: float = 10.0) -> None:
        """Until every request seen has finished (or ``seconds`` pass: a long video the browser keeps open).
        DevTools events reach Python only while Playwright waits on something, hence short waits, not one await."""
        for _ in range(int(seconds * 10)):
            if not self.pending():
                return
            self.page.wait_for_timeout(100)

    def reset(self) -> None:
        self.urls.clear()
        self.received.clear()
        self.finished.clear()

    def by_url(self) -> dict[str, int]:
        """Bytes per URL (one URL asked twice, e.g. a video's range requests, adds up)."""
        sizes: dict[str, int] = defaultdict(int)
        for request_id, url in self.urls.items():
            sizes[url] += max(self.finished.get(request_id, 0), self.received.get(request_id, 0))
        return dict(sizes)

    def total(self) -> int:
        return sum(self.by_url().values())


def gallery_weight(page: Any, log: NetworkLog) -> dict[str, Any]:
    """Open the gallery in a fresh tab and measure: the first screen, every card's poster, one hover, a reload."""
    log.reset()
    page.goto("/", wait_until="load")
    page.wait_for_function(IMAGES_LOADED)
    log.settle()
    first_screen = log.total()
    page.evaluate(SCROLL_THROUGH)
    page.wait_for_function(IMAGES_LOADED)
    log.settle()
    all_cards, loaded = log.total(), log.by_url()
    log.reset()
    media = page.locator(".tile-media").first
    media.hover()
    if media.get_attribute("data-preview"):  # a card without a clip shows its poster only: nothing to wait for
        media.locator("video").wait_for(state="attached")
        page.wait_for_function("() => document.querySelector('.tile-media video').readyState >= 3")
    log.settle()
    hover, hover_urls = log.total(), log.by_url()
    # Coming back: posters at a versioned URL come from the browser's cache without a request to the server.
    log.reset()
    page.reload(wait_until="load")
    page.evaluate(SCROLL_THROUGH)
    page.wait_for_function(IMAGES_LOADED)
    log.settle()
    again = [url for url, n in log.by_url().items() if "/poster" in url and n > 0]
    return {"first_screen": first_screen, "all_cards": all_cards, "loaded": loaded, "hover": hover,
            "hover_urls": hover_urls, "cards": page.locator(".tile").count(), "second_load": log.total(),
            "posters_fetched_again": again}  # fmt: skip
