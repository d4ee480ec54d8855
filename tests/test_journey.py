"""The whole journey in a real browser, against a live server, a real worker process and the provider simulator.

Alice logs in, makes a video, watches it become ready without reloading, plays and seeks it, finds it in the
gallery, remixes it and sees the charge on her Credits page; Bob sees it but not her private one; an admin grants
Alice credits with a reason and her balance in the top bar follows.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from generations.models import CreditAccount, CreditEntry, Generation
from generations.services.credits import credits_audit
from tests.fixtures_browser import Session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
S = Generation.Status
MULERUN = "mulerun:kling-v2.5-turbo"


@pytest.fixture
def site(live_server, sim_credentials, sim, media_root, fast_polls, worker_processes, settings):
    settings.PROVIDER_READ_TIMEOUT = 2.0
    worker_processes()  # `manage.py rqworker default fetch long --with-scheduler`, as in the Procfile
    return live_server


def _log_in(browser: Any, base_url: str, username: str) -> Session:
    session = Session(browser, base_url, None)
    page = session.open("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/")
    return session


def _make_video(session: Session, credential_id: int, prompt: str, *, private: bool = False) -> Generation:
    page = session.open("/new/")
    page.get_by_label("Model").select_option(label="Kling 2.5 Turbo")
    page.locator(".account-picker summary").click()  # the member overrides the site's choice of account
    page.get_by_label("Provider account").select_option(str(credential_id))
    page.wait_for_selector(".account-picker[open]")  # re-rendered with that account's options
    page.get_by_label("Prompt", exact=True).fill(prompt)
    if private:
        page.get_by_label("Private").check()
    page.locator("[data-submit]").click()
    page.wait_for_url(re.compile(r"/videos/[0-9a-f-]{36}/$"))
    return Generation.objects.get(prompt=prompt)


def test_a_member_makes_watches_shares_and_remixes_a_video(browser, site, alice, bob, admin_user, sim_credentials):
    cred = sim_credentials["mulerun"]
    tab = _log_in(browser, site.url, "alice")
    gen = _make_video(tab, cred.pk, "A red kite circling above green hills")
    page = tab.page
    page.evaluate("window.__sameDocument = true")
    page.wait_for_function("() => document.querySelector('[data-status-chip]').textContent === 'Ready'",
                           timeout=60_000)
    assert page.evaluate("window.__sameDocument") is True  # the status moved on without a reload
    page.wait_for_function("() => document.querySelector('video.player').readyState >= 1", timeout=15_000)
    assert 4.5 <= page.evaluate("document.querySelector('video.player').duration") <= 5.5
    page.evaluate("""() => new Promise(resolve => {
        const v = document.querySelector('video.player');
        v.addEventListener('seeked', resolve, {once: true});
        v.currentTime = 3;
    })""")
    assert abs(page.evaluate("document.querySelector('video.player').currentTime") - 3) < 0.5
    tab.check("journey-ready")

    gen.refresh_from_db()
    assert gen.status == S.READY
    page = tab.open("/")
    assert page.get_by_text("A red kite circling above green hills").count() == 1
    tab.check("journey-gallery")

    page = tab.open(f"/videos/{gen.pk}/")
    page.get_by_role("link", name="Remix").click()
    page.wait_for_url(re.compile(r"/new/\?remix="))
    assert page.get_by_label("Prompt", exact=True).input_value() == "A red kite circling above green hills"

    page = tab.open("/credits/")
    charge = page.locator("tbody tr", has_text="A red kite")
    assert str(gen.cost) in charge.first.inner_text()
    tab.check("journey-credits")

    private = _make_video(tab, cred.pk, "A private sketch of a lighthouse", private=True)
    tab.page.wait_for_function("() => document.querySelector('[data-status-chip]').textContent === 'Ready'",
                               timeout=60_000)

    other = _log_in(browser, site.url, "bob")
    page = other.open("/")
    assert page.get_by_text("A red kite circling above green hills").count() == 1
    assert page.get_by_text("A private sketch of a lighthouse").count() == 0
    assert other.page.goto(f"/videos/{private.pk}/").status == 404
    assert other.page.goto(f"/videos/{private.pk}/video.mp4").status == 404
    other.close()

    before = CreditAccount.balance_of(alice)
    staff = _log_in(browser, site.url, "admin")
    page = staff.open(f"/admin/auth/user/{alice.pk}/grant-credits/")
    page.get_by_label("Credits to grant").fill("250")
    page.get_by_label("Reason").fill("Festival project")
    page.get_by_role("button", name="Grant credits").click()
    page.wait_for_url(re.compile(r"/admin/auth/user/\d+/change/"))
    staff.close()
    assert CreditEntry.objects.filter(account__user=alice, kind="grant", reason="Festival project").exists()
    page = tab.open("/credits/")
    assert page.locator("[data-balance]").inner_text() == str(before + 250)
    assert page.get_by_text("Festival project").count() >= 1
    tab.close()
    assert credits_audit() == []
