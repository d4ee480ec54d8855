"""Personal API tokens: made, found and revoked here only. The token is shown once; the database keeps its SHA-256.

A token has 256 random bits, so one fast hash is enough (a slow password hash guards guessable secrets).
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from generations.models_api import ApiToken

PREFIX = "ks_"
NAME_MAX = 80
# The rate limit is per token: a cap on live tokens keeps one member from multiplying it (and a leaked session
# from minting tokens without end).
ACTIVE_MAX = 20
# last_used_at is written at most this often per token, so reads do not each write a row.
USED_RESOLUTION = timedelta(minutes=1)


class TokenError(ValueError):
    """A token we refuse; ``field`` names the argument the sentence is about (name, scope or expires_at)."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


def digest_of(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def token_create(*, user: Any, name: str, scope: str, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns the row and the token itself, which is never shown again."""
    name = " ".join((name or "").split())
    if not any(unicodedata.category(ch)[0] not in "CZ" for ch in name):  # empty, or only invisible characters
        raise TokenError("Give the token a name, such as the script that will use it.", field="name")
    if len(name) > NAME_MAX:
        raise TokenError(f"Keep the name under {NAME_MAX} characters.", field="name")
    if scope not in ApiToken.Scope.values:
        raise TokenError("Choose Read, or Read and write.", field="scope")
    if expires_at is not None and expires_at <= timezone.now():
        raise TokenError("Choose an expiry date in the future.", field="expires_at")
    raw = PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()  # one create at a time per member
        live = ApiToken.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()), user=user)
        if live.filter(revoked_at__isnull=True).count() >= ACTIVE_MAX:
            raise TokenError(f"You have {ACTIVE_MAX} active tokens: revoke one you no longer use first.")
        token = ApiToken.objects.create(
            user=user, name=name, scope=scope, expires_at=expires_at, prefix=raw[:8], digest=digest_of(raw)
        )
    return token, raw


def token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def token_state(token: ApiToken, now: datetime | None = None) -> str:
    """ "revoked", "expired" or "active": only an active token opens the API."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= (now or timezone.now()):
        return "expired"
    return "active"


def token_find(raw: str) -> ApiToken | None:
    """The live token for a Bearer value (not revoked, not expired, its member active), or None."""
    if not raw.startswith(PREFIX) or len(raw) > 100:
        return None
    token = ApiToken.objects.select_related("user").filter(digest=digest_of(raw)).first()
    now = timezone.now()
    if token is None or token_state(token, now) != "active" or not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at >= USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def tokens_of(user: Any) -> list[ApiToken]:
    return list(ApiToken.objects.filter(user=user))
