"""Operator commands: secrets never on the command line, bad input refused with a sentence, the sweep on demand."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from generations.models import Generation, ProviderCredential
from tests import factories


@pytest.mark.django_db
def test_add_credential_reads_the_secret_from_stdin_and_encrypts_it(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("mr-live-0123456789abcdef\n"))
    call_command("add_credential", provider="mulerun", label="MuleRun main", base_url="https://api.mulerun.com")
    cred = ProviderCredential.objects.get(label="MuleRun main")
    assert cred.get_secrets() == {"api_key": "mr-live-0123456789abcdef"}
    assert "mr-live" not in cred.secrets_encrypted
    assert "mr-live" not in capsys.readouterr().out  # the secret is never echoed


@pytest.mark.django_db
def test_add_credential_reads_kling_keys_from_an_environment_variable(monkeypatch):
    monkeypatch.setenv("KLING_KEYS", '{"access_key": "ak-1", "secret_key": "sk-2"}')
    call_command("add_credential", provider="kling", label="Kling", secret_env="KLING_KEYS")
    assert ProviderCredential.objects.get(label="Kling").get_secrets() == {"access_key": "ak-1", "secret_key": "sk-2"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("provider", "secret", "message"),
    [
        ("mulerun", "", "No secret given"),
        ("kling", "just-one-key", "JSON object with access_key, secret_key"),
        ("kling", '{"access_key": "ak"}', "JSON object with access_key, secret_key"),
    ],
)
def test_add_credential_refuses_a_missing_or_malformed_secret(monkeypatch, provider, secret, message):
    monkeypatch.setattr("sys.stdin", io.StringIO(secret))
    with pytest.raises(CommandError, match=message):
        call_command("add_credential", provider=provider, label="x")
    assert not ProviderCredential.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_recover_generations_requeues_overdue_work(alice, capsys):
    import django_rq

    factories.credential("mulerun")
    gen = factories.create(alice)
    django_rq.get_connection("default").flushdb()  # the submit job is lost
    Generation.objects.filter(pk=gen.pk).update(next_run_at=timezone.now() - timedelta(minutes=5))
    call_command("recover_generations")
    assert "'queued': 1" in capsys.readouterr().out
    assert django_rq.get_queue("default").count == 1
