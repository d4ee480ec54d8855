"""Every HTTP 500 the penetration test found (issue 10) is a clear 4xx, and nothing is written.

Each test sends exactly what the tester sent: unicode digits, NUL bytes, an overflowing date, a 5,000-digit
Range, a UTF-16 body, an over-long username, and out-of-range django-rq dashboard indexes.
"""

from __future__ import annotations

from typing import Any

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.test import Client

from generations.models import CreditEntry, Generation
from tests.fixtures_pages import make_credential


def _staff(admin_user: Any) -> Client:
    client = Client()
    client.force_login(admin_user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def _nothing_written() -> None:
    assert not AccessAttempt.objects.exists() and not AccessFailureLog.objects.exists()


# --- anonymous ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_hook_secret_with_a_nul_byte_is_a_bad_request() -> None:
    response = Client().post("/hooks/kling/" + "a" * 40 + "%00/", data=b"{}", content_type="application/json")
    assert response.status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_an_over_long_username_is_refused_at_the_login_form(url: str) -> None:
    response = Client().post(url, {"username": "u" * 300, "password": "whatever-it-is"})
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert "150 characters" in response.content.decode() or "correct username" in response.content.decode()
    assert not AccessAttempt.objects.filter(username__startswith="u" * 200).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/", "/accounts/password_reset/", "/new/"])
def test_a_utf16_body_is_a_bad_request(url: str) -> None:
    body = "username=alice&password=x"  # the test client encodes it in the declared charset
    client = Client(enforce_csrf_checks=True)
    response = client.post(url, data=body, content_type="application/x-www-form-urlencoded; charset=utf-16")
    assert response.status_code == 400
    _nothing_written()


# --- members ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/", "/gallery/", "/videos/", "/credits/"])
@pytest.mark.parametrize("page", ["²", "٣", "9" * 5000, "1\x00"])
def test_a_page_number_that_is_not_ascii_digits_is_not_a_500(alice_client: Client, url: str, page: str) -> None:
    response = alice_client.get(url, {"page": page})
    assert response.status_code in (200, 400), response.status_code


def test_a_date_at_the_end_of_the_calendar_is_a_field_error(alice_client: Client) -> None:
    for name in ("date_to", "date_from"):
        response = alice_client.get("/", {name: "9999-12-31"})
        assert response.status_code == 200
        assert "field-error" in response.content.decode() or "errorlist" in response.content.decode()


def test_a_quote_for_a_unicode_digit_credential_is_a_field_error(alice_client: Client, credentials: Any) -> None:
    response = alice_client.get("/new/quote.json", {"model": "²:mulerun:kling-v2.6", "duration": "5"})
    assert response.status_code == 400
    assert "model" in response.json()["errors"]


def test_a_unicode_digit_shot_duration_is_a_field_error(alice_client: Client, alice: Any, credentials: Any) -> None:
    model = next(f"{c.pk}:kling:kling-v3" for c in credentials.values() if c.provider == "kling")
    post = {
        "model": model, "prompt": "", "mode": "std", "aspect_ratio": "16:9", "duration": "5", "visibility": "team",
        "form_token": "3b8f3c1e-7f4a-4d55-9b7e-6c1d2e3f4a5b", "multi_shot": "on", "shot_type": "customize",
        "shot_prompt_1": "a cat", "shot_duration_1": "²",
    }  # fmt: skip
    response = alice_client.post("/new/", post)
    assert response.status_code == 200
    assert "whole number" in response.content.decode()
    assert not Generation.objects.exists() and not CreditEntry.objects.filter(kind="charge").exists()


@pytest.mark.parametrize("header", ["bytes=" + "9" * 5000 + "-", "bytes=-" + "9" * 5000, "bytes=²-", "bytes=0-²"])
def test_a_range_header_with_absurd_numbers_is_not_a_500(
    alice_client: Client, alice: Any, ready_video: Any, header: str
) -> None:
    gen = ready_video(alice)
    response = alice_client.get(f"/videos/{gen.pk}/video.mp4", HTTP_RANGE=header)
    assert response.status_code in (200, 206, 416)


# --- staff ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/admin/django_rq/dashboard/schedulers/0/",
        "/admin/django_rq/dashboard/queues/9/",
        "/admin/django_rq/dashboard/workers/9/",
        "/admin/django_rq/dashboard/queues/9/finished/",
        "/admin/django_rq/dashboard/queues/9/empty/",
    ],
)
def test_a_missing_django_rq_queue_or_scheduler_is_a_404(admin_user: Any, url: str) -> None:
    assert _staff(admin_user).get(url).status_code == 404


def test_the_dashboard_does_not_link_to_a_scheduler_page_that_cannot_work(admin_user: Any) -> None:
    html = _staff(admin_user).get("/admin/django_rq/dashboard/").content.decode()
    assert "schedulers/0/" not in html


@pytest.mark.parametrize(
    "url",
    [
        "/admin/generations/generation/?status__exact=%00",
        "/admin/generations/generation/?model__exact=%00",
        "/admin/generations/generation/?provider__exact=%00",
        "/admin/generations/creditentry/?kind__exact=%00",
        "/admin/generations/providercredential/?provider__exact=%00",
        "/admin/generations/price/?model__exact=%00",
        "/admin/generations/generation/?q=%00",
    ],
)
def test_an_admin_list_filter_with_a_nul_byte_is_a_bad_request(admin_user: Any, url: str) -> None:
    make_credential("mulerun")
    assert _staff(admin_user).get(url).status_code == 400
