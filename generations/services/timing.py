"""How long the provider usually takes for one kind of video: the time the poll schedule aims at (poll_policy).

The provider's time of a ready video is `submitted_at` → `downloading_at` (the poll that saw it finished), so a
sample includes the poll's own lateness: about one dense step with the current schedule, which makes the
estimate err on the late side by a second or two (the window around it absorbs that).
"""

from __future__ import annotations

import logging
import statistics
from datetime import timedelta

from django.core.cache import cache

from generations.clock import db_now
from generations.models import Generation

log = logging.getLogger(__name__)

SAMPLE = 50  # the most recent ready videos of the kind ...
RECENT = timedelta(days=7)  # ... finished within this long
MIN_SAMPLES = 3  # fewer: unknown (the old backoff applies)
CACHE_SECONDS = 60  # every poll asks; one query per kind per minute answers them all


def expected_seconds(model: str, mode: str, duration: int) -> float | None:
    """Median provider time of the last SAMPLE ready videos (last RECENT) of this model, mode and duration."""
    key = f"expected-seconds:{model}:{mode}:{duration}"
    try:
        cached = cache.get(key)
    except Exception:  # the cache is only a shortcut: without Redis the query answers
        log.warning("expected_seconds: cache unavailable", exc_info=True)
        cached = None
    if cached is not None:
        return cached or None  # 0.0 caches "not enough samples"
    value = _median_provider_seconds(model, mode, duration)
    try:
        cache.set(key, value or 0.0, CACHE_SECONDS)
    except Exception:
        log.warning("expected_seconds: cache unavailable", exc_info=True)
    return value


def _median_provider_seconds(model: str, mode: str, duration: int) -> float | None:
    # Index generation_ready_kind_recent (model, mode, duration, -finished_at WHERE status = 'ready'): the newest
    # SAMPLE rows of the kind are its first entries, whatever the table holds.
    rows = (
        Generation.objects.filter(
            status=Generation.Status.READY,
            model=model,
            mode=mode,
            duration=duration,
            finished_at__gte=db_now() - RECENT,
        )
        .order_by("-finished_at")
        .values_list("submitted_at", "downloading_at")[:SAMPLE]
    )
    spans = [(done - sent).total_seconds() for sent, done in rows if sent and done and done > sent]
    return float(statistics.median(spans)) if len(spans) >= MIN_SAMPLES else None
