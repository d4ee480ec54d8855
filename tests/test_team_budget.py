"""The team's budget: monthly allowances granted exactly once, spending caps and model/mode permissions that the
server enforces even when the form is bypassed."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import uuid
from datetime import datetime
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from generations import catalog
from generations.models import AllowanceGrant, CreditAccount, CreditEntry, Generation, GroupPolicy, MemberPolicy
from generations.services import team
from generations.services.create import generation_create
from generations.services.credits import credits_audit
from tests.conftest import ROOT, make_member, wait_for, worker_env

pytestmark = pytest.mark.django_db(transaction=True)
TURBO = "kling-2-5-turbo"
STD5 = {"prompt": "A paper boat on a puddle", "mode": "std", "duration": 5, "aspect_ratio": "16:9"}


def allowance_rows(user: Any) -> list[tuple[str, int]]:
    return list(
        CreditEntry.objects.filter(account__user=user, reason__startswith="Monthly allowance")
        .order_by("id")
        .values_list("reason", "amount")
    )


def test_the_site_default_allowance_is_granted_once_a_month(alice: Any, settings: Any) -> None:
    settings.DEFAULT_MONTHLY_ALLOWANCE = 300
    before = CreditAccount.balance_of(alice)
    with time_machine.travel(datetime(2026, 12, 2, 9, tzinfo=timezone.get_current_timezone()), tick=False):
        team.grant_allowances()
        team.grant_allowances()  # a repeat (another worker, the command by hand) grants nothing
        assert allowance_rows(alice) == [("Monthly allowance, 2026-12", 300)]
    with time_machine.travel(datetime(2027, 1, 20, tzinfo=timezone.get_current_timezone()), tick=False):
        team.grant_allowances()  # a run missed on the 1st is caught up later in the month
    assert [r for r, _a in allowance_rows(alice)] == ["Monthly allowance, 2026-12", "Monthly allowance, 2027-01"]
    assert CreditAccount.balance_of(alice) == before + 600
    assert credits_audit() == []


def test_group_and_member_rules_override_the_site(alice: Any, bob: Any, settings: Any) -> None:
    settings.DEFAULT_MONTHLY_ALLOWANCE = 100
    interns = Group.objects.create(name="interns")
    GroupPolicy.objects.create(group=interns, monthly_allowance=50, allowed_modes=["std"])
    bob.groups.add(interns)
    MemberPolicy.objects.create(user=alice, monthly_allowance=0)  # alice: no allowance at all
    team.grant_allowances()
    assert allowance_rows(bob)[0][1] == 50
    assert allowance_rows(alice) == []
    assert team.rules_for(bob).allowed_modes == ("std",)


def test_two_workers_at_once_grant_each_member_once() -> None:
    members = [make_member(f"m{i}", 0) for i in range(30)]
    MemberPolicy.objects.bulk_create([MemberPolicy(user=m, monthly_allowance=10) for m in members])
    errors: list[BaseException] = []

    def run() -> None:
        try:
            team.grant_allowances()
        except BaseException as exc:  # a thread's failure must fail the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert AllowanceGrant.objects.count() == 30
    assert CreditEntry.objects.filter(reason__startswith="Monthly allowance").count() == 30
    assert credits_audit() == []


def test_a_run_killed_midway_is_caught_up_without_doubles(settings: Any) -> None:
    members = [make_member(f"k{i}", 0) for i in range(400)]
    MemberPolicy.objects.bulk_create([MemberPolicy(user=m, monthly_allowance=7) for m in members])
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "grant_allowances"], cwd=ROOT, env=worker_env(), start_new_session=True
    )
    wait_for(lambda: AllowanceGrant.objects.exists() or proc.poll() is not None, what="the first grants")
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    granted_before_kill = AllowanceGrant.objects.count()
    team.grant_allowances()
    assert granted_before_kill >= 1
    assert AllowanceGrant.objects.count() == 400
    assert CreditEntry.objects.filter(reason__startswith="Monthly allowance").count() == 400
    assert credits_audit() == []


def test_unused_allowance_expires_once_at_month_end(alice: Any) -> None:
    MemberPolicy.objects.create(user=alice, monthly_allowance=100, expire_unused=True)
    tz = timezone.get_current_timezone()
    start = CreditAccount.balance_of(alice)
    with time_machine.travel(datetime(2026, 11, 3, tzinfo=tz), tick=False):
        team.grant_allowances()
    with time_machine.travel(datetime(2026, 12, 1, 0, 5, tzinfo=tz), tick=False):
        team.grant_allowances()
        team.grant_allowances()
    expired = CreditEntry.objects.filter(account__user=alice, reason="Unused allowance expired, 2026-11")
    assert [e.amount for e in expired] == [-100]
    assert CreditAccount.balance_of(alice) == start + 100  # November's 100 went, December's 100 came
    assert credits_audit() == []


# --- caps and permissions: enforced by the service, whatever the form shows ---------------------------------------


def test_a_daily_cap_refuses_the_video_that_would_pass_it_and_charges_nothing(
    alice: Any, sim_credentials: Any
) -> None:
    MemberPolicy.objects.create(user=alice, daily_cap=25)
    first = generation_create(user=alice, model_key=TURBO, params=STD5)
    assert first.cost <= 25
    before = CreditAccount.balance_of(alice)
    with pytest.raises(catalog.CatalogError, match="daily limit has"):
        generation_create(user=alice, model_key=TURBO, params={**STD5, "duration": 10})
    assert CreditAccount.balance_of(alice) == before and Generation.objects.count() == 1


def test_a_refund_gives_the_cap_back(alice: Any, sim_credentials: Any) -> None:
    from generations.services.pipeline import generation_fail

    MemberPolicy.objects.create(user=alice, monthly_cap=10)
    gen = generation_create(user=alice, model_key=TURBO, params=STD5)
    assert team.headroom(alice).left == 10 - gen.cost
    generation_fail(gen.pk, reason="test failure")
    assert team.headroom(alice).left == 10


def test_simultaneous_submits_cannot_both_slip_under_the_cap(alice: Any, sim_credentials: Any) -> None:
    MemberPolicy.objects.create(user=alice, daily_cap=15)  # room for one 10-credit video, not two
    results: list[Any] = []

    def submit() -> None:
        try:
            results.append(generation_create(user=alice, model_key=TURBO, params=STD5, form_token=uuid.uuid4()))
        except catalog.CatalogError as exc:
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Generation.objects.count() == 1
    assert CreditEntry.objects.filter(kind="charge").count() == 1


def test_a_group_that_may_not_use_pro_is_refused_even_without_the_form(
    bob: Any, bob_client: Any, sim_credentials: Any
) -> None:
    interns = Group.objects.create(name="interns")
    GroupPolicy.objects.create(group=interns, allowed_modes=["std"], allowed_models=["Kling 2.5 Turbo"])
    bob.groups.add(interns)
    with pytest.raises(catalog.CatalogError, match="not available to you"):
        generation_create(user=bob, model_key=TURBO, params={**STD5, "mode": "pro"})
    with pytest.raises(catalog.CatalogError, match="Kling 3 is not available"):
        generation_create(user=bob, model_key="kling-3", params=STD5)
    html = bob_client.get(reverse("new_video")).content.decode()
    select = html[html.index('name="model"') : html.index("</select>", html.index('name="model"'))]
    assert "Kling 3" not in select and "Kling 2.5 Turbo" in select
    assert "Professional" not in html[html.index('name="mode"') :][:600]
    assert Generation.objects.count() == 0


def test_the_form_shows_what_is_left_of_the_cap(alice: Any, alice_client: Any, sim_credentials: Any) -> None:
    MemberPolicy.objects.create(user=alice, daily_cap=40)
    generation_create(user=alice, model_key=TURBO, params=STD5)
    html = alice_client.get(reverse("new_video")).content.decode()
    assert "Your spending limit: 30 credits left today." in html


def test_the_price_says_at_once_when_a_video_would_pass_the_cap(
    alice: Any, alice_client: Any, sim_credentials: Any
) -> None:
    # Found by the outside new-user pass: the form showed "10 credits left today" beside a 20-credit price and said
    # nothing until the submit was refused.
    MemberPolicy.objects.create(user=alice, daily_cap=40)
    generation_create(user=alice, model_key=TURBO, params=STD5)  # 10 spent, 30 left
    five = alice_client.get("/new/quote.json", {"model": TURBO, "mode": "std", "duration": "5"}).json()
    assert five["cap_error"] == ""
    ten = alice_client.get("/new/quote.json", {"model": TURBO, "mode": "pro", "duration": "10"}).json()
    assert ten["cost"] > 30
    assert ten["cap_error"].startswith(f"This video costs {ten['cost']} credits and your daily limit has 30 left.")
