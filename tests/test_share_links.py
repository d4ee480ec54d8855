"""Share links (generations/sharing/): a ready video shown to people outside the team at /s/<token>/.

An anonymous client with a link sees that one video (player, poster, download with Range) and nothing else; the
link expires or can be revoked; only a hash of its token is stored and the link is shown once, to its maker.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.apps import apps
from django.core.files.storage import default_storage
from django.db import models
from django.test import Client
from django.utils import timezone

from generations.models import Generation, ShareLink
from generations.sharing.services import share_link_create

S = Generation.Status
V = Generation.Visibility
TOKEN_IN_PAGE = re.compile(r"/s/([A-Za-z0-9_-]{43})/")
NONCE = re.compile(rb' nonce="[^"]*"')


@pytest.fixture
def video(alice: Any, ready_video: Any, credentials: Any) -> Generation:
    return ready_video(alice, prompt="A lighthouse at dusk, waves below")


@pytest.fixture
def other_video(alice: Any, ready_video: Any, credentials: Any) -> Generation:
    return ready_video(alice, prompt="Storyboard for the secret launch")


def share(client: Client, gen: Generation, **data: Any) -> Any:
    form = {"share-label": "Acme review", "share-days": "7"} | {f"share-{k}": v for k, v in data.items()}
    return client.post(f"/videos/{gen.pk}/share/", form, follow=True)


def token_of(response: Any) -> str:
    assert response.status_code == 200, response.content[:500]
    tokens = set(TOKEN_IN_PAGE.findall(response.content.decode()))
    assert len(tokens) == 1, tokens
    return tokens.pop()


def make_link(client: Client, gen: Generation, **data: Any) -> str:
    return token_of(share(client, gen, **data))


def body(response: Any) -> bytes:
    """The whole body; the test client closes a streamed one once it is read to the end."""
    return b"".join(response.streaming_content) if response.streaming else response.content


def stored_bytes(name: str) -> bytes:
    with default_storage.open(name, "rb") as fh:
        return fh.read()


# --- making a link ---------------------------------------------------------------------------------------------------


def test_the_owner_makes_a_link_that_shows_the_video_to_anyone_without_login(alice_client: Client, video: Any) -> None:
    created = share(alice_client, video)
    token = token_of(created)
    assert "shown only this once" in created.content.decode()
    assert created["Cache-Control"] == "no-store"

    page = Client().get(f"/s/{token}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "A lighthouse at dusk, waves below" in html
    assert f'src="/s/{token}/video.mp4"' in html and f'poster="/s/{token}/poster.jpg"' in html
    assert f'href="/s/{token}/video.mp4?download=1"' in html
    assert "0:02" in html  # the video's length
    assert '<meta name="robots" content="noindex, nofollow">' in html


def test_the_shared_page_shows_no_member_navigation_even_to_a_logged_in_member(
    alice_client: Client, video: Any
) -> None:
    token = make_link(alice_client, video)
    for client in (Client(), alice_client):
        html = client.get(f"/s/{token}/").content.decode()
        for member_only in ("My videos", "Gallery", "Credits", "Log out", "New video", "Change password", "credits"):
            assert member_only not in html, member_only
        assert f"/videos/{video.pk}" not in html


def test_the_link_is_shown_once_and_the_database_keeps_only_its_hash(alice_client: Client, video: Any) -> None:
    token = make_link(alice_client, video)
    link = ShareLink.objects.get()
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    everything = []
    for model in apps.get_models():
        text_fields = [f.name for f in model._meta.concrete_fields if isinstance(f, models.CharField | models.TextField
                                                                                  | models.JSONField)]  # fmt: skip
        for row in model.objects.values_list(*text_fields) if text_fields else []:
            everything.append(repr(row))
    assert everything and not any(token in row for row in everything), "the raw token is stored somewhere"
    video_page = alice_client.get(f"/videos/{video.pk}/").content.decode()
    assert "Acme review" in video_page and token not in video_page
    assert token not in alice_client.get(f"/videos/{video.pk}/share/").content.decode()


def test_tokens_are_long_random_and_independent_of_time_and_video(alice: Any, video: Any) -> None:
    with time_machine.travel(datetime(2026, 12, 3, 9, tzinfo=timezone.get_current_timezone()), tick=False):
        tokens = [share_link_create(generation=video, actor=alice)[1] for _ in range(50)]
    assert len(set(tokens)) == 50
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
        assert len(base64.urlsafe_b64decode(token + "=")) == 32  # 256 random bits
    # every one of the 64 URL-safe characters can appear: no fixed prefix, no timestamp, no id
    assert len(set("".join(tokens))) == 64
    assert len({t[:8] for t in tokens}) == 50


@pytest.mark.parametrize("days", [1, 7, 30])
def test_the_maker_chooses_how_long_the_link_works(days: int, alice_client: Client, video: Any) -> None:
    make_link(alice_client, video, days=str(days))
    link = ShareLink.objects.get()
    assert link.expires_at - link.created_at == timedelta(days=days)


def test_the_form_offers_seven_days_by_default(alice_client: Client, video: Any) -> None:
    html = alice_client.get(f"/videos/{video.pk}/").content.decode()
    assert re.search(r'<option value="7" selected>7 days</option>', html)
    assert '<option value="1">1 day</option>' in html and '<option value="30">30 days</option>' in html


# --- expiry and revocation ----------------------------------------------------------------------------------------


def test_a_link_stops_working_when_it_expires(alice_client: Client, video: Any) -> None:
    start = datetime(2026, 12, 3, 9, tzinfo=timezone.get_current_timezone())
    with time_machine.travel(start, tick=False):
        token = make_link(alice_client, video, days="1")
    with time_machine.travel(start + timedelta(hours=23, minutes=59), tick=False):
        assert Client().get(f"/s/{token}/").status_code == 200
        assert Client().get(f"/s/{token}/video.mp4").status_code == 200
    with time_machine.travel(start + timedelta(days=1, seconds=1), tick=False):
        assert Client().get(f"/s/{token}/").status_code == 404
        assert Client().get(f"/s/{token}/video.mp4").status_code == 404
        assert Client().get(f"/s/{token}/poster.jpg").status_code == 404
        page = alice_client.get(f"/videos/{video.pk}/").content.decode()
        assert "Expired" in page and "Revoke" not in page


def test_a_revoked_link_stops_at_once_and_revoking_twice_changes_nothing(alice_client: Client, video: Any) -> None:
    token = make_link(alice_client, video)
    link = ShareLink.objects.get()
    response = alice_client.post(f"/videos/{video.pk}/share/{link.pk}/revoke/", follow=True)
    assert "Revoked the link “Acme review”: it no longer opens." in response.content.decode()
    assert Client().get(f"/s/{token}/").status_code == 404
    assert Client().get(f"/s/{token}/video.mp4").status_code == 404
    revoked_at = ShareLink.objects.get().revoked_at
    assert revoked_at is not None
    again = alice_client.post(f"/videos/{video.pk}/share/{link.pk}/revoke/", follow=True)
    assert "This link was already revoked." in again.content.decode()
    assert ShareLink.objects.get().revoked_at == revoked_at


def test_staff_may_revoke_but_teammates_may_not(
    alice_client: Client, bob_client: Client, admin_user: Any, video: Any
) -> None:
    token = make_link(alice_client, video)
    link = ShareLink.objects.get()
    assert bob_client.post(f"/videos/{video.pk}/share/{link.pk}/revoke/").status_code == 404
    assert Client().get(f"/s/{token}/").status_code == 200
    staff = Client()
    staff.force_login(admin_user)
    assert staff.post(f"/videos/{video.pk}/share/{link.pk}/revoke/").status_code == 302
    assert Client().get(f"/s/{token}/").status_code == 404


def test_a_link_is_revoked_only_through_its_own_video(alice_client: Client, video: Any, other_video: Any) -> None:
    make_link(alice_client, video)
    link = ShareLink.objects.get()
    assert alice_client.post(f"/videos/{other_video.pk}/share/{link.pk}/revoke/").status_code == 404
    assert alice_client.get(f"/videos/{video.pk}/share/{link.pk}/revoke/").status_code == 405
    assert ShareLink.objects.get().revoked_at is None


# --- every dead link looks the same ---------------------------------------------------------------------------------


def _dead_pages(alice_client: Client, video: Any, make: Any, bob: Any, admin_user: Any) -> dict[str, str]:
    """One token per way a link can stop working, each still well formed."""
    staff = Client()
    staff.force_login(admin_user)
    tokens = {"unknown": "A" * 43}
    tokens["revoked"] = make_link(alice_client, video)
    ShareLink.objects.filter(token_hash=hashlib.sha256(tokens["revoked"].encode()).hexdigest()).update(
        revoked_at=timezone.now()
    )
    tokens["expired"] = make_link(alice_client, video)
    ShareLink.objects.filter(token_hash=hashlib.sha256(tokens["expired"].encode()).hexdigest()).update(
        created_at=timezone.now() - timedelta(days=8), expires_at=timezone.now() - timedelta(days=1)
    )
    deleted = make(bob)
    tokens["video deleted"] = make_link(_client(bob), deleted)
    Generation.objects.filter(pk=deleted.pk).update(deleted_at=timezone.now())
    not_ready = make(bob)
    tokens["video no longer ready"] = make_link(_client(bob), not_ready)
    Generation.objects.filter(pk=not_ready.pk).update(status=S.NEEDS_ATTENTION)
    made_private = make(bob)
    tokens["made private after staff shared it"] = make_link(staff, made_private)
    Generation.objects.filter(pk=made_private.pk).update(visibility=V.PRIVATE)
    return tokens


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_every_dead_link_gets_the_same_404_page(
    alice_client: Client, video: Any, ready_video: Any, bob: Any, admin_user: Any
) -> None:
    tokens = _dead_pages(alice_client, video, ready_video, bob, admin_user)
    pages = {}
    for why, token in tokens.items():
        for suffix in ("", "video.mp4", "poster.jpg", "video.mp4?download=1"):
            response = Client().get(f"/s/{token}/{suffix}", HTTP_RANGE="bytes=0-10")
            assert response.status_code == 404, (why, suffix)
            assert response["Referrer-Policy"] == "no-referrer" and "noindex" in response["X-Robots-Tag"]
            pages[(why, suffix)] = NONCE.sub(b"", response.content)
    assert len(set(pages.values())) == 1, "a dead link's page tells one case from another"
    html = next(iter(pages.values())).decode()
    assert "This link does not open a video" in html and "Ask the person who sent it" in html


def test_the_owner_who_makes_a_video_private_keeps_her_own_links(alice_client: Client, video: Any) -> None:
    token = make_link(alice_client, video)
    Generation.objects.filter(pk=video.pk).update(visibility=V.PRIVATE)
    assert Client().get(f"/s/{token}/").status_code == 200


# --- who may share what ---------------------------------------------------------------------------------------------


def test_a_private_video_is_shared_only_by_its_owner(
    alice_client: Client, bob_client: Client, admin_user: Any, ready_video: Any, alice: Any, credentials: Any
) -> None:
    private = ready_video(alice, visibility=V.PRIVATE)
    staff = _client(admin_user)
    refused = share(staff, private)
    assert refused.status_code == 403
    assert "This video is private: only its owner can share it." in refused.content.decode()
    assert TOKEN_IN_PAGE.search(refused.content.decode()) is None
    page = staff.get(f"/videos/{private.pk}/").content.decode()
    assert "only its owner can share it" in page and 'name="share-label"' not in page
    assert share(bob_client, private).status_code == 404  # a teammate cannot even see it
    assert ShareLink.objects.count() == 0
    make_link(alice_client, private)
    assert ShareLink.objects.get().created_by == alice


def test_staff_may_share_a_team_video_but_a_teammate_may_not(
    bob_client: Client, admin_user: Any, video: Any
) -> None:
    assert share(bob_client, video).status_code == 404
    assert 'name="share-label"' not in bob_client.get(f"/videos/{video.pk}/").content.decode()
    assert ShareLink.objects.count() == 0
    make_link(_client(admin_user), video)
    assert ShareLink.objects.get().created_by == admin_user


@pytest.mark.parametrize("status", [S.QUEUED, S.RUNNING, S.FAILED, S.CANCELED, S.NEEDS_ATTENTION])
def test_a_video_that_is_not_ready_cannot_be_shared(
    status: str, alice: Any, alice_client: Client, make_generation: Any, credentials: Any
) -> None:
    gen = make_generation(alice, status=status)
    response = share(alice_client, gen)
    assert response.status_code == 409
    assert ShareLink.objects.count() == 0
    page = alice_client.get(f"/videos/{gen.pk}/").content.decode()
    assert 'name="share-label"' not in page
    if status in Generation.IN_FLIGHT:
        assert "it can be shared once it is" in page


def test_a_deleted_video_cannot_be_shared(alice_client: Client, video: Any) -> None:
    Generation.objects.filter(pk=video.pk).update(deleted_at=timezone.now())
    assert share(alice_client, video).status_code == 404
    assert ShareLink.objects.count() == 0


# --- a valid token opens nothing else --------------------------------------------------------------------------------


def test_an_anonymous_visitor_with_a_valid_link_reaches_nothing_else(
    alice_client: Client, video: Any, other_video: Any, bob: Any, ready_video: Any
) -> None:
    token = make_link(alice_client, video)
    other_token = make_link(alice_client, other_video)
    visitor = Client()
    assert visitor.get(f"/s/{token}/").status_code == 200
    for path in (f"/videos/{video.pk}/", f"/videos/{video.pk}/video.mp4", f"/videos/{other_video.pk}/poster.jpg",
                 "/", "/gallery/", "/videos/", "/credits/", "/reports/", f"/videos/{video.pk}/share/"):  # fmt: skip
        response = visitor.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), path
    # each token serves its own video's bytes, never another's
    assert body(visitor.get(f"/s/{token}/video.mp4")) == stored_bytes(video.video.name)
    assert body(visitor.get(f"/s/{other_token}/video.mp4")) == stored_bytes(other_video.video.name)
    html = visitor.get(f"/s/{token}/").content.decode()
    assert "Storyboard for the secret launch" not in html and other_token not in html
    assert str(video.pk) not in html and str(other_video.pk) not in html
    for path in (f"/s/{token}/../{other_token}/", f"/s/{token}/{other_video.pk}/", f"/s/{token[:-1]}/",
                 f"/s/{token}x/", f"/s/{token.upper()}/", f"/s/{token}/video.mp4/"):  # fmt: skip
        assert visitor.get(path).status_code == 404, path
    assert ShareLink.objects.get(generation=video).view_count == 2  # the two openings of its page


def test_the_shared_page_names_nobody_unless_its_maker_chose_to(alice_client: Client, video: Any) -> None:
    quiet = make_link(alice_client, video)
    html = Client().get(f"/s/{quiet}/").content.decode()
    assert "Alice" not in html and "alice" not in html.lower() and "Made by" not in html
    named = make_link(alice_client, video, show_names="on")
    assert "Made by Alice" in Client().get(f"/s/{named}/").content.decode()


def test_the_shared_page_shows_no_credits_model_or_settings(alice_client: Client, video: Any) -> None:
    html = Client().get(f"/s/{make_link(alice_client, video)}/").content.decode()
    for hidden in ("credits", "Cost", "Model", video.spec.label, "MuleRun", "Negative", "Remix", "Acme review"):
        assert hidden not in html, hidden


# --- views, files, headers ------------------------------------------------------------------------------------------


def test_views_count_page_openings_by_visitors_only(alice_client: Client, video: Any) -> None:
    token = make_link(alice_client, video)
    visitor = Client()
    before = timezone.now()
    visitor.get(f"/s/{token}/")
    visitor.get(f"/s/{token}/")
    visitor.head(f"/s/{token}/")  # a link preview asking whether the page exists
    body(visitor.get(f"/s/{token}/video.mp4"))
    body(visitor.get(f"/s/{token}/video.mp4", HTTP_RANGE="bytes=100-"))
    body(visitor.get(f"/s/{token}/video.mp4?download=1"))
    body(visitor.get(f"/s/{token}/poster.jpg"))
    alice_client.get(f"/s/{token}/")  # the maker checking her link
    link = ShareLink.objects.get()
    assert link.view_count == 2
    assert link.last_viewed_at is not None and link.last_viewed_at >= before
    assert "2 views" in alice_client.get(f"/videos/{video.pk}/").content.decode()


def test_the_shared_video_answers_range_requests(alice_client: Client, video: Any) -> None:
    token = make_link(alice_client, video)
    data = stored_bytes(video.video.name)
    size = len(data)
    visitor = Client()
    part = visitor.get(f"/s/{token}/video.mp4", HTTP_RANGE="bytes=0-99")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 0-99/{size}"
    assert body(part) == data[:100]
    tail = visitor.get(f"/s/{token}/video.mp4", HTTP_RANGE="bytes=-10")
    assert tail.status_code == 206 and body(tail) == data[-10:]
    beyond = visitor.get(f"/s/{token}/video.mp4", HTTP_RANGE=f"bytes={size}-")
    assert beyond.status_code == 416
    assert beyond["Content-Range"] == f"bytes */{size}"
    download = visitor.get(f"/s/{token}/video.mp4?download=1")
    assert download.status_code == 200 and download["Content-Disposition"].startswith("attachment;")
    assert body(download) == data
    poster = visitor.get(f"/s/{token}/poster.jpg")
    assert poster.status_code == 200 and poster["Content-Type"] == "image/jpeg"
    assert body(poster) == stored_bytes(video.poster.name)
    assert visitor.post(f"/s/{token}/video.mp4").status_code == 405


def test_the_shared_page_and_its_files_send_no_referrer_and_ask_not_to_be_indexed(
    alice_client: Client, video: Any
) -> None:
    token = make_link(alice_client, video)
    visitor = Client()
    for path in ("", "video.mp4", "video.mp4?download=1", "poster.jpg"):
        response = visitor.get(f"/s/{token}/{path}", HTTP_RANGE="bytes=0-9")
        assert response["Referrer-Policy"] == "no-referrer", path
        assert response["X-Robots-Tag"] == "noindex, nofollow", path
        body(response)
    html = visitor.get(f"/s/{token}/").content.decode()
    assert '<meta name="referrer" content="no-referrer">' in html
    # the member pages keep the site's policy
    assert alice_client.get(f"/videos/{video.pk}/")["Referrer-Policy"] == "same-origin"


def test_the_shared_page_is_not_cached_and_sets_no_cookie(alice_client: Client, video: Any) -> None:
    response = Client().get(f"/s/{make_link(alice_client, video)}/")
    assert response["Cache-Control"] == "no-store"
    assert not response.cookies


def test_a_link_whose_file_is_missing_shows_the_dead_link_page(alice_client: Client, video: Any) -> None:
    token = make_link(alice_client, video)
    default_storage.delete(video.video.name)
    response = Client().get(f"/s/{token}/video.mp4")
    assert response.status_code == 404
    assert "This link does not open a video" in response.content.decode()


# --- the video page's list --------------------------------------------------------------------------------------------


def test_the_video_page_lists_links_for_owner_and_staff_only(
    alice_client: Client, bob_client: Client, admin_user: Any, video: Any
) -> None:
    make_link(alice_client, video, label="Acme review")
    make_link(_client(admin_user), video, label="Press kit", days="30")
    ShareLink.objects.filter(label="Acme review").update(view_count=3)
    html = alice_client.get(f"/videos/{video.pk}/").content.decode()
    assert "Acme review" in html and "Press kit" in html and "3 views" in html and "by admin" in html
    assert html.count(">Active<") == 2
    assert html.count("Revoke<span") == 2
    staff_html = _client(admin_user).get(f"/videos/{video.pk}/").content.decode()
    assert "Acme review" in staff_html and "by admin" not in staff_html
    bob_html = bob_client.get(f"/videos/{video.pk}/").content.decode()
    assert "Acme review" not in bob_html and "Share outside the team" not in bob_html


# --- hostile input --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [
    "x", "A" * 42, "A" * 44, "A" * 10_000, "%00" * 15, "..", "A" * 42 + "=", "A" * 42 + "+", "²" * 43,
    "A" * 42 + "%0A", "' OR 1=1 --", "<script>alert(1)</script>", "%2F" * 20,
])  # fmt: skip
def test_a_malformed_token_is_refused_without_a_database_query(
    token: str, video: Any, alice_client: Client, django_assert_num_queries: Any
) -> None:
    make_link(alice_client, video)
    for suffix in ("", "video.mp4", "poster.jpg"):
        with django_assert_num_queries(0):
            response = Client().get(f"/s/{token}/{suffix}")
        assert response.status_code in (400, 404), suffix  # 400: a NUL byte, refused before any view
    assert ShareLink.objects.get().view_count == 0


def test_a_well_formed_unknown_token_costs_one_indexed_query(
    video: Any, alice_client: Client, django_assert_num_queries: Any
) -> None:
    make_link(alice_client, video)
    with django_assert_num_queries(1):
        assert Client().get(f"/s/{'Z' * 43}/").status_code == 404


def test_hostile_headers_and_parameters_on_a_working_link_never_fail(alice_client: Client, video: Any) -> None:
    from tests.test_every_url import CORPUS, HEADERS

    token = make_link(alice_client, video)
    visitor = Client(raise_request_exception=False)
    for value in CORPUS:
        headers = dict.fromkeys(HEADERS, value.replace("\x00", ""))
        for suffix in ("", "video.mp4", "poster.jpg"):
            for method in (visitor.get, visitor.head):
                response = method(f"/s/{token}/{suffix}", {"download": value, "share-label": value}, **headers)
                assert response.status_code < 500, (suffix, value[:20])
                body(response)
    assert ShareLink.objects.get().revoked_at is None


@pytest.mark.parametrize("form", [
    {"share-label": "x" * 101, "share-days": "7"},
    {"share-label": "x" * 100_000, "share-days": "7"},
    {"share-label": "ok", "share-days": "2"},
    {"share-label": "ok", "share-days": "-1"},
    {"share-label": "ok", "share-days": "0"},
    {"share-label": "ok", "share-days": "9" * 5000},
    {"share-label": "ok", "share-days": "٣"},
    {"share-label": "ok", "share-days": "1e309"},
    {"share-label": "ok", "share-days": ""},
    {"share-label": "ok"},
    {},
])  # fmt: skip
def test_a_bad_form_is_a_400_that_creates_nothing(form: dict[str, str], alice_client: Client, video: Any) -> None:
    response = alice_client.post(f"/videos/{video.pk}/share/", form)
    assert response.status_code == 400
    html = response.content.decode()
    assert "Please fix" in html and TOKEN_IN_PAGE.search(html) is None
    assert ShareLink.objects.count() == 0


def test_a_label_is_kept_as_text(alice_client: Client, video: Any) -> None:
    make_link(alice_client, video, label="  <b>Acme</b> & “Co”  ")
    assert ShareLink.objects.get().label == "<b>Acme</b> & “Co”"
    html = alice_client.get(f"/videos/{video.pk}/").content.decode()
    assert "&lt;b&gt;Acme&lt;/b&gt; &amp; “Co”" in html and "<b>Acme</b>" not in html


@pytest.mark.parametrize("link_id", ["0", "9" * 30, "-1", "x"])
def test_revoking_a_link_that_does_not_exist_is_a_404(link_id: str, alice_client: Client, video: Any) -> None:
    make_link(alice_client, video)
    assert alice_client.post(f"/videos/{video.pk}/share/{link_id}/revoke/").status_code == 404
    assert ShareLink.objects.get().revoked_at is None


def test_the_share_urls_need_a_login_and_a_post(video: Any, alice_client: Client) -> None:
    response = Client().post(f"/videos/{video.pk}/share/", {"share-days": "7"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert alice_client.put(f"/videos/{video.pk}/share/").status_code == 405
    assert alice_client.post(f"/s/{'A' * 43}/").status_code == 405
    assert ShareLink.objects.count() == 0


# --- admin ------------------------------------------------------------------------------------------------------------


def test_the_admin_lists_links_and_revokes_them_through_the_service(
    alice_client: Client, admin_user: Any, video: Any
) -> None:
    from auditlog.models import LogEntry

    token = make_link(alice_client, video)
    link = ShareLink.objects.get()
    staff = _client(admin_user)
    listing = staff.get("/admin/generations/sharelink/?state=active").content.decode()
    assert "Acme review" in listing and "Active" in listing and token not in listing
    assert staff.get("/admin/generations/sharelink/add/").status_code == 403
    detail = staff.get(f"/admin/generations/sharelink/{link.pk}/change/").content.decode()
    assert "Acme review" in detail and token not in detail and link.token_hash not in detail
    response = staff.post(
        "/admin/generations/sharelink/", {"action": "revoke", "_selected_action": [link.pk]}, follow=True
    )
    assert "Revoked 1 link: they no longer open." in response.content.decode()
    assert ShareLink.objects.get().revoked_at is not None
    assert Client().get(f"/s/{token}/").status_code == 404
    assert LogEntry.objects.filter(object_pk=str(link.pk), changes__icontains="revoked share link").exists()
    assert "Revoked" in staff.get("/admin/generations/sharelink/?state=revoked").content.decode()


# --- in a real browser ------------------------------------------------------------------------------------------------


@pytest.mark.browser
def test_in_a_browser_a_member_copies_a_new_link_and_a_client_plays_the_video(
    browser: Any, live_server: Any, alice: Any, credentials: Any, media_root: Any, ready_video: Any
) -> None:
    from tests.fixtures_browser import Session

    gen = ready_video(alice, size=(180, 320), aspect_ratio="9:16", prompt="A paper boat on a rainy street")
    member = Session(browser, live_server.url, alice)
    member.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = member.open(f"/videos/{gen.pk}/")
    page.get_by_label("Label", exact=True).fill("Acme review")
    page.get_by_label("Works for").select_option("30")
    page.get_by_role("button", name="Create link").click()
    page.get_by_role("heading", name="Your share link").wait_for()
    url = page.get_by_label("Link", exact=True).input_value()  # a textarea: the whole link, wrapped
    assert url.startswith(f"{live_server.url}/s/")
    page.get_by_role("button", name="Copy link").click()
    page.get_by_role("button", name="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == url
    member.check("share-link-created")
    member.close()

    client = Session(browser, live_server.url, None)
    page = client.open(url)
    page.wait_for_function("() => document.querySelector('video').readyState >= 1", timeout=15000)
    assert 1.8 <= page.evaluate("document.querySelector('video').duration") <= 2.3  # Range requests answered
    frame = page.locator(".share-frame").bounding_box()
    assert frame is not None and frame["height"] > frame["width"] * 1.5  # a portrait frame for a portrait video
    client.check("shared-page-portrait")
    client.close()
    link = ShareLink.objects.get()
    assert (link.label, link.view_count, link.expires_at - link.created_at) == ("Acme review", 1, timedelta(days=30))


def test_no_token_reaches_the_site_log(alice_client: Client, video: Any) -> None:
    from generations.sharing.logs import HideShareTokens

    token = make_link(alice_client, video)
    ShareLink.objects.update(revoked_at=timezone.now())
    # the site's own handler (settings.LOGGING), writing to a string for the time of the test
    handler = next(h for h in logging.getLogger().handlers if any(isinstance(f, HideShareTokens) for f in h.filters))
    written = io.StringIO()
    previous = handler.setStream(written)  # type: ignore[attr-defined]
    try:
        assert Client().get(f"/s/{token}/video.mp4").status_code == 404  # Django logs each 4xx with its path
        assert Client().post(f"/s/{token}/").status_code == 405
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]
    logged = written.getvalue()
    assert "Not Found: /s/…/video.mp4" in logged and "Method Not Allowed (POST): /s/…/" in logged
    assert token not in logged


def test_the_link_is_shown_once_and_a_reload_makes_no_second_link(alice_client: Client, video: Any) -> None:
    response = alice_client.post(f"/videos/{video.pk}/share/", {"share-label": "Acme", "share-days": "7"})
    assert response.status_code == 302
    first = alice_client.get(response["Location"])
    assert len(set(TOKEN_IN_PAGE.findall(first.content.decode()))) == 1 and first["Cache-Control"] == "no-store"
    again = alice_client.get(response["Location"]).content.decode()  # a reload
    assert TOKEN_IN_PAGE.findall(again) == [] and "shown once, when it was made" in again
    assert ShareLink.objects.count() == 1


def test_a_link_whose_video_was_made_private_is_listed_as_paused_not_active(
    alice: Any, alice_client: Client, admin_user: Any, video: Any
) -> None:
    admin = Client()
    admin.force_login(admin_user)
    token = make_link(admin, video)
    Generation.objects.filter(pk=video.pk).update(visibility=Generation.Visibility.PRIVATE)
    assert Client().get(f"/s/{token}/").status_code == 404
    page = alice_client.get(f"/videos/{video.pk}/").content.decode()
    assert "Paused: the video is not shared now" in page and ">Active<" not in page
    assert "Revoke" in page  # a paused link can still be ended for good
    Generation.objects.filter(pk=video.pk).update(visibility=Generation.Visibility.TEAM)
    assert Client().get(f"/s/{token}/").status_code == 200
