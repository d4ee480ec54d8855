from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from generations.crypto import rotate
from generations.models import ProviderCredential, Webhook


class Command(BaseCommand):
    help = "Re-encrypt every provider secret and webhook secret with the first key in CREDENTIAL_KEYS (safe to repeat)."

    def handle(self, *args: object, **options: object) -> None:
        count = 0
        with transaction.atomic():
            for cred in ProviderCredential.objects.select_for_update().exclude(secrets_encrypted=""):
                ProviderCredential.objects.filter(pk=cred.pk).update(secrets_encrypted=rotate(cred.secrets_encrypted))
                count += 1
            hooks = 0
            for hook in Webhook.objects.select_for_update().only("pk", "secret_encrypted"):
                Webhook.objects.filter(pk=hook.pk).update(secret_encrypted=rotate(hook.secret_encrypted))
                hooks += 1
        if hooks:
            self.stdout.write(f"Re-encrypted {hooks} webhook secret(s) with the newest key.")
        self.stdout.write(f"Re-encrypted {count} credential(s) with the newest key.")
