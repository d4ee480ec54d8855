"""Security headers and the Content-Security-Policy on every kind of page, cookies and HSTS with the production
variables, and that no template needs 'unsafe-inline' (no inline style, handler or script without a nonce)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from tests.test_settings import PRODUCTION

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"


def policy(response: Any) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_safe_headers(response: Any) -> None:
    csp = policy(response)
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"] and csp["form-action"] == ["'self'"]
    assert csp["default-src"] == ["'self'"]
    assert "'self'" in csp["script-src"]
    header = response["Content-Security-Policy"]
    assert "unsafe-inline" not in header and "unsafe-eval" not in header and "*" not in header.split()
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def assert_scripts_carry_the_nonce(response: Any) -> None:
    """Every <script> in the page has the header's nonce; a page without scripts needs none (stricter)."""
    html = response.content.decode()
    scripts = re.findall(r"<script\b[^>]*>", html)
    nonces = [v[len("'nonce-") : -1] for v in policy(response)["script-src"] if v.startswith("'nonce-")]
    for tag in scripts:
        if "src=" in tag and not nonces:
            continue  # an external script from our origin is allowed by 'self'
        assert nonces and f'nonce="{nonces[0]}"' in tag, tag
    assert "style=" not in html, "style-src 'self' blocks inline style attributes"
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", html), "inline event handlers need 'unsafe-inline'"


@pytest.fixture
def video(make_generation: Any, alice: Any, credentials: Any) -> Any:
    return make_generation(alice, status="ready")


def test_the_login_page(client: Client) -> None:
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert_safe_headers(response)
    assert_scripts_carry_the_nonce(response)


@pytest.mark.parametrize("url", ["/", "/new/", "/videos/", "/credits/", "VIDEO/", "VIDEO/status.json", "/nowhere/"])
def test_member_pages(url: str, alice_client: Client, video: Any) -> None:
    url = url.replace("VIDEO", f"/videos/{video.pk}")
    response = alice_client.get(url)
    assert response.status_code == (404 if url == "/nowhere/" else 200)
    assert_safe_headers(response)
    if response["Content-Type"].startswith("text/html"):
        assert_scripts_carry_the_nonce(response)


@pytest.mark.parametrize("url", ["/", "/new/", "VIDEO"])
def test_pages_with_scripts_put_a_fresh_nonce_in_script_src(url: str, alice_client: Client, video: Any) -> None:
    url = url.replace("VIDEO", f"/videos/{video.pk}/")
    first, second = alice_client.get(url), alice_client.get(url)
    nonce = [v for v in policy(first)["script-src"] if v.startswith("'nonce-")]
    assert len(nonce) == 1 and nonce[0][7:-1] in first.content.decode()
    assert nonce != [v for v in policy(second)["script-src"] if v.startswith("'nonce-")]


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/generations/generation/",
        "VIDEO_ADMIN",
        "/admin/generations/providercredential/",
        "/admin/generations/providercredential/add/",
        "/admin/auth/user/",
        "/admin/django_rq/dashboard/",
        "/admin/django_rq/dashboard/queues/0/",
    ],
)
def test_admin_pages(url: str, video: Any, admin_user: Any) -> None:
    client = Client()
    client.force_login(admin_user)
    url = url.replace("VIDEO_ADMIN", f"/admin/generations/generation/{video.pk}/change/")
    response = client.get(url)
    assert response.status_code == 200
    assert_safe_headers(response)
    if "/queues/" not in url:
        # django-rq's job lists carry one inline <script> (the select-all checkbox), which the policy blocks;
        # Django's own admin pages work under it unchanged.
        assert_scripts_carry_the_nonce(response)


def test_the_admin_login_page(client: Client) -> None:
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert_safe_headers(response)
    assert_scripts_carry_the_nonce(response)


def test_a_video_file_is_served_with_nosniff_and_no_framing(alice_client: Client, ready_video: Any, alice: Any) -> None:
    gen = ready_video(alice)
    response = alice_client.get(f"/videos/{gen.pk}/video.mp4")
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == "video/mp4"
    assert response["X-Frame-Options"] == "DENY"
    response.close()


# --- the templates themselves ------------------------------------------------------------------------------------


def _template_files() -> list[Path]:
    return sorted(TEMPLATES.rglob("*.html"))


def test_no_template_has_an_inline_style_handler_or_unnonced_script() -> None:
    problems = []
    for path in _template_files():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            where = f"{path.relative_to(ROOT)}:{number}"
            if re.search(r"\bstyle\s*=", line):
                problems.append(f"{where} inline style=")
            if re.search(r"<[^>]*\son[a-z]+\s*=", line):
                problems.append(f"{where} inline on…= handler")
            for tag in re.findall(r"<script\b[^>]*>", line):
                if "nonce=" not in tag:
                    problems.append(f"{where} <script> without a nonce")
            if re.search(r"<style\b", line) and "nonce=" not in line:
                problems.append(f"{where} <style> block")
            if re.search(r"href\s*=\s*[\"']javascript:", line, re.IGNORECASE):
                problems.append(f"{where} javascript: URL")
    assert _template_files(), "the scan found the templates"
    assert problems == []


# --- production: HTTPS=1 ---------------------------------------------------------------------------------------------

_PRODUCTION_PROBE = r"""
import json, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth import get_user_model
from django.test import Client
get_user_model().objects.create_user("alice", password="correct horse battery")
secure = {"HTTP_HOST": "videos.example.com", "HTTP_X_FORWARDED_PROTO": "https"}
client = Client()
login_page = client.get("/accounts/login/", **secure)
logged_in = client.post(
    "/accounts/login/", {"username": "alice", "password": "correct horse battery"}, **secure
)
plain = Client().get("/accounts/login/", HTTP_HOST="videos.example.com")

def cookie(c):
    return {"secure": bool(c["secure"]), "httponly": bool(c["httponly"]), "samesite": c["samesite"]}

print(json.dumps({
    "login_status": login_page.status_code,
    "hsts": login_page.get("Strict-Transport-Security", ""),
    "csrf_cookie": cookie(login_page.cookies["csrftoken"]),
    "post_status": logged_in.status_code,
    "session_cookie": cookie(logged_in.cookies["sessionid"]),
    "plain_status": plain.status_code,
    "plain_location": plain.get("Location", ""),
}))
"""


def test_with_production_variables_cookies_are_secure_and_hsts_is_a_year(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "CREDENTIAL_KEYS", "HTTPS")}
    env.update(PRODUCTION, HTTPS="1", DJANGO_SETTINGS_MODULE="kling_site.settings",
               DATABASE_URL=f"sqlite:///{tmp_path / 'prod.sqlite3'}", STATIC_MANIFEST="0")  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-c", _PRODUCTION_PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["login_status"] == 200 and seen["post_status"] == 302
    hsts = dict([*part.strip().split("="), ""][:2] for part in seen["hsts"].split(";"))
    assert int(hsts["max-age"]) >= 31536000
    assert "includeSubDomains" in hsts and "preload" in hsts
    assert seen["session_cookie"] == {"secure": True, "httponly": True, "samesite": "Lax"}
    assert seen["csrf_cookie"]["secure"] is True and seen["csrf_cookie"]["samesite"] == "Lax"
    assert seen["plain_status"] == 301 and seen["plain_location"].startswith("https://videos.example.com/")
