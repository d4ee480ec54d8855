from __future__ import annotations

import json
import os
import sys

from django.core.management.base import BaseCommand, CommandError

from generations.catalog import PROVIDERS
from generations.models import ProviderCredential


class Command(BaseCommand):
    help = (
        "Add or update a provider credential. The secret is read from standard input or from the environment "
        "variable named by --secret-env, never from an argument. Kling needs a JSON object "
        '{"access_key": "...", "secret_key": "..."}; the others a plain API key.'
    )

    def add_arguments(self, parser):
        parser.add_argument("--provider", required=True, choices=sorted(PROVIDERS))
        parser.add_argument("--label", required=True)
        parser.add_argument("--base-url", default="")
        parser.add_argument("--priority", type=int, default=100)
        parser.add_argument("--secret-env", help="Name of an environment variable holding the secret.")

    def handle(self, *args: object, provider: str, label: str, base_url: str, priority: int,
               secret_env: str | None, **options: object) -> None:
        raw = os.environ.get(secret_env, "") if secret_env else sys.stdin.read()
        secrets = _parse(provider, raw.strip())
        cred = ProviderCredential.objects.filter(label=label).first() or ProviderCredential(label=label)
        cred.provider, cred.base_url, cred.priority, cred.is_active = provider, base_url, priority, True
        cred.set_secrets(secrets)
        cred.full_clean(exclude=["secrets_encrypted"])
        cred.save()
        self.stdout.write(f"Saved credential {label!r} for {PROVIDERS[provider].label}.")


def _parse(provider: str, raw: str) -> dict[str, str]:
    fields = PROVIDERS[provider].secret_fields
    if not raw:
        raise CommandError("No secret given: pipe it on standard input or name an environment variable.")
    if fields == ("api_key",) and not raw.startswith("{"):
        return {"api_key": raw}
    try:
        values = json.loads(raw)
    except json.JSONDecodeError:
        raise CommandError(f"This provider needs a JSON object with {', '.join(fields)}.") from None
    if not isinstance(values, dict) or any(not isinstance(values.get(f), str) or not values[f] for f in fields):
        raise CommandError(f"This provider needs a JSON object with {', '.join(fields)}.")
    return {f: values[f] for f in fields}
