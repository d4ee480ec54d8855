"""Who may do what: every URL pattern the resolver knows, for every persona and method, against three of Alice's videos.

Personas: alice (owner), bob (teammate), charlie (another member, neither owner nor staff), anonymous, and staff.
Items: a TEAM ready video, a PRIVATE ready video and a queued (in-flight) one, the ready ones with a real MP4 and
poster in storage. Rules (RELIABILITY.md §4.2, ASVS 8.2.2):

* anonymous visitors are sent to the login page, except for login, password reset, provider callbacks and share
  links (/s/<token>/, where a made-up token shows nothing);
* what a persona may not see is a 404 (never a 403 that would confirm it exists), for every method;
* only the owner or staff cancel, delete or change visibility; anyone else changes nothing (the row is re-read);
* files are served only to those who may see the video; storage paths (MEDIA_URL) are not served at all;
* members never reach the admin or the queue dashboard.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.core.files import File
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404

from generations.media import card_media
from generations.media.probe import make_poster
from generations.models import CreditAccount, CreditEntry, Favorite, Generation
from tests import factories
from tests.fixtures_pages import BACKEND
from tests.test_media_probe import write_sample_mp4

pytestmark = pytest.mark.django_db
S = Generation.Status
PERSONAS = ("alice", "bob", "charlie", "anonymous", "staff")
ITEMS = ("team", "private", "queued")
# What an anonymous visitor gets on the pages open to everyone: (GET, POST) status codes.
OPEN = {
    "login": (200, 200),  # POST without credentials: the form again, with its errors
    "password_reset": (200, 200),
    "password_reset_done": (200, 405),
    "password_reset_confirm": (200, 200),  # a made-up link: "this link is invalid"
    "password_reset_complete": (200, 405),
    "provider_hook": (405, 404),  # an unknown secret
    "provider_image": (404, 405),  # a provider's signed link to one picture; a made-up token shows nothing
    "shared_page": (404, 405),  # share links (tests/test_share_links.py): a made-up token shows nothing
    "shared_video": (404, 405),
    "shared_poster": (404, 405),
}


# --- the URL map, from the resolver --------------------------------------------------------------------------------


def _site_patterns() -> list[URLPattern]:
    """Every pattern outside the admin (the admin is covered by a representative list below)."""
    found = []
    for entry in get_resolver().url_patterns:
        if isinstance(entry, URLResolver) and str(entry.pattern).startswith(("admin/", "api/")):
            continue  # the admin and the queue dashboard's guards (kling_site/rq_dashboard.py); the API's own matrix
            # (tokens, not sessions) is tests/test_api.py's
        for pattern in entry.url_patterns if isinstance(entry, URLResolver) else [entry]:
            assert isinstance(pattern, URLPattern), pattern
            found.append(pattern)
    return found


def _takes_a_video(pattern: URLPattern) -> bool:
    """A video's own URL (a batch's <pk> names a batch: tests/test_batch_pages.py covers who sees one)."""
    return "pk" in pattern.pattern.converters and not (pattern.name or "").startswith("batch")


SITE = _site_patterns()
VIDEO_PATTERNS = [p for p in SITE if _takes_a_video(p)]
OTHER_PATTERNS = [p for p in SITE if not _takes_a_video(p)]
FILES = {"generation_video", "generation_poster", "generation_card_poster", "generation_preview"}
OWNER_ACTIONS = {"generation_cancel", "generation_visibility", "generation_delete"}


def test_the_matrix_covers_every_video_url() -> None:
    names = {p.name for p in VIDEO_PATTERNS}
    assert names == {
        "generation", "generation_status", "generation_cancel", "generation_visibility", "generation_delete",
        "generation_favorite", "generation_video", "generation_poster", "generation_image", "share_create",
        "share_revoke", "share_created", "generation_again", "generation_card_poster", "generation_preview",
    }  # fmt: skip  # a new URL must be added to expected() below


def _path(pattern: URLPattern, pk: Any = None) -> str:
    prefix = ""
    for entry in get_resolver().url_patterns:
        if isinstance(entry, URLResolver) and pattern in entry.url_patterns:
            prefix = str(entry.pattern)
    kwargs = {
        "pk": pk, "provider": "kling", "secret": "x" * 43, "uidb64": "MQ", "token": "set-password", "which": "start",
        "link_id": 1, "template_id": 1, "token_id": 1, "width": 320, "ext": "webp",
    }  # fmt: skip
    route = str(pattern.pattern)
    for name in pattern.pattern.converters:
        route = route.replace(f"<{'uuid' if name == 'pk' else 'str'}:{name}>", str(kwargs[name]))
        route = route.replace(f"<int:{name}>", str(kwargs[name]))
        route = route.replace(f"<{name}>", str(kwargs[name]))
    return "/" + prefix + route


# --- the world: three of Alice's videos ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("matrix")
    video = write_sample_mp4(folder / "sample.mp4", seconds=1.0, width=160, height=96, audio=False)
    poster = folder / "sample.jpg"
    make_poster(video, poster)
    return video, poster


def _ready(owner: Any, sample: tuple[Path, Path], visibility: str) -> Generation:
    gen = factories.create(owner, "mulerun:kling-v2.5-turbo", prompt=f"A {visibility} video")
    with sample[0].open("rb") as v, sample[1].open("rb") as p:
        video = default_storage.save(f"videos/{gen.pk}/video-{uuid.uuid4().hex[:12]}.mp4", File(v))
        poster = default_storage.save(f"videos/{gen.pk}/poster-{uuid.uuid4().hex[:12]}.jpg", File(p))
    made = card_media.make(*sample)  # the card's poster copies and clip, as a fetch makes them
    extras = card_media.store(made, poster_name=poster, preview_name=f"videos/{gen.pk}/preview.mp4")
    made.cleanup()
    Generation.objects.filter(pk=gen.pk).update(status=S.READY, video=video, poster=poster, visibility=visibility,
                                                card_posters=extras.card_posters, preview=extras.preview)  # fmt: skip
    gen.refresh_from_db()
    return gen


@pytest.fixture
def world(alice: Any, bob: Any, charlie: Any, admin_user: Any, media_root: Path, sample: Any) -> dict[str, Any]:
    factories.credential("mulerun")
    items = {
        "team": _ready(alice, sample, Generation.Visibility.TEAM),
        "private": _ready(alice, sample, Generation.Visibility.PRIVATE),
        "queued": factories.create(alice, "mulerun:kling-v2.5-turbo", prompt="A queued video"),
    }
    users = {"alice": alice, "bob": bob, "charlie": charlie, "staff": admin_user, "anonymous": None}
    return {"items": items, "users": users}


def client_for(world: dict[str, Any], who: str) -> Client:
    client = Client()
    if who != "anonymous":
        client.force_login(world["users"][who], backend=BACKEND)
    return client


def snapshot(gen: Generation) -> tuple[Any, ...]:
    row = Generation.objects.get(pk=gen.pk)
    return (
        row.status, row.visibility, row.deleted_at, row.video.name, Favorite.objects.filter(generation=gen).count(),
        CreditEntry.objects.filter(generation=gen).count(), CreditAccount.balance_of(gen.owner),
    )  # fmt: skip


# --- what should happen --------------------------------------------------------------------------------------------


def can_view(who: str, item: str) -> bool:
    return who in ("alice", "staff") or (who in ("bob", "charlie") and item == "team")


def expected(name: str, method: str, who: str, item: str) -> int:
    """The status code for one cell of the matrix (anonymous visitors are handled before this)."""
    viewer = can_view(who, item)
    manager = who in ("alice", "staff")
    if name in ("generation", "generation_status"):
        return (200 if viewer else 404) if method == "GET" else 405
    if name in FILES:
        if method not in ("GET", "HEAD"):
            return 405
        return 200 if viewer and item != "queued" else 404  # a queued video has no file yet
    if name == "generation_image":  # these videos start from no picture: nobody learns more than "not found"
        return 404 if method in ("GET", "HEAD") else 405
    if name == "generation_delete":
        return (200 if method == "GET" else 302) if manager else 404
    if name == "generation_favorite":
        return (302 if viewer else 404) if method == "POST" else 405
    if name == "generation_again":  # anyone who sees it; a POST without the button's fields makes nothing
        return (302 if viewer else 404) if method == "POST" else 405
    if name == "share_create":  # a private video only by its owner, a video in flight by nobody
        if not manager:
            return 404
        if item == "queued":
            return 409
        return 403 if who == "staff" and item == "private" else (200 if method == "GET" else 400)  # POST: no form
    if name == "share_revoke":  # these videos have no link 1
        return 404 if method == "POST" else 405
    if name == "share_created":  # the page that shows a new link once; these videos have no link 1
        return 404 if method == "GET" else 405
    assert name in OWNER_ACTIONS, name
    return (302 if manager else 404) if method == "POST" else 405


def _cases() -> list[Any]:
    cases = []
    for pattern in VIDEO_PATTERNS:
        methods = ("GET", "HEAD", "POST") if pattern.name in FILES | {"generation_image"} else ("GET", "POST")
        for item in ITEMS:
            for who in PERSONAS:
                for method in methods:
                    case_id = f"{pattern.name}-{item}-{who}-{method}"
                    cases.append(pytest.param(pattern.name, item, who, method, id=case_id))
    return cases


def _form(name: str, gen: Generation) -> dict[str, str]:
    if name == "generation_visibility":
        return {"visibility": "private" if gen.visibility == "team" else "team"}
    return {}


@pytest.mark.parametrize(("name", "item", "who", "method"), _cases())
def test_the_video_matrix(name: str, item: str, who: str, method: str, world: dict[str, Any]) -> None:
    gen = world["items"][item]
    pattern = next(p for p in VIDEO_PATTERNS if p.name == name)
    url = _path(pattern, gen.pk)
    before = snapshot(gen)
    client = client_for(world, who)
    response = getattr(client, method.lower())(url, _form(name, gen) if method == "POST" else None)
    if who == "anonymous":
        assert response.status_code == 302
        assert response["Location"] == f"/accounts/login/?next={url}"
        assert snapshot(gen) == before
        return
    assert response.status_code == expected(name, method, who, item), response.content[:300]
    after = snapshot(gen)
    if response.status_code in (404, 405) or method in ("GET", "HEAD"):
        assert after == before, "a refused or read-only request changed nothing"
    if response.status_code == 404:
        body = response.content.decode(errors="replace")
        assert gen.prompt not in body and str(gen.pk) not in body, "a 404 says nothing about the video"
    if name in FILES and response.status_code == 200:
        body = b"".join(response.streaming_content) if response.streaming else response.content
        stored = {
            "generation_video": gen.video.name, "generation_poster": gen.poster.name,
            "generation_preview": gen.preview.name,
            "generation_card_poster": card_media.card_poster_name(gen.poster.name, 320, "webp"),
        }[name]  # fmt: skip
        with default_storage.open(stored, "rb") as fh:
            assert body == (b"" if method == "HEAD" else fh.read())
        response.close()
    if response.status_code == 302 and method == "POST":
        _assert_the_action_happened(name, item, who, gen, before, after)


def _assert_the_action_happened(
    name: str, item: str, who: str, gen: Generation, before: tuple[Any, ...], after: tuple[Any, ...]
) -> None:
    status, visibility, deleted_at, *_ = after
    if name == "generation_cancel":
        # only a queued video can be canceled; a ready one is refused with a message and stays as it was
        assert status == (S.CANCELED if item == "queued" else before[0])
        if item == "queued":
            assert CreditAccount.balance_of(gen.owner) == before[-1] + gen.cost  # refunded to the owner
    elif name == "generation_visibility":
        assert visibility != before[1]
    elif name == "generation_delete":
        assert (deleted_at is not None) == (item != "queued")  # a video still being made cannot be deleted
    elif name == "generation_favorite":
        assert after[4] == before[4] + 1


# --- the other member pages -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", OTHER_PATTERNS, ids=lambda p: p.name)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_anonymous_visitors_reach_only_login_reset_and_hooks(pattern: URLPattern, method: str, world: Any) -> None:
    url = _path(pattern, uuid.uuid4())  # a batch's own id: anonymous visitors go to the login page all the same
    response = getattr(Client(), method.lower())(url)
    if pattern.name in OPEN:
        assert response.status_code == OPEN[pattern.name][method == "POST"]
    else:  # logout and password change included
        assert response.status_code == 302
        assert response["Location"] == f"/accounts/login/?next={url}"


@pytest.mark.parametrize("who", ["alice", "bob", "charlie", "staff"])
def test_lists_show_others_only_what_is_shared(who: str, world: dict[str, Any]) -> None:
    client = client_for(world, who)
    items = world["items"]
    gallery = client.get("/").content.decode()
    mine = client.get("/videos/").content.decode()
    assert str(items["team"].pk) in gallery
    if who == "alice":
        assert str(items["private"].pk) in gallery
        assert all(str(g.pk) in mine for g in items.values())
    else:  # the gallery is the team's; a private video is its owner's even for staff browsing the site
        assert str(items["private"].pk) not in gallery and str(items["queued"].pk) not in gallery
        assert not any(str(g.pk) in mine for g in items.values())


@pytest.mark.parametrize("who", ["bob", "charlie"])
def test_a_remix_of_a_video_one_cannot_see_is_a_404(who: str, world: dict[str, Any]) -> None:
    client = client_for(world, who)
    assert client.get(f"/new/?remix={world['items']['private'].pk}").status_code == 404
    assert client.get(f"/new/?remix={world['items']['team'].pk}").status_code == 200


# --- personal API tokens: each member's own, a 404 for everyone else (staff included) ------------------------------

TOKEN_PATTERNS = [p for p in OTHER_PATTERNS if (p.name or "").startswith("api_token")]


def test_the_token_matrix_covers_every_token_url() -> None:
    assert {p.name for p in TOKEN_PATTERNS} == {"api_tokens", "api_token_created", "api_token_revoke"}


def expected_for_token(name: str, method: str, who: str) -> int:
    if name == "api_tokens":  # everyone's own list; a POST without the form's fields makes nothing
        return 200 if method == "GET" else 400
    if name == "api_token_created":  # the page that shows a new token once (GET only)
        return 405 if method == "POST" else (200 if who == "alice" else 404)
    assert name == "api_token_revoke", name
    return (200 if method == "GET" else 302) if who == "alice" else 404


@pytest.mark.parametrize("pattern", TOKEN_PATTERNS, ids=lambda p: p.name)
@pytest.mark.parametrize("who", ["alice", "bob", "charlie", "staff"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_the_token_matrix(pattern: URLPattern, who: str, method: str, world: dict[str, Any]) -> None:
    from generations.api.tokens import token_create
    from generations.models_api import ApiToken

    token, _ = token_create(user=world["users"]["alice"], name="Alice's deploy bot", scope="write")
    url = _path(pattern).replace("/1/", f"/{token.pk}/")
    response = getattr(client_for(world, who), method.lower())(url)
    assert response.status_code == expected_for_token(pattern.name, method, who), response.content[:300]
    token.refresh_from_db()
    assert ApiToken.objects.count() == 1, "no request here makes a token"
    assert (token.revoked_at is not None) == (pattern.name == "api_token_revoke" and method == "POST"
                                              and who == "alice")  # fmt: skip
    if response.status_code == 404:
        assert "Alice's deploy bot" not in response.content.decode()


# --- the admin and the queue dashboard -------------------------------------------------------------------------------

ADMIN_URLS = [
    "/admin/",
    "/admin/generations/generation/",
    "/admin/generations/generation/PK/change/",
    "/admin/generations/providercredential/",
    "/admin/generations/providercredential/add/",
    "/admin/generations/creditentry/",
    "/admin/auth/user/",
    "/admin/django_rq/dashboard/",
    "/admin/django_rq/dashboard/queues/0/",
    "/admin/django_rq/dashboard/queues/0/failed/",
    "/admin/django_rq/dashboard/workers/0/",
]


def test_the_admin_list_names_real_urls() -> None:
    for url in ADMIN_URLS:
        resolve(url.replace("PK", str(uuid.uuid4())))


@pytest.mark.parametrize("url", ADMIN_URLS)
@pytest.mark.parametrize("who", ["alice", "bob", "charlie", "anonymous"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_members_never_reach_the_admin(url: str, who: str, method: str, world: dict[str, Any]) -> None:
    gen = world["items"]["private"]
    url = url.replace("PK", str(gen.pk))
    before = snapshot(gen)
    data = {"prompt": "changed by a member", "status": "failed", "visibility": "team"} if method == "POST" else None
    response = getattr(client_for(world, who), method.lower())(url, data)
    assert response.status_code == 302
    # A member is sent to the admin's own login; an anonymous visitor to a login page (the admin's for the index
    # and the queue dashboard, the site's for model pages, which LoginRequiredMiddleware stops first).
    logins = ("/admin/login/?next=",) if who != "anonymous" else ("/admin/login/?next=", "/accounts/login/?next=")
    assert response["Location"].startswith(logins)
    assert snapshot(gen) == before and Generation.objects.get(pk=gen.pk).prompt == gen.prompt


@pytest.mark.parametrize("url", ADMIN_URLS)
def test_staff_reach_the_admin(url: str, world: dict[str, Any]) -> None:
    url = url.replace("PK", str(world["items"]["private"].pk))
    assert client_for(world, "staff").get(url).status_code == 200


@pytest.mark.parametrize("who", ["alice", "anonymous"])
def test_the_queue_statistics_need_staff_or_the_api_token(who: str, world: dict[str, Any], settings: Any) -> None:
    settings.RQ_API_TOKEN = ""  # unset, as by default: no token opens it
    for url in ("/admin/django_rq/dashboard/stats.json/", "/admin/django_rq/dashboard/stats.json/x/"):
        response = client_for(world, who).get(url)
        assert response.status_code in (302, 401, 403, 404), url
        assert b"queues" not in response.content


# --- storage paths are never served ----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", PERSONAS)
def test_guessing_a_storage_path_finds_nothing(who: str, world: dict[str, Any], settings: Any) -> None:
    gen = world["items"]["team"]
    assert default_storage.exists(gen.video.name)
    client = client_for(world, who)
    for path in (
        f"/{settings.MEDIA_URL}{gen.video.name}",
        f"/{settings.MEDIA_URL}{gen.poster.name}",
        f"/media/videos/{gen.pk}/video.mp4",
        f"/static/../var/media/{gen.video.name}",
        f"/static/%2e%2e/media/{gen.video.name}",
        f"/{gen.video.name}",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert not getattr(response, "streaming", False)


def test_media_url_has_no_route() -> None:
    with pytest.raises(Resolver404):
        resolve("/media/videos/x/video-0123456789ab.mp4")


# --- S3: presigned URLs, only for those who may see the video --------------------------------------------------------


@pytest.mark.parametrize("item", ["team", "private"])
def test_with_s3_files_redirect_to_short_presigned_urls_for_viewers_only(
    item: str, world: dict[str, Any], s3_default_storage: Any, sample: tuple[Path, Path], settings: Any
) -> None:
    settings.MEDIA_URL_EXPIRE_SECONDS = 120
    gen = world["items"][item]
    with sample[0].open("rb") as v, sample[1].open("rb") as p:
        video = default_storage.save(f"videos/{gen.pk}/video-s3.mp4", File(v))
        poster = default_storage.save(f"videos/{gen.pk}/poster-s3.jpg", File(p))
    Generation.objects.filter(pk=gen.pk).update(video=video, poster=poster)
    for who in PERSONAS:
        client = client_for(world, who)
        for kind in ("video.mp4", "poster.jpg"):
            response = client.get(f"/videos/{gen.pk}/{kind}")
            if who == "anonymous":
                assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
            elif not can_view(who, item):
                assert response.status_code == 404
                assert "X-Amz" not in response.content.decode(errors="replace")
            else:
                assert response.status_code == 302
                location = response["Location"]
                query = parse_qs(urlsplit(location).query)
                assert query["X-Amz-Expires"] == ["120"]
                assert response["Cache-Control"] == "private, no-store"
                fetched = httpx.get(location, timeout=10, trust_env=False)
                assert fetched.status_code == 200 and len(fetched.content) > 100


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example"])
def test_the_favourite_button_never_redirects_off_site(target: str, world: dict[str, Any]) -> None:
    gen = world["items"]["team"]
    response = client_for(world, "bob").post(f"/videos/{gen.pk}/favorite/", {"next": target})
    assert response.status_code == 302 and response["Location"] == f"/videos/{gen.pk}/"
