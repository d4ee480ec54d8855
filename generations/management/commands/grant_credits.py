from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from generations.services.credits import CreditsError, credits_grant


class Command(BaseCommand):
    help = "Give credits to a member (writes a ledger row with the reason)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("amount", type=int)
        parser.add_argument("--reason", required=True)

    def handle(self, *args: object, username: str, amount: int, reason: str, **options: object) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No member is called {username!r}.")
        try:
            entry = credits_grant(user=user, amount=amount, reason=reason, actor=None)
        except CreditsError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Granted {amount} credits to {username}; balance is now {entry.balance_after}.")
