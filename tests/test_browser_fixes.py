"""What a new user tripped over (issue 12), each in a real headless Chromium: the test that would have caught it.

Desktop is 1280 px wide, a phone 390 px. Ready videos are real MP4 files of the shape the test asks for.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from generations.models import Generation
from generations.services.credits import credits_grant
from tests.fixtures_browser import CHROMIUM, Session

S = Generation.Status

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no /usr/bin/chromium on this machine"),
]

SHAPES = {"16:9": (320, 180), "9:16": (180, 320), "1:1": (240, 240)}


@pytest.fixture
def tab(browser: Any, live_server: Any, alice: Any, credentials: Any, media_root: Path) -> Iterator[Session]:
    session = Session(browser, live_server.url, alice)
    yield session
    session.close()


def _boxes(page: Any, selector: str) -> list[dict[str, float]]:
    return page.locator(selector).evaluate_all(
        "els => els.map(e => { const r = e.getBoundingClientRect(); "
        "return {x: r.x, y: r.y, w: r.width, h: r.height}; })"
    )


def _assert_rows_even(page: Any) -> None:
    tiles = _boxes(page, ".tile")
    media = _boxes(page, ".tile-media")
    rows: dict[int, list[float]] = {}
    for tile in tiles:
        rows.setdefault(round(tile["y"]), []).append(tile["h"])
    assert any(len(heights) > 1 for heights in rows.values()), "the test needs several cards in a row"
    for heights in rows.values():
        assert max(heights) - min(heights) < 1, f"uneven card heights in a row: {heights}"
    frames = {round(m["h"]) for m in media}
    assert len(frames) == 1, f"media frames differ: {frames}"
    for frame, img in zip(media, _boxes(page, ".tile-media img"), strict=True):
        assert img["h"] <= frame["h"] + 0.5 and img["w"] <= frame["w"] + 0.5, "a poster spills out of its frame"


# --- 1. card grid -------------------------------------------------------------------------------------------------


def test_cards_in_a_row_have_the_same_height_whatever_the_video_shape(
    tab: Session, alice: Any, ready_video: Any
) -> None:
    for ratio, size in [*SHAPES.items(), *SHAPES.items()]:
        ready_video(alice, size=size, aspect_ratio=ratio, prompt=f"A {ratio} clip of a kite over the dunes")
    for path in ("/", "/videos/"):
        page = tab.open(path)
        page.wait_for_function("() => [...document.querySelectorAll('.tile-media img')].every(i => i.complete)")
        _assert_rows_even(page)


# --- 2. credits page on a phone -----------------------------------------------------------------------------------


def test_credit_rows_stack_on_a_phone_with_every_column_on_screen(
    browser: Any, live_server: Any, alice: Any, credentials: Any
) -> None:
    credits_grant(user=alice, amount=40, reason="Extraordinarily-long-hyphenated-reason for the quarterly campaign",
                  actor=None)  # fmt: skip
    session = Session(browser, live_server.url, alice, width=390)
    page = session.open("/credits/")
    for label in ("When", "What", "Amount", "Balance after"):
        cells = page.locator(f'td[data-label="{label}"]')
        assert cells.count() == 2
        box = cells.first.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, f"{label} is off screen"
    row = page.locator("tbody tr").first.bounding_box()
    assert row is not None and row["height"] < 400, "one row fills the screen"
    what = page.locator('td[data-label="What"] .chip').first.bounding_box()
    assert what is not None and what["height"] < 30, "the kind of movement breaks over several lines"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    session.close()


# --- 3. error summary ---------------------------------------------------------------------------------------------


def test_a_rejected_submit_shows_a_focused_summary_at_the_top_linking_each_field(
    tab: Session, credentials: Any
) -> None:
    page = tab.open(f"/new/?model={credentials['kling'].pk}:kling:kling-v1")  # the one model with camera control
    page.get_by_label("Prompt", exact=True).fill("A red kite above the dunes")
    # Camera control needs standard mode: the server refuses this combination.
    page.get_by_label("Mode", exact=True).select_option("pro")
    page.get_by_label("Camera movement").select_option("simple")
    page.get_by_label("Axis").select_option("zoom")
    page.get_by_label("Amount").fill("5")
    page.locator("[data-submit]").click()
    page.wait_for_selector(".error-summary")
    summary = page.locator(".error-summary")
    assert page.evaluate("document.activeElement.classList.contains('error-summary')")
    box = summary.bounding_box()
    assert box is not None and 0 <= box["y"] < 900, "the summary is not on screen"
    link = summary.locator("a[href='#field-camera_control']")
    assert link.count() == 1
    link.click()
    assert page.evaluate("document.activeElement.closest('#field-camera_control') !== null")
    tab.check("new-video-error-summary")


# --- 4. progress of stopped videos --------------------------------------------------------------------------------


def _steps(page: Any) -> list[tuple[str, str]]:
    return page.locator("[data-steps] li").evaluate_all("els => els.map(e => [e.textContent, e.className])")


def test_a_video_canceled_while_queued_shows_no_step_as_done(tab: Session, alice: Any, make_generation: Any) -> None:
    gen = make_generation(alice, status=S.CANCELED, error="Canceled by its owner.")
    page = tab.open(f"/videos/{gen.pk}/")
    steps = _steps(page)
    assert steps[0] == ["Queued", "stopped"]
    assert [c for _label, c in steps[1:4]] == ["skipped", "skipped", "skipped"]
    assert steps[4][0] == "Canceled" and steps[4][1].startswith("current")
    text = page.locator("[data-failure]").inner_text()
    assert text.count("Canceled") == 1, text  # not "Canceled. Canceled by its owner."
    tab.check("generation-canceled")


def test_a_video_that_failed_while_generating_stops_at_generating(
    tab: Session, alice: Any, make_generation: Any
) -> None:
    now = timezone.now()
    gen = make_generation(alice, status=S.FAILED, submitted_at=now, running_at=now, error="Kling refused the prompt.")
    page = tab.open(f"/videos/{gen.pk}/")
    classes = [c.split()[0] for _label, c in _steps(page)]
    assert classes == ["done", "done", "stopped", "skipped", "current"]
    attention = make_generation(alice, status=S.NEEDS_ATTENTION, submitted_at=now)
    page = tab.open(f"/videos/{attention.pk}/")
    classes = [c.split()[0] for _label, c in _steps(page)]
    assert classes == ["done", "stopped", "skipped", "skipped", "current"]


# --- 5. the live update replaces stale text -----------------------------------------------------------------------


def test_the_live_update_leaves_no_stale_text(tab: Session, alice: Any, ready_video: Any) -> None:
    files = ready_video(alice)
    page = tab.open("/new/")
    page.get_by_label("Prompt", exact=True).fill("A paper boat drifting down a rainy gutter")
    page.locator("[data-submit]").click()
    page.wait_for_url(re.compile(r"/videos/[0-9a-f-]{36}/$"))
    gen = Generation.objects.get(prompt__startswith="A paper boat")
    assert page.get_by_text("Your video is queued").is_visible()
    assert page.get_by_text("Shared with the team once it is ready").is_visible()

    finished = gen.created_at + timedelta(seconds=42)
    Generation.objects.filter(pk=gen.pk).update(
        status=S.READY, video=files.video.name, poster=files.poster.name, finished_at=finished,
        width=1280, height=720, file_size=3_500_000,
    )  # fmt: skip
    page.wait_for_selector("video.player", timeout=10000)
    assert page.get_by_text("Your video is queued").count() == 0
    visibility = page.locator(".visibility-form p").inner_text()
    assert visibility == "Shared with the team.", visibility
    assert "(42 s)" in page.locator("[data-finished]").inner_text()
    assert page.locator("[data-resolution]").inner_text() == "1280 \u00d7 720"
    assert page.locator("[data-file-size]").inner_text() == "3.3\xa0MB"


# --- 6. search ----------------------------------------------------------------------------------------------------


def test_search_matches_every_word_in_any_order_and_case_in_every_prompt(
    tab: Session, alice: Any, bob: Any, ready_video: Any
) -> None:
    ready_video(bob, prompt="An old lighthouse whose lamp sweeps the fog")
    ready_video(alice, prompt="", multi_shot=True, shot_type="customize",
                shots=[{"prompt": "Waves break on the rocks", "duration": 2},
                       {"prompt": "A Puffin lands on the cliff", "duration": 3}])  # fmt: skip
    ready_video(alice, prompt="A lighthouse keeper drinks tea")
    page = tab.open("/")
    for query, expected in [
        ("LIGHTHOUSE lamp", ["An old lighthouse whose lamp sweeps the fog"]),
        ("lamp   Lighthouse", ["An old lighthouse whose lamp sweeps the fog"]),
        ("puffin", ["Waves break on the rocks"]),
        ("rocks CLIFF", ["Waves break on the rocks"]),
        ("lighthouse tower", []),
    ]:
        page.get_by_label("Search prompts").fill(query)
        page.get_by_role("button", name="Apply").click()
        page.wait_for_load_state("networkidle")
        titles = page.locator(".tile-title").all_inner_texts()
        assert [t for t in titles if not any(t.startswith(e[:20]) for e in expected)] == [], (query, titles)
        assert len(titles) == len(expected), (query, titles)


# --- 7. My videos updates itself ----------------------------------------------------------------------------------


def test_my_videos_cards_follow_their_status(tab: Session, alice: Any, ready_video: Any, make_generation: Any) -> None:
    files = ready_video(alice, prompt="Already done")
    gen = make_generation(alice, status=S.RUNNING, prompt="A hot air balloon rising at dawn")
    page = tab.open("/videos/")
    card = page.locator(".tile", has_text="A hot air balloon")
    assert card.locator("[data-card-status]").inner_text() == "Generating"
    Generation.objects.filter(pk=gen.pk).update(status=S.READY, video=files.video.name, poster=files.poster.name,
                                                preview=files.preview.name, finished_at=timezone.now())  # fmt: skip
    card.locator("[data-card-status].ready").wait_for(timeout=15000)
    assert card.locator("[data-card-status]").inner_text() == "Ready"
    card.locator(".tile-media img").wait_for()
    assert "/preview.mp4?v=" in card.locator(".tile-media").get_attribute("data-preview")  # the clip, not the video


# --- 8. admin member list -----------------------------------------------------------------------------------------


def test_the_admin_member_list_shows_the_credits_column_at_1280px(
    browser: Any, live_server: Any, admin_user: Any, alice: Any, bob: Any
) -> None:
    session = Session(browser, live_server.url, admin_user)
    page = session.open("/admin/auth/user/")
    header = page.locator("#result_list th", has_text="Credits").bounding_box()
    assert header is not None and header["x"] + header["width"] <= 1280
    cell = page.locator("#result_list td.field-balance").first.bounding_box()
    assert cell is not None and cell["x"] + cell["width"] <= 1280
    session.close()


# --- 9. empty states ----------------------------------------------------------------------------------------------


def test_a_page_past_the_end_says_so_and_a_reversed_date_range_is_refused(
    tab: Session, alice: Any, ready_video: Any
) -> None:
    ready_video(alice, prompt="A fox in the snow")
    page = tab.open("/?page=99")
    assert "There is no page 99" in page.locator("main").inner_text()
    assert "No videos yet" not in page.locator("main").inner_text()
    page.get_by_role("link", name="Go to the first page").click()
    page.wait_for_load_state("networkidle")
    assert page.locator(".tile").count() == 1

    page = tab.open("/?date_from=2026-05-10&date_to=2026-05-01")
    assert "The To date is before the From date." in page.locator("#field-date_to").inner_text()
    page = tab.open("/videos/?page=5")
    assert "There is no page 5" in page.locator("main").inner_text()


# --- 10. the site's own error pages under DEBUG -------------------------------------------------------------------


def test_make_run_shows_the_sites_own_404_and_500_pages(
    tab: Session, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.DEBUG = True
    page = tab.page
    response = page.goto("/no-such-page/")
    assert response is not None and response.status == 404
    text = page.locator("body").inner_text()
    assert "Page not found" in text and "URLconf" not in text and "admin/" not in text
    response = page.goto("/videos/00000000-0000-0000-0000-000000000000/")
    assert response is not None and response.status == 404
    assert "Page not found" in page.locator("h1").inner_text()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug no real part can be made to have")

    monkeypatch.setattr("generations.views.credits.paginate", broken)
    response = page.goto("/credits/")
    assert response is not None and response.status == 500
    text = page.locator("body").inner_text()
    assert "Something went wrong on our side" in text and "Traceback" not in text and "RuntimeError" not in text


# --- 11. human labels ---------------------------------------------------------------------------------------------


def test_the_video_page_uses_words_not_api_values(tab: Session, alice: Any, make_generation: Any) -> None:
    gen = make_generation(
        alice, model="kling:kling-v3", aspect_ratio="9:16", multi_shot=True, shot_type="customize", prompt="",
        shots=[{"prompt": "A lantern flickers", "duration": 5}],
        camera_control={"type": "simple", "config": {"horizontal": 0, "zoom": 5.0}},
    )  # fmt: skip
    page = tab.open(f"/videos/{gen.pk}/")
    settings_text = page.locator("dl.settings").inner_text()
    assert "I write each shot" in settings_text and "customize" not in settings_text
    assert "Simple move: zoom +5" in settings_text and "5.0" not in settings_text
    assert "9:16 portrait" in settings_text
    other = make_generation(alice, camera_control={"type": "down_back", "config": {}})
    page = tab.open(f"/videos/{other.pk}/")
    assert "Down and back" in page.locator("dl.settings").inner_text()


# --- 13. the first estimate ---------------------------------------------------------------------------------------


def test_the_first_estimate_comes_from_the_models_real_times(tab: Session, alice: Any, make_generation: Any) -> None:
    now = timezone.now()
    for i in range(3):  # the same model made quickly, in the other mode
        created = now - timedelta(minutes=10 + i)
        make_generation(alice, model="mulerun:kling-v2.6", mode="pro", created_at=created,
                        finished_at=created + timedelta(seconds=10))  # fmt: skip
    gen = make_generation(alice, status=S.QUEUED, model="mulerun:kling-v2.6", mode="std", created_at=now)
    page = tab.open(f"/videos/{gen.pk}/")
    assert page.locator("[data-estimate]").inner_text() == "10 s"


# --- 14. smaller items --------------------------------------------------------------------------------------------


def test_the_test_connection_button_looks_like_an_admin_tool(
    browser: Any, live_server: Any, admin_user: Any, credentials: Any
) -> None:
    session = Session(browser, live_server.url, admin_user)
    page = session.open(f"/admin/generations/providercredential/{credentials['kling'].pk}/change/")
    button = page.get_by_role("button", name="Test connection")
    history = page.locator(".object-tools a.historylink")
    style = "e => { const s = getComputedStyle(e); return [s.borderRadius, s.textTransform, s.backgroundColor]; }"
    assert button.evaluate(style) == history.evaluate(style)
    session.close()


def test_the_price_box_says_plainly_when_the_member_cannot_afford_it(
    browser: Any, live_server: Any, charlie: Any, credentials: Any
) -> None:
    session = Session(browser, live_server.url, charlie)  # charlie has no credits
    page = session.open("/new/")
    after = page.locator("[data-balance-after]")
    assert after.inner_text() == "Not enough credits"
    page.get_by_label("Duration").select_option("10")
    page.wait_for_function("() => document.querySelector('[data-cost]').textContent !== '—'")
    quote_error = "document.querySelector('[data-quote-error]').textContent"
    page.wait_for_function(f"() => /video costs \\d+ and you have 0/.test({quote_error})")
    assert after.inner_text() == "Not enough credits"
    assert "-" not in after.inner_text()
    session.close()


def test_back_then_generate_makes_a_new_video(tab: Session, alice: Any) -> None:
    page = tab.open("/new/")
    page.get_by_label("Prompt", exact=True).fill("A first idea: a cat on a piano")
    page.locator("[data-submit]").click()
    page.wait_for_url(re.compile(r"/videos/[0-9a-f-]{36}/$"))
    first = page.url
    page.go_back()
    page.wait_for_load_state("networkidle")
    page.get_by_label("Prompt", exact=True).fill("A second idea: a dog on a drum kit")
    page.locator("[data-submit]").click()
    page.wait_for_url(re.compile(r"/videos/[0-9a-f-]{36}/$"))
    assert page.url != first
    assert sorted(Generation.objects.values_list("prompt", flat=True)) == [
        "A first idea: a cat on a piano", "A second idea: a dog on a drum kit"]  # fmt: skip


def test_admin_messages_count_members_properly(
    browser: Any, live_server: Any, admin_user: Any, alice: Any
) -> None:
    session = Session(browser, live_server.url, admin_user)
    page = session.open("/admin/auth/user/")
    page.locator(f"input[name=_selected_action][value='{alice.pk}']").check()
    page.locator("select[name=action]").select_option("grant_credits")
    page.get_by_role("button", name="Go").click()
    page.get_by_label("Credits to grant").fill("5")
    page.get_by_label("Reason").fill("Welcome")
    page.locator("input[type=submit], button[type=submit]").last.click()
    page.wait_for_load_state("networkidle")
    text = page.locator(".messagelist").inner_text()
    assert "Granted 5 credits to 1 member:" in text and "(s)" not in text
    session.close()


def test_the_password_page_has_no_blank_gap(tab: Session) -> None:
    page = tab.open("/accounts/password_change/")
    rules = page.locator("#field-new_password1 .help").bounding_box()
    confirm = page.locator("#field-new_password2").bounding_box()
    assert rules is not None and confirm is not None
    gap = confirm["y"] - (rules["y"] + rules["height"])
    assert 0 <= gap < 32, f"{gap:.0f} px of blank space between the password rules and the next field"
    tab.check("password-change")


# --- admin: friendly index, price grid, take back credits -----------------------------------------------------------


def test_the_admin_index_speaks_the_sites_language(browser: Any, live_server: Any, admin_user: Any) -> None:
    session = Session(browser, live_server.url, admin_user)
    page = session.open("/admin/")
    content = page.locator("#content-main").inner_text()
    for name in ("Members", "Provider accounts", "Prices", "Credit ledger", "Queues"):
        assert page.locator("#content-main").get_by_role("link", name=name, exact=True).count() >= 1, name
    assert "Authentication and Authorization" not in content and "Django_Rq" not in content
    page.locator("#content-main").get_by_role("link", name="Members", exact=True).first.click()
    page.wait_for_url("**/admin/auth/user/")
    session.close()


def test_admins_edit_every_price_on_one_grid(
    browser: Any, live_server: Any, admin_user: Any, prices: None
) -> None:
    from generations.models import Price

    session = Session(browser, live_server.url, admin_user)
    page = session.open("/admin/generations/price/")
    page.get_by_role("link", name="Edit all prices as a grid").click()
    page.wait_for_url("**/admin/generations/price/grid/")
    assert page.locator(".kling-price-grid").count() >= 5
    field = page.get_by_label("Kling 3 · Kling official API, Professional · 1080p, 10 s, with sound", exact=True)
    field.fill("77")
    page.get_by_role("button", name="Save prices").click()
    page.wait_for_selector(".messagelist")
    assert "1 price changed" in page.locator(".messagelist").inner_text()
    assert Price.objects.get(model="kling:kling-v3", mode="pro", duration=10, sound=True).credits == 77
    page.get_by_label("Kling 3 · Kling official API, Professional · 1080p, 10 s, with sound", exact=True).fill("-4")
    page.get_by_role("button", name="Save prices").click()
    page.wait_for_selector(".errorlist")
    assert Price.objects.get(model="kling:kling-v3", mode="pro", duration=10, sound=True).credits == 77
    session.close()


def test_admins_take_back_credits_with_a_reason_never_below_zero(
    browser: Any, live_server: Any, admin_user: Any, alice: Any
) -> None:
    from generations.models import CreditAccount, CreditEntry

    session = Session(browser, live_server.url, admin_user)
    page = session.open(f"/admin/auth/user/{alice.pk}/change/")
    page.get_by_role("link", name="Take back credits…").click()
    page.get_by_label("Credits to take back").fill("600")
    page.get_by_label("Reason").fill("Granted twice by mistake")
    page.locator("input[type=submit], button[type=submit]").last.click()
    page.wait_for_selector(".errorlist")
    assert "take back at most 500" in page.locator(".errorlist").first.inner_text()
    assert CreditAccount.balance_of(alice) == 500
    page.get_by_label("Credits to take back").fill("200")
    page.get_by_label("Reason").fill("")
    page.locator("input[type=submit], button[type=submit]").last.click()
    page.wait_for_selector(".errorlist")
    assert CreditAccount.balance_of(alice) == 500
    page.get_by_label("Credits to take back").fill("200")
    page.get_by_label("Reason").fill("Granted twice by mistake")
    page.locator("input[type=submit], button[type=submit]").last.click()
    page.wait_for_url(f"**/admin/auth/user/{alice.pk}/change/")
    assert "Took back 200 credits from alice" in page.locator(".messagelist").inner_text()
    entry = CreditEntry.objects.filter(account__user=alice).first()
    assert (entry.kind, entry.amount, entry.balance_after, entry.reason) == (
        "adjustment", -200, 300, "Granted twice by mistake")  # fmt: skip
    session.close()
