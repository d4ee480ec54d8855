"""What members expect from a studio (issue 12): dark mode, a phone layout, a keyboard shortcut, live tab titles and
an opt-in notification, in a real headless Chromium at 1280 px and 390 px.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from generations.models import Generation
from tests.fixtures_browser import CHROMIUM, Session

S = Generation.Status

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no /usr/bin/chromium on this machine"),
]

BACKGROUND = "getComputedStyle(document.documentElement).backgroundColor"
DARK_BG = "rgb(15, 17, 23)"
LIGHT_BG = "rgb(246, 247, 251)"

# The one thing no real part can show in a headless browser is an operating-system notification: record them.
RECORD_NOTIFICATIONS = """
window.__notes = [];
window.Notification = class {
  constructor(title, options) { window.__notes.push({title: title, body: (options || {}).body}); }
  close() {}
  static requestPermission() {
    localStorage.setItem("__permission", "granted");
    window.Notification.permission = "granted";
    return Promise.resolve("granted");
  }
};
window.Notification.permission = localStorage.getItem("__permission") || "default";
"""


@pytest.fixture
def tab(browser: Any, live_server: Any, alice: Any, credentials: Any, media_root: Path) -> Iterator[Session]:
    session = Session(browser, live_server.url, alice)
    yield session
    session.close()


@pytest.fixture
def phone(browser: Any, live_server: Any, alice: Any, credentials: Any, media_root: Path) -> Iterator[Session]:
    session = Session(browser, live_server.url, alice, width=390)
    session.page.set_viewport_size({"width": 390, "height": 844})
    yield session
    session.close()


def test_dark_mode_follows_the_system_and_the_toggle_is_remembered(tab: Session) -> None:
    page = tab.page
    page.emulate_media(color_scheme="dark")
    tab.open("/")
    assert page.evaluate(BACKGROUND) == DARK_BG
    toggle = page.get_by_role("button", name="Dark mode")
    assert toggle.get_attribute("aria-pressed") == "true"
    toggle.click()
    assert page.evaluate(BACKGROUND) == LIGHT_BG
    tab.open("/videos/")  # another page, same choice
    assert page.evaluate(BACKGROUND) == LIGHT_BG
    page.get_by_role("button", name="Dark mode").click()
    page.emulate_media(color_scheme="light")
    tab.open("/credits/")
    assert page.evaluate(BACKGROUND) == DARK_BG
    tab.check("credits-dark-by-choice")


def test_on_a_phone_the_navigation_is_a_menu(phone: Session) -> None:
    page = phone.open("/")
    link = page.locator("#main-nav").get_by_role("link", name="My videos")
    assert link.is_hidden()
    menu = page.get_by_role("button", name="Menu")
    menu.click()
    assert menu.get_attribute("aria-expanded") == "true"
    assert link.is_visible()
    link.click()
    page.wait_for_url(re.compile(r"/videos/$"))


def test_on_a_phone_the_gallery_filters_fold_away_unless_in_use(phone: Session) -> None:
    page = phone.open("/")
    search = page.get_by_label("Search prompts")
    assert search.is_hidden()
    page.locator("summary", has_text="Filters").click()
    assert search.is_visible()
    page = phone.open("/?q=lighthouse")
    assert page.get_by_label("Search prompts").is_visible()
    assert "(in use)" in page.locator("summary").inner_text()


def test_the_gallery_filters_line_up_and_apply_sits_beside_clear(tab: Session) -> None:
    """At 1280 px the labels of the first row of filters share one line, whatever the control (text, select, date),
    and Apply and Clear sit side by side (an outside tester saw them stacked, the labels staggered)."""
    page = tab.open("/?q=kite")
    tops = [
        page.get_by_text(name, exact=True).bounding_box()["y"]
        for name in ("Search prompts", "Member", "Model", "Mode", "Duration", "From", "To")
    ]
    assert max(tops) - min(tops) <= 1, tops
    apply, clear = (page.locator(".filters .row > *").nth(i).bounding_box() for i in (0, 1))
    assert abs(apply["y"] - clear["y"]) <= 1 and clear["x"] > apply["x"] + apply["width"], (apply, clear)
    tab.check("gallery-filters-aligned")


def test_an_admins_top_bar_fits_one_line_at_1280_px(browser: Any, live_server: Any, admin_user: Any) -> None:
    from generations.services.credits import credits_grant

    credits_grant(user=admin_user, amount=100_000, reason="a big team's balance", actor=None)
    session = Session(browser, live_server.url, admin_user)
    try:
        page = session.open("/")
        links = page.locator(".topbar .nav a")
        assert links.count() >= 8  # the admin's links: Line and Admin too
        tops = {round(links.nth(i).bounding_box()["y"]) for i in range(links.count())}
        toggle = page.locator(".theme-toggle").bounding_box()
        assert len(tops) == 1 and abs(toggle["y"] - min(tops)) < 12, (tops, toggle)
        session.check("topbar-admin-1280")
    finally:
        session.close()


def test_on_a_phone_the_cost_and_generate_stay_in_reach(phone: Session) -> None:
    page = phone.open("/new/")
    button = page.get_by_role("button", name="Generate video")
    cost = page.locator("[data-cost]")
    for scroll in (0, 400, 800):
        page.evaluate(f"window.scrollTo(0, {scroll})")
        for element in (button, cost):
            box = element.bounding_box()
            assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 844, (scroll, box)
    phone.check("new-video-phone-sticky")


def test_ctrl_enter_submits_the_new_video_form(tab: Session) -> None:
    page = tab.open("/new/")
    prompt = page.get_by_label("Prompt", exact=True)
    prompt.fill("A lantern festival over a river")
    prompt.press("Control+Enter")
    page.wait_for_url(re.compile(r"/videos/[0-9a-f-]{36}/$"))
    assert Generation.objects.get().prompt == "A lantern festival over a river"


def test_the_tab_title_shows_progress_and_a_notification_says_when_it_is_done(
    tab: Session, alice: Any, ready_video: Any, make_generation: Any
) -> None:
    files = ready_video(alice)
    gen = make_generation(alice, status=S.RUNNING, prompt="A koi pond in the rain")
    tab.page.add_init_script(RECORD_NOTIFICATIONS)
    page = tab.open(f"/videos/{gen.pk}/")
    page.wait_for_function("() => /^\\d+% Generating · A koi pond in the rain/.test(document.title)")
    notify = page.get_by_role("button", name="Notify me when it is done")
    notify.click()
    page.get_by_role("button", name="You will be notified").wait_for()

    Generation.objects.filter(pk=gen.pk).update(status=S.READY, video=files.video.name, poster=files.poster.name,
                                                finished_at=gen.created_at)  # fmt: skip
    page.wait_for_function("() => document.title.startsWith('\u2713 Ready · A koi pond')")
    notes = page.evaluate("window.__notes")
    assert notes == [{"title": "A koi pond in the rain · Kling Studio", "body": "Your video is ready."}]

    failed = make_generation(alice, status=S.SUBMITTED, prompt="A storm over the sea")
    page = tab.open(f"/videos/{failed.pk}/")  # the choice is remembered: no click this time
    Generation.objects.filter(pk=failed.pk).update(status=S.FAILED, error="Kling refused the prompt.")
    page.wait_for_function("() => window.__notes.length === 1")
    assert page.evaluate("window.__notes[0].body") == "Failed: Kling refused the prompt."
    assert page.title().startswith("\u2717 Failed")


# --- gallery: sort, duration badge, shape filter, page N of M; video page: copy prompt, status chip ----------------


def test_the_gallery_sorts_filters_by_shape_and_badges_each_card_with_its_length(
    tab: Session, alice: Any, bob: Any, make_generation: Any
) -> None:
    from generations.models import Favorite

    short = make_generation(bob, prompt="Short square", duration=5, aspect_ratio="1:1")
    long = make_generation(bob, prompt="Long portrait", duration=10, aspect_ratio="9:16")
    make_generation(alice, prompt="Newest landscape", duration=5, aspect_ratio="16:9")
    Favorite.objects.create(user=alice, generation=short)
    Favorite.objects.create(user=bob, generation=short)
    Favorite.objects.create(user=bob, generation=long)
    page = tab.open("/")
    titles = page.locator(".tile-title")
    assert titles.all_inner_texts() == ["Short square", "Long portrait", "Newest landscape"]  # factory: older later
    for sort, expected in [
        ("Oldest first", ["Newest landscape", "Long portrait", "Short square"]),
        ("Most favourited", ["Short square", "Long portrait", "Newest landscape"]),
        ("Longest first", ["Long portrait", "Short square", "Newest landscape"]),
    ]:
        page.get_by_label("Sort").select_option(label=sort)
        page.get_by_role("button", name="Apply").click()
        page.wait_for_load_state("networkidle")
        assert titles.all_inner_texts() == expected, sort
    badges = page.locator(".tile-badge").all_inner_texts()
    assert badges == ["0:10", "0:05", "0:05"]
    page.get_by_label("Shape").select_option(label="9:16 portrait")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_load_state("networkidle")
    assert titles.all_inner_texts() == ["Long portrait"]


def test_pages_say_page_n_of_m_and_cap_the_count(
    tab: Session, alice: Any, make_generation: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(30):
        make_generation(alice, prompt=f"Clip {i}")
    page = tab.open("/")
    assert page.locator(".pagination").inner_text().count("Page 1 of 2") == 1
    page.get_by_role("link", name="Next →").click()
    page.wait_for_load_state("networkidle")
    assert "Page 2 of 2" in page.locator(".pagination").inner_text()
    monkeypatch.setattr("generations.views.gallery.COUNT_CAP_PAGES", 1)  # beyond the cap: "at least"
    page = tab.open("/")
    assert "Page 1 of 2+" in page.locator(".pagination").inner_text()


def test_the_video_page_copies_the_prompt_and_shows_a_prominent_status(
    tab: Session, alice: Any, make_generation: Any
) -> None:
    tab.context.grant_permissions(["clipboard-read", "clipboard-write"])
    gen = make_generation(alice, status=S.RUNNING, prompt="A glass of water on a sunny windowsill\nslow zoom")
    page = tab.open(f"/videos/{gen.pk}/")
    chip = page.locator("[data-status-chip]")
    box = chip.bounding_box()
    assert box is not None and box["height"] >= 26 and box["y"] < 200
    assert float(chip.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 16
    page.get_by_role("button", name="Copy prompt").click()
    page.get_by_role("button", name="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == "A glass of water on a sunny windowsill\nslow zoom"
    shots = make_generation(alice, prompt="", multi_shot=True, shot_type="customize",
                            shots=[{"prompt": "Shot one", "duration": 2}, {"prompt": "Shot two", "duration": 3}])
    page = tab.open(f"/videos/{shots.pk}/")
    page.get_by_role("button", name="Copy prompt").click()
    page.get_by_role("button", name="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == "Shot one\nShot two"
