"""The New video form as a newcomer meets it after a mistake or a Back: a kept picture can be removed, the counter and
the Generate button follow what the fields really hold, and the error summary sits inside the form card."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from generations.models import Generation
from tests import test_browser_pictures
from tests.fixtures_browser import CHROMIUM, Session

pytest.importorskip("playwright.sync_api")
tab = test_browser_pictures.tab  # the same signed-in tab fixture
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no /usr/bin/chromium on this machine"),
]


def test_a_picture_kept_after_an_error_can_be_removed(tab: Session, tmp_path: Path, credentials: Any) -> None:
    picture = tmp_path / "bottle.png"
    Image.new("RGB", (900, 500), (240, 120, 20)).save(picture)
    page = tab.open(f"/new/?model={credentials['segmind'].pk}:segmind:kling-2.5-turbo")
    page.get_by_label("Start image", exact=True).set_input_files(str(picture))
    page.locator("[data-submit]").click()  # no prompt: the form comes back with the picture kept
    page.wait_for_selector(".error-summary")
    box = page.locator("[data-picture-box=start_image]")
    assert box.locator("[data-kept-note]").inner_text() == "Kept from your last try: bottle.png."
    assert box.locator("[data-preview]").is_visible()
    assert not page.get_by_label("Remove this picture").is_visible()  # the scripted page shows a button instead
    tab.check("new-video-picture-kept")
    page.get_by_role("button", name="Remove start image").click()
    assert box.locator("[data-preview]").is_hidden()
    assert box.locator("input[name=start_image_ref]").input_value() == ""
    assert box.locator("[data-kept-note]").inner_text() == "Start image removed."
    assert page.evaluate("document.activeElement.name") == "start_image_file"
    tab.check("new-video-picture-removed")
    page.get_by_label("Prompt", exact=True).fill("The bottle turns slowly on a wooden table")
    page.locator("[data-submit]").click()
    page.wait_for_url(re.compile(r"/videos/[0-9a-f-]{36}/$"))
    assert Generation.objects.get().image_url == ""


def test_back_to_the_form_counts_the_prompt_the_browser_put_back(tab: Session) -> None:
    page = tab.open("/new/")
    text = "A red kite over a beach at dawn"
    page.get_by_label("Prompt", exact=True).fill(text)
    page.locator("input[name=variants][value='2']").check()
    page.wait_for_function("() => document.querySelector('[data-submit]').textContent.trim() === 'Generate 2 variants'")
    page.locator("[data-submit]").click()
    page.wait_for_url(re.compile(r"/batch/[0-9a-f-]{36}/$"), timeout=90_000)  # two videos made: slow on a busy CI
    page.go_back()
    page.wait_for_load_state("networkidle")
    assert page.get_by_label("Prompt", exact=True).input_value() == text
    page.wait_for_function(f"() => document.querySelector('[data-count]').textContent === '{len(text)}'")
    assert page.locator("[data-submit]").inner_text() == "Generate 2 variants"


def test_after_an_error_the_button_says_how_many_variants_it_makes(tab: Session) -> None:
    page = tab.open("/new/")
    page.locator("input[name=variants][value='3']").check()
    page.locator("[data-submit]").click()  # no prompt
    page.wait_for_selector(".error-summary")
    page.wait_for_load_state("networkidle")
    assert page.locator("input[name=variants]:checked").input_value() == "3"
    assert page.locator("[data-submit]").inner_text() == "Generate 3 variants"


def test_the_error_summary_sits_inside_the_form_card_with_room_around_it(tab: Session) -> None:
    page = tab.open("/new/")
    page.locator("[data-submit]").click()
    summary = page.locator(".error-summary")
    summary.wait_for()
    assert summary.inner_text().count("Prompt") == 1
    card, box = page.locator("section.card.form").bounding_box(), summary.bounding_box()
    assert card["x"] < box["x"] and box["x"] + box["width"] < card["x"] + card["width"]  # not wider than the card
    below = page.locator("#field-model label").bounding_box()
    assert below["y"] - (box["y"] + box["height"]) >= 12  # a gap before the first field
    outline = summary.evaluate("el => getComputedStyle(el).outlineOffset")
    assert outline.startswith("-")  # the focus ring stays inside the box


def test_a_picture_the_server_would_refuse_is_refused_before_any_upload(
    tab: Session, tmp_path: Path, credentials: Any
) -> None:
    """Too big, not a picture, too small or too wide: the same words as the server's, at once, from the limits the
    server renders on the field (an outside tester uploaded 26 MB only to be told the limit is 10 MB)."""
    page = tab.open(f"/new/?model={credentials['segmind'].pk}:segmind:kling-2.5-turbo")
    start = page.get_by_label("Start image", exact=True)
    hint = page.locator("[data-picture-box=start_image] [data-ratio-hint]")

    start.set_input_files({"name": "huge.png", "mimeType": "image/png", "buffer": b"\0" * (11 * 1024 * 1024)})
    assert hint.inner_text() == "The image is 11.0 MB; the limit is 10 MB. Choose another picture."
    assert "field-error" in hint.get_attribute("class") and start.evaluate("i => i.files.length") == 0

    start.set_input_files({"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"})
    assert hint.inner_text().startswith("That file is not a JPEG, PNG or WebP picture.")

    wide = tmp_path / "wide.png"
    Image.new("RGB", (2000, 400), (20, 120, 240)).save(wide)
    start.set_input_files(str(wide))
    page.wait_for_function("el => el.textContent.includes('too wide')", arg=hint.element_handle())
    assert hint.inner_text().startswith("The image is too wide (2000 by 400 pixels)")
    tab.check("new-picture-too-wide")

    fine = tmp_path / "fine.png"
    Image.new("RGB", (1280, 720), (20, 120, 240)).save(fine)
    start.set_input_files(str(fine))
    page.wait_for_function("el => !el.classList.contains('field-error')", arg=hint.element_handle())
    assert hint.inner_text() == ""
