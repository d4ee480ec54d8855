"""Member pages in a real headless Chromium (Debian's /usr/bin/chromium; Playwright never downloads a browser).

Each page is screenshotted at desktop and 390 px phone width into $TEST_ARTIFACTS/screenshots, gets an
accessibility smoke check (labels, unique ids, img alt) and must log no CSP violation or script error.
Ready videos are real MP4 files in storage, so the player's metadata, duration and seeking are exercised.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from generations.models import Favorite, Generation
from generations.services.create import price_for
from tests.fixtures_browser import CHROMIUM, SHOTS, Session

S = Generation.Status

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no /usr/bin/chromium on this machine"),
]



@pytest.fixture
def tab(browser: Any, live_server: Any, alice: Any, credentials: Any, media_root: Path) -> Iterator[Session]:
    session = Session(browser, live_server.url, alice)
    yield session
    session.close()


# --- pages ------------------------------------------------------------------------------------------------------


def test_login_page(browser: Any, live_server: Any, alice: Any) -> None:
    session = Session(browser, live_server.url, None)
    page = session.open("/accounts/login/")
    session.check("login")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator("h1").inner_text() == "Gallery"
    session.close()


def test_gallery_previews_on_hover_and_stars_without_a_reload(
    tab: Session, alice: Any, bob: Any, ready_video: Any
) -> None:
    ready_video(bob, prompt="A hummingbird <em>hovering</em> over a red flower")
    ready_video(alice, prompt="Waves rolling onto a black sand beach")
    page = tab.open("/")
    assert page.locator(".tile").count() == 2
    assert page.locator("video").count() == 0  # nothing plays on load
    assert page.get_by_text("A hummingbird <em>hovering</em> over a red flower").count() == 1  # shown as text
    tab.check("gallery")

    media = page.locator(".tile-media").first
    media.hover()
    video = media.locator("video")
    video.wait_for(state="attached")
    assert video.evaluate("v => v.muted") is True
    page.wait_for_function("() => document.querySelector('.tile-media video').readyState >= 2")

    star = page.locator(".tile").first.get_by_role("button", name="Favourite")
    url = page.url
    star.click()
    page.wait_for_function("() => document.querySelector('.tile .star').getAttribute('aria-pressed') === 'true'")
    assert page.url == url
    assert Favorite.objects.filter(user__username="alice").count() == 1


def test_the_player_plays_and_seeks_a_real_video(tab: Session, alice: Any, ready_video: Any) -> None:
    gen = ready_video(alice, prompt="A city skyline at dusk, lights coming on")
    page = tab.open(f"/videos/{gen.pk}/")
    page.wait_for_function("() => document.querySelector('video.player').readyState >= 1", timeout=15000)
    duration = page.evaluate("document.querySelector('video.player').duration")
    assert 1.8 <= duration <= 2.3
    page.evaluate("""() => new Promise(resolve => {
        const v = document.querySelector('video.player');
        v.addEventListener('seeked', resolve, {once: true});
        v.currentTime = 1.5;
    })""")
    assert abs(page.evaluate("document.querySelector('video.player').currentTime") - 1.5) < 0.3
    assert page.get_by_role("link", name="Download").get_attribute("href") == f"/videos/{gen.pk}/video.mp4?download=1"
    tab.check("generation-ready")


def test_the_status_follows_the_pipeline_without_a_reload(
    tab: Session, alice: Any, ready_video: Any, make_generation: Any
) -> None:
    files = ready_video(alice)  # real files the in-flight row will point at once it is "downloaded"
    gen = make_generation(alice, status=S.QUEUED, video=files.video.name, poster=files.poster.name,
                          prompt="A snail crossing a mossy log")  # fmt: skip
    page = tab.open(f"/videos/{gen.pk}/")
    page.evaluate("window.__marker = 'same page'")
    assert page.locator("[data-status-chip]").inner_text() == "Queued"
    tab.check("generation-queued")

    Generation.objects.filter(pk=gen.pk).update(status=S.RUNNING, error="MuleRun had a server error (HTTP 503)")
    page.wait_for_function("() => document.querySelector('[data-status-chip]').textContent === 'Generating'")
    assert page.locator("[data-retrying]").is_visible()
    assert page.locator(".steps li.current").inner_text() == "Generating"

    Generation.objects.filter(pk=gen.pk).update(status=S.READY, error="", finished_at=gen.created_at)
    page.wait_for_selector("video.player", timeout=10000)
    assert page.evaluate("window.__marker") == "same page"
    assert page.locator("[data-status-box]").is_hidden()
    assert page.get_by_role("link", name="Download").is_visible()
    assert page.get_by_role("link", name="Continue this video").is_visible()  # without a reload (outsider found)


def test_needs_attention_appears_live_and_stops_the_clock(tab: Session, alice: Any, make_generation: Any) -> None:
    gen = make_generation(alice, status=S.SUBMITTED, prompt="An origami crane unfolding")
    page = tab.open(f"/videos/{gen.pk}/")
    Generation.objects.filter(pk=gen.pk).update(status=S.NEEDS_ATTENTION)
    page.locator("[data-attention]").wait_for(state="visible", timeout=10000)
    assert page.locator("[data-status-chip]").inner_text() == "Needs attention"
    assert page.locator("[data-progress]").is_hidden()
    tab.check("generation-needs-attention")


def test_a_failure_shows_the_reason_and_the_refund(tab: Session, alice: Any, make_generation: Any) -> None:
    gen = make_generation(alice, status=S.FAILED, error="Kling refused the prompt under its content policy.")
    page = tab.open(f"/videos/{gen.pk}/")
    assert "Kling refused the prompt" in page.locator("[data-failure]").inner_text()
    tab.check("generation-failed")


def test_new_video_counts_prices_and_submits(tab: Session, alice: Any, credentials: Any) -> None:
    page = tab.open("/new/")
    tab.check("new-video")
    models = page.get_by_label("Model").locator("option").all_inner_texts()
    assert models.count("Kling 2.5 Turbo") == 1 and "Kling 3" in models  # a model once, whoever serves it
    assert "test account" in page.locator("[data-route]").inner_text()  # the account the site picked
    page.get_by_label("Prompt", exact=True).fill("A slow dolly shot through a misty pine forest")
    assert page.locator("[data-count]").inner_text() == "45"

    page.get_by_label("Duration").select_option("10")
    expected = price_for("mulerun:kling-v2.5-turbo", mode="std", duration=10, sound=False)
    page.wait_for_function(f"() => document.querySelector('[data-cost]').textContent === '{expected}'")
    assert page.locator("[data-balance-after]").inner_text() == str(500 - expected)

    page.get_by_label("Model").select_option(label="Kling 3")
    page.wait_for_selector("text=Multi-shot video")
    assert page.get_by_label("Prompt", exact=True).input_value().startswith("A slow dolly shot")
    assert page.get_by_label("Shot 2 prompt").is_hidden()  # rows appear as they are added
    page.get_by_label("Multi-shot video").check()
    page.get_by_label("Shot 1 prompt").fill("Fog drifts between the trees")
    page.get_by_label("Shot 1 seconds").fill("4")
    page.get_by_role("button", name="Add a shot").click()
    page.get_by_label("Shot 2 prompt").fill("A deer lifts its head")
    page.get_by_label("Shot 2 seconds").fill("6")
    assert "Shots add up to 10 of 10 s." in page.locator("[data-shot-sum]").inner_text()  # the duration was kept
    tab.check("new-video-multishot")

    page.locator("[data-submit]").click()
    page.wait_for_url(re.compile(r"/videos/[0-9a-f-]{36}/$"))
    gen = Generation.objects.get()
    assert gen.shots == [{"prompt": "Fog drifts between the trees", "duration": 4},
                         {"prompt": "A deer lifts its head", "duration": 6}]  # fmt: skip
    assert page.locator("[data-status-chip]").inner_text() == "Queued"


def test_new_video_shows_field_errors(tab: Session, alice: Any, credentials: Any) -> None:
    page = tab.open("/new/")
    page.locator("[data-submit]").click()
    page.wait_for_selector(".field-error")
    assert "Prompt is required." in page.locator("#field-prompt").inner_text()
    tab.check("new-video-errors")


def test_my_videos_and_credits(tab: Session, alice: Any, ready_video: Any, make_generation: Any) -> None:
    ready_video(alice, prompt="A ready one")
    make_generation(alice, status=S.RUNNING, prompt="Still cooking")
    page = tab.open("/videos/")
    assert page.locator(".tile").count() == 2
    tab.check("my-videos")
    page = tab.open("/credits/")
    assert page.locator("tbody tr").count() >= 1
    tab.check("credits")


def test_admin_pages_render_without_csp_violations(
    browser: Any, live_server: Any, admin_user: Any, alice: Any, credentials: Any, make_generation: Any
) -> None:
    gen = make_generation(alice, status=S.FAILED, provider_response={"status": "failed"}, error="Refused")
    session = Session(browser, live_server.url, admin_user)
    pages = [
        ("/admin/", "admin-index"),
        ("/admin/generations/providercredential/", "admin-credentials"),
        (f"/admin/generations/providercredential/{credentials['kling'].pk}/change/", "admin-credential"),
        ("/admin/generations/generation/", "admin-generations"),
        (f"/admin/generations/generation/{gen.pk}/change/", "admin-generation"),
        (f"/admin/auth/user/{alice.pk}/change/", "admin-user"),
    ]
    SHOTS.mkdir(parents=True, exist_ok=True)
    for path, name in pages:
        session.open(path)
        session.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        csp = [m for m in session.console if "Content Security Policy" in m]
        assert csp == [] and session.errors == [], f"{path}: {csp} {session.errors}"
    session.close()
