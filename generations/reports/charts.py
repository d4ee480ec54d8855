"""Geometry of the report's inline SVG charts, computed here so the templates only place shapes.

Charts are drawn in a viewBox stretched to the width of the page (``preserveAspectRatio="none"``), so they fit a
390 px phone and a 1280 px screen alike; text never lives inside the SVG (it would stretch with it): the labels,
legends and the figures for screen readers are HTML next to it. Colours are CSS classes (static/css/reports.css),
so light and dark themes apply, and no inline style is needed (the CSP forbids it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from generations.reports.queries import Outcomes, Period, Row

HEIGHT = 100  # viewBox units; the CSS gives the chart its height in pixels
SLOT = 10  # viewBox units per period


def nice_ceiling(value: int) -> int:
    """The round number a scale ends at: 87 → 100, 1,340 → 2,000, 0 → 10."""
    if value <= 0:
        return 10
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return int(step * magnitude)
    return 10 * magnitude


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class Timeline:
    width: int  # of the viewBox
    scale: int  # credits at the top line
    charged: list[Bar]
    refunded: list[Bar]
    gridlines: list[float]  # y of the lines at a quarter, half and three quarters of the scale
    first: str
    last: str


def period_label(day: date, granularity: str) -> str:
    if granularity == "month":
        return day.strftime("%b %Y")
    if granularity == "week":
        return f"Week of {day.day} {day:%b %Y}"
    return f"{day.day} {day:%b %Y}"


def timeline_chart(periods: list[Period], granularity: str) -> Timeline:
    scale = nice_ceiling(max((max(p.money.charged, p.money.refunded) for p in periods), default=0))
    charged, refunded = [], []
    for i, p in enumerate(periods):
        label = period_label(p.start, granularity)
        money = p.money
        title = f"{label}: {money.spent} spent ({money.charged} charged, {money.refunded} refunded)"
        for bars, value, dx, width in ((charged, money.charged, 1, 5.5), (refunded, money.refunded, 6.5, 2.5)):
            height = HEIGHT * min(value, scale) / scale
            bars.append(Bar(x=i * SLOT + dx, y=HEIGHT - height, width=width, height=height, title=title))
    return Timeline(
        width=max(len(periods), 1) * SLOT,
        scale=scale,
        charged=charged,
        refunded=refunded,
        gridlines=[HEIGHT * q for q in (0.25, 0.5, 0.75)],
        first=period_label(periods[0].start, granularity) if periods else "",
        last=period_label(periods[-1].start, granularity) if periods else "",
    )


def share_bars(rows: list[Row]) -> list[tuple[Row, float]]:
    """Each row with the length of its bar (0-100), relative to the largest spend of the table."""
    top = max((r.money.spent for r in rows), default=0)
    return [(r, 0.0 if top <= 0 else max(0.0, 100 * r.money.spent / top)) for r in rows]


@dataclass(frozen=True)
class Segment:
    name: str  # CSS class and legend key
    label: str
    count: int
    x: float
    width: float


def outcome_segments(o: Outcomes) -> list[Segment]:
    """One stacked bar of the videos by outcome, in percent of all videos created in the range."""
    parts = [
        ("ready", "Ready", o.ready),
        ("failed", "Failed", o.failed),
        ("canceled", "Canceled", o.canceled),
        ("attention", "Needs attention", o.attention),
        ("in-progress", "In progress", o.in_progress),
    ]
    out, x = [], 0.0
    for name, label, count in parts:
        width = 100 * count / o.videos if o.videos else 0.0
        out.append(Segment(name, label, count, x, width))
        x += width
    return out
