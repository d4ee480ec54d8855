"""Login throttling (django-axes) on the site login and the admin login, and that no page tells a
visitor whether an account exists.

Axes counts failures per (username, client IP); the sixth attempt inside 15 minutes is refused even with the
right password, and the lock ends by itself 15 minutes after the last failure (axes compares with
``timezone.now``, which ``time_machine`` moves).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from django.utils import timezone

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"  # the personas' password (tests/conftest.py)
SITE, ADMIN = "/accounts/login/", "/admin/login/"
LOGINS = [pytest.param(SITE, id="site"), pytest.param(ADMIN, id="admin")]
IP_A, IP_B = "203.0.113.7", "198.51.100.9"


def _post(url: str, username: str, password: str, *, ip: str = IP_A, client: Client | None = None) -> Any:
    client = client or Client()
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=ip)


def _logged_in(response: Any) -> bool:
    return response.status_code == 302 and "_auth_user_id" in response.wsgi_request.session


def _fail(url: str, username: str, times: int, *, ip: str = IP_A) -> None:
    """``times`` wrong passwords; the fifth is answered with the lockout page already (AXES_LOCK_OUT_AT_FAILURE)."""
    for n in range(1, times + 1):
        response = _post(url, username, "not the password", ip=ip)
        assert response.status_code == (429 if n >= 5 else 200), f"failure {n}"


def _normalised(response: Any, username: str) -> str:
    """The page without what differs per response (CSRF token, CSP nonce) or per typed name (the username echo)."""
    html = response.content.decode()
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', 'name="csrfmiddlewaretoken" value=""', html)
    html = re.sub(r'nonce="[^"]+"', 'nonce=""', html)
    return html.replace(f'value="{username}"', 'value="USERNAME"')


@pytest.fixture(autouse=True)
def _limits(settings: Any) -> None:
    # The project's values, restated so a changed default makes these tests fail loudly rather than pass vacuously.
    assert settings.AXES_FAILURE_LIMIT == 5
    assert timedelta(hours=settings.AXES_COOLOFF_TIME) == timedelta(minutes=15)
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]


@pytest.mark.parametrize("url", LOGINS)
def test_the_sixth_attempt_is_refused_even_with_the_right_password(url: str, alice: Any, admin_user: Any) -> None:
    user = admin_user if url == ADMIN else alice
    _fail(url, user.username, 4)
    assert _logged_in(_post(url, user.username, PASSWORD)), "four failures do not lock"
    AccessAttempt.objects.all().delete()  # a success resets the count (AXES_RESET_ON_SUCCESS); start over
    _fail(url, user.username, 5)
    locked = _post(url, user.username, PASSWORD)
    assert locked.status_code == 429
    assert not _logged_in(locked)
    assert b"Too many attempts" in locked.content
    assert b"correct horse" not in locked.content


@pytest.mark.parametrize("url", LOGINS)
def test_another_address_or_another_username_is_not_locked(
    url: str, alice: Any, bob: Any, admin_user: Any, settings: Any
) -> None:
    user = admin_user if url == ADMIN else alice
    if url == ADMIN:
        bob.is_staff = True
        bob.save()
    _fail(url, user.username, 5)
    assert _post(url, user.username, PASSWORD).status_code == 429
    assert _logged_in(_post(url, user.username, PASSWORD, ip=IP_B)), "same user, another address"
    assert _logged_in(_post(url, "bob", PASSWORD)), "another user, same address"


@pytest.mark.parametrize("url", LOGINS)
def test_the_lock_ends_by_itself_after_15_minutes(url: str, alice: Any, admin_user: Any) -> None:
    user = admin_user if url == ADMIN else alice
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        _fail(url, user.username, 5)
        clock.move_to(start + timedelta(minutes=14, seconds=59))
        response = _post(url, user.username, PASSWORD)
        assert response.status_code == 429, "still locked just before the end"
        # A refused attempt during the lock starts the 15 minutes again (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT)
        # so a script that keeps guessing stays locked out.
        clock.move_to(start + timedelta(minutes=14, seconds=59) + timedelta(minutes=14))
        assert _post(url, user.username, PASSWORD).status_code == 429
        clock.move_to(start + timedelta(minutes=14, seconds=59) + timedelta(minutes=29, seconds=1))
        assert _logged_in(_post(url, user.username, PASSWORD))


@pytest.mark.parametrize("url", LOGINS)
def test_the_lock_ends_15_minutes_after_the_last_failure_when_nobody_knocks(url: str, alice: Any) -> None:
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        _fail(url, "alice", 5)
        clock.move_to(start + timedelta(minutes=15, seconds=1))
        response = _post(url, "alice", PASSWORD)
    if url == ADMIN:  # alice is no staff member: the admin refuses her, but no longer with the lockout page
        assert response.status_code == 200 and b"Too many attempts" not in response.content
    else:
        assert _logged_in(response)


@pytest.mark.parametrize("url", LOGINS)
def test_a_wrong_password_and_an_unknown_user_get_the_same_page(url: str, alice: Any, admin_user: Any) -> None:
    known = _post(url, "alice", "not the password")
    unknown = _post(url, "nobody-by-this-name", "not the password")
    staff = _post(url, "admin", "not the password")
    assert known.status_code == unknown.status_code == staff.status_code == 200
    page = _normalised(known, "alice")
    assert page == _normalised(unknown, "nobody-by-this-name") == _normalised(staff, "admin")
    assert "correct username and password" in page


@pytest.mark.parametrize("url", LOGINS)
def test_an_inactive_account_gets_the_same_page_as_a_wrong_password(url: str, alice: Any) -> None:
    alice.is_active = False
    alice.save()
    disabled = _post(url, "alice", PASSWORD)
    unknown = _post(url, "nobody-by-this-name", PASSWORD)
    assert disabled.status_code == unknown.status_code == 200
    assert _normalised(disabled, "alice") == _normalised(unknown, "nobody-by-this-name")


@pytest.mark.parametrize("url", LOGINS)
def test_the_lockout_page_is_the_same_for_an_unknown_user(url: str, alice: Any) -> None:
    _fail(url, "alice", 5)
    _fail(url, "nobody-by-this-name", 5)
    real = _post(url, "alice", PASSWORD)
    ghost = _post(url, "nobody-by-this-name", PASSWORD)
    assert real.status_code == ghost.status_code == 429
    assert _normalised(real, "alice") == _normalised(ghost, "nobody-by-this-name")
    assert "alice" not in real.content.decode(), "the lockout page does not repeat the username"


def test_the_lockout_page_carries_the_security_headers(alice: Any) -> None:
    _fail(SITE, "alice", 5)
    locked = _post(SITE, "alice", PASSWORD)
    assert locked.status_code == 429
    assert "frame-ancestors 'none'" in locked["Content-Security-Policy"]
    assert locked["X-Frame-Options"] == "DENY"


# --- the client address behind reverse proxies (PROXY_COUNT) -----------------------------------------------------


def test_without_proxies_a_forged_forwarded_for_header_does_not_escape_the_lock(alice: Any) -> None:
    assert settings.AXES_CLIENT_IP_CALLABLE
    for n in range(1, 6):
        response = Client().post(
            SITE, {"username": "alice", "password": "x"}, REMOTE_ADDR=IP_A, HTTP_X_FORWARDED_FOR=f"10.9.9.{n}"
        )
        assert response.status_code == (429 if n == 5 else 200)
    forged = Client().post(
        SITE, {"username": "alice", "password": PASSWORD}, REMOTE_ADDR=IP_A, HTTP_X_FORWARDED_FOR="10.9.9.99"
    )
    assert forged.status_code == 429


def test_behind_one_proxy_each_client_is_counted_by_its_own_address(alice: Any, settings: Any) -> None:
    """Otherwise every visitor shares the proxy's address, and anyone can lock anyone out (ASVS 6.1.1)."""
    settings.AXES_IPWARE_PROXY_COUNT = 1
    proxy = "10.0.0.2"
    for n in range(1, 6):
        response = Client().post(
            SITE, {"username": "alice", "password": "x"}, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=IP_A
        )
        assert response.status_code == (429 if n == 5 else 200)
    attacker = Client().post(
        SITE, {"username": "alice", "password": PASSWORD}, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=IP_A
    )
    assert attacker.status_code == 429
    # The attacker cannot dodge the count by sending a header of its own: the proxy appends the real address.
    spoofed = Client().post(
        SITE, {"username": "alice", "password": PASSWORD}, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=f"1.1.1.1, {IP_A}"
    )
    assert spoofed.status_code == 429
    alice_herself = Client().post(
        SITE, {"username": "alice", "password": PASSWORD}, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=IP_B
    )
    assert _logged_in(alice_herself)


# --- where a login sends you ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"])
def test_a_login_never_redirects_off_site(target: str, alice: Any) -> None:
    response = Client().post(SITE, {"username": "alice", "password": PASSWORD, "next": target}, REMOTE_ADDR=IP_A)
    assert _logged_in(response)
    assert response["Location"] == "/"  # LOGIN_REDIRECT_URL instead of the foreign target
