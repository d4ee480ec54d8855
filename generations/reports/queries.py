"""The report's figures: aggregate queries over the ledger (CreditEntry, CreditAccount) and Generation.

Every figure is one GROUP BY or one aggregate in the database, never a Python loop over ledger rows, so a
million entries cost a scan (or an index range) and not a million objects. Money comes from the ledger alone:
"spent" is charges minus their refunds, booked on the day the ledger row was written (a refund that arrives the
next day lowers the next day's spend, as on the member's Credits page). Outcomes and timings come from the
generations created in the range.

Who sees what is decided here, once: ``Filters.for_viewer`` pins a member to their own rows whatever the
query string says; only staff may choose a member or see everyone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    FilteredRelation,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import Coalesce, Trunc
from django.utils import timezone

from generations.models import CreditAccount, CreditEntry, Generation, ProviderCredential
from generations.reports import dates
from generations.templatetags.kling import model_label, provider_label

K = CreditEntry.Kind
S = Generation.Status
GRANULARITIES = ("day", "week", "month")

# One row of money per group: what each kind of ledger row added up to, and how many charges and refunds.
MONEY = {
    "charged": Coalesce(Sum("amount", filter=Q(kind=K.CHARGE)), 0),  # negative in the ledger
    "refunded": Coalesce(Sum("amount", filter=Q(kind=K.REFUND)), 0),
    "granted": Coalesce(Sum("amount", filter=Q(kind=K.GRANT)), 0),
    "adjusted": Coalesce(Sum("amount", filter=Q(kind=K.ADJUSTMENT)), 0),
    "charges": Count("id", filter=Q(kind=K.CHARGE)),
    "refunds": Count("id", filter=Q(kind=K.REFUND)),
}
# Outcomes of the videos created in the range, per group.
OUTCOMES = {
    "videos": Count("id"),
    "ready": Count("id", filter=Q(status=S.READY)),
    "failed": Count("id", filter=Q(status=S.FAILED)),
    "canceled": Count("id", filter=Q(status=S.CANCELED)),
    "attention": Count("id", filter=Q(status=S.NEEDS_ATTENTION)),
    # The joined refund row of each video (see generations()): at most one, by credits_charge_and_refund_once_...
    "refunded_videos": Count("refund__id"),
}


@dataclass(frozen=True)
class Filters:
    start: datetime  # aware, inclusive
    end: datetime  # aware, exclusive
    granularity: str
    member: Any = None  # a user, or None: everyone (staff only, see for_viewer)
    model: str = ""
    account: ProviderCredential | None = None

    @classmethod
    def for_viewer(cls, viewer: Any, *, member: Any = None, **rest: Any) -> Filters:
        """The filters a viewer may use: a member always sees only their own rows, whatever they asked for."""
        return cls(member=member if viewer.is_staff else viewer, **rest)

    @property
    def by_video(self) -> bool:
        """A model or account filter: only ledger rows of videos count (grants belong to no model)."""
        return bool(self.model or self.account)


def entries(f: Filters) -> QuerySet[CreditEntry]:
    """The ledger rows in the filters. Indexes: credit_entry_account_recent (one member), credit_entry_created
    (everyone)."""
    qs = CreditEntry.objects.filter(created_at__gte=f.start, created_at__lt=f.end)
    if f.member is not None:
        qs = qs.filter(account__user=f.member)
    if f.model:
        qs = qs.filter(generation__model=f.model)
    if f.account is not None:
        qs = qs.filter(generation__credential=f.account)
    return qs.order_by()


def generations(f: Filters) -> QuerySet[Generation]:
    """The videos created in the filters, deleted ones included (they were charged). Indexes:
    generation_owner_recent (one member), generation_created (everyone)."""
    qs = Generation.objects.filter(created_at__gte=f.start, created_at__lt=f.end)
    # LEFT JOIN each video's refund, which the ledger's unique constraint allows once per video, so no video is
    # counted twice. A hash join over the ~1 % of ledger rows that are refunds; a correlated EXISTS per video
    # instead cost 270 ms for a year of 100,000 videos (bench/reports.py), this 45 ms.
    qs = qs.annotate(refund=FilteredRelation("credit_entries", condition=Q(credit_entries__kind=K.REFUND)))
    if f.member is not None:
        qs = qs.filter(owner=f.member)
    if f.model:
        qs = qs.filter(model=f.model)
    if f.account is not None:
        qs = qs.filter(credential=f.account)
    return qs.order_by()


def period_of(f: Filters) -> Trunc:
    """The start of each row's day, week (Monday) or month, in the site's time zone."""
    return Trunc("created_at", f.granularity, output_field=DateTimeField())


# --- the figures -----------------------------------------------------------------------------------------------


@dataclass
class Money:
    charged: int = 0  # credits, positive
    refunded: int = 0
    granted: int = 0
    adjusted: int = 0  # signed
    charges: int = 0
    refunds: int = 0

    @classmethod
    def of(cls, row: dict[str, Any]) -> Money:
        return cls(
            charged=-row["charged"], refunded=row["refunded"], granted=row["granted"], adjusted=row["adjusted"],
            charges=row["charges"], refunds=row["refunds"],
        )  # fmt: skip

    @property
    def spent(self) -> int:
        return self.charged - self.refunded


@dataclass
class Outcomes:
    videos: int = 0
    ready: int = 0
    failed: int = 0
    canceled: int = 0
    attention: int = 0
    refunded_videos: int = 0

    @classmethod
    def of(cls, row: dict[str, Any]) -> Outcomes:
        return cls(**{k: row.get(k) or 0 for k in OUTCOMES})

    @property
    def finished(self) -> int:
        return self.ready + self.failed + self.canceled

    @property
    def in_progress(self) -> int:
        return self.videos - self.finished - self.attention

    def rate(self, part: int, whole: int) -> float | None:
        return None if not whole else 100 * part / whole

    @property
    def success_rate(self) -> float | None:
        return self.rate(self.ready, self.finished)

    @property
    def failure_rate(self) -> float | None:
        return self.rate(self.failed, self.finished)

    @property
    def cancel_rate(self) -> float | None:
        return self.rate(self.canceled, self.finished)

    @property
    def refund_rate(self) -> float | None:
        return self.rate(self.refunded_videos, self.videos)


@dataclass
class Timing:
    count: int = 0  # ready videos with a finish time
    median: timedelta | None = None
    p90: timedelta | None = None


@dataclass
class Row:
    """One line of a breakdown (a member, a model or an account)."""

    key: Any
    label: str
    money: Money = field(default_factory=Money)
    outcomes: Outcomes = field(default_factory=Outcomes)
    inactive: bool = False


@dataclass
class Period:
    start: date
    money: Money


@dataclass
class Report:
    filters: Filters
    money: Money
    outcomes: Outcomes
    timing: Timing
    balance: int  # credits left now, in the accounts of the members in scope
    timeline: list[Period]
    by_member: list[Row]
    by_model: list[Row]
    by_account: list[Row]


def usage_report(f: Filters) -> Report:
    """Every figure of the report page: 9 aggregate queries whatever the size of the tables."""
    money = Money.of(entries(f).aggregate(**MONEY))
    outcomes = Outcomes.of(generations(f).aggregate(**OUTCOMES))
    return Report(
        filters=f,
        money=money,
        outcomes=outcomes,
        timing=time_to_ready(f),
        balance=balance_left(f),
        timeline=timeline(f),
        by_member=by_member(f) if f.member is None else [],
        by_model=breakdown(f, "model"),
        by_account=breakdown(f, "credential"),
    )


def balance_left(f: Filters) -> int:
    accounts = CreditAccount.objects.all()
    if f.member is not None:
        accounts = accounts.filter(user=f.member)
    return accounts.aggregate(total=Coalesce(Sum("balance"), 0))["total"]


def timeline(f: Filters) -> list[Period]:
    """Spend per day, week or month, with the empty periods filled in (the chart shows gaps as zero)."""
    rows = (
        entries(f).filter(kind__in=(K.CHARGE, K.REFUND)).annotate(period=period_of(f))
        .values("period").annotate(**MONEY).order_by("period")
    )  # fmt: skip
    found = {local_date(r["period"]): Money.of(r) for r in rows}
    return [Period(start, found.get(start, Money())) for start in periods(f)]


def local_date(moment: datetime | date) -> date:
    if isinstance(moment, datetime):
        return timezone.localtime(moment).date() if timezone.is_aware(moment) else moment.date()
    return moment


def periods(f: Filters) -> list[date]:
    return dates.period_starts(f.start, f.end, f.granularity)


def by_member(f: Filters) -> list[Row]:
    """Staff only: every member with a ledger row or a video in the range."""
    money = entries(f).values("account__user").annotate(**MONEY)
    outcomes = generations(f).values("owner").annotate(**OUTCOMES)
    rows: dict[Any, Row] = {}
    for r in money:
        rows[r["account__user"]] = Row(r["account__user"], "", money=Money.of(r))
    for r in outcomes:
        rows.setdefault(r["owner"], Row(r["owner"], "")).outcomes = Outcomes.of(r)
    users = get_user_model().objects.filter(pk__in=rows).only("username", "first_name", "last_name", "is_active")
    for user in users:
        row = rows[user.pk]
        row.label, row.inactive = user.get_full_name() or user.get_username(), not user.is_active
    return _sorted(rows.values())


def breakdown(f: Filters, column: str) -> list[Row]:
    """Spend and outcomes per model (``column="model"``) or per provider account (``"credential"``)."""
    key = f"generation__{column}"
    money = entries(f).filter(generation__isnull=False).values(key).annotate(**MONEY)
    outcomes = generations(f).values(column).annotate(**OUTCOMES)
    rows: dict[Any, Row] = {}
    for r in money:
        rows[r[key]] = Row(r[key], "", money=Money.of(r))
    for r in outcomes:
        rows.setdefault(r[column], Row(r[column], "")).outcomes = Outcomes.of(r)
    if column == "credential":
        for cred in ProviderCredential.objects.filter(pk__in=rows).only("label", "is_active"):
            rows[cred.pk].label, rows[cred.pk].inactive = cred.label, not cred.is_active
    else:
        for key_value, row in rows.items():
            row.label = " · ".join(p for p in (model_label(key_value), provider_label(key_value)) if p)
    return _sorted(rows.values())


def _sorted(rows: Any) -> list[Row]:
    return sorted(rows, key=lambda r: (-r.money.spent, -r.outcomes.videos, r.label))


# --- time to ready ----------------------------------------------------------------------------------------------

TO_READY = ExpressionWrapper(F("finished_at") - F("created_at"), output_field=DurationField())


class _PercentileDisc(Aggregate):
    """PostgreSQL's ``percentile_disc(p) WITHIN GROUP (ORDER BY x)``: the nearest-rank percentile."""

    function = "percentile_disc"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = DurationField()

    def __init__(self, expression: Any, fraction: float):
        super().__init__(expression, fraction=float(fraction))


def _ready(f: Filters) -> QuerySet[Generation]:
    return generations(f).filter(status=S.READY, finished_at__isnull=False)


def time_to_ready(f: Filters) -> Timing:
    """Median and 90th percentile of created → ready, by the nearest-rank definition on every database.

    PostgreSQL answers in one aggregate (``percentile_disc``). Elsewhere (SQLite) the same definition is read
    with ORDER BY … LIMIT 1 OFFSET ceil(p·n)-1: one count and one ordered query per percentile.
    """
    if connection.vendor == "postgresql":
        row = _ready(f).aggregate(
            count=Count("id"), median=_PercentileDisc(TO_READY, 0.5), p90=_PercentileDisc(TO_READY, 0.9)
        )
        return Timing(row["count"], row["median"], row["p90"])
    return time_to_ready_portable(f)


def time_to_ready_portable(f: Filters) -> Timing:
    """The same figures for any database (the SQLite path; tests compare it with PostgreSQL's)."""
    ready = _ready(f)
    count = ready.count()
    if not count:
        return Timing()
    ordered = ready.annotate(to_ready=TO_READY).order_by("to_ready").values_list("to_ready", flat=True)

    def rank(fraction: float) -> timedelta:
        return ordered[max(math.ceil(fraction * count) - 1, 0)]

    return Timing(count, rank(0.5), rank(0.9))


# --- the CSV's rows -------------------------------------------------------------------------------------------


def usage_rows(f: Filters) -> QuerySet[CreditEntry]:
    """One row per (period, member, model, provider account) with its money: what the CSV streams. Grants and
    adjustments have no model or account. Its sums are the page's figures (tests check they agree).

    Grouped and ordered by ids, not names: sorting a year of a million ledger rows by usernames and labels took
    1.8 s, by ids 0.9 s (bench/reports.py); export.py puts the names in from two small lookups.
    """
    return (
        entries(f).annotate(period=period_of(f))
        .values("period", "account_id", "generation__model", "generation__credential_id")
        .annotate(**MONEY)
        .order_by("period", "account_id", "generation__model", "generation__credential_id")
    )  # fmt: skip
