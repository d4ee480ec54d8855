"""Settings → API tokens (/settings/api/): a member makes a personal token, sees it once, lists and revokes it.

The rules are the service's (generations/api/tokens.py); these tests check what the member sees and that a bad or
forged request changes nothing.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta
from typing import Any

import pytest
import time_machine
from django.apps import apps
from django.contrib.sessions.models import Session
from django.db import models
from django.test import Client
from django.utils import timezone

from generations.api.tokens import token_create, token_find, token_state
from generations.models_api import ApiToken

TOKEN_IN_PAGE = re.compile(r"ks_[A-Za-z0-9_-]{43}")
PAGE = "/settings/api/"


def create(client: Client, **data: Any) -> Any:
    form = {"name": "Nightly export", "scope": "read", "expires": "90"} | data
    return client.post(PAGE, form)


def tokens_in(response: Any) -> set[str]:
    return set(TOKEN_IN_PAGE.findall(response.content.decode()))


def everything_stored() -> list[str]:
    """Every text value in the database, the sessions decoded."""
    rows = []
    for model in apps.get_models():
        text = [f.name for f in model._meta.concrete_fields if isinstance(f, models.CharField | models.TextField
                                                                          | models.JSONField)]  # fmt: skip
        rows += [repr(row) for row in model.objects.values_list(*text)] if text else []
    rows += [repr(s.get_decoded()) for s in Session.objects.all()]
    return rows


# --- making a token, shown once --------------------------------------------------------------------------------------


def test_a_new_token_is_shown_once_with_a_copy_button_and_a_curl_line(alice: Any, alice_client: Client) -> None:
    response = create(alice_client, name="Nightly export", scope="write", expires="30")
    token = ApiToken.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/settings/api/{token.pk}/new/"
    page = alice_client.get(response["Location"])
    html = page.content.decode()
    (raw,) = tokens_in(page)
    assert page["Cache-Control"] == "no-store"
    assert "you won't see it again" in html and "Nightly export" in html and "Read and write" in html
    assert f'data-copy-text="{raw}"' in html  # the copy button (static/js/site.js)
    assert f"curl -H &quot;Authorization: Bearer {raw}&quot; http://testserver/api/v1/balance" in html
    assert (token.user, token.scope, token.prefix) == (alice, "write", raw[:8])
    assert timedelta(days=29, hours=23) < token.expires_at - timezone.now() <= timedelta(days=30)

    again = alice_client.get(response["Location"])  # a reload
    assert tokens_in(again) == set() and "shown once, when it was made" in again.content.decode()
    assert raw not in alice_client.get(PAGE).content.decode()
    assert ApiToken.objects.count() == 1, "a reload makes no second token"


def test_the_curl_line_names_the_public_address(alice_client: Client, settings: Any) -> None:
    settings.PUBLIC_BASE_URL = "https://videos.example.com/"
    page = alice_client.get(create(alice_client)["Location"])
    assert "https://videos.example.com/api/v1/balance" in page.content.decode()


def test_the_database_keeps_the_sha256_and_never_the_token(alice_client: Client) -> None:
    raw = tokens_in(alice_client.get(create(alice_client)["Location"])).pop()
    token = ApiToken.objects.get()
    assert token.digest == hashlib.sha256(raw.encode()).hexdigest()
    stored = everything_stored()
    assert stored and not any(raw in row for row in stored), "the token is stored somewhere (or left in the session)"
    assert token_find(raw) == token  # and it opens the API


@pytest.mark.parametrize(
    ("expires", "expected"),
    [("never", None), ("30", timedelta(days=30)), ("90", timedelta(days=90)), ("365", timedelta(days=365))],
)
def test_the_member_chooses_when_it_expires(expires: str, expected: Any, alice_client: Client) -> None:
    with time_machine.travel(timezone.now(), tick=False):
        create(alice_client, expires=expires)
        token = ApiToken.objects.get()
        assert (token.expires_at and token.expires_at - timezone.now()) == expected


def test_a_token_may_work_until_the_end_of_a_chosen_day(alice_client: Client) -> None:
    day = timezone.localdate() + timedelta(days=10)
    create(alice_client, expires="date", expires_on=day.isoformat())
    token = ApiToken.objects.get()
    assert timezone.localtime(token.expires_at).date() == day
    assert timezone.localtime(token.expires_at + timedelta(seconds=1)).date() == day + timedelta(days=1)
    assert token_state(token, token.expires_at - timedelta(seconds=1)) == "active"
    assert token_state(token, token.expires_at) == "expired"


def test_the_form_offers_read_and_ninety_days_by_default(alice_client: Client) -> None:
    html = alice_client.get(PAGE).content.decode()
    assert re.search(r'<input type="radio" name="scope" value="read"[^>]*checked', html)
    assert re.search(r'<input type="radio" name="expires" value="90"[^>]*checked', html)
    for label in ("Read", "Read and write", "Never", "30 days", "90 days", "1 year", "On a date"):
        assert f"<span>{label}</span>" in html, label


# --- bad input: a clear message, nothing made ------------------------------------------------------------------------

YESTERDAY = (date.today() - timedelta(days=2)).isoformat()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "   "}, "Give the token a name"),
        ({"name": "x" * 81}, "Keep the name under 80 characters."),
        ({"scope": "admin"}, "Choose Read, or Read and write."),
        ({"scope": ""}, "Choose Read, or Read and write."),
        ({"expires": "7"}, "Choose Never, 30 days, 90 days, 1 year or On a date."),
        ({"expires": ""}, "Choose when the token stops working."),
        ({"expires": "date"}, "Pick the date the token stops working."),
        ({"expires": "date", "expires_on": "31/12/2026"}, "Enter the date as year-month-day"),
        ({"expires": "date", "expires_on": YESTERDAY}, "Choose an expiry date in the future."),
        ({"expires": "date", "expires_on": "9999-12-31"}, "Choose a date within 10 years, or Never."),
    ],
)
def test_bad_input_gets_a_clear_message_and_makes_nothing(data: dict[str, str], message: str,
                                                           alice_client: Client) -> None:  # fmt: skip
    response = create(alice_client, **data)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html and 'class="error-summary"' in html
    assert ApiToken.objects.count() == 0 and tokens_in(response) == set()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "   "}, "name", "Give the token a name"),
        ({"name": "\u202e\u200b"}, "name", "Give the token a name"),  # only invisible characters
        ({"scope": "admin"}, "scope", "Choose Read, or Read and write."),
        ({"expires": "date", "expires_on": YESTERDAY}, "expires_on", "Choose an expiry date in the future."),
    ],
)
def test_a_refused_value_is_marked_at_its_field_and_linked_from_the_summary(
    data: dict[str, str], field: str, message: str, alice_client: Client
) -> None:
    html = create(alice_client, **data).content.decode()
    assert f'<a href="#field-{field}" data-error-link>' in html  # the summary's line leads to the field
    box = html.split(f'id="field-{field}"', 1)[1].split('id="field-', 1)[0]
    assert html.split(f'id="field-{field}"', 1)[0].endswith('class="field has-error" ')  # marked invalid
    assert f'<p class="field-error" role="alert">{message}' in box


def test_a_nul_byte_is_refused_by_the_site_before_the_form(alice_client: Client) -> None:
    response = create(alice_client, name="bad\x00name")
    assert response.status_code == 400 and "NUL" in response.content.decode()
    assert ApiToken.objects.count() == 0


def test_a_name_is_kept_as_text(alice_client: Client) -> None:
    create(alice_client, name='<script>alert("x")</script>')
    html = alice_client.get(PAGE).content.decode()
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html


# --- the list --------------------------------------------------------------------------------------------------------


def test_the_list_shows_each_token_its_state_and_when_it_was_last_used(alice: Any, bob: Any,
                                                                       alice_client: Client) -> None:  # fmt: skip
    used, raw_used = token_create(user=alice, name="Deploy bot", scope="write")
    token_create(user=alice, name="Never touched", scope="read", expires_at=timezone.now() + timedelta(days=5))
    old, _ = token_create(user=alice, name="Old laptop", scope="read")
    gone, _ = token_create(user=alice, name="Leaked one", scope="read")
    token_create(user=bob, name="Bob's script", scope="read")
    with time_machine.travel(timezone.now() - timedelta(days=3), tick=False):
        assert token_find(raw_used) is not None
        when = timezone.now()
    ApiToken.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(days=1))
    alice_client.post(f"/settings/api/{gone.pk}/revoke/")

    html = alice_client.get(PAGE).content.decode()
    rows = {name: row for row in re.findall(r"<tr class=\"token-.*?</tr>", html, re.S)
            for name in re.findall(r'class="token-name" data-label="Name">([^<]*)<', row)}  # fmt: skip
    assert set(rows) == {"Deploy bot", "Never touched", "Old laptop", "Leaked one"}, "Bob's token is not listed"
    assert f"{used.prefix}…" in rows["Deploy bot"] and "Read and write" in rows["Deploy bot"]
    assert timezone.localtime(when).strftime("%-d %b %Y, %H:%M") in rows["Deploy bot"]
    assert "Never used" in rows["Never touched"] and "Never used" not in rows["Deploy bot"]
    assert ">Active<" in rows["Deploy bot"] and ">Expired<" in rows["Old laptop"] and ">Revoked<" in rows["Leaked one"]
    assert "Revoke…" in rows["Never touched"]
    assert "Revoke…" not in rows["Old laptop"] and "Revoke…" not in rows["Leaked one"]
    assert ">Never<" in rows["Deploy bot"], "no expiry"


def test_the_settings_page_leads_to_the_tokens(alice: Any, alice_client: Client) -> None:
    html = alice_client.get("/settings/").content.decode()
    assert 'href="/settings/api/"' in html and "You have no active token." in html
    token_create(user=alice, name="One", scope="read")
    assert "You have 1 active token." in alice_client.get("/settings/").content.decode()


# --- revoking ----------------------------------------------------------------------------------------------------


def test_revoking_asks_first_then_stops_the_token_at_once(alice: Any, alice_client: Client) -> None:
    token, raw = token_create(user=alice, name="Deploy bot", scope="write")
    confirm = alice_client.get(f"/settings/api/{token.pk}/revoke/")
    assert confirm.status_code == 200 and "Revoke this token?" in confirm.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is None, "asking changes nothing"
    response = alice_client.post(f"/settings/api/{token.pk}/revoke/", follow=True)
    assert response.redirect_chain == [("/settings/api/", 302)]
    assert "Revoked the token “Deploy bot”" in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None and token_find(raw) is None
    first = token.revoked_at
    again = alice_client.post(f"/settings/api/{token.pk}/revoke/", follow=True)
    assert "was already revoked" in again.content.decode()
    token.refresh_from_db()
    assert token.revoked_at == first


@pytest.mark.parametrize("who", ["bob_client", "charlie_client", "admin_client"])
def test_another_members_token_is_a_404_and_stays_as_it_was(who: str, alice: Any, request: Any) -> None:
    client = request.getfixturevalue(who)
    token, raw = token_create(user=alice, name="Alice's deploy bot", scope="write")
    for method, url in (("get", f"/settings/api/{token.pk}/revoke/"), ("post", f"/settings/api/{token.pk}/revoke/"),
                        ("get", f"/settings/api/{token.pk}/new/")):  # fmt: skip
        response = getattr(client, method)(url)
        assert response.status_code == 404, url
        assert "Alice's deploy bot" not in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is None and token_find(raw) == token
    assert "Alice's deploy bot" not in client.get(PAGE).content.decode()


def test_a_token_that_does_not_exist_is_a_404(alice_client: Client) -> None:
    assert alice_client.post("/settings/api/9999/revoke/").status_code == 404
    assert alice_client.get("/settings/api/9999/new/").status_code == 404


def test_the_page_that_shows_a_token_takes_no_post_and_revoking_takes_no_put(alice: Any, alice_client: Client) -> None:
    token, _ = token_create(user=alice, name="One", scope="read")
    assert alice_client.post(f"/settings/api/{token.pk}/new/").status_code == 405
    assert alice_client.put(f"/settings/api/{token.pk}/revoke/").status_code == 405
    assert alice_client.put(PAGE).status_code == 405


# --- in a browser ------------------------------------------------------------------------------------------------


@pytest.mark.browser
def test_in_a_browser_a_member_makes_a_token_copies_it_and_it_opens_the_api(
    browser: Any, live_server: Any, alice: Any
) -> None:
    from tests.fixtures_browser import Session

    member = Session(browser, live_server.url, alice)
    member.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = member.open("/settings/")
    page.get_by_role("link", name="Manage API tokens").click()
    page.get_by_role("heading", name="API tokens", exact=True).wait_for()
    page.get_by_label("Name").fill("Grafana dashboard")
    page.get_by_text("Read and write", exact=True).click()
    day = timezone.localdate() + timedelta(days=20)
    page.get_by_label("Date", exact=True).fill(day.isoformat())  # picking a date picks "On a date"
    assert page.get_by_label("On a date", exact=True).is_checked()
    page.get_by_role("button", name="Create token").click()
    page.get_by_role("heading", name="Your new API token").wait_for()
    raw = page.get_by_label("Token", exact=True).input_value()
    page.get_by_role("button", name="Copy token").click()
    page.get_by_role("button", name="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == raw
    page.get_by_role("button", name="Copy command").click()
    page.locator('button[data-copy-text^="curl"]:has-text("Copied")').wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == (
        f'curl -H "Authorization: Bearer {raw}" {live_server.url}/api/v1/balance'
    )
    member.check("api-token-created")
    page.reload()
    page.get_by_text("This token was shown once, when it was made.").wait_for()
    assert raw not in page.content()
    member.close()
    token = token_find(raw)
    assert token is not None and (token.user, token.name, token.scope) == (alice, "Grafana dashboard", "write")
    assert timezone.localtime(token.expires_at).date() == day
