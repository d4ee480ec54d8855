"""The credits ledger: every movement is a row, the balance always equals the ledger, nothing happens twice."""

from __future__ import annotations

import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from generations.models import CreditAccount, CreditEntry, Generation
from generations.services.credits import CreditsError, credits_audit, credits_grant, credits_refund
from generations.services.pipeline import generation_fail
from tests import factories
from tests.conftest import make_member


def test_a_grant_adds_credits_and_a_ledger_row_with_its_reason(alice, admin_user):
    entry = credits_grant(user=alice, amount=250, reason="Launch bonus", actor=admin_user)
    assert CreditAccount.balance_of(alice) == 750
    assert (entry.kind, entry.amount, entry.balance_after, entry.reason, entry.actor) == (
        "grant", 250, 750, "Launch bonus", admin_user)


@pytest.mark.parametrize(("amount", "reason"), [(0, "x"), (-5, "x"), (10, ""), (10, "   "), (True, "x"), (2.5, "x")])
def test_a_bad_grant_changes_nothing(alice, amount, reason):
    with pytest.raises(CreditsError):
        credits_grant(user=alice, amount=amount, reason=reason, actor=None)
    assert CreditAccount.balance_of(alice) == 500
    assert CreditEntry.objects.filter(account__user=alice).count() == 1


def test_the_balance_can_never_go_below_zero_even_if_code_tries(alice):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        CreditAccount.objects.filter(user=alice).update(balance=-1)


def test_a_failed_generation_is_refunded_exactly_once(alice):
    factories.credential("mulerun")
    gen = factories.create(alice)
    assert CreditAccount.balance_of(alice) == 500 - gen.cost
    assert generation_fail(gen.pk, reason="The provider refused the prompt.")
    assert not generation_fail(gen.pk, reason="again")  # the second failure changes nothing
    assert credits_refund(generation=gen, reason="and again") is None
    assert CreditAccount.balance_of(alice) == 500
    assert CreditEntry.objects.filter(generation=gen, kind="refund").count() == 1
    assert credits_audit() == []


def test_audit_reports_a_balance_that_differs_from_its_ledger(alice, capsys):
    call_command("audit_credits")
    CreditAccount.objects.filter(user=alice).update(balance=999)
    with pytest.raises(CommandError, match="1 credit problem"):
        call_command("audit_credits")
    assert "'ledger': 500" in capsys.readouterr().out


def test_grant_credits_command_writes_the_ledger(alice, capsys):
    call_command("grant_credits", "alice", "40", reason="Workshop")
    assert CreditAccount.balance_of(alice) == 540
    assert CreditEntry.objects.filter(account__user=alice, reason="Workshop").exists()
    with pytest.raises(CommandError, match="No member"):
        call_command("grant_credits", "nobody", "40", reason="x")


@pytest.mark.django_db(transaction=True)
def test_admins_granting_while_a_member_spends_lose_no_update():
    """Two admins grant and the member spends at the same time: the ledger and the balance agree."""
    factories.credential("mulerun")
    member = make_member("dana", 1000)
    admins = [make_member(f"admin{i}", is_staff=True) for i in range(2)]
    errors: list[BaseException] = []

    def grant(admin):
        try:
            for _ in range(10):
                credits_grant(user=member, amount=7, reason="top-up", actor=admin)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def spend():
        try:
            for _ in range(10):
                factories.create(member)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=grant, args=(a,)) for a in admins] + [threading.Thread(target=spend)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    spent = sum(g.cost for g in member.generations.all())
    assert CreditAccount.balance_of(member) == 1000 + 2 * 10 * 7 - spent
    assert credits_audit() == []


def test_audit_checks_money_against_status(alice, capsys):
    factories.credential("mulerun")
    failed, ready, queued = factories.create(alice), factories.create(alice), factories.create(alice)
    generation_fail(failed.pk, reason="The provider refused the prompt.")
    Generation.objects.filter(pk=ready.pk).update(status="ready", video="videos/x.mp4")
    assert credits_audit() == []
    # A failed video whose refund is missing, and a refund for a video that is still in flight.
    CreditEntry.objects.filter(generation=failed, kind="refund").update(generation=queued)
    problems = credits_audit()
    assert {(p["generation"], p["refunds"], p["expected"]) for p in problems} == {
        (str(failed.pk), 0, 1),
        (str(queued.pk), 1, 0),
    }
    # A ready video that was refunded (e.g. an admin save that undid a failure) is found too.
    CreditEntry.objects.filter(generation=queued, kind="refund").update(generation=ready)
    Generation.objects.filter(pk=failed.pk).update(status="ready", video="videos/y.mp4")
    assert [(p["generation"], p["status"]) for p in credits_audit()] == [(str(ready.pk), "ready")]
    with pytest.raises(CommandError, match="1 credit problem"):
        call_command("audit_credits")
