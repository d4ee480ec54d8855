"""Calendar arithmetic of the report: the default range, period starts, how many bars a range makes."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.utils import timezone

DEFAULT_DAYS = 30
# The most bars one chart (and one CSV) splits a range into: a year of days, seven years of weeks, 33 of months.
MAX_PERIODS = 400


def today() -> date:
    return timezone.localdate()


def day_start(day: date) -> datetime:
    """Midnight at the start of a day, in the site's time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


def floor(day: date, granularity: str) -> date:
    if granularity == "week":
        return day - timedelta(days=day.weekday())  # Monday, as the database's week truncation
    if granularity == "month":
        return day.replace(day=1)
    return day


def following(start: date, granularity: str) -> date:
    if granularity == "week":
        return start + timedelta(days=7)
    if granularity == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start + timedelta(days=1)


def count_periods(first: date, last: date, granularity: str) -> int:
    """How many periods cover first..last (both included), without walking them (the range may be centuries)."""
    first, last = floor(first, granularity), floor(last, granularity)
    if granularity == "month":
        return (last.year - first.year) * 12 + last.month - first.month + 1
    return (last - first).days // (7 if granularity == "week" else 1) + 1


def period_starts(start: datetime, end: datetime, granularity: str) -> list[date]:
    """The first day of every period that meets [start, end), at most MAX_PERIODS (the form checks the range)."""
    day = floor(timezone.localtime(start).date(), granularity)
    last = timezone.localtime(end - timedelta(microseconds=1)).date()
    out: list[date] = []
    while day <= last and len(out) < MAX_PERIODS:
        out.append(day)
        day = following(day, granularity)
    return out


def finest(first: date, last: date) -> str:
    """The finest granularity whose bars still fit: days up to ~3 months, weeks up to ~2 years, else months."""
    if count_periods(first, last, "day") <= 92:
        return "day"
    if count_periods(first, last, "week") <= 110:
        return "week"
    return "month"
