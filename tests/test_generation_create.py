"""generation_create: validate, price, charge and insert in one transaction; the submit job follows on commit."""

from __future__ import annotations

import threading
import uuid

import django_rq
import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from generations.catalog import CatalogError
from generations.models import CreditAccount, CreditEntry, Generation, Price
from generations.services.create import generation_create, price_for
from generations.services.credits import InsufficientCredits, credits_audit
from tests import factories
from tests.conftest import make_member

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def mulerun():
    return factories.credential("mulerun")


def test_it_charges_the_frozen_price_and_queues_the_submit(alice):
    gen = factories.create(alice, mode="pro", duration="10")
    price = price_for("mulerun:kling-v2.5-turbo", mode="pro", duration=10, sound=False)
    assert gen.cost == price
    assert CreditAccount.balance_of(alice) == 500 - price
    entry = CreditEntry.objects.get(generation=gen)
    assert (entry.kind, entry.amount) == ("charge", -price)
    Price.objects.filter(model=gen.model).update(credits=1)  # a later price change does not touch it
    gen.refresh_from_db()
    assert gen.cost == price
    assert django_rq.get_queue("default").job_ids == [f"submit-{gen.pk}-0"]


@pytest.mark.parametrize(
    ("model", "params", "field"),
    [
        ("mulerun:kling-v2.5-turbo", {"prompt": ""}, "prompt"),
        ("mulerun:kling-v2.5-turbo", {"prompt": "x" * 2501}, "prompt"),
        ("mulerun:kling-v2.5-turbo", {"duration": "7"}, "duration"),
        ("mulerun:kling-v2.5-turbo", {"duration": "-5"}, "duration"),
        ("mulerun:kling-v2.5-turbo", {"sound": "on"}, "sound"),
        ("mulerun:kling-v2.6", {"sound": "on", "mode": "std"}, "sound"),
        ("mulerun:kling-v2.5-turbo", {"cfg_scale": "0.5"}, "cfg_scale"),
        ("mulerun:kling-v2.5-turbo", {"aspect_ratio": "4:3"}, "aspect_ratio"),
        ("nobody:nothing", {}, "model"),
    ],
)
def test_bad_input_is_refused_at_the_field_and_charges_nothing(alice, model, params, field):
    params = {"prompt": "A quiet lake", **params}
    with pytest.raises(CatalogError) as caught:
        generation_create(user=alice, model_key=model, params=params)
    assert field in caught.value.errors
    assert Generation.objects.count() == 0
    assert CreditAccount.balance_of(alice) == 500


def test_not_enough_credits_is_a_clear_refusal(charlie):
    with pytest.raises(InsufficientCredits, match="Not enough credits"):
        factories.create(charlie)
    assert Generation.objects.count() == 0
    assert CreditAccount.balance_of(charlie) == 0


def test_a_double_click_creates_one_generation_charged_once(alice):
    token = uuid.uuid4()
    first = factories.create(alice, form_token=token)
    again = factories.create(alice, form_token=token)
    assert first.pk == again.pk
    assert CreditEntry.objects.filter(kind="charge").count() == 1


def test_parallel_double_submits_with_one_token_create_one_generation(alice):
    token = uuid.uuid4()
    results: list[Generation] = []

    def submit():
        try:
            results.append(factories.create(alice, form_token=token))
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({g.pk for g in results}) == 1
    assert Generation.objects.count() == 1
    assert CreditEntry.objects.filter(kind="charge").count() == 1


def test_no_active_credential_means_the_model_is_unavailable(alice, mulerun):
    mulerun.is_active = False
    mulerun.save()
    with pytest.raises(CatalogError, match="not available"):
        factories.create(alice)


def test_100_concurrent_creates_with_credit_for_50_accept_exactly_50():
    """100 creates race for credit worth 50. Each thread holds a database connection and PostgreSQL's default
    max_connections (100) is shared with the rest of the test session, so 25 threads start together at a barrier
    and make four creates each."""
    member = make_member("eve", 0)
    cost = price_for("mulerun:kling-v2.5-turbo", mode="std", duration=5, sound=False)
    from generations.services.credits import credits_grant

    credits_grant(user=member, amount=cost * 50, reason="exactly fifty", actor=None)
    outcomes: list[str] = []
    lowest = [cost * 50]
    barrier = threading.Barrier(25)

    def submit_four():
        try:
            barrier.wait()
            for _ in range(4):
                try:
                    factories.create(member)
                    outcomes.append("ok")
                except InsufficientCredits:
                    outcomes.append("refused")
                lowest[0] = min(lowest[0], CreditAccount.balance_of(member))
        finally:
            connection.close()

    threads = [threading.Thread(target=submit_four) for _ in range(25)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 50
    assert outcomes.count("refused") == 50
    assert lowest[0] >= 0
    assert CreditAccount.balance_of(member) == 0
    assert credits_audit() == []


def test_the_demo_setup_is_idempotent_and_follows_the_simulator_port():
    from generations.models import ProviderCredential
    from generations.services.demo import demo_admin, demo_credentials

    assert demo_credentials("http://127.0.0.1:8765") == 6
    assert demo_credentials("http://127.0.0.1:9999") == 0  # nothing new, but every demo credential follows
    demo = ProviderCredential.objects.filter(label__endswith="(simulator)")
    assert set(demo.values_list("base_url", flat=True)) == {"http://127.0.0.1:9999"}
    username, password = demo_admin()
    assert password and len(password) >= 12
    assert demo_admin() == (username, None)  # the password is shown once, never reset behind the user's back
    assert CreditAccount.balance_of(get_user_model().objects.get(username=username)) == 1000


def test_the_member_is_never_charged_more_than_the_price_the_form_showed(alice):
    factories.credential("mulerun")
    params = {"prompt": "A fox", "mode": "std", "duration": "5", "aspect_ratio": "16:9"}
    price = Price.objects.get(model="mulerun:kling-v2.5-turbo", mode="std", duration=5, sound=False)
    shown = price.credits
    Price.objects.filter(pk=price.pk).update(credits=shown + 10)  # an admin raises it meanwhile
    with pytest.raises(CatalogError, match=f"changed to {shown + 10} credits"):
        generation_create(user=alice, model_key="mulerun:kling-v2.5-turbo", params=params, quoted_cost=shown)
    assert CreditAccount.balance_of(alice) == 500 and not Generation.objects.exists()
    gen = generation_create(user=alice, model_key="mulerun:kling-v2.5-turbo", params=params, quoted_cost=shown + 10)
    assert gen.cost == shown + 10  # confirmed
    Price.objects.filter(pk=price.pk).update(credits=shown - 1)  # lowered: the lower price is charged
    cheaper = generation_create(user=alice, model_key="mulerun:kling-v2.5-turbo", params=params, quoted_cost=shown)
    assert cheaper.cost == shown - 1
    assert CreditAccount.balance_of(alice) == 500 - (shown + 10) - (shown - 1)
