"""Cached cards (generations/templatetags/cards.py): an edited card shows its new state at once, and the cache
never shows one member what belongs to another (a private card, a star)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from generations.models import Generation
from generations.services.manage import generation_set_visibility

pytestmark = pytest.mark.django_db
S = Generation.Status


def page(client: Client, url: str = "/") -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def card(html: str, gen: Generation) -> str:
    """The one card of ``gen`` on a page ("" when the page does not show it)."""
    cards = re.findall(r'<article class="tile".*?</article>', html, re.S)
    return next((c for c in cards if f"/videos/{gen.pk}/" in c), "")


def star_of(html: str, gen: Generation) -> str:
    return re.search(r'aria-pressed="(true|false)"', card(html, gen)).group(1)


def test_a_changed_prompt_is_shown_at_once(
    alice: Any, alice_client: Client, credentials: Any, make_generation: Any
) -> None:
    gen = make_generation(alice, prompt="A calm lake")
    assert "A calm lake" in card(page(alice_client), gen)
    Generation.objects.filter(pk=gen.pk).update(prompt="A stormy sea")  # no save(): updated_at stays as it was
    html = page(alice_client)
    assert "A stormy sea" in card(html, gen) and "A calm lake" not in html


def test_a_star_is_shown_at_once_and_is_each_members_own(
    alice: Any, alice_client: Client, bob_client: Client, credentials: Any, make_generation: Any
) -> None:
    gen = make_generation(alice, prompt="A starred sunset")
    assert star_of(page(alice_client), gen) == "false"
    alice_client.post(f"/videos/{gen.pk}/favorite/", {"next": "/"})
    assert star_of(page(alice_client), gen) == "true"
    assert star_of(page(bob_client), gen) == "false"  # the same cached card, Bob's own star
    assert 'name="next" value="/?q=sunset"' in card(page(bob_client, "/?q=sunset"), gen)


def test_visibility_is_shown_at_once_and_a_private_card_never_reaches_another_member(
    alice: Any, alice_client: Client, bob_client: Client, credentials: Any, make_generation: Any
) -> None:
    gen = make_generation(alice, prompt="A fox in the snow")
    assert "Private" not in card(page(bob_client), gen) and card(page(bob_client), gen)
    generation_set_visibility(generation=gen, visibility="private")
    assert "Private" in card(page(alice_client), gen)  # Alice's page caches her private card…
    for url in ("/", "/?q=fox", "/videos/"):
        assert "A fox in the snow" not in page(bob_client, url)  # …which Bob never gets
    generation_set_visibility(generation=gen, visibility="team")
    assert "Private" not in card(page(bob_client), gen) and card(page(bob_client), gen)


def test_a_status_change_is_shown_at_once(
    alice: Any, alice_client: Client, credentials: Any, make_generation: Any
) -> None:
    gen = make_generation(alice, prompt="A slow render", status=S.RUNNING)
    before = card(page(alice_client, "/videos/"), gen)
    assert "data-live-card" in before and "data-preview" not in before
    Generation.objects.filter(pk=gen.pk).update(
        status=S.READY, video=f"videos/{gen.pk}/video.mp4", poster=f"videos/{gen.pk}/poster.jpg", video_duration=5.0,
        card_posters=True, preview=f"videos/{gen.pk}/preview.mp4",
    )  # fmt: skip
    after = card(page(alice_client, "/videos/"), gen)
    assert "data-live-card" not in after and f'data-preview="/videos/{gen.pk}/preview.mp4?v=' in after
    assert f"/videos/{gen.pk}/poster-320.webp?v=" in after
    assert 'data-card-status>Ready<' in after
    stuck = make_generation(alice, prompt="A failing render", status=S.RUNNING)
    assert "data-card-status>Generating<" in card(page(alice_client, "/videos/"), stuck)
    Generation.objects.filter(pk=stuck.pk).update(status=S.FAILED)  # nothing but the status changes
    assert "data-card-status>Failed<" in card(page(alice_client, "/videos/"), stuck)


def test_a_renamed_owner_is_shown_at_once(
    alice: Any, bob_client: Client, credentials: Any, make_generation: Any
) -> None:
    gen = make_generation(alice, prompt="A named card")
    page(bob_client)
    alice.first_name, alice.last_name = "Alicia", "Keys"
    alice.save()
    assert "Alicia Keys" in card(page(bob_client), gen)
