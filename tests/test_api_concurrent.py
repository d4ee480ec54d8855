"""The API's Idempotency-Key under concurrency, with real transactions (PostgreSQL in CI): a script that retries
while its first request is still running gets the one video (or batch), charged once."""

from __future__ import annotations

from typing import Any

import pytest

from generations.api.tokens import token_create
from generations.models import Batch, CreditAccount, CreditEntry, Generation
from generations.services.credits import credits_audit
from tests.conftest import make_member
from tests.test_api import Api
from tests.test_batches_concurrent import at_once

pytestmark = pytest.mark.django_db(transaction=True)
KITE = {"model": "kling-2-5-turbo", "prompt": "A kite over dunes", "duration": 5}


def test_eight_identical_creates_at_once_make_one_video_charged_once(sim_credentials: Any) -> None:
    dana = make_member("dana", 1000)
    raw = token_create(user=dana, name="cron", scope="write")[1]
    responses = at_once([lambda: Api(raw).post("/generations", KITE, key="nightly-7")] * 8)
    assert sorted({r.status_code for r in responses}) in ([200, 201], [201]), [r.content[:200] for r in responses]
    assert {r.json()["id"] for r in responses} == {str(Generation.objects.get().pk)}
    assert CreditEntry.objects.filter(kind="charge").count() == 1
    assert CreditAccount.balance_of(dana) == 1000 - Generation.objects.get().cost
    assert credits_audit() == []


def test_the_same_key_with_two_bodies_at_once_makes_at_most_one(sim_credentials: Any) -> None:
    dana = make_member("dana", 1000)
    raw = token_create(user=dana, name="cron", scope="write")[1]
    bodies = [KITE, KITE | {"prompt": "A kite at night"}] * 3
    responses = at_once([lambda b=b: Api(raw).post("/generations", b, key="k") for b in bodies])
    made = [r for r in responses if r.status_code in (200, 201)]
    assert made and {r.status_code for r in responses} <= {200, 201, 422}
    assert Generation.objects.count() == 1 and {r.json()["prompt"] for r in made} == {Generation.objects.get().prompt}
    assert credits_audit() == []


def test_six_identical_batch_requests_at_once_make_one_batch(sim_credentials: Any) -> None:
    dana = make_member("dana", 1000)
    raw = token_create(user=dana, name="cron", scope="write")[1]
    body = {"model": "kling-2-5-turbo", "rows": [{"prompt": f"Shot {n}"} for n in range(3)]}
    responses = at_once([lambda: Api(raw).post("/batches", body, key="b-1")] * 6)
    assert {r.status_code for r in responses} <= {200, 201}, [r.content[:200] for r in responses]
    assert {r.json()["id"] for r in responses} == {str(Batch.objects.get().pk)}
    assert Generation.objects.count() == 3 and CreditEntry.objects.filter(kind="charge").count() == 3
    assert credits_audit() == []
