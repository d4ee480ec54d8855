"""``python manage.py simulator --port 8765 --task-seconds 10 [--fault KIND ...] [--key provider=value ...]``.

Runs the provider simulator in the foreground, accepting the keys in ``settings.SIMULATOR_KEYS``
(demo keys when the setting is absent), so local credentials can point at ``http://127.0.0.1:8765``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from generations.simulator import DEFAULT_KEYS, FaultError
from generations.simulator.cli import DEFAULT_CACHE_DIR, add_arguments, build, run


class Command(BaseCommand):
    help = "Run the local provider simulator (MuleRun, AI/ML API, Kling, PowerTokens, Segmind) on one port."

    def add_arguments(self, parser: CommandParser) -> None:
        add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        defaults = getattr(settings, "SIMULATOR_KEYS", DEFAULT_KEYS)
        var_dir = getattr(settings, "VAR_DIR", None)
        if options["cache_dir"] == DEFAULT_CACHE_DIR and var_dir is not None:
            options["cache_dir"] = str(Path(var_dir) / "simulator-cache")  # beside the site's other local state
        try:
            sim = build(_Options(options), {**DEFAULT_KEYS, **defaults})
        except (ValueError, FaultError) as exc:
            raise CommandError(str(exc)) from None
        run(sim, write=self.stdout.write)


class _Options:
    """argparse's dashes become underscores in Django's options dict; give ``build`` attribute access."""

    def __init__(self, options: dict[str, Any]):
        self.__dict__.update(options)
