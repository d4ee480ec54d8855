"""Every page at 1280 px and 390 px, light and dark, with portrait, square and landscape videos in the grids.

The PNGs go to $TEST_ARTIFACTS/screenshots/all/<page>-<width>-<theme>.png for people to look at (CI keeps them).
What was seen and fixed stays fixed by the layout assertions: no horizontal scrolling on a phone, cards of one
row of the same height, no script error or CSP violation.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from generations.api.tokens import token_create, token_find
from generations.crypto import encrypt_secrets
from generations.models import ApiToken, Batch, Generation, ShareLink, Webhook, WebhookDelivery
from generations.prompts.services import template_create
from generations.sharing.services import share_link_create
from tests.fixtures_browser import CHROMIUM, SHOTS, Session

S = Generation.Status
OUT = SHOTS / "all"
WIDTHS = (1280, 390)
THEMES = ("light", "dark")

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no /usr/bin/chromium on this machine"),
]

EVEN_ROWS = """() => {
  const rows = {};
  for (const t of document.querySelectorAll('.tile')) {
    const r = t.getBoundingClientRect();
    (rows[Math.round(r.top)] = rows[Math.round(r.top)] || []).push(r.height);
  }
  return Object.values(rows).every(h => Math.max(...h) - Math.min(...h) < 1);
}"""


def _shoot(session: Session, path: str, name: str, status: int = 200, then: Callable[[Any], Any] | None = None) -> None:
    """``then``: what to do on the page before the picture (e.g. send a form); it returns the response to check."""
    page = session.page
    for theme in THEMES:
        page.emulate_media(color_scheme=theme)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            response = page.goto(path, wait_until="load")  # not "networkidle": a player may keep streaming
            if then is not None:
                response = then(page)
            assert response is not None and response.status == status, f"{path}: {response and response.status}"
            page.wait_for_function("() => [...document.images].every(i => i.complete)")
            OUT.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(OUT / f"{name}-{width}-{theme}.png"), full_page=True)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{name} at {width} px ({theme}) scrolls sideways by {overflow} px"
            assert page.evaluate(EVEN_ROWS), f"{name} at {width} px: uneven cards in a row"
    assert session.errors == [], session.errors
    csp = [m for m in session.console if "Content Security Policy" in m or "Refused to" in m]
    assert csp == [], csp


def test_every_page_at_two_widths_in_light_and_dark(
    browser: Any, live_server: Any, alice: Any, bob: Any, admin_user: Any, credentials: Any, media_root: Path,
    ready_video: Any, make_generation: Any,
) -> None:  # fmt: skip
    now = timezone.now()
    shapes = [("9:16", (180, 320)), ("1:1", (240, 240)), ("16:9", (320, 180))]
    prompts = [
        "A tall waterfall in a mossy canyon, seen from below as mist drifts across the frame",
        "A bowl of ramen, steam rising",
        "A night train crossing a snowy bridge, windows glowing, a long prompt that wraps onto several lines "
        "to show how a long title is clamped in the card without stretching it",
    ]
    ready = []
    for i, ((ratio, size), prompt) in enumerate(zip(shapes * 2, prompts * 2, strict=True)):
        owner = alice if i % 2 else bob
        ready.append(ready_video(owner, size=size, aspect_ratio=ratio, prompt=prompt, duration=5 + 5 * (i % 2),
                                 created_at=now - timedelta(minutes=i)))  # fmt: skip
    queued = make_generation(alice, status=S.RUNNING, prompt="A hot air balloon rising at dawn", created_at=now)
    failed = make_generation(alice, status=S.FAILED, error="Kling refused the prompt under its content policy.",
                             submitted_at=now, running_at=now)  # fmt: skip
    portrait = ready[0]
    waiting = [  # two videos waiting in line (admitted_at empty): one of Alice's, one private of Bob's
        make_generation(owner, status=S.QUEUED, admitted_at=None, prompt=prompt, created_at=now - timedelta(seconds=s))
        for owner, prompt, s in ((alice, "A lighthouse beam sweeping over a stormy sea at night", 20),
                                 (bob, "Bob's private storyboard frame", 10))
    ]  # fmt: skip
    Generation.objects.filter(pk=waiting[1].pk).update(visibility=Generation.Visibility.PRIVATE)
    batch = Batch.objects.create(owner=alice, title="Product shots for the spring catalogue", total_cost=50)
    for row, gen in enumerate([*ready[1::2], queued, failed], start=1):  # Alice's portrait, square, landscape
        Generation.objects.filter(pk=gen.pk).update(batch=batch, batch_row=row)
    # Share links: Alice's square video lists an active, a revoked and an expired one; clients open the others.
    own = ready[1]
    for label, days in (("Acme review", 7), ("Old cut for the agency", 1), ("", 30)):
        share_link_create(generation=own, actor=alice, label=label, days=days)
    ShareLink.objects.filter(label="Acme review").update(view_count=3, last_viewed_at=now)
    ShareLink.objects.filter(label="Old cut for the agency").update(revoked_at=now)
    ShareLink.objects.filter(label="").update(created_at=now - timedelta(days=40), expires_at=now - timedelta(days=10))
    shared = {
        "shared-portrait": share_link_create(generation=portrait, actor=bob)[1],
        "shared-square": share_link_create(generation=own, actor=alice)[1],
        "shared-landscape": share_link_create(generation=ready[2], actor=bob)[1],
        "shared-long-title-with-names": share_link_create(generation=ready[5], actor=alice, show_names=True)[1],
    }

    def create_link(page: Any) -> Any:
        with page.expect_navigation() as sent:
            page.get_by_role("button", name="Create link").click()
        return sent.value
    walk = template_create(owner=alice, name="Walk", text="{subject} walking through {place}, {style}",
                           negative_prompt="blurry {style}", defaults={"model": "kling-2-6", "mode": "pro",
                           "duration": 10, "aspect_ratio": "9:16", "sound": True})  # fmt: skip
    template_create(owner=bob, name="Product turntable, studio light, a name long enough to wrap on a phone",
                    text="A {product} turning slowly on a white pedestal, soft studio light, " * 3, shared=True)
    template_create(owner=alice, name="Lighthouse", text="A lighthouse at dusk, waves, no placeholders")

    # API tokens: one in use, one revoked, one expired; then a new one made through the form and shown once.
    in_use, raw = token_create(user=alice, name="Nightly export to the team drive", scope="write",
                               expires_at=now + timedelta(days=80))  # fmt: skip
    token_find(raw)  # last used: now
    token_create(user=alice, name="Leaked in a pasted log", scope="write")
    token_create(user=alice, name="Old laptop", scope="read")
    ApiToken.objects.filter(name="Leaked in a pasted log").update(revoked_at=now - timedelta(days=2),
                                                                  created_at=now - timedelta(days=30))  # fmt: skip
    ApiToken.objects.filter(name="Old laptop").update(created_at=now - timedelta(days=400),
                                                      expires_at=now - timedelta(days=35))  # fmt: skip

    def create_token(page: Any) -> Any:
        page.get_by_label("Name").fill("Grafana dashboard")
        with page.expect_navigation() as sent:
            page.get_by_role("button", name="Create token").click()
        return sent.value

    def forget_the_date(page: Any) -> Any:
        page.get_by_label("Name").fill("Grafana dashboard")
        page.get_by_text("On a date", exact=True).click()
        with page.expect_navigation() as sent:
            page.get_by_role("button", name="Create token").click()
        return sent.value

    member = Session(browser, live_server.url, alice)
    pages = [
        ("/", "gallery"),
        ("/?q=nothing+matches+this", "gallery-empty"),
        ("/videos/", "my-videos"),
        ("/new/", "new-video"),
        (f"/new/?model={credentials['kling'].pk}:kling:kling-v3", "new-video-kling-v3"),
        (f"/videos/{portrait.pk}/", "video-portrait"),
        (f"/videos/{ready[2].pk}/", "video-landscape"),
        (f"/videos/{queued.pk}/", "video-in-progress"),
        (f"/videos/{failed.pk}/", "video-failed"),
        ("/credits/", "credits"),
        ("/batch/new/", "batch-new"),
        ("/batch/", "batch-list"),
        (f"/batch/{batch.pk}/", "batch"),
        ("/line/", "line"),
        (f"/videos/{waiting[0].pk}/", "video-waiting-in-line"),
        ("/accounts/password_change/", "password-change"),
        ("/templates/", "templates"),
        ("/templates/?q=nothing+matches", "templates-empty"),
        ("/templates/new/", "template-new"),
        (f"/templates/new/?from={ready[2].pk}", "template-from-video"),
        (f"/templates/{walk.pk}/use/", "template-use"),
        (f"/templates/{walk.pk}/edit/", "template-edit"),
        ("/templates/history/", "prompt-history"),
        ("/settings/", "settings"),
        ("/settings/api/", "api-tokens"),
        (f"/settings/api/{in_use.pk}/revoke/", "api-token-revoke"),
    ]
    pages += [(f"/videos/{own.pk}/", "video-own-with-share-links"), (f"/videos/{own.pk}/share/", "share-form")]
    for path, name in pages:
        _shoot(member, path, name)
    _shoot(member, f"/videos/{own.pk}/share/", "share-link-created", then=create_link)
    _shoot(member, "/settings/api/", "api-tokens-bad-date", status=400, then=forget_the_date)
    _shoot(member, "/settings/api/", "api-token-created", then=create_token)
    _shoot(member, "/no-such-page/", "not-found", status=404)
    member.close()

    anonymous = Session(browser, live_server.url, None)
    _shoot(anonymous, "/accounts/login/", "login")
    for name, token in shared.items():
        _shoot(anonymous, f"/s/{token}/", name)
    _shoot(anonymous, f"/s/{'A' * 43}/", "shared-link-not-available", status=404)
    anonymous.close()

    gave_up = _webhooks_for_the_admin(alice, [ready[1], failed, ready[3]])
    admin = Session(browser, live_server.url, admin_user)
    for path, name in [
        ("/admin/", "admin-index"),
        ("/admin/auth/user/", "admin-members"),
        (f"/admin/generations/providercredential/{credentials['kling'].pk}/change/", "admin-credential"),
        ("/admin/generations/generation/", "admin-generations"),
        ("/admin/generations/price/", "admin-prices"),
        ("/admin/generations/price/grid/", "admin-price-grid"),
        (f"/admin/auth/user/{alice.pk}/take-back-credits/", "admin-take-back"),
        ("/admin/generations/creditentry/", "admin-ledger"),
        ("/admin/generations/sharelink/", "admin-share-links"),
        ("/admin/generations/prompttemplate/", "admin-prompt-templates"),
        ("/admin/generations/webhook/", "admin-webhooks"),
        ("/admin/generations/webhookdelivery/", "admin-webhook-deliveries"),
        (f"/admin/generations/webhookdelivery/{gave_up}/change/", "admin-webhook-delivery"),
    ]:
        _shoot(admin, path, name)
    admin.close()


def _webhooks_for_the_admin(owner: Any, videos: list[Any]) -> Any:
    """An endpoint with one delivery delivered, one retrying and one given up (its id is returned)."""
    hook = Webhook.objects.create(
        owner=owner, url="https://hooks.example.com/kling?token=abc", events=["generation.ready", "generation.failed"],
        secret_encrypted=encrypt_secrets({"secret": "whsec_c2NyZWVuc2hvdA=="}),
    )  # fmt: skip
    now = timezone.now()
    states = [
        {"attempts": 1, "status_code": 200, "delivered_at": now},
        {"attempts": 3, "status_code": 503, "error": "The endpoint answered HTTP 503.", "next_attempt_at": now},
        {"attempts": 8, "error": "The endpoint did not answer within 10 seconds.", "gave_up_at": now},
    ]
    for video, state in zip(videos, states, strict=True):
        event = "generation.failed" if video.status == S.FAILED else "generation.ready"
        delivery = WebhookDelivery.objects.create(
            webhook=hook, generation=video, event=event, last_attempt_at=now,
            payload={"type": event, "data": {"id": str(video.pk), "status": video.status}}, **state,
        )  # fmt: skip
    return delivery.pk
