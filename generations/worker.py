"""The RQ worker the Procfile runs: JSON jobs, plus a ticker thread that keeps the recovery sweep going.

The ticker lives in the worker's parent process (not the forked work-horse) and only talks to Redis: every
SWEEP_INTERVAL_SECONDS one worker across the fleet wins a short Redis lock and enqueues the sweep job. Because
every worker runs a ticker, the sweep survives any single worker dying and a Redis flush (the next tick
re-creates it); the sweep itself reads only the database.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import rq
from django.conf import settings
from rq.serializers import JSONSerializer

log = logging.getLogger(__name__)
SWEEP_LOCK = "kling:sweep-lock"


class Worker(rq.Worker):
    def __init__(self, *args: Any, **kwargs: Any):
        if not kwargs.get("serializer"):
            kwargs["serializer"] = JSONSerializer
        super().__init__(*args, **kwargs)
        self._ticker_stop = threading.Event()

    def work(self, *args: Any, **kwargs: Any) -> bool:
        if not kwargs.get("burst"):
            threading.Thread(target=self._tick, name="sweep-ticker", daemon=True).start()
        try:
            return super().work(*args, **kwargs)
        finally:
            self._ticker_stop.set()

    def _tick(self) -> None:
        from generations.scheduling import _enqueue

        interval = max(5, settings.SWEEP_INTERVAL_SECONDS)
        wait = 1.0  # first sweep right after start: a restarted fleet recovers at once
        while not self._ticker_stop.wait(wait):
            wait = interval
            try:
                if self.connection.set(SWEEP_LOCK, self.name, nx=True, ex=interval - 1):
                    _enqueue("sweep", "all", key=str(int(time.time() // interval)), delay=0)
            except Exception:  # Redis away for a moment: the next tick tries again
                log.warning("sweep ticker could not reach Redis", exc_info=True)
