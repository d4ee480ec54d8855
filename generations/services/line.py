"""The waiting line: which queued videos go to their providers next.

A new generation is charged and waits in line (status queued, ``admitted_at`` empty) until ``line_advance`` lets
it go: its member has fewer videos at the providers than their limit (``max_in_flight``, services.team), its
provider account is below the admin's concurrency limit (``max_concurrent``) and not resting after a "too many
requests" answer (``busy_until``). Nothing is refused for being busy, and nothing is charged again: the charge
happened when the video joined the line.

Fairness: among the waiting videos that may go, members take turns (round-robin), the member served longest ago
first, each member's own videos in the order they were made. One member queueing 50 videos therefore delays
another member's video by at most one turn.

``line_advance`` runs when a video joins the line, at the end of every pipeline job (a place may have freed), when
an account's rest ends, and in the recovery sweep (the backstop). Concurrent runs are serialised by locking the
provider accounts' rows, so two workers never admit past a limit (SQLite, for development, serialises writes).
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Case, Count, F, Max, When, Window
from django.db.models.functions import RowNumber

from generations.clock import db_now
from generations.models import Generation, ProviderCredential
from generations.scheduling import schedule
from generations.services import team

log = logging.getLogger(__name__)
S = Generation.Status
# At the provider: sent or about to be sent, and not yet finished there. (A video being downloaded no longer
# takes a place at the provider.)
AT_PROVIDER = (S.QUEUED, S.SUBMITTING, S.SUBMITTED, S.RUNNING)
# Waiting rows considered per run, per member: one member's backlog never hides another member's video.
PER_MEMBER = 20


@dataclass(frozen=True)
class Waiting:
    pk: Any
    owner_id: int
    credential_id: int
    created_at: datetime


def waiting() -> Any:
    return Generation.objects.filter(status=S.QUEUED, admitted_at__isnull=True)


def at_provider() -> Any:
    return Generation.objects.filter(status__in=AT_PROVIDER, admitted_at__isnull=False)


def fair_order(rows: Iterable[Waiting], last_served: dict[int, datetime | None]) -> list[Waiting]:
    """Round-robin across members: each round takes every member's next video, the member served longest ago
    (or never) first."""
    by_member: dict[int, list[Waiting]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: (r.created_at, str(r.pk))):
        by_member[row.owner_id].append(row)
    def turn_key(member: int) -> tuple[float, int]:
        served = last_served.get(member)
        return (served.timestamp() if served else float("-inf"), member)

    members = sorted(by_member, key=turn_key)
    order: list[Waiting] = []
    for turn in range(max((len(v) for v in by_member.values()), default=0)):
        order += [by_member[m][turn] for m in members if turn < len(by_member[m])]
    return order


def _snapshot() -> tuple[list[Waiting], dict[int, datetime | None]]:
    """Each member's oldest PER_MEMBER waiting videos (a window query: a member's 10,000 waiting videos cost the
    same as 20), and when each member was last served."""
    ranked = waiting().annotate(
        turn=Window(RowNumber(), partition_by=[F("owner_id")], order_by=[F("created_at").asc(), F("pk").asc()])
    )
    rows = [
        Waiting(*values)
        for values in ranked.filter(turn__lte=PER_MEMBER).values_list("pk", "owner_id", "credential_id", "created_at")
    ]
    owners = {r.owner_id for r in rows}
    served = dict(
        Generation.objects.filter(owner_id__in=owners, admitted_at__isnull=False)
        .values("owner_id")
        .annotate(last=Max("admitted_at"))
        .values_list("owner_id", "last")
    )
    return rows, served


def _member_limits(owners: set[int]) -> dict[int, int]:
    users = get_user_model().objects.in_bulk(owners)
    return {pk: team.rules_for(user).max_in_flight for pk, user in users.items()}


def _counts(field: str, ids: set[int]) -> dict[int, int]:
    qs = at_provider().filter(**{f"{field}__in": ids}).values(field).annotate(n=Count("pk"))
    return {row[field]: row["n"] for row in qs}


def line_advance() -> int:
    """Send every waiting video that may go now, in fair order. Returns how many were let go."""
    if not waiting().exists():
        return 0
    from generations.services.pipeline import submit_step

    with transaction.atomic():
        accounts = {c.pk: c for c in ProviderCredential.objects.select_for_update().order_by("pk")}
        rows, served = _snapshot()
        owners = {r.owner_id for r in rows}
        by_member = _counts("owner_id", owners)
        by_account = _counts("credential_id", {r.credential_id for r in rows})
        limits = _member_limits(owners)
        now = db_now()
        # The deadline counts from a video's first leaving the line; one sent back (the provider was busy, or
        # refused and another account took it) keeps it, so a provider that is busy for ever fails it in the end.
        deadline = Case(
            When(submit_attempts=0, then=now + timedelta(seconds=settings.GENERATION_DEADLINE_SECONDS)),
            default=F("deadline_at"),
        )
        _fail_the_unsendable(rows, accounts, now)
        admitted = 0
        resting: set[datetime] = set()
        for row in fair_order(rows, served):
            account = accounts.get(row.credential_id)
            if account is None or not account.is_active:
                continue
            if account.busy_until and account.busy_until > now:
                resting.add(account.busy_until)
                continue
            if account.max_concurrent is not None and by_account.get(row.credential_id, 0) >= account.max_concurrent:
                continue
            if limits.get(row.owner_id) and by_member.get(row.owner_id, 0) >= limits[row.owner_id]:
                continue
            moved = waiting().filter(pk=row.pk).update(admitted_at=now, deadline_at=deadline, next_run_at=now)
            if moved != 1:  # canceled meanwhile
                continue
            gen = Generation.objects.only("pk", "model", "submit_attempts").get(pk=row.pk)
            schedule(submit_step(gen), gen.pk, key=str(gen.submit_attempts))
            by_member[row.owner_id] = by_member.get(row.owner_id, 0) + 1
            by_account[row.credential_id] = by_account.get(row.credential_id, 0) + 1
            admitted += 1
    if resting:  # wake the line when the first rest ends (the scheduler may run a delayed job a second early)
        _wake_at(min(resting), now)
    if admitted:
        log.info("line: %s video(s) sent on", admitted)
    return admitted


def _fail_the_unsendable(rows: list[Waiting], accounts: dict[int, ProviderCredential], now: datetime) -> None:
    """Refund, never send: a video whose account an admin disabled while it waited, and one sent back to the line
    (the provider kept answering "too many requests") whose deadline has passed."""
    from generations.services.pipeline import generation_fail

    disabled = [r.pk for r in rows if r.credential_id not in accounts or not accounts[r.credential_id].is_active]
    for pk in disabled:
        reason = "An admin disabled the provider account for this video before it was sent. Nothing was made."
        generation_fail(pk, reason=reason, statuses={S.QUEUED})
    late = waiting().filter(pk__in=[r.pk for r in rows], submit_attempts__gt=0, deadline_at__lt=now)
    for pk in late.values_list("pk", flat=True):
        reason = "The provider stayed too busy to take this video before its deadline. Nothing was made."
        generation_fail(pk, reason=reason, statuses={S.QUEUED})


def _wake_at(moment: datetime, now: datetime) -> None:
    schedule("line", "line", key=moment.strftime("%Y%m%d%H%M%S%f"), delay=(moment - now).total_seconds() + 1.0)


def account_busy(account: ProviderCredential) -> bool:
    """Resting after a "too many requests" answer, or at its concurrency limit: a new video would wait."""
    if account.busy_until and account.busy_until > db_now():
        return True
    return account.max_concurrent is not None and (
        at_provider().filter(credential=account).count() >= account.max_concurrent
    )


def line_advance_safely() -> None:
    """After a job or a request: a failure here is logged, and the sweep lets the video go later."""
    try:
        line_advance()
    except Exception:
        log.exception("the waiting line could not advance; the recovery sweep will")


def line_rejoin(gen: Generation, *, rest_seconds: float, message: str) -> None:
    """The account said "too many requests" before making anything: the video goes back to its place in line (by
    the time it was made) and the account rests; when the rest ends, waiting videos go in fair order."""
    from generations.services.pipeline import _advance

    now = db_now()
    until = now + timedelta(seconds=rest_seconds)
    ProviderCredential.objects.filter(pk=gen.credential_id).update(busy_until=until)
    if _advance(gen, S.SUBMITTING, status=S.QUEUED, admitted_at=None, error=message, next_run_at=None):
        _wake_at(until, now)


# --- what members and admins see ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    position: int  # 1-based, in the whole line
    seconds: int | None  # about how long until it is sent; None when unknown


def places() -> dict[Any, Place]:
    """Every waiting video's place in the fair order and an estimate from recent generation times."""
    rows, served = _snapshot()
    order = fair_order(rows, served)
    if not order:
        return {}
    typical = _typical_seconds()
    accounts = dict(
        ProviderCredential.objects.filter(pk__in={r.credential_id for r in rows}).values_list("pk", "max_concurrent")
    )
    limits = _member_limits({r.owner_id for r in rows})
    ahead_member: dict[int, int] = defaultdict(int)
    ahead_account: dict[int, int] = defaultdict(int)
    out = {}
    for index, row in enumerate(order):
        waves = 0.0
        if limits.get(row.owner_id):
            waves = max(waves, (ahead_member[row.owner_id] + 1) / limits[row.owner_id])
        if accounts.get(row.credential_id):
            waves = max(waves, (ahead_account[row.credential_id] + 1) / accounts[row.credential_id])
        wait = None if typical is None else max(1, math.ceil(math.ceil(waves) * typical))
        out[row.pk] = Place(index + 1, wait)
        ahead_member[row.owner_id] += 1
        ahead_account[row.credential_id] += 1
    return out


def is_waiting(gen: Generation) -> bool:
    return gen.status == S.QUEUED and gen.admitted_at is None


def place_of(gen: Generation) -> Place | None:
    """A waiting video's place in line (None for any other video, or one behind more than PER_MEMBER of its
    member's own waiting videos: its place is not computed yet)."""
    return places().get(gen.pk) if is_waiting(gen) else None


def _typical_seconds() -> float | None:
    """Median time at the provider of the last 50 ready videos."""
    recent = (
        Generation.objects.filter(status=S.READY, admitted_at__isnull=False, downloading_at__isnull=False)
        .order_by("-finished_at")
        .values_list("admitted_at", "downloading_at")[:50]
    )
    spans = sorted((done - sent).total_seconds() for sent, done in recent if done >= sent)
    return spans[len(spans) // 2] if spans else None
