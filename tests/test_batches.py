"""Batches: every row admitted and charged together, or nothing created and nothing charged."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from generations import catalog
from generations.batches.services import Item, RowsRefused, batch_create
from generations.models import Batch, CreditAccount, CreditEntry, Generation, MemberPolicy
from generations.services import line
from generations.services.credits import InsufficientCredits, credits_audit
from tests.conftest import make_member

pytestmark = pytest.mark.django_db
TURBO = "kling-2-5-turbo"
STD5 = {"mode": "std", "duration": 5, "aspect_ratio": "16:9"}


def rows(n: int, **params: Any) -> list[Item]:
    return [
        Item(number=i, model_key=TURBO, params=STD5 | {"prompt": f"Product shot {i}"} | params) for i in range(1, n + 1)
    ]


def unit_cost(user: Any) -> int:
    return batch_create(user=user, items=rows(1)).total_cost


def ledger(user: Any) -> list[tuple[str, int]]:
    return list(CreditEntry.objects.filter(account__user=user).order_by("id").values_list("kind", "amount"))


def test_fifty_rows_with_credit_for_forty_nine_create_nothing_and_charge_nothing(credentials: Any) -> None:
    probe = make_member("probe", 1000)
    cost = unit_cost(probe)
    dana = make_member("dana", 49 * cost)
    before = ledger(dana)
    with pytest.raises(
        InsufficientCredits, match=rf"cost {50 * cost} credits \(50 videos\) and the balance is {49 * cost}"
    ):
        batch_create(user=dana, items=rows(50))
    assert not Generation.objects.filter(owner=dana).exists()
    assert not Batch.objects.filter(owner=dana).exists()
    assert ledger(dana) == before
    assert CreditAccount.balance_of(dana) == 49 * cost
    assert credits_audit() == []


def test_a_batch_charges_each_video_on_its_own_row_naming_the_batch(credentials: Any) -> None:
    dana = make_member("dana", 1000)
    batch = batch_create(user=dana, items=rows(3), title="Shoes")
    gens = list(batch.generations.order_by("batch_row"))
    assert [g.batch_row for g in gens] == [1, 2, 3]
    assert [g.prompt for g in gens] == ["Product shot 1", "Product shot 2", "Product shot 3"]
    charges = CreditEntry.objects.filter(account__user=dana, kind=CreditEntry.Kind.CHARGE)
    assert sorted(charges.values_list("generation_id", flat=True)) == sorted(g.pk for g in gens)
    assert set(charges.values_list("batch_id", flat=True)) == {batch.pk}
    assert batch.total_cost == sum(g.cost for g in gens) == 1000 - CreditAccount.balance_of(dana)
    assert credits_audit() == []


def test_bad_rows_are_named_by_number_and_nothing_is_created(credentials: Any) -> None:
    dana = make_member("dana", 1000)
    items = rows(5)
    items[1] = Item(number=2, model_key=TURBO, params=STD5 | {"prompt": "ok", "aspect_ratio": "7:3"})
    items[4] = Item(number=5, model_key=TURBO, params=STD5 | {"prompt": "   "})
    with pytest.raises(RowsRefused) as err:
        batch_create(user=dana, items=items)
    assert sorted(err.value.rows) == [2, 5]
    assert "aspect" in err.value.rows[2].lower() and "prompt" in err.value.rows[5].lower()
    assert not Generation.objects.filter(owner=dana).exists()
    assert CreditAccount.balance_of(dana) == 1000


def test_a_batch_that_would_pass_the_daily_cap_is_refused_whole(credentials: Any) -> None:
    dana = make_member("dana", 1000)
    cost = unit_cost(dana)
    MemberPolicy.objects.create(user=dana, daily_cap=4 * cost)  # one spent: three more fit, four do not
    with pytest.raises(catalog.CatalogError, match=r"This batch costs .* daily limit has"):
        batch_create(user=dana, items=rows(4))
    assert Generation.objects.filter(owner=dana).count() == 1
    batch_create(user=dana, items=rows(3))
    assert Generation.objects.filter(owner=dana).count() == 4


def test_the_same_form_sent_twice_makes_one_batch_charged_once(credentials: Any) -> None:
    dana = make_member("dana", 1000)
    token = uuid.uuid4()
    first = batch_create(user=dana, items=rows(3), form_token=token)
    again = batch_create(user=dana, items=rows(3), form_token=token)
    assert again.pk == first.pk
    assert Generation.objects.filter(owner=dana).count() == 3
    assert CreditAccount.balance_of(dana) == 1000 - first.total_cost


def test_a_price_above_the_quoted_total_is_refused(credentials: Any) -> None:
    dana = make_member("dana", 1000)
    cost = unit_cost(dana)
    with pytest.raises(catalog.CatalogError, match=f"changed to {3 * cost} credits"):
        batch_create(user=dana, items=rows(3), quoted_total=3 * cost - 1)
    assert Generation.objects.filter(owner=dana).count() == 1


def test_the_members_limit_in_flight_lets_a_batch_in_a_few_at_a_time(credentials: Any, settings: Any) -> None:
    dana = make_member("dana", 2000)
    erin = make_member("erin", 200)
    MemberPolicy.objects.create(user=dana, max_in_flight=2)
    batch = batch_create(user=dana, items=rows(6))
    solo = batch_create(user=erin, items=rows(1))
    line.line_advance()
    admitted = Generation.objects.filter(admitted_at__isnull=False)
    assert admitted.filter(batch=batch).count() == 2  # the rest of the batch waits its turn
    assert admitted.filter(batch=solo).exists()  # and another member's video is not stuck behind it


def test_variants_are_two_to_four(credentials: Any) -> None:
    dana = make_member("dana", 1000)
    with pytest.raises(catalog.CatalogError, match="from 1 to 4 variants"):
        batch_create(user=dana, items=rows(5), kind=Batch.Kind.VARIANTS)
    assert not Generation.objects.filter(owner=dana).exists()
