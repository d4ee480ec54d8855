"""Every member page needs a login; a logged-in member gets each page without errors."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

PAGES = ["/", "/gallery/", "/new/", "/new/quote.json", "/videos/", "/credits/"]


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_visitors_are_sent_to_the_login_page(url: str, credentials: Any) -> None:
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


@pytest.mark.parametrize("url", [p for p in PAGES if p.endswith("/")])
def test_a_member_gets_every_page_with_the_top_bar(url: str, alice_client: Client, credentials: Any) -> None:
    response = alice_client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="topbar"' in html and "<span data-balance>500</span> credits" in html
    assert "style=" not in html  # CSP: style-src 'self' blocks inline styles
    assert " on" + "click=" not in html.lower()


def test_pages_carry_a_content_security_policy_with_a_nonce(alice_client: Client, credentials: Any) -> None:
    response = alice_client.get("/new/")
    policy = response["Content-Security-Policy"]
    nonce = policy.split("'nonce-")[1].split("'")[0]
    assert f'nonce="{nonce}"' in response.content.decode()
    assert "style-src 'self'" in policy
