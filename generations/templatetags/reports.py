"""Template filters of the usage report (generations/reports/): rates and durations as people read them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import template

register = template.Library()
NONE = "\N{EN DASH}"  # nothing to show (no videos to divide by, no ready video to time)


@register.filter
def percent(value: float | None) -> str:
    """42.857 → "42.9 %"; no videos to divide by → NONE."""
    if value is None:
        return NONE
    return f"{value:.0f} %" if value in (0, 100) else f"{value:.1f} %"


@register.filter
def span(value: Any) -> str:
    """A timedelta as "2 min 5 s", "1 h 3 min", "45 s"; none → NONE."""
    if not isinstance(value, timedelta):
        return NONE
    total = max(round(value.total_seconds()), 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"
