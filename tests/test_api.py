"""The REST API as a script uses it: tokens, scopes, create with an Idempotency-Key, the privacy of the pages,
problem+json errors and the per-token rate limit."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from generations.api.idempotency import keys_forget_old
from generations.api.tokens import TokenError, token_create, token_revoke
from generations.models import ApiToken, CreditAccount, CreditEntry, Generation
from tests import factories
from tests.test_access_matrix import _ready, sample  # noqa: F401  (a module-scoped fixture)

pytestmark = pytest.mark.django_db
API = "/api/v1"


class Api:
    """A script's HTTP client: every call carries the token; JSON in, JSON out."""

    def __init__(self, raw: str):
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    def get(self, path: str, **query: Any) -> Any:
        return self.client.get(API + path, query)

    def post(self, path: str, body: Any = None, *, key: str | None = None) -> Any:
        headers = {"Idempotency-Key": key} if key else {}
        return self.client.post(API + path, json.dumps(body or {}), content_type="application/json", headers=headers)

    def patch(self, path: str, body: Any) -> Any:
        return self.client.patch(API + path, json.dumps(body), content_type="application/json")

    def delete(self, path: str) -> Any:
        return self.client.delete(API + path)


def api_for(user: Any, scope: str = "write", **extra: Any) -> Api:
    return Api(token_create(user=user, name="script", scope=scope, **extra)[1])


@pytest.fixture
def alice_api(alice: Any) -> Api:
    return api_for(alice)


@pytest.fixture
def bob_api(bob: Any) -> Api:
    return api_for(bob)


def is_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"]
    return body


KITE = {"model": "kling-2-6", "prompt": "A kite over dunes", "duration": 5}


def test_a_token_reads_the_balance_and_the_models_the_form_offers(alice: Any, alice_api: Api, credentials: Any) -> None:
    assert alice_api.get("/balance").json() == {"balance": 500, "daily_left": None, "monthly_left": None}
    models = alice_api.get("/models").json()
    assert "kling-2-6" in [m["id"] for m in models]
    kling = next(m for m in models if m["id"] == "kling-2-6")
    assert kling["prices"] and all(p["credits"] > 0 for p in kling["prices"])


def test_create_charges_once_per_idempotency_key_and_a_changed_body_is_refused(
    alice: Any, alice_api: Api, credentials: Any
) -> None:
    quote = alice_api.post("/quote", KITE).json()
    first = alice_api.post("/generations", KITE, key="render-42")
    assert first.status_code == 201, first.content
    made = first.json()
    assert made["status"] == "queued" and made["cost"] == quote["cost"] and made["mine"] is True
    again = alice_api.post("/generations", KITE, key="render-42")
    assert again.status_code == 200 and again.json()["id"] == made["id"]
    assert Generation.objects.count() == 1
    assert CreditEntry.objects.filter(kind="charge").count() == 1
    assert CreditAccount.balance_of(alice) == 500 - quote["cost"]
    changed = alice_api.post("/generations", KITE | {"prompt": "A kite at night"}, key="render-42")
    assert "Idempotency-Key" in is_problem(changed, 422)["errors"]
    assert Generation.objects.count() == 1
    assert "Idempotency-Key" in is_problem(alice_api.post("/generations", KITE), 422)["errors"]


def test_a_key_forgotten_after_thirty_days_still_never_charges_twice(
    alice: Any, alice_api: Api, credentials: Any
) -> None:
    made = alice_api.post("/generations", KITE, key="nightly-7").json()
    assert keys_forget_old(now=timezone.now() + timedelta(days=29)) == 0
    assert keys_forget_old(now=timezone.now() + timedelta(days=31)) == 1
    again = alice_api.post("/generations", KITE, key="nightly-7")
    assert again.status_code == 200 and again.json()["id"] == made["id"]
    assert CreditEntry.objects.filter(kind="charge").count() == 1


def test_invalid_values_are_a_422_with_a_message_per_field_and_nothing_is_made(
    alice: Any, alice_api: Api, credentials: Any
) -> None:
    body = is_problem(alice_api.post("/generations", KITE | {"duration": 7, "aspect_ratio": "4:5"}, key="a"), 422)
    assert set(body["errors"]) >= {"duration", "aspect_ratio"}
    body = is_problem(alice_api.post("/generations", {"model": "no-such-model", "prompt": "x"}, key="b"), 422)
    assert "model" in body["errors"]
    body = is_problem(alice_api.post("/generations", {"prompt": 5}, key="c"), 422)
    assert "model" in body["errors"]
    assert not Generation.objects.exists() and CreditAccount.balance_of(alice) == 500


def test_not_enough_credits_is_a_402_and_nothing_is_charged(charlie: Any, credentials: Any) -> None:
    response = api_for(charlie).post("/generations", KITE, key="k")
    assert "Not enough credits" in is_problem(response, 402)["detail"]
    assert not Generation.objects.exists()


def test_a_member_holds_at_most_twenty_live_tokens_so_the_rate_limit_cannot_be_multiplied(alice: Any) -> None:
    made = [token_create(user=alice, name=f"t{n}", scope="read")[0] for n in range(20)]
    with pytest.raises(TokenError, match="20 active tokens"):
        token_create(user=alice, name="one more", scope="read")
    assert ApiToken.objects.filter(user=alice).count() == 20
    token_revoke(token=made[0])
    token_create(user=alice, name="one more", scope="read")  # a revoked one no longer counts


def test_tokens_bad_revoked_expired_and_read_only(alice: Any, credentials: Any) -> None:
    is_problem(Client().get(API + "/balance"), 401)
    is_problem(Api("ks_not-a-token").get("/balance"), 401)
    assert Client().get(API + "/balance")["WWW-Authenticate"].startswith("Bearer")
    reader = api_for(alice, scope="read")
    assert reader.get("/balance").status_code == 200
    assert "only read" in is_problem(reader.post("/generations", KITE, key="k"), 403)["detail"]
    assert not Generation.objects.exists()
    token, raw = token_create(user=alice, name="old", scope="write")
    token_revoke(token=token)
    is_problem(Api(raw).get("/balance"), 401)
    token, raw = token_create(user=alice, name="soon", scope="write", expires_at=timezone.now() + timedelta(hours=1))
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    is_problem(Api(raw).get("/balance"), 401)


def test_someone_elses_private_video_is_a_404_exactly_as_on_the_pages(
    alice: Any, bob: Any, alice_api: Api, bob_api: Api, make_generation: Any
) -> None:
    private = make_generation(alice, prompt="secret", visibility="private")
    shared = make_generation(alice, prompt="shared")
    for path in (f"/generations/{private.pk}", f"/generations/{private.pk}/video", f"/generations/{private.pk}/poster"):
        is_problem(bob_api.get(path), 404)
    assert bob_api.get(f"/generations/{shared.pk}").json()["mine"] is False
    is_problem(bob_api.delete(f"/generations/{shared.pk}"), 404)  # not hers to delete: as on the pages
    is_problem(bob_api.patch(f"/generations/{shared.pk}", {"visibility": "private"}), 404)
    team = [g["id"] for g in bob_api.get("/generations", scope="team").json()["items"]]
    assert team == [str(shared.pk)]
    assert bob_api.get("/generations").json()["items"] == []
    assert alice_api.patch(f"/generations/{shared.pk}", {"visibility": "private"}).json()["visibility"] == "private"
    assert alice_api.delete(f"/generations/{private.pk}").status_code == 204
    assert [g["id"] for g in alice_api.get("/generations").json()["items"]] == [str(shared.pk)]


def test_lists_page_with_a_cursor_and_filters(alice: Any, alice_api: Api, make_generation: Any) -> None:
    made = [make_generation(alice, prompt=f"clip {n}") for n in range(5)]
    make_generation(alice, prompt="a failed one", status="failed")
    seen, cursor = [], ""
    while True:
        page = alice_api.get("/generations", status="ready", limit=2, cursor=cursor).json()
        seen += [g["id"] for g in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == [str(g.pk) for g in sorted(made, key=lambda g: g.created_at, reverse=True)]
    assert [g["prompt"] for g in alice_api.get("/generations", q="FAILED").json()["items"]] == ["a failed one"]
    is_problem(alice_api.get("/generations", cursor="garbage!"), 422)
    is_problem(alice_api.get("/generations", limit=0), 422)
    is_problem(alice_api.get("/generations", status="bogus"), 422)


def test_the_rate_limit_answers_429_with_retry_after(alice: Any, settings: Any) -> None:
    settings.API_RATE_LIMIT = "3/min"
    api = api_for(alice)
    assert [api.get("/balance").status_code for _ in range(3)] == [200, 200, 200]
    refused = api.get("/balance")
    is_problem(refused, 429)
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert api_for(alice).get("/balance").status_code == 200  # each token has its own count


def test_what_a_request_says_is_never_dropped_silently(alice: Any, alice_api: Api, credentials: Any) -> None:
    """A typo, shots without multi_shot, and the price cap: each refused at its own field, nothing charged."""
    assert (
        "aspectratio"
        in is_problem(alice_api.post("/generations", KITE | {"aspectratio": "9:16"}, key="a"), 422)["errors"]
    )
    shots = {"shots": [{"prompt": "a", "duration": 3}, {"prompt": "b", "duration": 2}]}
    assert "shots" in is_problem(alice_api.post("/generations", KITE | shots, key="b"), 422)["errors"]
    capped = is_problem(alice_api.post("/generations", KITE | {"max_cost": 1}, key="c"), 422)
    assert "max_cost of 1" in capped["errors"]["max_cost"][0]
    odd = is_problem(alice_api.post("/generations", KITE | {"duration": 7}, key="d"), 422)
    assert odd["errors"]["duration"] == ["Choose one of: 5, 10."]
    strict = is_problem(alice_api.post("/generations", KITE | {"max_cost": True, "sound": "yes"}, key="e"), 422)
    assert {"max_cost", "sound"} <= set(strict["errors"])  # JSON true is not 1, "yes" is not true
    gone = is_problem(alice_api.post("/generations", KITE | {"continues": str(uuid.uuid4())}, key="f"), 422)
    assert gone["errors"]["continues"] == ["No video you can open has this id."]
    assert not Generation.objects.exists() and CreditAccount.balance_of(alice) == 500


def test_a_filter_typo_or_a_date_that_is_not_one_is_refused_never_ignored(
    alice: Any, alice_api: Api, make_generation: Any
) -> None:
    make_generation(alice, status="failed")
    typo = is_problem(alice_api.get("/generations", stauts="ready"), 422)
    assert typo["errors"] == {"stauts": ["This operation takes no such query parameter."]}
    assert "cursour" in is_problem(alice_api.get("/ledger", cursour="x"), 422)["errors"]
    for odd in ("0.5", "2026-12-03", "1764000000", "2026-12-03T09:30:00"):  # a Unix time, a date, no offset
        assert "created_before" in is_problem(alice_api.get("/generations", created_before=odd), 422)["errors"]
    later = alice_api.get("/generations", created_before="2999-01-01T00:00:00Z")
    assert later.status_code == 200 and len(later.json()["items"]) == 1
    assert alice_api.get("/generations", created_after="2999-01-01T00:00:00+02:00").json()["items"] == []
    # Offsets PostgreSQL refuses (past ±15:59) and dates that leave the calendar in UTC: an answer, never a 500
    assert alice_api.get("/generations", created_before="1053-05-13T21:03:21.38-21:56").status_code == 200
    assert (
        "created_after"
        in is_problem(alice_api.get("/generations", created_after="0001-01-01T00:00:00+01:00"), 422)["errors"]
    )


def test_what_django_refuses_before_the_api_is_a_problem_too(alice: Any, alice_api: Api, settings: Any) -> None:
    """Bad input, CSRF on a path no operation has, an unmatchable path, a body too large, a broken multipart."""
    assert "NUL" in is_problem(alice_api.get("/generations", q="a\x00b"), 400)["detail"]
    is_problem(Client(enforce_csrf_checks=True).post(API + "/no-such-thing", {}), 404)
    is_problem(Client(enforce_csrf_checks=True).patch(API + "/generations/null,null", "{}"), 404)
    is_problem(alice_api.get("/generations/a\nb"), 404)
    broken = b'--x\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc'
    assert alice_api.client.generic("POST", API + "/images", broken, "multipart/form-data").status_code == 400
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    is_problem(alice_api.post("/quote", KITE | {"prompt": "x" * 500}), 413)


def test_batch_settings_shared_by_every_row_are_applied(alice: Any, alice_api: Api, credentials: Any) -> None:
    body = {"model": "kling-2-6", "duration": 10, "aspect_ratio": "9:16", "negative_prompt": "blur", "mode": "pro",
            "sound": True, "rows": [{"prompt": "one"}, {"prompt": "two", "aspect_ratio": "1:1"}]}  # fmt: skip
    made = alice_api.post("/batches", body, key="shared")
    assert made.status_code == 201, made.content
    rows = [(g["duration"], g["aspect_ratio"], g["negative_prompt"], g["sound"]) for g in made.json()["generations"]]
    assert rows == [(10, "9:16", "blur", True), (10, "1:1", "blur", True)]


def test_every_price_the_models_list_is_what_a_quote_says(alice: Any, alice_api: Api, credentials: Any) -> None:
    for model in alice_api.get("/models").json():
        assert model["prices"], model["id"]
        for price in model["prices"][:6]:
            body = {"model": model["id"], **{k: price[k] for k in ("mode", "duration")}}
            body |= {"sound": price["sound"]} if model["sound"] else {}
            assert alice_api.post("/quote", body).json()["cost"] == price["credits"], (model["id"], price)


def test_a_read_token_may_ask_for_a_quote(alice: Any, credentials: Any) -> None:
    assert api_for(alice, scope="read").post("/quote", KITE).status_code == 200


def test_a_header_that_is_not_bearer_never_puts_the_token_in_the_log(alice: Any, caplog: Any, settings: Any) -> None:
    settings.DEBUG = True
    raw = token_create(user=alice, name="x", scope="read")[1]
    for header in (f"Token {raw}", raw, f"bearer  {raw}"):
        Client(HTTP_AUTHORIZATION=header).get(API + "/balance")
    assert raw not in caplog.text


def test_unknown_api_paths_are_problems_and_the_schema_is_public(alice_api: Api) -> None:
    is_problem(alice_api.get("/no-such-thing"), 404)
    raw = Client().get("/api/schema/").content
    pairs_seen: list[list[str]] = []
    schema = json.loads(raw, object_pairs_hook=lambda pairs: pairs_seen.append([k for k, _ in pairs]) or dict(pairs))
    assert all(len(keys) == len(set(keys)) for keys in pairs_seen), "a key twice in one object of the schema"
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/generations" in schema["paths"]
    docs = Client().get("/api/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content


# --- the privacy matrix, through the API: the pages' own rule, persona by persona --------------------------------


@pytest.fixture
def matrix_world(alice: Any, bob: Any, admin_user: Any, media_root: Any, sample: Any) -> dict[str, Any]:  # noqa: F811
    factories.credential("mulerun")
    items = {  # with real files, as the pages' matrix has them
        "team": _ready(alice, sample, "team"),
        "private": _ready(alice, sample, "private"),
        "queued": factories.create(alice, "mulerun:kling-v2.5-turbo", prompt="A queued video"),
    }
    return {"items": items, "apis": {"alice": api_for(alice), "bob": api_for(bob), "staff": api_for(admin_user)}}


def _may_see(who: str, item: str) -> bool:
    return who in ("alice", "staff") or item == "team"


def _may_change(who: str) -> bool:
    return who in ("alice", "staff")


@pytest.mark.parametrize("who", ["alice", "bob", "staff"])
@pytest.mark.parametrize("item", ["team", "private", "queued"])
def test_the_api_privacy_matrix_matches_the_pages(matrix_world: dict[str, Any], who: str, item: str) -> None:
    api, gen = matrix_world["apis"][who], matrix_world["items"][item]
    got = api.get(f"/generations/{gen.pk}")
    assert got.status_code == (200 if _may_see(who, item) else 404)
    listed = [g["id"] for s in ("mine", "team") for g in api.get("/generations", scope=s).json()["items"]]
    in_lists = str(gen.pk) in listed
    assert in_lists == (who == "alice" or item == "team")  # staff open anything, but their lists are their own
    for part in ("video", "poster"):  # a queued video has no file yet: 404 for everyone
        expect = 404 if item == "queued" or not _may_see(who, item) else (200, 206, 302)
        status = api.get(f"/generations/{gen.pk}/{part}").status_code
        assert status in (expect if isinstance(expect, tuple) else (expect,)), (part, status)
    refused = api.patch(f"/generations/{gen.pk}", {"visibility": "private"})
    assert refused.status_code == (200 if _may_change(who) else 404)
    cancel = api.post(f"/generations/{gen.pk}/cancel")
    assert cancel.status_code == (404 if not _may_change(who) else 200 if item == "queued" else 409)
    deleted = api.delete(f"/generations/{gen.pk}")
    assert deleted.status_code == (204 if _may_change(who) else 404)
    assert Generation.objects.alive().filter(pk=gen.pk).exists() == (not _may_change(who))


# --- webhooks through the API --------------------------------------------------------------------------------------


def test_webhooks_refuse_private_addresses_and_belong_to_their_member(alice_api: Api, bob_api: Api) -> None:
    for url in ("http://127.0.0.1:8000/hook", "http://10.0.0.7/hook", "http://169.254.169.254/latest", "ftp://x.y"):
        body = is_problem(alice_api.post("/webhooks", {"url": url}), 422)
        assert body["errors"]["url"]
    is_problem(alice_api.post("/webhooks", {"url": "https://example.com/h", "events": ["video.exploded"]}), 422)
    assert alice_api.get("/webhooks").json() == []
    from generations.models import Webhook
    from generations.webhooks.services import webhook_create

    hook, _ = webhook_create(owner=Webhook._meta.get_field("owner").related_model.objects.get(username="alice"),
                             url="https://93.184.215.14/hook", events=["generation.ready"])  # fmt: skip
    is_problem(bob_api.get(f"/webhooks/{hook.pk}/deliveries"), 404)
    is_problem(bob_api.delete(f"/webhooks/{hook.pk}"), 404)
    assert alice_api.get(f"/webhooks/{hook.pk}/deliveries").json() == []
    assert alice_api.delete(f"/webhooks/{hook.pk}").status_code == 204
    assert not Webhook.objects.exists()


def test_admins_see_tokens_by_their_first_characters_and_can_revoke_one(alice: Any, admin_user: Any) -> None:
    token, raw = token_create(user=alice, name="leaky laptop", scope="write")
    staff = Client()
    staff.force_login(admin_user, backend="django.contrib.auth.backends.ModelBackend")
    listing = staff.get("/admin/generations/apitoken/").content.decode()
    assert "leaky laptop" in listing and token.prefix in listing and raw not in listing and token.digest not in listing
    response = staff.post("/admin/generations/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert response.status_code == 302
    is_problem(Api(raw).get("/balance"), 401)


def test_head_on_a_download_answers_the_gets_headers_without_the_body(matrix_world: dict[str, Any]) -> None:
    """What `curl -I` or `wget -c` ask before a download: size and ranges, with the same privacy as GET."""
    apis, items = matrix_world["apis"], matrix_world["items"]
    for kind in ("video", "poster"):
        url = f"{API}/generations/{items['team'].pk}/{kind}"
        got, head = apis["bob"].client.get(url), apis["bob"].client.head(url)
        assert head.status_code == 200 and head.content == b""
        assert head["Content-Length"] == got["Content-Length"] and head["Content-Type"] == got["Content-Type"]
        ranged = apis["bob"].client.head(url, HTTP_RANGE="bytes=0-9")
        assert ranged.status_code == 206 and ranged["Content-Range"].startswith("bytes 0-9/")
        assert apis["bob"].client.head(f"{API}/generations/{items['private'].pk}/{kind}").status_code == 404
    outside = apis["alice"].client.get(f"{API}/generations/{items['team'].pk}/video", HTTP_RANGE="bytes=999999999-")
    assert is_problem(outside, 416) and outside["Content-Range"].startswith("bytes */")
