"""Provider secrets at rest: MultiFernet over the keys in settings.CREDENTIAL_KEYS (newest first).

Rotation: put a new key first in CREDENTIAL_KEYS, run `manage.py rotate_credential_keys`, then drop the old key.
"""

from __future__ import annotations

import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.CREDENTIAL_KEYS))


def encrypt_secrets(values: dict[str, str]) -> str:
    return fernet().encrypt(json.dumps(values).encode()).decode()


def decrypt_secrets(token: str) -> dict[str, str]:
    try:
        return json.loads(fernet().decrypt(token.encode()))
    except InvalidToken:
        raise ImproperlyConfigured(
            "A provider secret cannot be decrypted with any key in CREDENTIAL_KEYS; was a key removed too early?"
        ) from None


def rotate(token: str) -> str:
    """Re-encrypt under the newest key (idempotent)."""
    return fernet().rotate(token.encode()).decode()
