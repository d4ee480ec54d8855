"""Standard Webhooks signatures (https://www.standardwebhooks.com, spec v1, symmetric): no Django here.

The secret is ``whsec_`` + base64 of 32 random bytes; the key is those bytes. The signed content is
``{webhook-id}.{webhook-timestamp}.{body}`` and the signature header is ``v1,`` + base64 of its HMAC-SHA256.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(PREFIX))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "Webhook-Id": msg_id,
        "Webhook-Timestamp": str(timestamp),
        "Webhook-Signature": signature(secret, msg_id, timestamp, body),
    }
