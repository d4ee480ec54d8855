"""Generate again (one click, the cost on the button) and 1 to 4 variants from the New video form."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from generations.media import images
from generations.models import Batch, CreditAccount, CreditEntry, Generation, MemberPolicy
from generations.services.again import generation_again
from generations.services.create import price_for
from generations.services.credits import InsufficientCredits, credits_grant
from tests.test_pages_new import post

pytestmark = pytest.mark.django_db


def again_button(html: str) -> dict[str, str]:
    form = re.search(r'<form method="post" action="(/videos/[^"]+/again/)".*?</form>', html, re.S)
    assert form, "no Generate again button"
    fields = dict(re.findall(r'name="(form_token|quoted_cost)" value="([^"]*)"', form.group(0)))
    label = re.search(r"Generate again · (\d+) credits?", form.group(0))
    assert label
    return {"action": form.group(1), **fields, "shown": label.group(1)}


def test_generate_again_shows_its_cost_and_makes_a_new_video_with_the_same_settings(
    alice: Any, alice_client: Client, credentials: Any, make_generation: Any
) -> None:
    source = make_generation(
        alice, prompt="A kite over dunes", model="mulerun:kling-v2.6", mode="pro", duration=10, sound=True,
        negative_prompt="blur", aspect_ratio="9:16", visibility="private",
    )  # fmt: skip
    button = again_button(alice_client.get(reverse("generation", args=[source.pk])).content.decode())
    cost = price_for("mulerun:kling-v2.6", mode="pro", duration=10, sound=True)
    assert button["shown"] == button["quoted_cost"] == str(cost)
    before = CreditAccount.balance_of(alice)
    response = alice_client.post(button["action"], button)
    new = Generation.objects.exclude(pk=source.pk).get()
    assert response.status_code == 302 and response["Location"] == reverse("generation", args=[new.pk])
    same = ("prompt", "negative_prompt", "model", "mode", "duration", "sound", "aspect_ratio", "visibility")
    assert {f: getattr(new, f) for f in same} == {f: getattr(source, f) for f in same}
    assert CreditAccount.balance_of(alice) == before - cost
    alice_client.post(button["action"], button)  # a double click: still one new video
    assert Generation.objects.count() == 2


def test_a_teammate_generates_again_a_video_of_their_own_shared_with_the_team(
    alice: Any, bob_client: Client, bob: Any, credentials: Any, make_generation: Any
) -> None:
    source = make_generation(alice, prompt="A kite over dunes", status="ready")
    button = again_button(bob_client.get(reverse("generation", args=[source.pk])).content.decode())
    bob_client.post(button["action"], button)
    new = Generation.objects.exclude(pk=source.pk).get()
    assert (new.owner, new.visibility) == (bob, "team")
    assert CreditEntry.objects.filter(account__user=alice, kind="charge").count() == 0


def test_generate_again_refuses_a_risen_price_and_a_short_balance_and_charges_nothing(
    charlie: Any, charlie_client: Client, alice: Any, credentials: Any, make_generation: Any
) -> None:
    source = make_generation(alice, prompt="A kite over dunes", status="ready")
    button = again_button(charlie_client.get(reverse("generation", args=[source.pk])).content.decode())
    page = charlie_client.post(button["action"], button, follow=True).content.decode()
    assert "Not enough credits" in page
    CreditEntry.objects.create  # noqa: B018 (charlie has 0 credits: nothing to charge)
    bob_like = charlie_client.post(button["action"], {**button, "quoted_cost": "0"}, follow=True).content.decode()
    assert "The price changed to" in bob_like
    assert Generation.objects.count() == 1


def test_generate_again_on_a_video_one_may_not_see_is_404_and_bad_buttons_change_nothing(
    alice: Any, bob_client: Client, alice_client: Client, credentials: Any, make_generation: Any
) -> None:
    private = make_generation(alice, visibility="private")
    url = reverse("generation_again", args=[private.pk])
    assert bob_client.post(url, {"form_token": str(uuid.uuid4()), "quoted_cost": "999"}).status_code == 404
    for junk in ({}, {"form_token": "x", "quoted_cost": "1"}, {"form_token": str(uuid.uuid4()), "quoted_cost": "-1"}):
        response = alice_client.post(url, junk)
        assert response.status_code == 302
    assert alice_client.get(url).status_code == 405
    assert Generation.objects.count() == 1


def test_variants_are_priced_together_and_admitted_as_one_batch(
    alice: Any, alice_client: Client, credentials: Any
) -> None:
    unit = price_for("mulerun:kling-v2.5-turbo", mode="std", duration=5, sound=False)
    quote = alice_client.get(
        reverse("quote"), {"model": "kling-2-5-turbo", "mode": "std", "duration": "5", "variants": "3"}
    )
    assert (quote.json()["cost"], quote.json()["unit_cost"], quote.json()["count"]) == (3 * unit, unit, 3)
    before = CreditAccount.balance_of(alice)
    response = post(alice_client, credentials, variants="3", quoted_cost=str(3 * unit))
    batch = Batch.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("batch", args=[batch.pk])
    assert (batch.kind, batch.total_cost, batch.generations.count()) == ("variants", 3 * unit, 3)
    assert CreditAccount.balance_of(alice) == before - 3 * unit
    assert CreditEntry.objects.filter(batch=batch, kind="charge").count() == 3


def test_variants_that_cost_more_than_the_balance_make_nothing(
    charlie: Any, charlie_client: Client, credentials: Any
) -> None:
    page = post(charlie_client, credentials, variants="4").content.decode()
    assert "Not enough credits" in page
    assert not Generation.objects.exists() and not Batch.objects.exists()


@pytest.mark.parametrize("junk", ["0", "5", "two", "-1", "1e3"])
def test_a_bad_variant_count_is_a_field_error(alice_client: Client, credentials: Any, junk: str) -> None:
    response = post(alice_client, credentials, variants=junk)
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not Generation.objects.exists()
    quote = alice_client.get(reverse("quote"), {"model": "kling-2-5-turbo", "variants": junk})
    assert quote.status_code == 200 and quote.json()["count"] == 1


def test_an_admins_copy_of_a_private_video_stays_private(
    alice: Any, admin_user: Any, bob_client: Client, credentials: Any, make_generation: Any
) -> None:
    source = make_generation(alice, prompt="A private storyboard", visibility="private")
    credits_grant(user=admin_user, amount=100, reason="test", actor=None)
    copy = generation_again(user=admin_user, source=source, form_token=uuid.uuid4())
    assert (copy.owner, copy.visibility) == (admin_user, "private")
    assert bob_client.get(reverse("generation", args=[copy.pk])).status_code == 404


def test_a_refused_generate_again_leaves_no_copy_of_the_picture(
    alice: Any, charlie: Any, credentials: Any, make_generation: Any, media_root: Any
) -> None:
    name = default_storage.save(f"uploads/{alice.pk}/start.jpg", ContentFile(b"\xff\xd8 a picture"))
    source = make_generation(alice, model="mulerun:kling-v2.5-turbo", image_url=images.STORED + name)
    for _ in range(3):  # charlie has no credits
        with pytest.raises(InsufficientCredits):
            generation_again(user=charlie, source=source, form_token=uuid.uuid4())
    assert (
        not default_storage.exists(f"uploads/{charlie.pk}/")
        or default_storage.listdir(f"uploads/{charlie.pk}")[1] == []
    )


def test_no_generate_again_button_for_a_model_the_members_rules_forbid(
    alice: Any, bob: Any, bob_client: Client, credentials: Any, make_generation: Any
) -> None:
    source = make_generation(alice, prompt="A kite", status="ready")
    MemberPolicy.objects.create(user=bob, allowed_modes=["pro"])
    assert "Generate again" not in bob_client.get(reverse("generation", args=[source.pk])).content.decode()
