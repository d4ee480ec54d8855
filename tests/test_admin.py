"""The admin: credits granted through the service, secrets never shown, provider checks, generation actions."""

from __future__ import annotations

import re
from typing import Any

import django_rq
import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from generations.models import CreditAccount, CreditEntry, Generation, Price, ProviderCredential
from generations.services.create import generation_create
from tests.conftest import make_member
from tests.fixtures_pages import UNREACHABLE, make_credential

pytestmark = pytest.mark.django_db
S = Generation.Status
USERS = reverse("admin:auth_user_changelist")
CREDS = reverse("admin:generations_providercredential_changelist")
GENS = reverse("admin:generations_generation_changelist")


def action(client: Client, url: str, name: str, objects: list[Any], **data: Any) -> Any:
    payload = {"action": name, ACTION_CHECKBOX_NAME: [str(o.pk) for o in objects], **data}
    return client.post(url, payload, follow=True)


def first_action(client: Client, url: str, name: str, objects: list[Any]) -> Any:
    """The first click of an action from the change list (with the list's `index` field)."""
    return client.post(url, {"action": name, "index": "0", ACTION_CHECKBOX_NAME: [str(o.pk) for o in objects]})


def text(response: Any) -> str:
    return response.content.decode()


@pytest.mark.parametrize(
    "name",
    [
        "auth_user", "generations_providercredential", "generations_price", "generations_generation",
        "generations_creditentry", "generations_creditaccount",
    ],
)  # fmt: skip
def test_every_admin_list_renders(
    name: str, admin_client: Client, alice: Any, credentials: Any, make_generation: Any
) -> None:
    make_generation(alice, error="Something odd happened")
    assert admin_client.get(reverse(f"admin:{name}_changelist")).status_code == 200


def test_the_admin_index_links_the_queue_dashboard(admin_client: Client) -> None:
    assert "Background queues (django-rq dashboard)" in text(admin_client.get(reverse("admin:index")))


# --- users and credits ------------------------------------------------------------------------------------------


def test_the_user_list_shows_balances_without_a_query_per_row(admin_client: Client, alice: Any) -> None:
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get(USERS).status_code == 200
        return len(ctx.captured_queries)

    few = count()
    for i in range(10):
        make_member(f"member{i}", 10 + i)
    assert count() == few
    assert re.search(r'<td class="field-balance">500</td>', text(admin_client.get(USERS)))


def test_grant_credits_asks_for_amount_and_reason_then_writes_ledger_rows(
    admin_client: Client, admin_user: Any, alice: Any, bob: Any
) -> None:
    page = first_action(admin_client, USERS, "grant_credits", [alice, bob])
    assert page.status_code == 200 and 'name="reason"' in text(page) and 'name="amount"' in text(page)
    done = action(admin_client, USERS, "grant_credits", [alice, bob], apply="1", amount="25", reason="March allowance")
    assert "Granted 25 credits to 2 members:" in text(done)
    for user, before in ((alice, 500), (bob, 100)):
        entry = CreditEntry.objects.filter(account__user=user).first()
        assert (entry.kind, entry.amount, entry.reason, entry.actor) == ("grant", 25, "March allowance", admin_user)
        assert CreditAccount.balance_of(user) == before + 25


@pytest.mark.parametrize(("amount", "reason"), [("25", ""), ("25", "   "), ("0", "x"), ("-3", "x"), ("abc", "x")])
def test_a_grant_without_a_reason_or_a_positive_amount_is_refused(
    admin_client: Client, alice: Any, amount: str, reason: str
) -> None:
    response = action(admin_client, USERS, "grant_credits", [alice], apply="1", amount=amount, reason=reason)
    assert response.status_code == 200 and 'class="errorlist' in text(response)
    assert CreditEntry.objects.filter(account__user=alice).count() == 1  # only the starting grant
    assert CreditAccount.balance_of(alice) == 500


def test_the_user_page_shows_recent_credits_and_a_grant_page(
    admin_client: Client, admin_user: Any, alice: Any
) -> None:
    html = text(admin_client.get(reverse("admin:auth_user_change", args=[alice.pk])))
    assert "Recent credit movements" in html and "test credits" in html
    url = reverse("admin:auth_user_grant_credits", args=[alice.pk])
    assert f'href="{url}"' in html
    assert "Current balance: 500 credits." in text(admin_client.get(url))
    response = admin_client.post(url, {"amount": "5", "reason": "Thanks for the demo"}, follow=True)
    assert "Granted 5 credits to 1 member:" in text(response)
    assert CreditAccount.balance_of(alice) == 505


def test_a_member_cannot_reach_the_admin(alice: Any) -> None:
    client = Client()
    client.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")
    response = client.get(reverse("admin:auth_user_grant_credits", args=[alice.pk]))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_ledger_is_read_only(admin_client: Client, alice: Any) -> None:
    entry = CreditEntry.objects.get(account__user=alice)
    assert admin_client.get(reverse("admin:generations_creditentry_add")).status_code == 403
    change = admin_client.get(reverse("admin:generations_creditentry_change", args=[entry.pk]))
    assert change.status_code == 200 and 'name="amount"' not in text(change) and "test credits" in text(change)
    assert admin_client.post(reverse("admin:generations_creditentry_delete", args=[entry.pk])).status_code == 403
    account = CreditAccount.objects.get(user=alice)
    assert 'name="balance"' not in text(admin_client.get(reverse("admin:generations_creditaccount_change",
                                                                  args=[account.pk])))  # fmt: skip
    filtered = admin_client.get(reverse("admin:generations_creditentry_changelist"),
                                {"account__user__id__exact": alice.pk})  # fmt: skip
    assert filtered.status_code == 200 and "test credits" in text(filtered)


# --- provider credentials ---------------------------------------------------------------------------------------


def _credential_form(**fields: str) -> dict[str, str]:
    base = {"provider": "mulerun", "label": "MuleRun main", "base_url": "", "priority": "10", "is_active": "on"}
    return base | fields


def test_a_credential_is_created_with_its_secret_encrypted(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("admin:generations_providercredential_add"), _credential_form(api_key="sk-live-abcdef123456WXYZ")
    )
    assert response.status_code == 302
    cred = ProviderCredential.objects.get()
    assert cred.get_secrets() == {"api_key": "sk-live-abcdef123456WXYZ"}
    assert "sk-live" not in cred.secrets_encrypted
    assert "••••WXYZ" in text(admin_client.get(CREDS))


def test_the_change_page_never_shows_the_stored_secret(admin_client: Client, credentials: Any) -> None:
    cred = credentials["kling"]
    secrets = cred.get_secrets()
    html = text(admin_client.get(reverse("admin:generations_providercredential_change", args=[cred.pk])))
    assert 'type="password"' in html and "Leave empty to keep the current secret." in html
    for secret in secrets.values():
        assert secret not in html
    assert cred.secrets_encrypted not in html


def test_leaving_the_secret_empty_keeps_it(admin_client: Client, credentials: Any) -> None:
    cred = credentials["mulerun"]
    before = cred.get_secrets()
    url = reverse("admin:generations_providercredential_change", args=[cred.pk])
    response = admin_client.post(url, _credential_form(label="Renamed", priority="3"))
    assert response.status_code == 302
    cred.refresh_from_db()
    assert (cred.label, cred.priority, cred.get_secrets()) == ("Renamed", 3, before)


def test_kling_needs_both_keys_and_no_api_key(admin_client: Client) -> None:
    url = reverse("admin:generations_providercredential_add")
    response = admin_client.post(url, _credential_form(provider="kling", label="Kling", access_key="ak-only"))
    assert response.status_code == 200 and "Required." in text(response)
    response = admin_client.post(url, _credential_form(provider="kling", label="Kling", api_key="sk-wrong-kind"))
    assert "does not use this; it needs access key and secret key" in text(response)
    assert not ProviderCredential.objects.exists()
    response = admin_client.post(
        url, _credential_form(provider="kling", label="Kling", access_key="ak-123456789012", secret_key="sk-9876543210")
    )
    assert response.status_code == 302
    secrets = {"access_key": "ak-123456789012", "secret_key": "sk-9876543210"}
    assert ProviderCredential.objects.get().get_secrets() == secrets


def test_changing_the_provider_needs_new_secrets(admin_client: Client, credentials: Any) -> None:
    cred = credentials["mulerun"]
    url = reverse("admin:generations_providercredential_change", args=[cred.pk])
    response = admin_client.post(url, _credential_form(provider="kling", label=cred.label))
    assert response.status_code == 200 and "Required." in text(response)


def test_test_connection_reports_an_unreachable_provider(admin_client: Client, credentials: Any) -> None:
    cred = credentials["mulerun"]
    assert cred.base_url == UNREACHABLE
    response = action(admin_client, CREDS, "test_connection", [cred], index="0")
    cred.refresh_from_db()
    assert cred.last_checked_at is not None and cred.last_error_at is not None
    assert "MuleRun" in cred.last_error  # the provider client's own sentence, e.g. "Could not connect to MuleRun"
    assert f'<li class="error">Mulerun test account: {cred.last_error}</li>' in text(response)  # admin capfirsts


def test_the_change_page_has_a_test_connection_button(admin_client: Client, credentials: Any) -> None:
    cred = credentials["kling"]
    url = reverse("admin:generations_providercredential_test", args=[cred.pk])
    change = text(admin_client.get(reverse("admin:generations_providercredential_change", args=[cred.pk])))
    assert f'action="{url}"' in change
    assert admin_client.get(url).status_code == 405
    response = admin_client.post(url, follow=True)
    cred.refresh_from_db()
    assert cred.last_error and f'<li class="error">Kling test account: {cred.last_error}</li>' in text(response)


def test_enable_and_disable(admin_client: Client, credentials: Any) -> None:
    creds = list(credentials.values())
    action(admin_client, CREDS, "disable", creds, index="0")
    assert not ProviderCredential.objects.filter(is_active=True).exists()
    action(admin_client, CREDS, "enable", creds[:1], index="0")
    assert list(ProviderCredential.objects.filter(is_active=True)) == creds[:1]


# --- prices -----------------------------------------------------------------------------------------------------


def test_prices_are_edited_in_the_list(admin_client: Client, prices: None) -> None:
    url = reverse("admin:generations_price_changelist")
    response = admin_client.get(url, {"model": "mulerun:kling-v2.5-turbo", "mode": "std", "duration": "5"})
    html = text(response)
    assert 'name="form-0-credits"' in html
    price = Price.objects.get(model="mulerun:kling-v2.5-turbo", mode="std", duration=5, sound=False)
    data = {
        "form-TOTAL_FORMS": "1", "form-INITIAL_FORMS": "1", "form-0-id": str(price.pk), "form-0-credits": "77",
        "_save": "Save",
    }  # fmt: skip
    admin_client.post(url + "?model=mulerun:kling-v2.5-turbo&mode=std&duration=5", data)
    price.refresh_from_db()
    assert price.credits == 77


# --- generations ------------------------------------------------------------------------------------------------


def test_the_generation_list_filters_searches_and_escapes(
    admin_client: Client, alice: Any, credentials: Any, make_generation: Any
) -> None:
    make_generation(alice, prompt="<script>alert(1)</script> owl", provider_task_id="task-777")
    make_generation(alice, prompt="A calm lake", status=S.FAILED, error="Refused by the provider")
    html = text(admin_client.get(GENS))
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; owl" in html
    assert "Refused by the provider" in html
    assert "owl" in text(admin_client.get(GENS, {"q": "task-777"}))
    assert "A calm lake" not in text(admin_client.get(GENS, {"q": "task-777"}))
    assert "owl" not in text(admin_client.get(GENS, {"status__exact": "failed"}))
    assert admin_client.get(reverse("admin:generations_generation_add")).status_code == 403


def test_the_generation_list_needs_no_query_per_row(
    admin_client: Client, alice: Any, bob: Any, credentials: Any, make_generation: Any
) -> None:
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get(GENS).status_code == 200
        return len(ctx.captured_queries)

    make_generation(alice)
    few = count()
    for i in range(15):
        make_generation(bob if i % 2 else alice, status=S.RUNNING)
    assert count() == few


def test_the_generation_page_shows_raw_provider_data_read_only(
    admin_client: Client, alice: Any, credentials: Any, make_generation: Any
) -> None:
    gen = make_generation(
        alice, status=S.FAILED, provider_response={"code": 1303, "message": "<quota> exceeded"},
        error_detail='{"error": "Parallel task over resource pack limit"}', cost=40,
    )  # fmt: skip
    html = text(admin_client.get(reverse("admin:generations_generation_change", args=[gen.pk])))
    assert "&quot;code&quot;: 1303" in html and "&lt;quota&gt; exceeded" in html
    assert "Parallel task over resource pack limit" in html
    assert 'name="cost"' not in html and 'name="status"' not in html and 'name="visibility"' in html


def test_mark_failed_refunds_through_the_service(
    admin_client: Client, alice: Any, credentials: Any, django_capture_on_commit_callbacks: Any
) -> None:
    gen = generation_create(user=alice, model_key="mulerun:kling-v2.5-turbo", params={"prompt": "A stuck one"})
    assert CreditAccount.balance_of(alice) == 500 - gen.cost
    page = first_action(admin_client, GENS, "mark_failed", [gen])
    assert page.status_code == 200 and 'name="reason"' in text(page)
    done = action(admin_client, GENS, "mark_failed", [gen], apply="1", reason="Stuck at the provider for hours.")
    assert "Marked 1 video failed" in text(done)
    gen.refresh_from_db()
    assert (gen.status, gen.error) == (S.FAILED, "Stuck at the provider for hours.")
    assert CreditAccount.balance_of(alice) == 500
    again = action(admin_client, GENS, "mark_failed", [gen], apply="1", reason="")
    assert "Only generations that are still in progress" in text(again)


def test_repoll_schedules_a_poll_now(
    admin_client: Client, alice: Any, credentials: Any, make_generation: Any, django_capture_on_commit_callbacks: Any
) -> None:
    gen = make_generation(alice, status=S.SUBMITTED, provider_task_id="t-1")
    with django_capture_on_commit_callbacks(execute=True):
        response = action(admin_client, GENS, "repoll", [gen], index="0")
    assert "Asked the provider about 1 video." in text(response)
    assert f"poll-{gen.pk}-admin0" in django_rq.get_queue("default").job_ids
    ready = make_generation(alice)
    assert "Only submitted or generating videos can be polled." in text(
        action(admin_client, GENS, "repoll", [ready], index="0")
    )


def test_resume_needs_attention_with_a_task_id(
    admin_client: Client, alice: Any, credentials: Any, make_generation: Any, django_capture_on_commit_callbacks: Any
) -> None:
    gen = make_generation(alice, status=S.NEEDS_ATTENTION, error="We could not tell whether MuleRun got it.")
    other = make_generation(alice, status=S.NEEDS_ATTENTION)
    assert "Select exactly one generation" in text(action(admin_client, GENS, "resume", [gen, other], index="0"))
    page = first_action(admin_client, GENS, "resume", [gen])
    assert 'name="task_id"' in text(page)
    with django_capture_on_commit_callbacks(execute=True):
        done = action(admin_client, GENS, "resume", [gen], apply="1", task_id="  mr-task-42 ")
    assert "Resumed" in text(done)
    gen.refresh_from_db()
    assert (gen.status, gen.provider_task_id) == (S.SUBMITTED, "mr-task-42")
    assert any(j.startswith(f"poll-{gen.pk}-resume") for j in django_rq.get_queue("default").job_ids)


def test_staff_without_superuser_rights_sees_only_what_they_may(credentials: Any, alice: Any) -> None:
    staff = get_user_model().objects.create_user("staffer", "s@example.com", "x-long-password", is_staff=True)
    client = Client()
    client.force_login(staff, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get(reverse("admin:auth_user_grant_credits", args=[alice.pk])).status_code == 403
    make_credential("segmind", "Segmind extra")
    assert client.get(CREDS).status_code == 403


def test_the_grant_form_posted_twice_grants_once(admin_client: Client, alice: Any) -> None:
    url = reverse("admin:auth_user_grant_credits", args=[alice.pk])
    page = text(admin_client.get(url))
    token = re.search(r'name="token" value="([0-9a-f-]+)"', page)[1]
    for _ in range(2):  # a double click (or a reload of the POST)
        admin_client.post(url, {"token": token, "amount": "40", "reason": "Bonus"})
    assert CreditAccount.balance_of(alice) == 540
    assert CreditEntry.objects.filter(account__user=alice, kind="grant", reason="Bonus").count() == 1
    other = re.search(r'name="token" value="([0-9a-f-]+)"', text(admin_client.get(url)))[1]
    assert other != token  # the next form is a new grant
    admin_client.post(url, {"token": other, "amount": "40", "reason": "Bonus"})
    assert CreditAccount.balance_of(alice) == 580
