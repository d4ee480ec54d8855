"""New video page: the fields each model offers, the live price, and what a submit charges (or does not)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import django_rq
import pytest
from django.test import Client
from django.urls import reverse

from generations.forms import GenerationForm, model_options
from generations.models import CreditAccount, CreditEntry, Generation, Price
from generations.services.create import price_for

pytestmark = pytest.mark.django_db

URL = "/new/"


def value(credentials: dict[str, Any], key: str) -> str:
    """The <option> value of a catalog model offered by the test credential of its provider."""
    return f"{credentials[key.split(':')[0]].pk}:{key}"


def labels(html: str) -> set[str]:
    return {re.sub(r"<[^>]+>", "", m).strip() for m in re.findall(r"<label[^>]*>(.*?)</label>", html, re.S)}


def post(client: Client, credentials: dict[str, Any], key: str = "mulerun:kling-v2.5-turbo", **fields: Any) -> Any:
    data = {
        "model": value(credentials, key),
        "prompt": "A lighthouse in a storm, waves crashing",
        "mode": "std",
        "aspect_ratio": "16:9",
        "duration": "5",
        "visibility": "team",
        "form_token": str(uuid.uuid4()),
    }
    data.update({k: v for k, v in fields.items() if v is not None})
    for k in [k for k, v in fields.items() if v is None]:
        data.pop(k, None)
    return client.post(URL, data)


def field_block(html: str, name: str) -> str:
    """The HTML of one field's wrapper (id="field-<name>"), where its message must appear."""
    start = html.index(f'id="field-{name}"')
    return html[start : start + 3000]


def charges() -> int:
    return CreditEntry.objects.filter(kind=CreditEntry.Kind.CHARGE).count()


# --- what the form shows ----------------------------------------------------------------------------------------


def test_it_shows_the_labelled_fields_of_the_first_model(alice_client: Client, credentials: Any) -> None:
    html = alice_client.get(URL).content.decode()
    assert {"Prompt", "Negative prompt", "Model", "Mode", "Aspect ratio", "Duration"} <= labels(html)
    assert "Sound" not in labels(html)  # MuleRun's Kling 2.5 Turbo has no sound
    assert 'name="form_token"' in html
    assert "Standard · 720p" in html and "Professional · 1080p" in html
    assert 'class="aspect-preview r9x16"' in html


def test_each_model_is_offered_once_whoever_serves_it(alice_client: Client, credentials: Any) -> None:
    html = alice_client.get(URL).content.decode()
    select = html[html.index('name="model"') : html.index("</select>", html.index('name="model"'))]
    names = re.findall(r"<option[^>]*>([^<]+)</option>", select)
    assert names.count("Kling 2.5 Turbo") == 1  # served by MuleRun, Kling, AI/ML API and Segmind accounts
    assert {"Kling 2.5 Turbo", "Kling 2.6", "Kling 3"} <= set(names)
    assert "optgroup" not in select
    accounts = html[html.index('name="account"') : html.index("</select>", html.index('name="account"'))]
    assert "Automatic (recommended)" in accounts and "kling test account" in accounts


@pytest.mark.parametrize(
    ("key", "present", "absent"),
    [
        ("mulerun:kling-v2.6", {"Sound"}, {"CFG scale", "Multi-shot video", "Camera movement"}),
        ("kling:kling-v3", {"Sound", "CFG scale", "Multi-shot video", "Shot 6 prompt", "Watermark"},
         {"Start image", "Camera movement"}),
        # Camera control: kling-v1 only (Kling's capability map); v1 takes no negative prompt and has no sound.
        ("kling:kling-v1", {"Camera movement", "Watermark"}, {"Negative prompt", "Sound", "Multi-shot video"}),
        ("kling:kling-v2-6", {"Sound", "Watermark"}, {"Camera movement", "CFG scale"}),
        ("mulerun:kling-v3", {"Sound", "Multi-shot video", "Shot 6 prompt"}, {"Camera movement", "CFG scale"}),
        ("aimlapi:klingai/video-v3-standard-text-to-video", {"Sound", "Multi-shot video", "CFG scale"},
         {"Camera movement", "Watermark"}),
        ("segmind:kling-2.6", {"Sound", "CFG scale"}, {"Start image", "Watermark"}),
        ("segmind:kling-2.5-turbo", {"CFG scale", "Start image", "End image"}, {"Sound", "Watermark"}),
    ],
)  # fmt: skip
def test_it_shows_only_what_each_model_supports(
    alice_client: Client, credentials: Any, key: str, present: set[str], absent: set[str]
) -> None:
    html = alice_client.get(URL, {"model": value(credentials, key)}).content.decode()
    found = labels(html)
    assert present <= found
    assert not absent & found


def test_a_bare_catalog_key_in_the_query_selects_that_model(alice_client: Client, credentials: Any) -> None:
    html = alice_client.get(URL, {"model": "aimlapi:klingai/video-v2-6-pro-text-to-video"}).content.decode()
    assert '<option value="kling-2-6" selected>Kling 2.6</option>' in html
    assert f'<option value="{credentials["aimlapi"].pk}" selected>' in html  # that provider's account, pinned
    assert "Standard · 720p" not in html  # this route is pro only


def test_it_shows_the_price_and_balance_after(alice: Any, alice_client: Client, credentials: Any) -> None:
    html = alice_client.get(URL).content.decode()
    cost = price_for("mulerun:kling-v2.5-turbo", mode="std", duration=5, sound=False)
    balance = CreditAccount.balance_of(alice)
    assert f"<span data-cost>{cost}</span>" in html
    assert f"<dd data-balance-after>{balance - cost}</dd>" in html
    assert "not enough credits" not in html.lower()


def test_without_credentials_it_says_so(alice_client: Client, prices: None) -> None:
    html = alice_client.get(URL).content.decode()
    assert "No provider account is active" in html


# --- submitting -------------------------------------------------------------------------------------------------


def test_it_creates_charges_and_queues_the_video(
    alice: Any, alice_client: Client, credentials: Any, django_capture_on_commit_callbacks: Any
) -> None:
    before = CreditAccount.balance_of(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(alice_client, credentials, "mulerun:kling-v2.6", mode="pro", sound="on", duration="10")
    gen = Generation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("generation", args=[gen.pk])
    cost = price_for("mulerun:kling-v2.6", mode="pro", duration=10, sound=True)
    assert (gen.owner, gen.cost, gen.sound, gen.mode, gen.duration) == (alice, cost, True, "pro", 10)
    assert gen.credential == credentials["mulerun"]
    assert CreditAccount.balance_of(alice) == before - cost
    assert f"submit-{gen.pk}-0" in django_rq.get_queue("default").job_ids


def test_it_keeps_private_choice_and_extras(alice_client: Client, credentials: Any) -> None:
    post(
        alice_client, credentials, "kling:kling-v3", visibility="private", multi_shot="on", shot_type="customize",
        prompt="", shot_prompt_1="A door opens", shot_duration_1="2", shot_prompt_2="A cat walks in",
        shot_duration_2="3", cfg_scale="0.4", watermark="on",
    )  # fmt: skip
    gen = Generation.objects.get()
    assert gen.visibility == "private"
    assert gen.shots == [{"prompt": "A door opens", "duration": 2}, {"prompt": "A cat walks in", "duration": 3}]
    assert (gen.cfg_scale, gen.watermark, gen.multi_shot) == (0.4, True, True)


def test_it_sends_simple_camera_control(alice_client: Client, credentials: Any) -> None:
    post(alice_client, credentials, "kling:kling-v1", camera_type="simple", camera_axis="zoom", camera_value="5")
    gen = Generation.objects.get()
    assert gen.camera_control["type"] == "simple"
    assert gen.camera_control["config"]["zoom"] == 5


@pytest.mark.parametrize(
    ("key", "fields", "at", "message"),
    [
        ("mulerun:kling-v2.5-turbo", {"prompt": "   "}, "prompt", "Prompt is required."),
        ("mulerun:kling-v2.5-turbo", {"prompt": "x" * 2501}, "prompt", "Prompt is 2501 characters; the limit is 2500."),
        ("mulerun:kling-v2.6", {"sound": "on", "mode": "std"}, "sound", "needs Professional mode"),
        ("mulerun:kling-v2.5-turbo", {"duration": "7"}, "duration", "Select a valid choice"),
        ("kling:kling-v3", {"multi_shot": "on", "shot_type": "customize", "prompt": "", "shot_prompt_1": "One",
                            "shot_duration_1": "2"}, "shots", "they must equal 5 s"),
        ("kling:kling-v1", {"camera_type": "simple", "camera_axis": "pan", "camera_value": "3", "mode": "pro"},
         "camera_control", "Standard mode with a 5 s duration"),
        ("kling:kling-v2-6", {"sound": "on", "mode": "std"}, "sound", "needs Professional mode"),
        ("segmind:kling-2.5-turbo", {"mode": "pro", "image_url": "ftp://example.com/a.png"}, "image_url",
         "must be an http(s) address"),
        ("segmind:kling-2.5-turbo", {"mode": "pro", "cfg_scale": "3"}, "cfg_scale", "between 0 and 1"),
    ],
)  # fmt: skip
def test_bad_input_comes_back_at_the_field_and_charges_nothing(
    alice: Any, alice_client: Client, credentials: Any, key: str, fields: dict[str, str], at: str, message: str
) -> None:
    before = CreditAccount.balance_of(alice)
    response = post(alice_client, credentials, key, **fields)
    assert response.status_code == 200
    html = response.content.decode()
    assert message in field_block(html, at)
    assert 'class="field-error"' in html
    assert Generation.objects.count() == 0
    assert CreditAccount.balance_of(alice) == before and charges() == 0


def test_the_form_keeps_what_was_typed_after_an_error(alice_client: Client, credentials: Any) -> None:
    html = post(alice_client, credentials, "mulerun:kling-v2.6", sound="on", prompt="Keep <b>me</b>").content.decode()
    assert "Keep &lt;b&gt;me&lt;/b&gt;</textarea>" in html


def test_a_missing_price_is_reported_at_the_model(alice: Any, alice_client: Client, credentials: Any) -> None:
    Price.objects.filter(model="mulerun:kling-v2.5-turbo", mode="std", duration=5).delete()
    response = post(alice_client, credentials)
    assert response.status_code == 200
    assert "no price yet" in field_block(response.content.decode(), "model")
    assert Generation.objects.count() == 0


def test_not_enough_credits_shows_a_clear_message(charlie: Any, charlie_client: Client, credentials: Any) -> None:
    response = post(charlie_client, credentials)
    assert response.status_code == 200
    assert "not enough credits" in response.content.decode().lower()
    assert Generation.objects.count() == 0 and charges() == 0


def test_the_same_form_token_twice_makes_one_video(alice: Any, alice_client: Client, credentials: Any) -> None:
    token = str(uuid.uuid4())
    first = post(alice_client, credentials, form_token=token)
    second = post(alice_client, credentials, form_token=token)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert Generation.objects.count() == 1 and charges() == 1


def test_a_tampered_model_value_is_a_field_error(alice_client: Client, credentials: Any) -> None:
    response = post(alice_client, credentials, model="987654321:mulerun:kling-v2.6")
    assert response.status_code == 200
    assert "Select a valid choice" in field_block(response.content.decode(), "model")
    assert Generation.objects.count() == 0


def test_the_error_summary_names_each_field_once(alice_client: Client, credentials: Any) -> None:
    html = post(alice_client, credentials, prompt="  ", mode="ultra").content.decode()
    summary = html[html.index('class="error-summary"') :].split("</ul>", 1)[0]
    assert '<a href="#field-prompt" data-error-link>Prompt is required.</a>' in summary  # not "Prompt: Prompt is…"
    assert re.search(r'<a href="#field-mode" data-error-link>Mode: Select a valid choice', summary)  # label added


def test_a_missing_form_token_is_an_error_not_a_crash(alice_client: Client, credentials: Any) -> None:
    response = post(alice_client, credentials, form_token=None)
    assert response.status_code == 200
    assert Generation.objects.count() == 0


def test_switching_model_without_javascript_keeps_the_prompt(alice_client: Client, credentials: Any) -> None:
    response = post(alice_client, credentials, "kling:kling-v3", update_model="1", prompt="Foggy harbour")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Foggy harbour</textarea>" in html
    assert "Multi-shot video" in labels(html)
    assert 'class="field-error"' not in html
    assert Generation.objects.count() == 0


def test_unknown_catalog_errors_go_to_the_top_of_the_form(credentials: Any) -> None:
    form = GenerationForm({}, options=model_options())
    form.is_valid()
    form.add_catalog_errors({"something_new": "The provider changed its rules."})
    assert "The provider changed its rules." in form.non_field_errors()


# --- remix ------------------------------------------------------------------------------------------------------


def test_remix_prefills_the_form(alice: Any, bob_client: Client, credentials: Any, make_generation: Any) -> None:
    gen = make_generation(
        alice, model="kling:kling-v2-6", credential=credentials["kling"], prompt="A <script>alert(1)</script> moon",
        mode="pro", duration=10, sound=True,
    )  # fmt: skip
    html = bob_client.get(URL, {"remix": gen.pk}).content.decode()
    assert '<option value="kling-2-6" selected>Kling 2.6</option>' in html
    assert "A &lt;script&gt;alert(1)&lt;/script&gt; moon</textarea>" in html
    assert '<option value="pro" selected>' in html and '<option value="10" selected>' in html
    assert re.search(r'<input type="checkbox" name="sound"[^>]*checked', html)


def test_remix_of_a_private_video_of_someone_else_is_404(
    alice: Any, charlie_client: Client, credentials: Any, make_generation: Any
) -> None:
    gen = make_generation(alice, visibility="private")
    assert charlie_client.get(URL, {"remix": gen.pk}).status_code == 404
    assert charlie_client.get(URL, {"remix": "not-a-uuid"}).status_code == 404


# --- quote.json -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "mode", "duration", "sound"),
    [
        ("mulerun:kling-v2.5-turbo", "std", 5, False),
        ("mulerun:kling-v2.6", "pro", 10, True),
        ("kling:kling-v3", "std", 13, True),
        ("aimlapi:klingai/video-v2-6-pro-text-to-video", "pro", 5, False),
    ],
)
def test_the_quote_is_what_price_for_charges(
    alice: Any, alice_client: Client, credentials: Any, key: str, mode: str, duration: int, sound: bool
) -> None:
    params = {"model": value(credentials, key), "mode": mode, "duration": duration, "sound": "1" if sound else "0"}
    data = alice_client.get(reverse("quote"), params).json()
    cost = price_for(key, mode=mode, duration=duration, sound=sound)
    balance = CreditAccount.balance_of(alice)
    expected = {"cost": cost, "balance": balance, "balance_after": balance - cost, "enough": balance >= cost}
    assert expected.items() <= data.items()
    assert data["account"].startswith(credentials[key.split(":")[0]].label)


def test_an_account_named_after_its_provider_is_named_once(alice_client: Client, credentials: Any) -> None:
    credentials["mulerun"].label = "MuleRun (simulator)"
    credentials["mulerun"].save()
    html = alice_client.get(URL).content.decode()
    shown = re.search(r"<span data-route>([^<]*)</span>", html).group(1)
    assert shown == "MuleRun (simulator)"
    assert (
        alice_client.get(reverse("quote"), {"model": value(credentials, "mulerun:kling-v2.5-turbo")}).json()["account"]
        == "MuleRun (simulator)"
    )
    assert re.search(r"<option value=\"\d+\"[^>]*>MuleRun \(simulator\)</option>", html)  # the account picker too
    credentials["mulerun"].label = "Backup for Kling and MuleRun"  # names providers, but is not named after one
    credentials["mulerun"].save()
    html = alice_client.get(URL).content.decode()
    assert re.search(r"<span data-route>([^<]*)</span>", html).group(1) == "Backup for Kling and MuleRun · MuleRun"


def test_the_quote_says_when_credits_are_short(charlie_client: Client, credentials: Any) -> None:
    data = charlie_client.get(reverse("quote"), {"model": value(credentials, "mulerun:kling-v2.6")}).json()
    assert data["enough"] is False and data["balance"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"model": "mulerun:kling-v2.6", "mode": "std", "sound": "1"}, "sound"),
        ({"model": "mulerun:kling-v2.5-turbo", "duration": "11"}, "duration"),
        ({"model": "no-such:model"}, "model"),
        ({}, "model"),
    ],
)
def test_a_bad_quote_names_the_field(alice_client: Client, credentials: Any, params: dict, field: str) -> None:
    response = alice_client.get(reverse("quote"), params)
    assert response.status_code == 400
    assert field in response.json()["errors"]


@pytest.mark.parametrize(
    "params",
    [
        {"duration": "abc", "mode": "ultra", "sound": "maybe"},
        {"model": "../../etc", "cfg_scale": "nan"},
        {"remix": "", "prompt": "x" * 3000},
        {"shot_duration_1": "-4", "camera_type": "spin"},
    ],
)
def test_junk_in_the_query_never_breaks_the_page(alice_client: Client, credentials: Any, params: dict) -> None:
    assert alice_client.get(URL, params).status_code == 200
