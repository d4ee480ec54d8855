"""Headless Chromium for browser tests: Debian's /usr/bin/chromium driven by Playwright (never a downloaded browser).

`Session` is a logged-in tab that records console errors; `check()` runs an accessibility smoke check, asserts no
CSP violation or script error, and saves desktop and 390 px phone screenshots under $TEST_ARTIFACTS/screenshots.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
SHOTS = Path(os.environ.get("TEST_ARTIFACTS", "test-artifacts")) / "screenshots"

A11Y_CHECK = """() => {
  const problems = [];
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    const byFor = el.id && document.querySelector('label[for="' + CSS.escape(el.id) + '"]');
    if (!(byFor || el.closest('label') || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby'))) {
      problems.push('no label: ' + el.outerHTML.slice(0, 120));
    }
  }
  const seen = {};
  for (const el of document.querySelectorAll('[id]')) seen[el.id] = (seen[el.id] || 0) + 1;
  for (const [id, n] of Object.entries(seen)) if (n > 1) problems.push('duplicate id: ' + id);
  for (const img of document.querySelectorAll('img')) if (!img.hasAttribute('alt')) problems.push('img without alt');
  if (!document.querySelector('h1')) problems.push('no h1');
  if (!document.documentElement.lang) problems.push('no lang');
  return problems;
}"""


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("no /usr/bin/chromium on this machine")
    playwright_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API keeps an event loop in this thread; the ORM calls in these tests stay synchronous.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with playwright_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


class Session:
    """A logged-in browser tab that records console errors and page errors."""

    def __init__(self, browser: Any, base_url: str, user: Any, width: int = 1280):
        self.base_url = base_url
        self.context = browser.new_context(viewport={"width": width, "height": 900}, base_url=base_url)
        if user is not None:
            self.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": _session_for(user),
                                       "url": base_url}])  # fmt: skip
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.console.append(m.text) if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, path: str) -> Any:
        response = self.page.goto(path)
        assert response is not None and response.status == 200, f"{path}: {response and response.status}"
        self.page.wait_for_load_state("networkidle")
        return self.page

    def check(self, name: str) -> None:
        """Accessibility smoke check, no CSP violation, no script error, and screenshots (desktop and phone)."""
        assert self.page.evaluate(A11Y_CHECK) == [], name
        csp = [m for m in self.console if "Content Security Policy" in m or "Refused to" in m]
        assert csp == [], f"{name}: {csp}"
        assert self.errors == [], f"{name}: {self.errors}"
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        width = self.page.viewport_size["width"]
        self.page.set_viewport_size({"width": 390, "height": 844})
        self.page.screenshot(path=str(SHOTS / f"{name}-phone.png"), full_page=True)
        overflow = self.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{name}: the page is {overflow}px wider than a phone screen"
        self.page.set_viewport_size({"width": width, "height": 900})

    def close(self) -> None:
        self.context.close()


def _session_for(user: Any) -> str:
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    return store.session_key
