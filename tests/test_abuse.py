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
