from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from generations.services.credits import credits_audit


class Command(BaseCommand):
    help = (
        "Check that every balance equals the sum of its ledger, every generation was charged once, and money "
        "matches status: one refund for each failed or canceled generation, none for any other."
    )

    def handle(self, *args: object, **options: object) -> None:
        problems = credits_audit()
        for p in problems:
            self.stdout.write(str(p))
        if problems:
            raise CommandError(f"{len(problems)} credit problem(s) found.")
        self.stdout.write("Credits audit passed: balances equal the ledger; refunds match failed or canceled videos.")
