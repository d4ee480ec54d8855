"""Batches under concurrency, with real transactions (PostgreSQL in CI): the same form sent at once from many
requests makes one batch charged once, and two different batches cannot both spend the same credits."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from generations.batches.services import Item, batch_create
from generations.models import Batch, CreditAccount, CreditEntry, Generation
from generations.services.credits import InsufficientCredits, credits_audit
from tests.conftest import make_member

pytestmark = pytest.mark.django_db(transaction=True)
STD5 = {"mode": "std", "duration": 5, "aspect_ratio": "16:9"}


def rows(n: int) -> list[Item]:
    return [Item(i, "kling-2-5-turbo", STD5 | {"prompt": f"Shot {i}"}) for i in range(1, n + 1)]


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    results: list[Any] = []
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> None:
        start.wait()
        try:
            results.append(call())
        except Exception as exc:  # the test reads what each request got
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_the_same_batch_form_sent_eight_times_at_once_makes_one_batch_charged_once(sim_credentials: Any) -> None:
    dana = make_member("dana", 1000)
    token = uuid.uuid4()
    results = at_once([lambda: batch_create(user=dana, items=rows(3), form_token=token)] * 8)
    assert all(isinstance(r, Batch) for r in results), results
    assert {r.pk for r in results} == {Batch.objects.get().pk}
    assert Generation.objects.count() == 3
    assert CreditEntry.objects.filter(kind="charge").count() == 3
    assert credits_audit() == []


def test_two_batches_that_each_fit_but_not_together_admit_one(sim_credentials: Any) -> None:
    probe = make_member("probe", 1000)
    cost = batch_create(user=probe, items=rows(1)).total_cost
    dana = make_member("dana", 5 * cost)  # room for one batch of 3, not two
    results = at_once([lambda: batch_create(user=dana, items=rows(3))] * 2)
    assert sorted(type(r).__name__ for r in results) == ["Batch", "InsufficientCredits"]
    assert isinstance(next(r for r in results if not isinstance(r, Batch)), InsufficientCredits)
    assert Generation.objects.filter(owner=dana).count() == 3
    assert CreditAccount.balance_of(dana) == 2 * cost
    assert credits_audit() == []


def test_the_same_form_sent_at_once_with_only_the_credits_for_it_opens_the_batch_every_time(
    sim_credentials: Any,
) -> None:
    probe = make_member("probe", 1000)
    cost = batch_create(user=probe, items=rows(1)).total_cost
    dana = make_member("dana", 3 * cost)  # exactly one batch of 3: the duplicates find no credits left
    token = uuid.uuid4()
    results = at_once([lambda: batch_create(user=dana, items=rows(3), form_token=token)] * 6)
    assert all(isinstance(r, Batch) for r in results), results  # never "not enough credits, nothing charged"
    assert CreditAccount.balance_of(dana) == 0 and Generation.objects.filter(owner=dana).count() == 3
