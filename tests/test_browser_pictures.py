"""A member starts a video from a picture in the browser: choose a file, see it, get a hint when its shape does
not match, submit, and find it on the video's page; then continue that video from its last frame."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image

from generations.media import images
from generations.models import Generation
from tests.fixtures_browser import CHROMIUM, Session

pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no /usr/bin/chromium on this machine"),
]


@pytest.fixture
def tab(
    browser: Any, live_server: Any, alice: Any, credentials: Any, media_root: Path, settings: Any
) -> Iterator[Session]:
    settings.PUBLIC_BASE_URL = live_server.url
    session = Session(browser, live_server.url, alice)
    yield session
    session.close()


def test_a_member_uploads_a_start_image_and_sees_it(tab: Session, tmp_path: Path, credentials: Any) -> None:
    picture = tmp_path / "bottle.png"
    Image.new("RGB", (900, 500), (240, 120, 20)).save(picture)
    page = tab.open(f"/new/?model={credentials['segmind'].pk}:segmind:kling-2.5-turbo")
    page.get_by_label("Start image", exact=True).set_input_files(str(picture))
    preview = page.locator("[data-picture-box=start_image] [data-preview]")
    preview.wait_for(state="visible")
    page.get_by_text("9:16", exact=True).click()
    hint = page.locator("[data-picture-box=start_image] [data-ratio-hint]")
    page.wait_for_function("el => el.textContent.includes('not 9:16')", arg=hint.element_handle())
    page.get_by_text("16:9", exact=True).click()
    page.wait_for_function("el => el.textContent === ''", arg=hint.element_handle())
    page.get_by_label("Prompt", exact=True).fill("The bottle turns slowly on a wooden table")
    tab.check("new-video-picture")
    page.locator("[data-submit]").click()
    page.wait_for_url(re.compile(r"/videos/[0-9a-f-]{36}/$"))
    gen = Generation.objects.get()
    assert images.stored_name(gen.image_url)
    shown = page.get_by_alt_text("The picture this video starts from")
    assert shown.evaluate("img => img.naturalWidth") == 900


def test_continue_this_video_opens_the_form_with_its_last_frame(
    tab: Session, alice: Any, ready_video: Any, credentials: Any
) -> None:
    gen = ready_video(alice, model="segmind:kling-2.5-turbo", credential=credentials["segmind"], prompt="Dusk")
    page = tab.open(f"/videos/{gen.pk}/")
    page.get_by_role("link", name="Continue this video").click()
    page.wait_for_url(re.compile(r"/new/\?continue="))
    preview = page.locator("[data-picture-box=start_image] [data-preview]")
    assert preview.evaluate("img => img.naturalWidth") == gen.width
    assert "from its last frame" in page.locator("#field-pictures").inner_text()
    tab.check("new-video-continue")


# One image-to-video model of every provider: Kling and PowerTokens take the picture itself (base64); the others
# fetch it from our signed link (PUBLIC_BASE_URL).
PICTURE_MODELS = [
    "kling:kling-v2-5-turbo",
    "powertokens:kling-v2-5-turbo",
    "mulerun:kling-v2.5-turbo",
    "aimlapi:klingai/v2.5-turbo/pro/text-to-video",
    "segmind:kling-2.5-turbo",
    "segmind_v1:kling-2.5-turbo",
]


@pytest.mark.parametrize("model", PICTURE_MODELS)
def test_a_member_makes_a_video_from_an_uploaded_picture_with_every_provider(
    browser: Any, live_server: Any, alice: Any, sim_credentials: Any, sim: Any, media_root: Path, settings: Any,
    fast_polls: None, tmp_path: Path, model: str,
) -> None:
    """The video made on the simulator begins with the uploaded picture, whichever provider made it."""
    from tests.conftest import drive

    provider = model.split(":")[0]
    settings.PUBLIC_BASE_URL = live_server.url
    picture = tmp_path / "poster.png"
    Image.new("RGB", (960, 540), (230, 200, 30)).save(picture)
    session = Session(browser, live_server.url, alice)
    try:
        page = session.open(f"/new/?model={sim_credentials[provider].pk}:{model}")
        page.get_by_label("Start image", exact=True).set_input_files(str(picture))
        page.locator("[data-picture-box=start_image] [data-preview]").wait_for(state="visible")
        page.get_by_label("Prompt", exact=True).fill("The poster flutters in the wind")
        page.locator("[data-submit]").click()
        page.wait_for_url(re.compile(r"/videos/[0-9a-f-]{36}/$"))
        (gen,) = drive(Generation.objects.get())
        assert (gen.status, gen.provider) == (Generation.Status.READY, provider), gen.error
        with gen.video.open("rb") as fh, av.open(fh) as container:
            first = next(container.decode(video=0)).to_image()
        r, g, b = first.resize((1, 1)).getpixel((0, 0))
        assert abs(r - 230) < 30 and abs(g - 200) < 30 and b < 70  # the uploaded picture, not the plain render
        page.reload()
        page.get_by_alt_text("The picture this video starts from").wait_for(state="visible")
        session.check(f"video-from-picture-{provider}")
    finally:
        session.close()
