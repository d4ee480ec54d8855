"""The Idempotency-Key of a create request: the same key and body make one thing, charged once.

The key becomes the form token the pages already use (uuid5 of the member and the key), so the services' own
uniqueness rule, not a second copy of it, makes concurrent retries give back the one generation or batch.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from ninja import Header

from generations.api.problems import Problem
from generations.models_api import IdempotencyKey

HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY = Header(
    ..., alias=HEADER, min_length=1, max_length=255,
    description="One per thing you mean to make: a retry with the same key and body never makes or charges twice",
)  # fmt: skip
_NAMESPACE = uuid.UUID("6c1f2e8a-4a5e-4f0e-9a43-9a7f4d1f2c11")


def form_token_for(user: Any, key: str | None, endpoint: str, body: dict[str, Any]) -> uuid.UUID:
    """Claim ``key`` for this body (or find it claimed for the same body) and return its form token.

    No key or a bad one: 422. The key sent before with another body or to another endpoint: 422, and nothing is made.
    """
    if not key or not key.strip() or len(key) > 255 or not key.isprintable() or not key.isascii():
        message = "Send 1 to 255 printable ASCII characters, such as a UUID, one per thing you mean to make."
        raise Problem(422, f"Bad {HEADER}.", {HEADER: message})
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    try:
        with transaction.atomic():
            IdempotencyKey.objects.create(user=user, key=key, endpoint=endpoint, request_hash=digest)
    except IntegrityError:
        claimed = IdempotencyKey.objects.get(user=user, key=key)
        if claimed.request_hash != digest or claimed.endpoint != endpoint:
            raise Problem(
                422,
                f"This {HEADER} was already used with a different request; use a new key for a new request.",
                {HEADER: "Already used with a different request."},
            ) from None
    return uuid.uuid5(_NAMESPACE, f"{user.pk}:{endpoint}:{key}")


KEEP = timedelta(days=30)


def keys_forget_old(now: datetime | None = None) -> int:
    """Forget keys older than KEEP (the daily sweep). A retry after that still gets the video it made, never a
    second charge (the key's form token is the same); only a different body under it is no longer told apart."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=(now or timezone.now()) - KEEP).delete()
    return deleted
