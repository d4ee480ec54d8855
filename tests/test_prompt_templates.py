"""Prompt templates and prompt history: who sees and changes what, defaults checked against the catalog, filling
placeholders on the way to the New video form, "Save as template" from a video, and the member's own history."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from generations.models import Generation, PromptTemplate, ProviderCredential
from generations.prompts import services
from generations.prompts.services import TemplateError, template_create, template_fill, template_usable_by
from tests.fixtures_pages import BACKEND

pytestmark = pytest.mark.django_db

WALK = "{subject} walking through {place}, {style}"


def make_template(owner: Any, name: str = "Walk", text: str = WALK, **fields: Any) -> PromptTemplate:
    return template_create(owner=owner, name=name, text=text, **fields)


def form_data(**fields: Any) -> dict[str, str]:
    data = {"name": "Walk", "text": WALK, "negative_prompt": "", "model": "", "mode": "", "duration": "",
            "aspect_ratio": "", "sound": ""}  # fmt: skip
    return data | fields


def field_block(html: str, name: str) -> str:
    """The HTML of one field's wrapper, up to the next field: where its message must appear."""
    start = html.index(f'id="field-{name}"')
    end = html.find('id="field-', start + 1)
    return html[start : end if end > 0 else None]


def text_of(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", "", html))


# --- making, editing, deleting --------------------------------------------------------------------------------------


def test_a_member_saves_a_template_with_placeholders_and_default_settings(
    alice: Any, alice_client: Client, credentials: Any
) -> None:
    response = alice_client.post("/templates/new/", form_data(
        negative_prompt="blur", shared="on", model="kling-2-6", mode="pro", duration="10", aspect_ratio="9:16",
        sound="on",
    ))  # fmt: skip
    assert response.status_code == 302 and response["Location"] == "/templates/"
    template = PromptTemplate.objects.get(owner=alice)
    assert (template.name, template.text, template.negative_prompt, template.shared) == ("Walk", WALK, "blur", True)
    assert template.defaults == {"model": "kling-2-6", "mode": "pro", "duration": 10, "aspect_ratio": "9:16",
                                 "sound": True}  # fmt: skip
    page = alice_client.get("/templates/").content.decode()
    assert "Template “Walk” saved." in page and "Shared with the team" in page
    assert '<mark class="placeholder">{subject}</mark>' in page
    assert all(w in text_of(page) for w in ("Kling 2.6", "Professional · 1080p", "10 s", "9:16 portrait", "Sound on"))


def test_alices_private_template_is_a_404_for_everyone_else_on_every_url(
    alice: Any, bob_client: Client, admin_user: Any, credentials: Any
) -> None:
    template = make_template(alice, name="Alice's secret recipe", text="{subject} in Alice's secret style")
    staff = Client()
    staff.force_login(admin_user, backend=BACKEND)
    for client in (bob_client, staff):
        assert "secret" not in client.get("/templates/").content.decode()
        for action in ("use", "edit", "delete"):
            assert client.get(f"/templates/{template.pk}/{action}/").status_code == 404
            response = client.post(f"/templates/{template.pk}/{action}/", form_data(name="taken", v_subject="x"))
            assert response.status_code == 404 and b"secret" not in response.content
    template.refresh_from_db()
    assert template.name == "Alice's secret recipe"


def test_a_shared_template_shows_its_author_to_bob_who_may_use_it_but_not_change_it(
    alice: Any, bob_client: Client, credentials: Any
) -> None:
    template = make_template(alice, shared=True)
    page = bob_client.get("/templates/").content.decode()
    assert "By Alice" in page and f"/templates/{template.pk}/use/" in page
    assert f"/templates/{template.pk}/edit/" not in page and f"/templates/{template.pk}/delete/" not in page
    assert bob_client.get(f"/templates/{template.pk}/use/").status_code == 200
    assert bob_client.get(f"/templates/{template.pk}/edit/").status_code == 404
    assert bob_client.post(f"/templates/{template.pk}/edit/", form_data(name="Bob's now")).status_code == 404
    assert bob_client.post(f"/templates/{template.pk}/delete/").status_code == 404
    template.refresh_from_db()
    assert template.name == "Walk"


def test_alice_edits_then_deletes_her_template(alice: Any, alice_client: Client, credentials: Any) -> None:
    template = make_template(alice, defaults={"model": "kling-2-6", "mode": "pro"})
    form = alice_client.get(f"/templates/{template.pk}/edit/").content.decode()
    assert '<option value="kling-2-6" selected>Kling 2.6</option>' in form
    assert '<option value="pro" selected>' in form
    response = alice_client.post(f"/templates/{template.pk}/edit/", form_data(name="Run", text="{subject} running"))
    assert response.status_code == 302
    template.refresh_from_db()
    assert (template.name, template.text, template.defaults) == ("Run", "{subject} running", {})
    assert "Delete “Run”?" in alice_client.get(f"/templates/{template.pk}/delete/").content.decode()
    assert alice_client.post(f"/templates/{template.pk}/delete/").status_code == 302
    assert not PromptTemplate.objects.filter(pk=template.pk).exists()


def test_staff_may_edit_and_delete_a_shared_template_and_are_told_why(
    alice: Any, admin_user: Any, credentials: Any
) -> None:
    shared = make_template(alice, shared=True)
    staff = Client()
    staff.force_login(admin_user, backend=BACKEND)
    assert "because you are an admin" in staff.get("/templates/").content.decode()
    assert "because you are an admin" in staff.get(f"/templates/{shared.pk}/edit/").content.decode()
    response = staff.post(f"/templates/{shared.pk}/edit/", form_data(name="Walk (tidied)", shared="on"))
    assert response.status_code == 302
    shared.refresh_from_db()
    assert (shared.owner, shared.name) == (alice, "Walk (tidied)")
    assert staff.post(f"/templates/{shared.pk}/delete/").status_code == 302
    assert not PromptTemplate.objects.filter(pk=shared.pk).exists()


def test_a_name_is_unique_among_ones_own_templates_only(alice: Any, bob: Any, alice_client: Client,
                                                         credentials: Any) -> None:  # fmt: skip
    make_template(alice, name="Walk")
    response = alice_client.post("/templates/new/", form_data(name="Walk"))
    assert response.status_code == 200
    assert "You already have a template named “Walk”; choose another name." in response.content.decode()
    assert PromptTemplate.objects.filter(owner=alice).count() == 1
    assert make_template(bob, name="Walk").owner == bob


# --- default settings against the catalog ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "sentence"),
    [
        ({"model": "kling-2-1-master", "mode": "std"}, "mode", "Kling 2.1 Master offers Professional · 1080p only."),
        ({"model": "kling-2-6", "duration": "15"}, "duration", "Kling 2.6 offers 5 or 10 seconds only."),
        ({"model": "kling-2-5-turbo", "sound": "on"}, "sound", "Kling 2.5 Turbo cannot make sound; choose Off."),
        ({"model": "kling-9"}, "model", "The catalog offers no model “kling-9” now."),
        ({"aspect_ratio": "4:3"}, "aspect_ratio", "The models offered now offer aspect ratios 16:9, 9:16 or 1:1 only."),
        ({"duration": "²"}, "duration", "seconds only."),
        ({"sound": "maybe"}, "sound", "Sound is on, off, or left to the model."),
    ],
)
def test_a_default_the_catalog_does_not_offer_is_refused_at_its_field(
    alice: Any, alice_client: Client, credentials: Any, fields: dict[str, str], field: str, sentence: str
) -> None:
    response = alice_client.post("/templates/new/", form_data(**fields))
    assert response.status_code == 200
    assert sentence in text_of(field_block(response.content.decode(), field))
    assert not PromptTemplate.objects.exists()


def test_every_problem_of_the_template_form_is_shown_at_once(alice_client: Client, credentials: Any) -> None:
    response = alice_client.post("/templates/new/", form_data(name="", model="kling-2-1-master", mode="std",
                                                                  text="A \x1b[2J fox"))  # fmt: skip
    html = response.content.decode()
    assert "Give the template a name." in text_of(field_block(html, "name"))
    assert "control characters" in text_of(field_block(html, "text"))
    assert "Kling 2.1 Master offers Professional · 1080p only." in text_of(field_block(html, "mode"))


def test_a_model_taken_off_since_is_not_applied_and_the_member_is_told(
    alice: Any, alice_client: Client, credentials: Any
) -> None:
    template = make_template(alice, text="A lighthouse", defaults={"model": "kling-1-0", "duration": 10})
    ProviderCredential.objects.filter(provider="kling").update(is_active=False)  # Kling 1.0 had one account
    page = text_of(alice_client.get(f"/templates/{template.pk}/use/").content.decode())
    assert "Not applied: The catalog offers no model “kling-1-0” now." in page
    response = alice_client.post(f"/templates/{template.pk}/use/")
    new = alice_client.get(response["Location"])
    assert new.context["form"]["duration"].value() == 10 and new.context["form"].model_choice != "kling-1-0"
    edit = alice_client.get(f"/templates/{template.pk}/edit/").content.decode()
    assert "kling-1-0 (no longer offered)" in edit


# --- using a template -----------------------------------------------------------------------------------------------


def test_use_asks_for_each_placeholder_then_opens_new_video_filled_with_the_settings(
    alice: Any, bob_client: Client, credentials: Any
) -> None:
    template = make_template(alice, shared=True, negative_prompt="no {style} blur", defaults={
        "model": "kling-2-6", "mode": "pro", "duration": 10, "aspect_ratio": "9:16", "sound": True})  # fmt: skip
    page = bob_client.get(f"/templates/{template.pk}/use/").content.decode()
    for name in ("subject", "place", "style"):  # one input each, labelled with its name (style used twice)
        assert re.search(rf'<label for="id_v_{name}">{name}</label>\s*<input type="text" name="v_{name}"', page)
    assert page.count('name="v_style"') == 1
    response = bob_client.post(f"/templates/{template.pk}/use/", {"v_subject": "A fox", "v_place": "snow",
                                                                  "v_style": "watercolour"})  # fmt: skip
    assert response.status_code == 302 and response["Location"].startswith("/new/?prefill=")
    new = bob_client.get(response["Location"]).content.decode()
    assert "A fox walking through snow, watercolour</textarea>" in new
    assert "no watercolour blur</textarea>" in new
    assert '<option value="kling-2-6" selected>Kling 2.6</option>' in new
    assert '<option value="pro" selected>' in new and '<option value="10" selected>' in new
    assert re.search(r'<input type="radio" name="aspect_ratio" value="9:16"[^>]*checked', new)
    assert re.search(r'<input type="checkbox" name="sound"[^>]*checked', new)


def test_sound_off_in_a_template_unticks_a_model_that_defaults_to_sound(
    alice: Any, alice_client: Client, credentials: Any
) -> None:
    make_template(alice, text="Rain on a tin roof", defaults={"model": "kling-2-6", "mode": "pro", "sound": False})
    ProviderCredential.objects.exclude(provider__in=["aimlapi"]).update(is_active=False)  # Kling 2.6 Pro: sound on
    template = PromptTemplate.objects.get()
    response = alice_client.post(f"/templates/{template.pk}/use/")
    new = alice_client.get(response["Location"]).content.decode()
    assert re.search(r'<input type="checkbox" name="sound"(?![^>]*checked)[^>]*>', new)


def test_missing_values_are_named_and_what_was_typed_is_kept(alice: Any, alice_client: Client,
                                                            credentials: Any) -> None:  # fmt: skip
    template = make_template(alice)
    response = alice_client.post(f"/templates/{template.pk}/use/", {"v_subject": "A fox", "v_place": "  "})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Fill in {place}." in text_of(field_block(html, "v_place"))
    assert "Fill in {style}." in text_of(field_block(html, "v_style"))
    assert 'name="v_subject" value="A fox"' in html
    assert "new_video_prefill" not in alice_client.session


def test_braces_in_values_and_in_the_text_stay_as_typed(alice: Any, credentials: Any) -> None:
    template = make_template(alice, text="{Subject} meets {subject} in a {} room {a-b}")
    assert services.template_placeholders(template) == ["Subject"]  # names ignore case: one input
    filled = template_fill(template=template, values={"Subject": "{place} the {cat}"})
    assert filled.prompt == "{place} the {cat} meets {place} the {cat} in a {} room {a-b}"


def test_a_filled_prompt_over_the_model_limit_is_refused(alice: Any, alice_client: Client, credentials: Any) -> None:
    template = make_template(alice, text="{a} {b} {c} {d} {e} {f}" + "x" * 2000)
    values = {f"v_{n}": "y" * 100 for n in "abcdef"}
    response = alice_client.post(f"/templates/{template.pk}/use/", values)
    assert "The filled prompt is 2605 characters; the limit is 2500. Use shorter values." in response.content.decode()


def test_template_usable_by_gives_the_batch_page_a_template_or_does_not_exist(
    alice: Any, bob: Any, credentials: Any
) -> None:
    mine = make_template(alice, name="Mine")
    shared = make_template(bob, name="Shared", shared=True)
    private = make_template(bob, name="Private")
    assert template_usable_by(alice, mine.pk) == mine
    assert template_usable_by(alice, str(shared.pk)) == shared
    for bad in (private.pk, "abc", None, 10**30, "9" * 5000, -1, True):
        with pytest.raises(PromptTemplate.DoesNotExist, match=r"No such template\."):
            template_usable_by(alice, bad)


# --- save as template -----------------------------------------------------------------------------------------------


def test_save_as_template_from_a_teammates_video_prefills_its_prompt_and_settings(
    alice: Any, bob: Any, alice_client: Client, credentials: Any, make_generation: Any
) -> None:
    gen = make_generation(bob, model="kling:kling-v2-6", credential=credentials["kling"], prompt="A heron lifts off",
                          negative_prompt="blur", mode="pro", duration=10, aspect_ratio="1:1", sound=True)  # fmt: skip
    video_page = alice_client.get(f"/videos/{gen.pk}/").content.decode()
    assert f'href="/templates/new/?from={gen.pk}"' in video_page
    form = alice_client.get(f"/templates/new/?from={gen.pk}").context["form"]
    values = {k: form[k].value() for k in ("name", "text", "negative_prompt", "model", "mode", "duration",
                                           "aspect_ratio", "sound")}  # fmt: skip
    assert values == {"name": "A heron lifts off", "text": "A heron lifts off", "negative_prompt": "blur",
                      "model": "kling-2-6", "mode": "pro", "duration": "10", "aspect_ratio": "1:1", "sound": "on"}
    response = alice_client.post(f"/templates/new/?from={gen.pk}", form_data(**values | {"text": "A {bird} lifts off"}))
    assert response.status_code == 302
    assert PromptTemplate.objects.get(owner=alice).defaults["model"] == "kling-2-6"


def test_save_as_template_from_a_video_one_cannot_see_is_a_404(
    alice: Any, charlie_client: Client, credentials: Any, make_generation: Any
) -> None:
    private = make_generation(alice, visibility="private", prompt="Alice's private idea")
    for source in (private.pk, "not-a-uuid", uuid.uuid4(), "9" * 5000):
        response = charlie_client.get("/templates/new/", {"from": source})
        assert response.status_code == 404 and b"private idea" not in response.content


# --- prompt history -------------------------------------------------------------------------------------------------


def test_history_shows_each_prompt_once_with_its_latest_use_and_count(
    alice: Any, bob: Any, alice_client: Client, credentials: Any, make_generation: Any
) -> None:
    now = timezone.now()
    for minutes in (30, 20):
        make_generation(alice, prompt="A fox in the snow", created_at=now - timedelta(minutes=minutes))
    latest_fox = make_generation(alice, prompt="A fox in the snow", status="failed", mode="pro", duration=10,
                                 created_at=now - timedelta(minutes=5))  # fmt: skip
    cat = make_generation(alice, prompt="A cat on a piano", created_at=now - timedelta(minutes=10))
    make_generation(alice, prompt="A deleted idea", deleted_at=now)
    make_generation(bob, prompt="Bob's own prompt")
    html = alice_client.get("/templates/history/").content.decode()
    page = text_of(html)
    assert page.index("A fox in the snow") < page.index("A cat on a piano")
    assert page.count("A fox in the snow") == 1 and "Used 3 times, last on" in page and "Used 1 time," in page
    assert "A deleted idea" not in page and "Bob's own prompt" not in page
    assert f'href="/new/?remix={latest_fox.pk}">Reuse</a>' in html
    assert f'href="/new/?remix={cat.pk}">Reuse</a>' in html
    reused = alice_client.get(f"/new/?remix={latest_fox.pk}").content.decode()
    assert "A fox in the snow</textarea>" in reused and '<option value="10" selected>' in reused


def test_history_search_matches_every_word_in_any_order_and_case(
    alice: Any, alice_client: Client, credentials: Any, make_generation: Any
) -> None:
    make_generation(alice, prompt="A Red fox in the snow")
    make_generation(alice, prompt="A red car in the rain")
    page = text_of(alice_client.get("/templates/history/", {"q": "SNOW red"}).content.decode())
    assert "A Red fox in the snow" in page and "A red car in the rain" not in page
    empty = text_of(alice_client.get("/templates/history/", {"q": "zebra"}).content.decode())
    assert "None of your prompts match “zebra”." in empty


def test_history_of_5000_videos_loads_in_a_bounded_number_of_queries(
    alice: Any, alice_client: Client, credentials: Any, django_assert_max_num_queries: Any
) -> None:
    cred = credentials["mulerun"]
    now = timezone.now()
    rows = []
    for i in range(5000):
        prompt = f"Idea number {i % 1000} about lighthouses"
        rows.append(Generation(
            owner=alice, credential=cred, provider="mulerun", model="mulerun:kling-v2.6", prompt=prompt,
            search_text=prompt.casefold(), mode="std", aspect_ratio="16:9", duration=5, cost=10,
            status="failed", created_at=now - timedelta(seconds=i), deadline_at=now, external_id=f"ks-bulk-{i}",
        ))  # fmt: skip
    Generation.objects.bulk_create(rows, batch_size=500)
    with django_assert_max_num_queries(8):
        first = alice_client.get("/templates/history/")
    page = text_of(first.content.decode())
    assert "Page 1 of 40" in page and page.count("Used 5 times") == 25
    assert page.index("Idea number 0 about") < page.index("Idea number 1 about")
    with django_assert_max_num_queries(8):
        last = text_of(alice_client.get("/templates/history/", {"page": 40, "q": "lighthouses"}).content.decode())
    assert "Idea number 999 about" in last and "Page 40 of 40" in last


# --- hostile input --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "sentence"),
    [
        ({"name": "n" * 10_000}, "name", "at most 100 characters"),
        ({"name": "   "}, "name", "Give the template a name."),
        ({"text": "x" * 100_000}, "text", "at most 2500 characters"),
        ({"text": "A \x1b[31mred\x7f fox"}, "text", "control characters"),
        ({"negative_prompt": "y" * 3000}, "negative_prompt", "at most 2500 characters"),
        ({"model": "m" * 10_000}, "model", "at most 100 characters"),
        ({"duration": "9" * 5000}, "duration", "at most 100 characters"),
        ({"duration": "1e309"}, "duration", "seconds only"),
        ({"mode": "<script>"}, "mode", "only."),
    ],
)
def test_hostile_template_fields_get_a_form_error_and_save_nothing(
    alice: Any, alice_client: Client, credentials: Any, fields: dict[str, str], field: str, sentence: str
) -> None:
    response = alice_client.post("/templates/new/", form_data(**fields))
    assert response.status_code == 200
    assert sentence in text_of(field_block(response.content.decode(), field))
    assert "<script>" not in response.content.decode().split("<main", 1)[1].split("</main>")[0].replace(
        "&lt;script&gt;", "")  # fmt: skip
    assert not PromptTemplate.objects.exists()


def test_hostile_values_and_ids_on_the_use_page(alice: Any, alice_client: Client, credentials: Any) -> None:
    template = make_template(alice)
    for bad in ("0", "99999999999999999999", "abc", "9" * 5000, "-1"):
        assert alice_client.get(f"/templates/{bad}/use/").status_code == 404
    values = {"v_subject": "s" * 10_000, "v_place": "a\x1b[2J", "v_style": "ok", "v_unknown": "ignored"}
    response = alice_client.post(f"/templates/{template.pk}/use/", values)
    html = response.content.decode()
    assert response.status_code == 200
    assert "at most 500 characters" in text_of(field_block(html, "v_subject"))
    assert "The value of {place} contains control characters." in text_of(field_block(html, "v_place"))
    assert "new_video_prefill" not in alice_client.session


def test_junk_defaults_stored_by_hand_never_break_a_page(alice: Any, alice_client: Client, credentials: Any) -> None:
    template = make_template(alice)
    junks = ([1, 2], "pro", {"duration": "never", "model": {"x": 1}}, {"sound": True, "extra": 1}, {"sound": {"x": 1}})
    for junk in junks:
        PromptTemplate.objects.filter(pk=template.pk).update(defaults=junk)
        for path in ("/templates/", f"/templates/{template.pk}/use/", f"/templates/{template.pk}/edit/"):
            assert alice_client.get(path).status_code == 200, (junk, path)
        response = alice_client.post(f"/templates/{template.pk}/use/", {"v_subject": "a", "v_place": "b",
                                                                         "v_style": "c"})  # fmt: skip
        assert response.status_code == 302, junk
    PromptTemplate.objects.filter(pk=template.pk).update(defaults=[1, 2])
    page = text_of(alice_client.get(f"/templates/{template.pk}/use/").content.decode())
    assert "Not applied: The stored default settings could not be read (an admin can fix them)" in page


@pytest.mark.parametrize(
    ("defaults", "sentence"),
    [
        ("[1, 2]", "Defaults must be an object"),
        ('{"duration": "forever"}', "seconds only."),
        ('{"colour": "red"}', "A template has no setting “colour”"),
        ("not json", "Enter a valid JSON."),
    ],
)
def test_the_admin_refuses_bad_defaults_json(
    alice: Any, admin_user: Any, credentials: Any, defaults: str, sentence: str
) -> None:
    staff = Client()
    staff.force_login(admin_user, backend=BACKEND)
    data = {"owner": alice.pk, "name": "Walk", "text": WALK, "negative_prompt": "", "defaults": defaults}
    response = staff.post("/admin/generations/prompttemplate/add/", data)
    assert response.status_code == 200 and sentence in unescape(response.content.decode())
    assert not PromptTemplate.objects.exists()


def test_the_admin_lists_searches_and_saves_templates(alice: Any, admin_user: Any, credentials: Any) -> None:
    make_template(alice, name="Walk", shared=True)
    staff = Client()
    staff.force_login(admin_user, backend=BACKEND)
    listing = staff.get("/admin/generations/prompttemplate/", {"q": "alice", "shared__exact": "1"}).content.decode()
    assert "subject, place, style" in listing
    data = {"owner": alice.pk, "name": "Portrait", "text": "{who}", "negative_prompt": "",
            "defaults": '{"model": "kling-2-6", "duration": "10"}'}  # fmt: skip
    assert staff.post("/admin/generations/prompttemplate/add/", data).status_code == 302
    assert PromptTemplate.objects.get(name="Portrait").defaults == {"model": "kling-2-6", "duration": 10}


def test_the_service_refuses_what_the_form_would(alice: Any, credentials: Any) -> None:
    with pytest.raises(TemplateError) as err:
        template_create(owner=alice, name="x" * 101, text="", defaults={"mode": "8k"})
    assert set(err.value.errors) == {"name", "text", "mode"}
    assert not PromptTemplate.objects.exists()


def test_the_top_bar_links_to_templates(alice_client: Client, credentials: Any) -> None:
    html = alice_client.get("/templates/history/").content.decode()
    assert '<a href="/templates/" aria-current="page">Templates</a>' in html


TOP_BAR_ROWS = """() => new Set([...document.querySelectorAll('.topbar .nav a, .topbar .account, .topbar .brand')]
  .map(el => Math.round(el.getBoundingClientRect().top + el.getBoundingClientRect().height / 2))).size"""


@pytest.mark.browser
def test_the_top_bar_with_templates_stays_on_one_line_for_staff_at_1280_px(
    browser: Any, live_server: Any, admin_user: Any, credentials: Any
) -> None:
    from tests.fixtures_browser import Session

    session = Session(browser, live_server.url, admin_user, width=1280)
    page = session.open("/templates/")
    assert page.evaluate(TOP_BAR_ROWS) == 1, "a link of the top bar wrapped onto a second line"
    session.close()
