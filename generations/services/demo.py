"""The demo a newcomer gets from `make run`: an admin with credits, prices, and credentials for the simulator."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model

from generations import catalog
from generations.models import Price, ProviderCredential
from generations.services.credits import credits_account, credits_grant

DEMO_USERNAME = "demo"
DEMO_CREDITS = 1000


def prices_seed() -> int:
    """Add a default price for every catalog combination that has none (existing prices are kept)."""
    have = set(Price.objects.values_list("model", "mode", "duration", "sound"))
    rows = [
        Price(model=key, mode=mode, duration=duration, sound=sound, credits=credits)
        for key, mode, duration, sound, credits in catalog.price_rows()
        if (key, mode, duration, sound) not in have
    ]
    Price.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def demo_credentials(simulator_url: str) -> int:
    """One credential per provider pointing at the simulator: created once, re-pointed if the port changed."""
    made = 0
    for key, info in catalog.PROVIDERS.items():
        label = f"{info.label} (simulator)"
        if ProviderCredential.objects.filter(label=label).exists():
            ProviderCredential.objects.filter(label=label).exclude(base_url=simulator_url).update(base_url=simulator_url)
            continue
        secret = settings.SIMULATOR_KEYS[key.removesuffix("_v1")]
        cred = ProviderCredential(provider=key, label=label, base_url=simulator_url)
        cred.set_secrets(secret if isinstance(secret, dict) else {"api_key": secret})
        cred.save()
        made += 1
    return made


def demo_admin() -> tuple[str, str | None]:
    """Create the demo admin once with a random password; returns (username, password or None if it existed)."""
    users = get_user_model()
    if users.objects.filter(username=DEMO_USERNAME).exists():
        return DEMO_USERNAME, None
    password = secrets.token_urlsafe(12)
    user = users.objects.create_superuser(DEMO_USERNAME, "demo@localhost", password, first_name="Demo")
    credits_account(user)
    credits_grant(user=user, amount=DEMO_CREDITS, reason="Welcome credits for the demo", actor=None)
    return DEMO_USERNAME, password
