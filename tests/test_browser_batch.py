"""A member makes a 3-row batch in a real browser, watches it finish, and downloads its ZIP (real worker process,
the provider simulator, a live server)."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

import av
import pytest

from generations.models import Batch, CreditAccount, Generation
from tests.conftest import wait_for
from tests.fixtures_browser import CHROMIUM, Session

pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no /usr/bin/chromium on this machine"),
]
PROMPTS = [
    "A batch test: a red shoe on white",
    "A batch test: a blue shoe on sand",
    "A batch test: a green shoe in rain",
]


@pytest.fixture
def tab(browser, live_server, sim_credentials, sim, media_root, fast_polls, worker_processes, alice, settings):
    settings.PROVIDER_READ_TIMEOUT = 2.0
    worker_processes()
    session = Session(browser, live_server.url, alice)
    yield session
    session.close()


def test_a_member_makes_a_three_row_batch_and_downloads_its_zip(tab: Session, alice: Any, tmp_path: Path) -> None:
    before = CreditAccount.balance_of(alice)
    page = tab.open("/batch/new/")
    page.get_by_label("Model").select_option(label="Kling 2.5 Turbo")
    page.get_by_role("button", name="Show this model's options").click()
    page.get_by_label("Prompts").fill("\n".join(PROMPTS))
    page.get_by_role("button", name="Check and price").last.click()
    rows = page.locator("[data-preview-row]")
    rows.first.wait_for()
    assert rows.count() == 3
    total = int(page.locator("[data-batch-total]").inner_text())
    tab.check("batch-priced")
    assert Generation.objects.count() == 0  # priced, nothing charged yet
    page.get_by_role("button", name=re.compile(rf"Generate 3 videos · {total} credits")).click()
    page.wait_for_url(re.compile(r"/batch/[0-9a-f-]{36}/$"))
    batch = Batch.objects.get()
    assert CreditAccount.balance_of(alice) == before - total == before - batch.total_cost
    ready = batch.generations.filter(status=Generation.Status.READY)
    wait_for(lambda: ready.count() == 3, timeout=90, what="the batch's three videos")
    page.reload()
    assert "3 of 3 ready" in page.locator("[data-batch-progress]").inner_text()
    tab.check("batch-ready")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download 3 ready videos (ZIP)").click()
    saved = tmp_path / "batch.zip"
    info.value.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        names = archive.namelist()
        assert [n[:3] for n in names] == ["01-", "02-", "03-"]
        for name in names:
            with av.open(io.BytesIO(archive.read(name))) as video:
                assert video.streams.video[0].frames > 0 or video.duration
