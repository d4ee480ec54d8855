from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from generations.services.credits import credits_audit


class Command(BaseCommand):
    help = "Check that every balance equals the sum of its ledger and no generation was charged or refunded twice."

    def handle(self, *args: object, **options: object) -> None:
        problems = credits_audit()
        for p in problems:
            self.stdout.write(str(p))
        if problems:
            raise CommandError(f"{len(problems)} credit problem(s) found.")
        self.stdout.write("Credits audit passed: every balance equals its ledger.")
