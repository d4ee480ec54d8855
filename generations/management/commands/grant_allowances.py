from __future__ import annotations

from django.core.management.base import BaseCommand

from generations.services.team import grant_allowances


class Command(BaseCommand):
    help = "Grant this month's allowances now (the workers also do it every ten minutes). Safe to repeat."

    def handle(self, *args: object, **options: object) -> None:
        self.stdout.write(f"Granted {grant_allowances()} monthly allowances.")
