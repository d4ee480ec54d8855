"""Abuse the penetration test found (issue 10): member lists, control characters, private image URLs."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from generations.models import CreditEntry, Generation


def _post(credentials: dict[str, Any], provider: str, model: str, **fields: str) -> dict[str, str]:
    cred = credentials[provider]
    data = {
        "model": f"{cred.pk}:{provider}:{model}", "prompt": "A lighthouse in a storm", "mode": "std",
        "aspect_ratio": "16:9", "duration": "5", "visibility": "team",
        "form_token": "3b8f3c1e-7f4a-4d55-9b7e-6c1d2e3f4a5b",
    }  # fmt: skip
    return data | fields


def _errors(response: Any) -> list[str]:
    return re.findall(r'<p class="field-error" role="alert">(.*?)</p>', response.content.decode(), re.S)


def _nothing_created() -> None:
    assert not Generation.objects.exists() and not CreditEntry.objects.filter(kind="charge").exists()


@pytest.mark.parametrize("text", ["a\x01b", "\x1b[31mred", "del\x7f", "csi\x9b31m"])
def test_a_shot_prompt_with_control_characters_is_refused(alice_client: Client, credentials: Any, text: str) -> None:
    post = _post(
        credentials, "kling", "kling-v3", prompt="", multi_shot="on", shot_type="customize",
        shot_prompt_1=text, shot_duration_1="5",
    )  # fmt: skip
    response = alice_client.post("/new/", post)
    assert response.status_code == 200
    assert any("control characters" in e for e in _errors(response)), _errors(response)
    _nothing_created()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/cat.png",
        "http://[::1]/cat.png",
        "http://2130706433/cat.png",  # 127.0.0.1 spelled as a number
        "http://localhost/cat.png",
    ],
)
def test_a_private_or_local_image_url_is_refused_at_the_form(alice_client: Client, credentials: Any, url: str) -> None:
    post = _post(credentials, "segmind", "kling-2.5-turbo", image_url=url)
    response = alice_client.post("/new/", post)
    assert response.status_code == 200
    assert any("private or reserved address" in e for e in _errors(response)), _errors(response)
    _nothing_created()


def test_the_gallery_member_filter_lists_only_people_with_shared_videos(
    alice_client: Client, alice: Any, bob: Any, charlie: Any, admin_user: Any, make_generation: Any
) -> None:
    make_generation(bob, status="ready", visibility="team")
    make_generation(charlie, status="ready", visibility="private")
    make_generation(admin_user, status="failed", visibility="team")
    html = alice_client.get("/").content.decode()
    select = re.search(r'<select name="member".*?</select>', html, re.S)
    assert select, "the gallery has a Member filter"
    options = re.findall(r"<option[^>]*>(.*?)</option>", select.group(0))
    assert options == ["Anyone", "Bob"], options
    assert "admin" not in select.group(0) and "charlie" not in select.group(0).lower()


# --- password reset and password spraying ---------------------------------------------------------------------------


def test_password_reset_mails_are_limited_per_address_with_the_same_answer(alice: Any, mailoutbox: Any) -> None:
    from django.conf import settings

    client = Client()
    answers = set()
    for _ in range(5):
        response = client.post("/accounts/password_reset/", {"email": alice.email})
        answers.add((response.status_code, response["Location"]))
    for _ in range(5):
        response = client.post("/accounts/password_reset/", {"email": "nobody@example.com"})
        answers.add((response.status_code, response["Location"]))
    assert answers == {(302, "/accounts/password_reset/done/")}, answers
    assert 1 <= len(mailoutbox) <= settings.PASSWORD_RESET_LIMIT_PER_EMAIL


def test_password_reset_mails_are_limited_per_ip_across_addresses(db: None, settings: Any, mailoutbox: Any) -> None:
    from tests.conftest import make_member

    settings.PASSWORD_RESET_LIMIT_PER_IP = 4
    for n in range(8):
        make_member(f"member{n}")
        Client().post("/accounts/password_reset/", {"email": f"member{n}@example.com"})
    assert len(mailoutbox) == 4


def test_one_guess_on_many_accounts_from_one_address_is_throttled(alice: Any, settings: Any) -> None:
    settings.LOGIN_IP_FAILURE_LIMIT = 6
    client = Client()
    for n in range(6):  # password spraying: one guess per username, never the same username twice
        response = client.post("/accounts/login/", {"username": f"user{n}", "password": "Summer2026!"})
        assert response.status_code == 200
    response = client.post("/accounts/login/", {"username": "alice", "password": "correct horse battery"})
    assert response.status_code == 200 and "Too many failed logins" in response.content.decode()
    other = Client(REMOTE_ADDR="10.9.8.7")  # another address is not affected
    response = other.post("/accounts/login/", {"username": "alice", "password": "correct horse battery"})
    assert response.status_code == 302
