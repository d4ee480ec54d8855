"""The team's budget: monthly allowances, spending caps and which models and modes each member may use.

Rules resolve member policy → group policies (the most generous value) → site defaults (settings), so an admin
sets a default once and makes exceptions where needed. Services enforce them; the pages only show them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from generations import catalog
from generations.models import AllowanceGrant, CreditAccount, CreditEntry, GroupPolicy, MemberPolicy
from generations.services.credits import _move, credits_account

log = logging.getLogger(__name__)
FIELDS = (
    "monthly_allowance",
    "expire_unused",
    "daily_cap",
    "monthly_cap",
    "max_in_flight",
    "allowed_models",
    "allowed_modes",
)


@dataclass(frozen=True)
class Rules:
    monthly_allowance: int = 0
    expire_unused: bool = False
    daily_cap: int = 0  # 0: no cap
    monthly_cap: int = 0
    max_in_flight: int = 0  # 0: no limit
    allowed_models: tuple[str, ...] = ()  # empty: every model
    allowed_modes: tuple[str, ...] = ()

    def allows(self, model_name: str, mode: str | None = None) -> bool:
        return (not self.allowed_models or model_name in self.allowed_models) and (
            mode is None or self.mode_allowed(mode)
        )

    def mode_allowed(self, mode: str) -> bool:
        return not self.allowed_modes or mode in self.allowed_modes


def rules_for(user: Any) -> Rules:
    """The member's rules, resolved from their own policy, their groups' and the site's defaults."""
    values: dict[str, Any] = {
        "monthly_allowance": settings.DEFAULT_MONTHLY_ALLOWANCE,
        "expire_unused": False,
        "daily_cap": settings.DEFAULT_DAILY_CAP,
        "monthly_cap": settings.DEFAULT_MONTHLY_CAP,
        "max_in_flight": settings.MAX_IN_FLIGHT_PER_MEMBER,
        "allowed_models": (),
        "allowed_modes": (),
    }
    groups = list(GroupPolicy.objects.filter(group__user=user))
    if groups:
        for name in ("monthly_allowance", "daily_cap", "monthly_cap", "max_in_flight"):
            got = [getattr(g, name) for g in groups if getattr(g, name) is not None]
            if got:  # a cap of 0 in any group means "no cap" for that member, the most generous
                values[name] = 0 if name != "monthly_allowance" and 0 in got else max(got)
        expire = [g.expire_unused for g in groups if g.expire_unused is not None]
        if expire:
            values["expire_unused"] = all(expire)
        for name in ("allowed_models", "allowed_modes"):
            if all(getattr(g, name) for g in groups):  # a group without a list allows everything
                values[name] = tuple(sorted({v for g in groups for v in getattr(g, name)}))
    own = MemberPolicy.objects.filter(user=user).first()
    if own is not None:
        for name in FIELDS:
            value = getattr(own, name)
            if name.startswith("allowed_"):
                if value:
                    values[name] = tuple(value)
            elif value is not None:
                values[name] = value
    return Rules(**values)


# --- caps and permissions (called by generation_create inside its transaction) ----------------------------------


def period_of(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m")


def _month_start(moment: datetime) -> datetime:
    local = timezone.localtime(moment)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _day_start(moment: datetime) -> datetime:
    return timezone.localtime(moment).replace(hour=0, minute=0, second=0, microsecond=0)


def spent_since(user: Any, since: datetime) -> int:
    """Credits spent on videos since a moment: charges minus their refunds."""
    total = CreditEntry.objects.filter(
        account__user=user, kind__in=(CreditEntry.Kind.CHARGE, CreditEntry.Kind.REFUND), created_at__gte=since
    ).aggregate(total=Sum("amount"))["total"]
    return max(0, -(total or 0))


@dataclass(frozen=True)
class Headroom:
    day: int | None  # credits left today, None: no cap
    month: int | None

    @property
    def left(self) -> int | None:
        known = [v for v in (self.day, self.month) if v is not None]
        return min(known) if known else None


def headroom(user: Any, rules: Rules | None = None) -> Headroom:
    rules = rules or rules_for(user)
    now = timezone.now()
    day = rules.daily_cap - spent_since(user, _day_start(now)) if rules.daily_cap else None
    month = rules.monthly_cap - spent_since(user, _month_start(now)) if rules.monthly_cap else None
    return Headroom(None if day is None else max(0, day), None if month is None else max(0, month))


def check_allowed(user: Any, spec: catalog.ModelSpec, mode: str) -> None:
    """Raise CatalogError if the member's groups or own rules do not allow this model or mode."""
    from generations.services.routing import model_name

    rules = rules_for(user)
    if not rules.allows(model_name(spec)):
        raise catalog.CatalogError({"model": f"{model_name(spec)} is not available to you; ask an admin."})
    if not rules.allows(model_name(spec), mode):
        raise catalog.CatalogError({"mode": f"{catalog.MODE_LABELS.get(mode, mode)} is not available to you."})


def cap_problem(user: Any, cost: int, *, what: str = "This video") -> str:
    """The sentence that says this cost would pass a daily or monthly cap ("" when it would not): the New video
    form shows it as the price changes, and check_caps refuses the submit with it."""
    room = headroom(user)
    if room.day is not None and cost > room.day:
        return (
            f"{what} costs {cost} credits and your daily limit has {room.day} left. "
            f"It resets at midnight ({settings.TIME_ZONE})."
        )
    if room.month is not None and cost > room.month:
        return f"{what} costs {cost} credits and your monthly limit has {room.month} left."
    return ""


def check_caps(user: Any, cost: int, *, what: str = "This video") -> None:
    """Raise CatalogError if this cost would pass a daily or monthly cap. Inside the charge's transaction, after
    the member's credit account row is locked, so two simultaneous submits cannot both slip under the cap."""
    if problem := cap_problem(user, cost, what=what):
        raise catalog.CatalogError({"model": problem})


def lock_account(user: Any) -> None:
    account = credits_account(user)
    CreditAccount.objects.select_for_update().filter(pk=account.pk).first()


# --- allowances ---------------------------------------------------------------------------------------------------


def grant_allowances(now: datetime | None = None) -> int:
    """Grant this month's allowance to every active member who is due one and has not had it. Safe to repeat, to
    run on several workers at once and to run late: each (member, month) has one row, so a grant happens once.
    Expiry of the previous month's unused allowance runs first, once per grant, where the rules ask for it."""
    now = now or timezone.now()
    period = period_of(now)
    done = 0
    users = get_user_model().objects.filter(is_active=True).exclude(allowances__period=period)
    for user in users.iterator():
        _expire_previous(user, now)
        rules = rules_for(user)
        if rules.monthly_allowance <= 0:
            continue
        try:
            with transaction.atomic():
                entry = _move(
                    account=credits_account(user),
                    amount=rules.monthly_allowance,
                    kind=CreditEntry.Kind.GRANT,
                    reason=f"Monthly allowance, {period}",
                )
                AllowanceGrant.objects.create(user=user, period=period, amount=rules.monthly_allowance, entry=entry)
        except IntegrityError:
            continue  # another worker granted it first; its transaction holds the only ledger row
        done += 1
    if done:
        log.info("granted %s monthly allowances for %s", done, period)
    return done


def _expire_previous(user: Any, now: datetime) -> None:
    """Take back what is left of an earlier month's allowance (at most the balance), once, if the rules say so."""
    if not rules_for(user).expire_unused:
        return
    end = _month_start(now)
    for grant in AllowanceGrant.objects.filter(user=user, expired_at__isnull=True).exclude(period=period_of(now)):
        with transaction.atomic():
            if AllowanceGrant.objects.select_for_update().filter(pk=grant.pk, expired_at__isnull=True).first() is None:
                continue  # another worker handled it
            spent = spent_since(user, grant.entry.created_at) - spent_since(user, end)
            unused = max(0, min(credits_account(user).balance, grant.amount - spent))
            entry = None
            if unused:
                entry = _move(
                    account=credits_account(user),
                    amount=-unused,
                    kind=CreditEntry.Kind.ADJUSTMENT,
                    reason=f"Unused allowance expired, {grant.period}",
                )
            AllowanceGrant.objects.filter(pk=grant.pk).update(expired_entry=entry, expired_at=now)


def allowance_due(user: Any) -> bool:
    return not AllowanceGrant.objects.filter(user=user, period=period_of(timezone.now())).exists()
