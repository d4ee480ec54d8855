"""The REST API as a script uses it: tokens, scopes, create with an Idempotency-Key, the privacy of the pages,
problem+json errors and the per-token rate limit."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from generations.api.tokens import token_create, token_revoke
from generations.models import ApiToken, CreditAccount, CreditEntry, Generation

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
    is_problem(alice_api.post("/generations", KITE), 400)


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
