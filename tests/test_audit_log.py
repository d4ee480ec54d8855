"""The audit log: every admin action leaves an entry with who, when, what and before/after values; never a secret."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from generations.models import GroupPolicy, Price, ProviderCredential
from tests.test_admin import USERS, action, text

pytestmark = pytest.mark.django_db
AUDIT = reverse("admin:auditlog_logentry_changelist")


def entries_for(obj: Any) -> list[LogEntry]:
    return list(LogEntry.objects.get_for_object(obj).order_by("timestamp"))


def test_a_credit_grant_is_recorded_with_the_admin_and_the_amount(
    admin_client: Client, admin_user: Any, alice: Any
) -> None:
    action(admin_client, USERS, "grant_credits", [alice], apply="1", amount="25", reason="Launch bonus")
    [entry] = [e for e in entries_for(alice) if "Launch bonus" in str(e.changes)]
    assert entry.actor == admin_user
    assert entry.changes_dict["amount"] == ["", "25"] and entry.changes_dict["reason"] == ["", "Launch bonus"]


def test_a_price_change_is_recorded_before_and_after(admin_client: Client, admin_user: Any, prices: None) -> None:
    price = Price.objects.filter(model="mulerun:kling-v2.5-turbo", mode="std", duration=5).get()
    url = reverse("admin:generations_price_change", args=[price.pk])
    data = {"model": price.model, "mode": price.mode, "duration": price.duration, "credits": "77"}
    response = admin_client.post(url, data)
    assert response.status_code == 302, text(response)[:2000]
    [entry] = [e for e in entries_for(price) if e.action == LogEntry.Action.UPDATE]
    assert entry.actor == admin_user and entry.changes_dict["credits"] == [str(price.credits), "77"]


def test_a_credential_change_is_recorded_without_its_secret(admin_client: Client, admin_user: Any) -> None:
    form = {"provider": "mulerun", "label": "MuleRun main", "base_url": "", "priority": "10", "is_active": "on"}
    admin_client.post(reverse("admin:generations_providercredential_add"), form | {"api_key": "sk-live-SECRET-123456"})
    cred = ProviderCredential.objects.get()
    url = reverse("admin:generations_providercredential_change", args=[cred.pk])
    admin_client.post(url, form | {"label": "MuleRun backup", "api_key": "sk-live-OTHER-654321"})
    log = entries_for(cred)
    assert any(e.changes_dict.get("label") == ["MuleRun main", "MuleRun backup"] for e in log)
    everything = " ".join(str(e.changes) + str(e.serialized_data) for e in LogEntry.objects.all())
    assert "SECRET" not in everything and "OTHER" not in everything and "gAAAA" not in everything


def test_budget_rules_of_a_group_are_recorded(admin_client: Client, admin_user: Any) -> None:
    group = Group.objects.create(name="interns")
    url = reverse("admin:auth_group_change", args=[group.pk])
    data = {
        "name": "interns",
        "policy-TOTAL_FORMS": "1", "policy-INITIAL_FORMS": "0",
        "policy-MIN_NUM_FORMS": "0", "policy-MAX_NUM_FORMS": "1",
        "policy-0-monthly_allowance": "200", "policy-0-expire_unused": "unknown", "policy-0-daily_cap": "",
        "policy-0-monthly_cap": "", "policy-0-allowed_models": "[]", "policy-0-allowed_modes": '["std"]',
    }  # fmt: skip
    response = admin_client.post(url, data)
    assert response.status_code == 302, text(response)[:3000]
    policy = GroupPolicy.objects.get(group=group)
    assert policy.allowed_modes == ["std"]
    [entry] = entries_for(policy)
    assert entry.actor == admin_user and entry.changes_dict["monthly_allowance"] == ["None", "200"]


def test_generation_actions_are_recorded(
    admin_client: Client, admin_user: Any, alice: Any, make_generation: Any
) -> None:
    gen = make_generation(alice, status="needs_attention")
    url = reverse("admin:generations_generation_changelist")
    action(admin_client, url, "mark_failed", [gen], apply="1", reason="Stuck at the provider")
    [entry] = entries_for(gen)
    assert entry.actor == admin_user
    assert entry.changes_dict["action"] == ["", "marked failed: Stuck at the provider"]


def test_the_audit_log_is_read_only_and_exports_safe_csv(
    admin_client: Client, admin_user: Any, alice: Any
) -> None:
    action(admin_client, USERS, "grant_credits", [alice], apply="1", amount="5", reason="=HYPERLINK(\"x\")")
    page = admin_client.get(AUDIT)
    assert page.status_code == 200 and "credits granted" in text(page)
    assert admin_client.get(reverse("admin:auditlog_logentry_add")).status_code == 403
    ids = [str(pk) for pk in LogEntry.objects.values_list("pk", flat=True)]
    exported = admin_client.post(AUDIT, {"action": "export_csv", "_selected_action": ids})
    assert exported["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode())))
    assert rows[0] == ["when", "who", "what kind", "object", "action", "changes"]
    assert all(not cell.startswith("=") for row in rows for cell in row)
    assert any(row[1] == admin_user.get_username() for row in rows[1:])
