from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from generations.services.recovery import generations_recover


class Command(BaseCommand):
    help = "Re-enqueue every in-flight generation whose next step is overdue (after a crash or a Redis flush)."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=0, help="Repeat every N seconds (a cron-style loop).")

    def handle(self, *args: object, every: float, **options: object) -> None:
        while True:
            done = generations_recover()
            self.stdout.write(f"Recovered: {dict(done) or 'nothing overdue'}")
            if not every:
                return
            time.sleep(every)
