"""Small builders shared by tests (one place, so a model change is one edit)."""

from __future__ import annotations

import uuid
from typing import Any

from generations.models import ProviderCredential
from generations.services.create import generation_create
from generations.services.demo import prices_seed


def credential(provider: str = "mulerun", base_url: str = "http://127.0.0.1:9", **secrets: str) -> ProviderCredential:
    prices_seed()  # transactional tests start from an empty table; the data migration's rows are gone
    cred = ProviderCredential(provider=provider, label=f"{provider} {uuid.uuid4().hex[:6]}", base_url=base_url)
    cred.set_secrets(secrets or {"api_key": "sk-test-" + uuid.uuid4().hex})
    cred.save()
    return cred


def create(user: Any, model: str = "mulerun:kling-v2.5-turbo", **params: Any) -> Any:
    params.setdefault("prompt", "A red fox runs through fresh snow at dawn")
    token = params.pop("form_token", None)
    return generation_create(user=user, model_key=model, params=params, form_token=token)
