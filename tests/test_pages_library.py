"""My videos (the member's own generations) and the Credits page (balance and ledger)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from generations.models import CreditEntry, Generation
from generations.services.create import generation_create
from generations.services.credits import credits_adjust, credits_grant
from generations.services.pipeline import generation_fail

pytestmark = pytest.mark.django_db
S = Generation.Status


def titles(html: str) -> list[str]:
    return re.findall(r'<h2 class="tile-title"><a href="[^"]+"[^>]*>(.*?)</a>', html)


def get(client: Client, url: str, **params: Any) -> str:
    response = client.get(url, params)
    assert response.status_code == 200
    return response.content.decode()


# --- My videos --------------------------------------------------------------------------------------------------


def test_my_videos_lists_only_mine_newest_first_with_status(
    alice: Any, bob: Any, alice_client: Client, credentials: Any, make_generation: Any
) -> None:
    now = timezone.now()
    make_generation(alice, prompt="old ready", created_at=now - timedelta(hours=3))
    make_generation(alice, prompt="failed one", status=S.FAILED, created_at=now - timedelta(hours=2))
    make_generation(alice, prompt="private running", status=S.RUNNING, visibility="private",
                    created_at=now - timedelta(hours=1))  # fmt: skip
    make_generation(alice, prompt="gone", deleted_at=now)
    make_generation(bob, prompt="Bob's")
    html = get(alice_client, "/videos/")
    assert titles(html) == ["private running", "failed one", "old ready"]
    assert '<span class="chip running" data-card-status>Generating</span>' in html
    assert '<span class="chip failed" data-card-status>Failed</span>' in html
    assert '<span class="chip">Private</span>' in html


def test_my_videos_filters_by_status_and_model(
    alice: Any, alice_client: Client, credentials: Any, make_generation: Any
) -> None:
    make_generation(alice, prompt="ready 2.6")
    make_generation(alice, prompt="queued", status=S.QUEUED)
    make_generation(alice, prompt="downloading", status=S.DOWNLOADING)
    make_generation(alice, prompt="v3", model="kling:kling-v3", credential=credentials["kling"])
    assert set(titles(get(alice_client, "/videos/", status="in_flight"))) == {"queued", "downloading"}
    assert set(titles(get(alice_client, "/videos/", status="ready"))) == {"ready 2.6", "v3"}
    assert titles(get(alice_client, "/videos/", model="kling-3")) == ["v3"]  # each model once, any provider
    assert "None of your videos match" in get(alice_client, "/videos/", status="canceled")
    assert "Select a valid choice" in get(alice_client, "/videos/", status="bogus")


def test_my_videos_pages_by_24(alice: Any, alice_client: Client, credentials: Any, make_generation: Any) -> None:
    for i in range(25):
        make_generation(alice, prompt=f"v{i}", status=S.QUEUED)
    assert len(titles(get(alice_client, "/videos/"))) == 24
    assert len(titles(get(alice_client, "/videos/", page=2))) == 1


def test_my_videos_pages_with_previous_and_next_and_names_the_last_page_only_there(
    alice: Any, alice_client: Client, credentials: Any, make_generation: Any
) -> None:
    for i in range(50):
        make_generation(alice, prompt=f"v{i}", status=S.QUEUED)
    first, last = get(alice_client, "/videos/"), get(alice_client, "/videos/", page=3)
    assert "Page 1<" in first and "Page 1 of" not in first and 'rel="next"' in first  # not counted (issue 17)
    assert "Page 3 of 3" in last and 'rel="next"' not in last and len(titles(last)) == 2


def test_my_videos_starts_empty(alice_client: Client, credentials: Any) -> None:
    assert "You have not made a video yet." in get(alice_client, "/videos/")


# --- Credits ----------------------------------------------------------------------------------------------------


def test_credits_shows_balance_and_every_kind_of_movement(
    alice: Any, admin_user: Any, alice_client: Client, credentials: Any
) -> None:
    credits_grant(user=alice, amount=40, reason="Team offsite <b>bonus</b>", actor=admin_user)
    gen = generation_create(user=alice, model_key="mulerun:kling-v2.5-turbo", params={"prompt": "A kite"})
    generation_fail(gen.pk, reason="The provider timed out.")
    credits_adjust(user=alice, amount=-5, reason="Correction", actor=admin_user)
    html = get(alice_client, reverse("credits"))
    alice.credit_account.refresh_from_db()
    balance = alice.credit_account.balance
    assert f'<p class="price">{balance} <span class="muted">credits</span></p>' in html
    for kind in ("Grant", "Charge", "Refund", "Adjustment"):
        assert f">{kind}</span>" in html
    assert "Team offsite &lt;b&gt;bonus&lt;/b&gt;" in html
    assert f'<td class="num amount-neg" data-label="Amount">-{gen.cost}</td>' in html
    assert f'<td class="num amount-pos" data-label="Amount">+{gen.cost}</td>' in html
    assert '<td class="num amount-neg" data-label="Amount">-5</td>' in html
    assert html.count(f'href="/videos/{gen.pk}/"') == 2  # the charge and the refund link to the video
    assert "by admin" in html


def test_credits_shows_only_my_ledger(alice: Any, bob: Any, alice_client: Client, credentials: Any) -> None:
    credits_grant(user=bob, amount=7, reason="Only for Bob", actor=None)
    assert "Only for Bob" not in get(alice_client, reverse("credits"))


def test_credits_pages_by_50(alice: Any, alice_client: Client, credentials: Any) -> None:
    for i in range(55):
        credits_grant(user=alice, amount=1, reason=f"drip {i}", actor=None)
    first = get(alice_client, reverse("credits"))
    second = get(alice_client, reverse("credits"), page=2)
    assert first.count("<tr>") - 1 == 50  # minus the header row
    assert second.count("<tr>") - 1 == CreditEntry.objects.filter(account__user=alice).count() - 50


def test_a_member_without_movements_sees_how_to_get_credits(charlie_client: Client, credentials: Any) -> None:
    assert "Ask an admin for credits" in get(charlie_client, reverse("credits"))
