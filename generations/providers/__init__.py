"""Provider clients, one module per protocol, looked up by the catalog's provider key."""

from __future__ import annotations

from generations.providers.aimlapi import AimlapiClient
from generations.providers.base import Client, Credential
from generations.providers.http import HttpOptions
from generations.providers.kling import KlingClient, PowerTokensClient
from generations.providers.mulerun import MuleRunClient
from generations.providers.segmind import SegmindClient, SegmindV1Client

CLIENTS: dict[str, type[Client]] = {
    cls.provider: cls
    for cls in (MuleRunClient, AimlapiClient, KlingClient, PowerTokensClient, SegmindClient, SegmindV1Client)
}


def get_client(credential: Credential, *, options: HttpOptions | None = None) -> Client:
    """The client for a credential's provider; ``options`` overrides timeouts (tests use short ones)."""
    try:
        cls = CLIENTS[credential.provider]
    except KeyError:
        raise ValueError(f"No client for provider {credential.provider!r}.") from None
    return cls(credential, options=options)
