"""Provider credentials: the admin's Test connection."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from generations.models import ProviderCredential
from generations.providers.base import ProviderError
from generations.services.pipeline import client_for


def credential_check(cred: ProviderCredential) -> tuple[bool, str]:
    """Make the provider's cheap authenticated call and record the outcome on the credential."""
    now = timezone.now()
    try:
        sentence = client_for(cred).check()
    except ProviderError as exc:
        ok, sentence = False, exc.message
    except Exception as exc:  # a secret that no longer decrypts, a provider without a client: say so
        ok, sentence = False, f"Could not test: {exc}"
    else:
        ok = True
    fields: dict[str, Any] = {"last_checked_at": now}
    fields.update({"last_error": ""} if ok else {"last_error": sentence, "last_error_at": now})
    ProviderCredential.objects.filter(pk=cred.pk).update(**fields)
    return ok, sentence
