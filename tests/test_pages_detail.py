"""The generation page, its status.json, and what its owner can do: cancel, share, delete, star."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from generations import catalog
from generations.models import CreditAccount, Favorite, Generation
from generations.services.create import generation_create
from generations.services.pipeline import generation_fail
from generations.views.detail import estimate_seconds

pytestmark = pytest.mark.django_db
S = Generation.Status


def page(client: Client, gen: Generation) -> str:
    response = client.get(reverse("generation", args=[gen.pk]))
    assert response.status_code == 200
    return response.content.decode()


def status(client: Client, gen: Generation) -> dict[str, Any]:
    response = client.get(reverse("generation_status", args=[gen.pk]))
    assert response.status_code == 200
    return response.json()


def charged(user: Any, **params: Any) -> Generation:
    """A generation made the real way: validated, priced and charged."""
    params.setdefault("prompt", "A paper boat on a rainy street")
    return generation_create(user=user, model_key="mulerun:kling-v2.5-turbo", params=params)


# --- the page ---------------------------------------------------------------------------------------------------


def test_a_ready_video_plays_from_our_url_never_the_providers(
    alice: Any, alice_client: Client, credentials: Any, make_generation: Any
) -> None:
    gen = make_generation(alice, video_url="https://cdn.provider.example/result/abc.mp4", cost=25)
    html = page(alice_client, gen)
    video_url = reverse("generation_video", args=[gen.pk])
    assert "<video" in html and 'controls preload="metadata"' in html
    assert f'src="{video_url}"' in html
    assert f'poster="{reverse("generation_poster", args=[gen.pk])}"' in html
    assert f'href="{video_url}?download=1"' in html
    assert "cdn.provider.example" not in html
    assert f'href="/new/?remix={gen.pk}"' in html
    assert "25 credits" in html and "Alice" in html


def test_it_lists_every_setting(alice: Any, alice_client: Client, credentials: Any, make_generation: Any) -> None:
    gen = make_generation(
        alice, model="kling:kling-v3", credential=credentials["kling"], mode="pro", aspect_ratio="9:16", duration=6,
        sound=True, cfg_scale=0.4, negative_prompt="blur", multi_shot=True, shot_type="customize", prompt="",
        shots=[{"prompt": "Shot one", "duration": 2}, {"prompt": "Shot two", "duration": 4}], watermark=True,
    )  # fmt: skip
    html = page(alice_client, gen)
    for text in ("Kling 3", "Professional · 1080p", "9:16", "6 s", "0.4", "blur", "Shot one", "Shot two", "Watermark"):
        assert text in html, text


def test_prompts_with_html_are_shown_as_text(
    alice: Any, bob_client: Client, credentials: Any, make_generation: Any
) -> None:
    gen = make_generation(alice, prompt='<img src=x onerror="alert(1)"> <b>bold</b>')
    html = page(bob_client, gen)
    assert "<img src=x" not in html and "<b>bold</b>" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert "<title>&lt;img src=x" in html


def test_in_flight_shows_steps_and_an_estimate(
    alice: Any, alice_client: Client, credentials: Any, make_generation: Any
) -> None:
    gen = make_generation(alice, status=S.RUNNING, created_at=timezone.now() - timedelta(seconds=30))
    html = page(alice_client, gen)
    assert 'data-in-flight="1"' in html and "js/generation.js" in html
    assert '<li class="done">Queued</li>' in html and '<li class="done">Submitted</li>' in html
    assert '<li class="current running" aria-current="step">Generating</li>' in html
    assert "<video" not in html
    data = status(alice_client, gen)
    assert data["status"] == "running" and data["status_label"] == "Generating"
    assert 29 <= data["elapsed"] <= 40
    assert data["estimate"] == catalog.CATALOG[gen.model].typical_seconds
    assert data["is_finished"] is False and data["video_url"] == ""


def test_the_estimate_is_the_median_of_recent_ready_videos(alice: Any, credentials: Any, make_generation: Any) -> None:
    now = timezone.now()
    for seconds in (60, 100, 200, 1000, 80):
        make_generation(alice, created_at=now - timedelta(seconds=seconds), finished_at=now)
    make_generation(alice, mode="pro", created_at=now - timedelta(seconds=5000), finished_at=now)  # other mode
    probe = make_generation(alice, status=S.QUEUED)
    assert estimate_seconds(probe) == 100


def test_status_json_gives_the_player_urls_when_ready(
    alice: Any, alice_client: Client, credentials: Any, make_generation: Any
) -> None:
    gen = make_generation(alice)
    data = status(alice_client, gen)
    assert data["is_finished"] is True and data["status"] == "ready"
    assert data["video_url"] == reverse("generation_video", args=[gen.pk])
    assert data["poster_url"] == reverse("generation_poster", args=[gen.pk])


def test_a_provider_outage_shows_as_retrying(
    alice: Any, alice_client: Client, credentials: Any, make_generation: Any
) -> None:
    gen = make_generation(alice, status=S.SUBMITTED, error="MuleRun had a server error (HTTP 503)")
    html = page(alice_client, gen)
    assert "Retrying: <span data-retrying-text>MuleRun had a server error (HTTP 503)</span>" in html
    assert status(alice_client, gen)["error"] == "MuleRun had a server error (HTTP 503)"


def test_a_failure_says_why_and_that_credits_came_back(alice: Any, alice_client: Client, credentials: Any) -> None:
    gen = charged(alice)
    generation_fail(gen.pk, reason="MuleRun refused the prompt under its content policy.")
    gen.refresh_from_db()
    html = page(alice_client, gen)
    assert "MuleRun refused the prompt under its content policy." in html
    assert f"Your {gen.cost} credits were refunded." in html
    assert "data-refund>" in html  # shown, not hidden
    assert status(alice_client, gen)["refunded"] is True


def test_a_failure_without_a_refund_row_does_not_claim_one(
    alice: Any, alice_client: Client, credentials: Any, make_generation: Any
) -> None:
    gen = make_generation(alice, status=S.FAILED, error="Something broke.")
    assert "data-refund hidden" in page(alice_client, gen)
    assert status(alice_client, gen)["refunded"] is False


def test_needs_attention_explains_that_an_admin_will_check(
    alice: Any, alice_client: Client, credentials: Any, make_generation: Any
) -> None:
    gen = make_generation(alice, status=S.NEEDS_ATTENTION)
    html = page(alice_client, gen)
    assert "An admin will check this video." in html and "nothing will be charged twice" in html
    assert "data-attention hidden" not in html


# --- who sees what ----------------------------------------------------------------------------------------------


def test_another_member_cannot_see_a_private_video(
    alice: Any, charlie_client: Client, credentials: Any, make_generation: Any
) -> None:
    gen = make_generation(alice, visibility="private")
    for name in ("generation", "generation_status", "generation_video", "generation_poster"):
        assert charlie_client.get(reverse(name, args=[gen.pk])).status_code == 404, name
    assert charlie_client.get(reverse("new_video"), {"remix": gen.pk}).status_code == 404


def test_teammates_see_shared_ready_videos_but_not_unfinished_ones(
    alice: Any, bob_client: Client, credentials: Any, make_generation: Any
) -> None:
    shared = make_generation(alice)
    running = make_generation(alice, status=S.RUNNING)
    html = page(bob_client, shared)
    assert "Make private" not in html and "Delete…" not in html  # not Bob's to manage
    assert bob_client.get(reverse("generation", args=[running.pk])).status_code == 404


def test_staff_can_open_and_manage_any_video(
    alice: Any, admin_user: Any, credentials: Any, make_generation: Any
) -> None:
    client = Client()
    client.force_login(admin_user, backend="django.contrib.auth.backends.ModelBackend")
    gen = make_generation(alice, visibility="private")
    assert "Share with the team" in page(client, gen)


def test_anonymous_visitors_are_sent_to_log_in(alice: Any, credentials: Any, make_generation: Any) -> None:
    gen = make_generation(alice)
    for name in ("generation", "generation_status"):
        response = Client().get(reverse(name, args=[gen.pk]))
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


# --- actions ----------------------------------------------------------------------------------------------------


def test_the_owner_cancels_a_queued_video_and_gets_the_credits_back(
    alice: Any, alice_client: Client, credentials: Any
) -> None:
    before = CreditAccount.balance_of(alice)
    gen = charged(alice)
    assert "Cancel</button>" in page(alice_client, gen)
    response = alice_client.post(reverse("generation_cancel", args=[gen.pk]), follow=True)
    gen.refresh_from_db()
    assert gen.status == S.CANCELED
    assert CreditAccount.balance_of(alice) == before
    assert f"Your {gen.cost} credits were refunded." in response.content.decode()


def test_cancel_is_refused_once_the_video_was_sent(
    alice: Any, alice_client: Client, credentials: Any, make_generation: Any
) -> None:
    gen = make_generation(alice, status=S.RUNNING)
    assert "Cancel</button>" not in page(alice_client, gen)
    response = alice_client.post(reverse("generation_cancel", args=[gen.pk]), follow=True)
    assert "can no longer be canceled" in response.content.decode()
    gen.refresh_from_db()
    assert gen.status == S.RUNNING


def test_only_the_owner_can_cancel(alice: Any, bob_client: Client, credentials: Any) -> None:
    gen = charged(alice)
    assert bob_client.post(reverse("generation_cancel", args=[gen.pk])).status_code == 404
    assert bob_client.get(reverse("generation_cancel", args=[gen.pk])).status_code in (404, 405)


def test_the_owner_makes_a_video_private_and_shares_it_again(
    alice: Any, alice_client: Client, bob_client: Client, credentials: Any, make_generation: Any
) -> None:
    gen = make_generation(alice)
    url = reverse("generation_visibility", args=[gen.pk])
    alice_client.post(url, {"visibility": "private"})
    assert bob_client.get(reverse("generation", args=[gen.pk])).status_code == 404
    alice_client.post(url, {"visibility": "team"})
    assert bob_client.get(reverse("generation", args=[gen.pk])).status_code == 200
    response = alice_client.post(url, {"visibility": "everyone"}, follow=True)
    assert "Choose Team or Private." in response.content.decode()
    assert bob_client.post(url, {"visibility": "private"}).status_code == 404


def test_delete_asks_first_and_then_hides_the_video(
    alice: Any, alice_client: Client, credentials: Any, make_generation: Any
) -> None:
    gen = make_generation(alice)
    url = reverse("generation_delete", args=[gen.pk])
    confirm = alice_client.get(url)
    assert confirm.status_code == 200 and "Delete this video?" in confirm.content.decode()
    gen.refresh_from_db()
    assert gen.deleted_at is None  # GET only asks
    response = alice_client.post(url)
    assert response.status_code == 302 and response["Location"] == reverse("my_videos")
    gen.refresh_from_db()
    assert gen.deleted_at is not None
    assert alice_client.get(reverse("generation", args=[gen.pk])).status_code == 404


def test_a_video_in_flight_cannot_be_deleted(
    alice: Any, alice_client: Client, credentials: Any, make_generation: Any
) -> None:
    gen = make_generation(alice, status=S.RUNNING)
    response = alice_client.post(reverse("generation_delete", args=[gen.pk]), follow=True)
    assert "still being made" in response.content.decode()
    gen.refresh_from_db()
    assert gen.deleted_at is None


def test_someone_else_cannot_delete(alice: Any, bob_client: Client, credentials: Any, make_generation: Any) -> None:
    gen = make_generation(alice)
    assert bob_client.post(reverse("generation_delete", args=[gen.pk])).status_code == 404
    assert bob_client.get(reverse("generation_delete", args=[gen.pk])).status_code == 404


def test_the_star_toggles_with_and_without_javascript(
    alice: Any, bob: Any, bob_client: Client, credentials: Any, make_generation: Any
) -> None:
    gen = make_generation(alice)
    url = reverse("generation_favorite", args=[gen.pk])
    response = bob_client.post(url, {"next": "/?page=2"})
    assert response.status_code == 302 and response["Location"] == "/?page=2"
    assert Favorite.objects.filter(user=bob, generation=gen).exists()
    assert 'aria-pressed="true"' in page(bob_client, gen)
    assert bob_client.post(url, headers={"Accept": "application/json"}).json() == {"favorite": False}
    response = bob_client.post(url, {"next": "https://evil.example/"})
    assert response["Location"] == reverse("generation", args=[gen.pk])


def test_a_private_video_cannot_be_starred_by_others(
    alice: Any, charlie_client: Client, credentials: Any, make_generation: Any
) -> None:
    gen = make_generation(alice, visibility="private")
    assert charlie_client.post(reverse("generation_favorite", args=[gen.pk])).status_code == 404
    assert not Favorite.objects.exists()
