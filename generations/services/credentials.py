"""Provider credentials: the admin's Test connection."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from generations.models import Generation, ProviderCredential
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


def credential_retarget_refusal(cred: ProviderCredential, *, provider: str, base_url: str) -> str:
    """Why this credential may not point at another API now ("" if it may).

    Its unfinished generations poll (and fetch, and look up) through it: a new provider or base URL would send
    their task ids to an API that never saw them, and they would fail and be refunded while the first provider
    bills the video. Such a change waits until they have finished (or an admin has marked them failed).
    """
    if cred.pk is None or (provider == cred.provider and (base_url or "") == (cred.base_url or "")):
        return ""
    waiting = Generation.objects.filter(
        credential=cred, status__in=Generation.IN_FLIGHT | {Generation.Status.NEEDS_ATTENTION}
    )
    n = waiting.count()
    if not n:
        return ""
    return (
        f"{n} video(s) made through this credential are not finished yet; changing its provider or base URL would "
        "send their status checks to another API. Wait until they finish (or create a new credential)."
    )
