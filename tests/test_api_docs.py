"""The API's docs page works in a real browser under the site's strict CSP (Swagger UI from our own static files)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures_browser import Session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_docs_page_lists_every_operation_with_no_csp_violation(browser: Any, live_server: Any) -> None:
    session = Session(browser, live_server.url, None)
    try:
        page = session.open("/api/docs/")
        page.wait_for_selector(".opblock", timeout=15000)
        shown = page.locator(".opblock").count()
        schema = page.request.get(live_server.url + "/api/schema/").json()
        operations = sum(len(ops) for ops in schema["paths"].values())
        assert shown == operations
        assert "Kling Studio API" in page.locator(".info .title").first.inner_text()
        csp = [m for m in session.console if "Content Security Policy" in m or "Refused to" in m]
        assert csp == [] and session.errors == []
        session.check("api-docs")
    finally:
        session.close()
