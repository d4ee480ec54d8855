"""Logging in and out, and that every page needs a login."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from kling_site import urls as root_urls

OPEN = {
    "login",
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
    "provider_image",  # a provider fetches a picture through a signed, expiring link (test_pictures.py)
    "provider_hook",
    "logout",
    "shared_page",  # share links for people outside the team (test_share_links.py)
    "shared_video",
    "shared_poster",
}


def _member_patterns():
    for pattern in get_resolver(root_urls).url_patterns:
        if isinstance(pattern, URLResolver) and str(pattern.pattern).startswith(("admin/", "api/")):
            continue  # the admin's own login, tested in test_admin.py; the API's tokens: the test below
        if isinstance(pattern, URLResolver):
            for sub in pattern.url_patterns:
                if isinstance(sub, URLPattern) and sub.name not in OPEN:
                    yield sub
        elif pattern.name not in OPEN:
            yield pattern


def _url(pattern):
    kwargs = {}
    for name, conv in pattern.pattern.converters.items():
        kind = type(conv).__name__
        kwargs[name] = "00000000-0000-0000-0000-000000000000" if "UUID" in kind else "1" if "Int" in kind else "x"
    return reverse(pattern.name, kwargs=kwargs)


@pytest.mark.django_db
@pytest.mark.parametrize("pattern", list(_member_patterns()), ids=lambda p: p.name)
def test_every_page_redirects_anonymous_visitors_to_login(client, pattern):
    response = client.get(_url(pattern))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def _api_operations():
    for pattern in get_resolver(root_urls).url_patterns:
        if isinstance(pattern, URLResolver) and str(pattern.pattern) == "api/":
            yield from (p for p in pattern.url_patterns if p.name and "<path:" not in str(p.pattern))


@pytest.mark.django_db
@pytest.mark.parametrize("pattern", list(_api_operations()), ids=lambda p: p.name)
def test_every_api_operation_wants_a_token_and_a_session_is_not_one(client, alice, pattern):
    """Anonymous callers and browser sessions alike get 401 from the API (a token is the only way in), except
    its schema and docs, which hold nothing private."""
    path = "/api/" + str(pattern.pattern)
    path = re.sub(r"<uuid\w*:\w+>", "00000000-0000-0000-0000-000000000000", path)
    path = re.sub(r"<int:\w+>", "1", path)
    public = pattern.name in {"openapi-json", "openapi-view", "api-root"}
    for who in ("anonymous", "alice"):
        if who == "alice":
            client.force_login(alice)
        for method in ("get", "post", "patch", "delete"):
            response = getattr(client, method)(path)
            if public:
                assert response.status_code in (200, 302, 405)
            else:
                assert response.status_code in (401, 405), (who, method, path, response.status_code)


def test_the_walk_includes_the_api_token_pages():
    assert {"api_tokens", "api_token_created", "api_token_revoke"} <= {p.name for p in _member_patterns()}


@pytest.mark.django_db
def test_login_page_is_styled_and_open(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'<label for="id_username">' in response.content
    assert b"site.css" in response.content


def test_member_logs_in_and_out(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "correct horse battery"})
    assert response.status_code == 302
    response = client.get(reverse("credits"))
    assert response.status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("credits")).status_code == 302


def test_wrong_password_does_not_log_in(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert b"correct username and password" in response.content


@pytest.mark.django_db
def test_admin_is_at_slash_admin_and_needs_staff(client, alice, admin_user):
    client.force_login(alice)
    assert client.get("/admin/").status_code == 302  # members are sent to the admin login
    client.force_login(admin_user)
    page = client.get("/admin/")
    assert page.status_code == 200
    assert b"django-rq dashboard" in page.content
    assert client.get(reverse("admin:django_rq_dashboard_changelist")).status_code == 200


def test_a_member_changes_their_password_on_a_styled_page(client, alice):
    client.force_login(alice)
    page = client.get(reverse("password_change"))
    assert b"<h1>Change password</h1>" in page.content and b"site.css" in page.content
    response = client.post(
        reverse("password_change"),
        {
            "old_password": "correct horse battery",
            "new_password1": "a new Harbour-Light 42",
            "new_password2": "a new Harbour-Light 42",
        },
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("a new Harbour-Light 42")


@pytest.mark.django_db
def test_password_reset_is_open_and_does_not_reveal_accounts(client, alice, mailoutbox):
    page = client.get(reverse("password_reset"))
    assert b"<h1>Reset your password</h1>" in page.content
    known = client.post(reverse("password_reset"), {"email": "alice@example.com"})
    unknown = client.post(reverse("password_reset"), {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    assert len(mailoutbox) == 1
