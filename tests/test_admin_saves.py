"""Admin change forms write only what the admin changed (issue 9, hole 2).

The race is real on PostgreSQL: the admin loads the row when the form is posted and writes it back a few
milliseconds later. A worker (on its own connection) moves the row in between, exactly then, through the
pre_save signal; the admin's save must not undo the worker's status, refund, file, lease or balance.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django import forms
from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.db.models.signals import pre_save
from django.test import Client
from django.urls import reverse

from generations.models import CreditAccount, CreditEntry, Generation, ProviderCredential
from generations.services import pipeline
from generations.services.credits import credits_audit
from tests import factories
from tests.conftest import wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the race needs two live PostgreSQL sessions"),
]
S = Generation.Status


def form_data(client: Client, url: str, **changes: Any) -> dict[str, Any]:
    """What the browser would post back from the change form as the admin saw it, plus the admin's edits."""
    form = client.get(url).context["adminform"].form
    data: dict[str, Any] = {}
    for name, field in form.fields.items():
        if field.disabled:
            continue
        value = form[name].value()
        widget = field.widget
        if isinstance(widget, forms.MultiWidget):
            for i, part in enumerate(widget.decompress(value)):
                data[f"{name}_{i}"] = "" if part is None else part
        elif isinstance(widget, forms.CheckboxInput):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = value
    for formset in client.get(url).context.get("inline_admin_formsets", []):  # inlines posted back unchanged
        management = formset.formset.management_form
        for name in management.fields:
            data[f"{management.prefix}-{name}"] = management[name].value()
    data.update(changes)
    return data


def in_another_session(work: Callable[[], None]) -> None:
    """Run `work` as a worker would: another thread, another database connection, committed before we go on."""

    def run() -> None:
        try:
            work()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)


def when_saved(model: type, work: Callable[[], None]) -> Callable[[], None]:
    """Run `work` in another session the moment the admin's save of `model` starts; returns the disconnect."""
    done: list[bool] = []

    def handler(sender: Any, **kwargs: Any) -> None:
        if not done:
            done.append(True)
            in_another_session(work)

    pre_save.connect(handler, sender=model, weak=False)
    return lambda: pre_save.disconnect(handler, sender=model)


def test_saving_a_generation_never_undoes_a_worker_failing_and_refunding_it(
    admin_client: Client, alice: Any, sim_credentials: Any, sim: Any, settings: Any
) -> None:
    settings.PROVIDER_READ_TIMEOUT = 1.0
    gen = factories.create(alice, "mulerun:kling-v2.5-turbo", prompt="Blocked [sim:moderation]")
    pipeline.generation_submit(gen.pk)
    url = reverse("admin:generations_generation_change", args=[gen.pk])
    data = form_data(admin_client, url, visibility="private")
    wait_for(lambda: sim.tasks()[-1].phase() == "failed", what="the provider to refuse the video")

    def worker_polls() -> None:
        Generation.objects.filter(pk=gen.pk).update(next_run_at=None)
        pipeline.generation_poll(gen.pk)

    stop = when_saved(Generation, worker_polls)
    try:
        response = admin_client.post(url, data)
    finally:
        stop()
    assert response.status_code == 302, response.content[:2000]
    gen.refresh_from_db()
    assert (gen.status, gen.visibility) == (S.FAILED, "private")  # the refund stands, the admin's edit too
    assert sorted(CreditEntry.objects.filter(generation=gen).values_list("kind", flat=True)) == ["charge", "refund"]
    assert credits_audit() == []


def test_saving_a_ready_generation_keeps_its_file(admin_client: Client, alice: Any, credentials: Any) -> None:
    gen = factories.create(alice, "mulerun:kling-v2.5-turbo")
    url = reverse("admin:generations_generation_change", args=[gen.pk])
    data = form_data(admin_client, url, visibility="private")

    def worker_stores() -> None:
        Generation.objects.filter(pk=gen.pk).update(status=S.READY, video=f"videos/{gen.pk}/video.mp4")

    stop = when_saved(Generation, worker_stores)
    try:
        assert admin_client.post(url, data).status_code == 302
    finally:
        stop()
    gen.refresh_from_db()
    assert (gen.status, gen.video.name, gen.visibility) == (S.READY, f"videos/{gen.pk}/video.mp4", "private")


def test_saving_a_credential_keeps_the_error_a_worker_just_recorded(admin_client: Client, credentials: Any) -> None:
    cred = ProviderCredential.objects.first()
    url = reverse("admin:generations_providercredential_change", args=[cred.pk])
    data = form_data(admin_client, url, priority="7")

    def worker_notes() -> None:
        ProviderCredential.objects.filter(pk=cred.pk).update(last_error="The provider refused the API key.")

    stop = when_saved(ProviderCredential, worker_notes)
    try:
        assert admin_client.post(url, data).status_code == 302
    finally:
        stop()
    cred.refresh_from_db()
    assert (cred.priority, cred.last_error) == (7, "The provider refused the API key.")


def test_saving_a_member_keeps_a_password_changed_meanwhile_and_the_balance(admin_client: Client, alice: Any) -> None:
    url = reverse("admin:auth_user_change", args=[alice.pk])
    data = form_data(admin_client, url, first_name="Alicia")

    def member_changes_password() -> None:
        user = get_user_model().objects.get(pk=alice.pk)
        user.set_password("a brand new passphrase")
        user.save(update_fields=["password"])

    stop = when_saved(get_user_model(), member_changes_password)
    try:
        assert admin_client.post(url, data).status_code == 302
    finally:
        stop()
    alice.refresh_from_db()
    assert alice.first_name == "Alicia"
    assert alice.check_password("a brand new passphrase")
    assert CreditAccount.balance_of(alice) == 500
    assert connection.vendor == "postgresql"


@pytest.mark.parametrize("change", [{"base_url": "https://other-gateway.example.com"}, {"provider": "aimlapi"}])
def test_a_credential_with_unfinished_videos_cannot_be_pointed_at_another_api(
    admin_client: Client, alice: Any, credentials: Any, change: dict[str, str]
) -> None:
    gen = factories.create(alice, "mulerun:kling-v2.5-turbo")
    cred = gen.credential
    url = reverse("admin:generations_providercredential_change", args=[cred.pk])
    data = form_data(admin_client, url, **change, api_key="aimlapi-new-key-0123456789")
    response = admin_client.post(url, data)
    assert response.status_code == 200 and "not finished yet" in response.content.decode()
    cred.refresh_from_db()
    assert (cred.provider, cred.base_url) == ("mulerun", credentials["mulerun"].base_url)
    Generation.objects.filter(pk=gen.pk).update(status=S.READY, video="videos/x.mp4")  # once they are finished
    assert admin_client.post(url, data).status_code == 302
    cred.refresh_from_db()
    assert {k: getattr(cred, k) for k in change} == change
