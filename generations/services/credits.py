"""Credits: every movement is a ledger row written in the same transaction as the balance change.

The balance changes through one conditional UPDATE (`balance + amount >= 0`), which takes the row lock on
PostgreSQL and is serialised by BEGIN IMMEDIATE on SQLite, so concurrent charges can never overdraw.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, Sum

from generations import audit
from generations.models import CreditAccount, CreditEntry, Generation


class CreditsError(ValueError):
    """A credit movement that cannot happen; the message is shown to the person who asked."""


class InsufficientCredits(CreditsError):
    pass


def credits_account(user: Any) -> CreditAccount:
    account, _ = CreditAccount.objects.get_or_create(user=user)
    return account


def _move(
    *,
    account: CreditAccount,
    amount: int,
    kind: str,
    reason: str,
    actor: Any = None,
    generation: Generation | None = None,
    batch: Any = None,
) -> CreditEntry:
    """Change one balance and append its ledger row. Must run inside transaction.atomic()."""
    assert transaction.get_connection().in_atomic_block, "credit movements need a transaction"
    changed = CreditAccount.objects.filter(pk=account.pk, balance__gte=-amount).update(balance=F("balance") + amount)
    if changed != 1:
        balance = CreditAccount.objects.values_list("balance", flat=True).get(pk=account.pk)
        raise InsufficientCredits(f"Not enough credits: this needs {-amount} and the balance is {balance}.")
    balance_after = CreditAccount.objects.values_list("balance", flat=True).get(pk=account.pk)
    return CreditEntry.objects.create(
        account=account,
        kind=kind,
        amount=amount,
        balance_after=balance_after,
        actor=actor,
        reason=reason[:255],
        generation=generation,
        batch=batch,
    )


def credits_grant(*, user: Any, amount: int, reason: str, actor: Any, token: uuid.UUID | None = None) -> CreditEntry:
    """An admin gives credits. The reason is mandatory: it is what the member reads on the Credits page.

    ``token`` is the grant form's hidden token: the same form posted twice (a double click, a reload) grants once
    and returns the first entry.
    """
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise CreditsError("Grant a whole number of credits greater than zero.")
    if amount > 10_000_000:
        raise CreditsError("Grant at most 10,000,000 credits at a time.")
    if not reason or not reason.strip():
        raise CreditsError("Give a reason for the grant; the member sees it on their Credits page.")
    account = credits_account(user)
    if token is not None and (done := CreditEntry.objects.filter(account=account, request_token=token).first()):
        return done
    try:
        with transaction.atomic():
            entry = _move(
                account=account, amount=amount, kind=CreditEntry.Kind.GRANT, reason=reason.strip(), actor=actor
            )
            if token is not None:
                CreditEntry.objects.filter(pk=entry.pk).update(request_token=token)
            audit.record(user, "credits granted", actor=actor, changes={"amount": amount, "reason": reason.strip()})
            return entry
    except IntegrityError:  # the same form, posted twice at once: the other request granted
        if token is None:
            raise
        return CreditEntry.objects.get(account=account, request_token=token)


def credits_adjust(*, user: Any, amount: int, reason: str, actor: Any) -> CreditEntry:
    """A correction in either direction (never an edit of past rows)."""
    if not isinstance(amount, int) or isinstance(amount, bool) or amount == 0:
        raise CreditsError("Adjust by a whole, non-zero number of credits.")
    if not reason or not reason.strip():
        raise CreditsError("Give a reason for the adjustment.")
    account = credits_account(user)
    with transaction.atomic():
        entry = _move(
            account=account, amount=amount, kind=CreditEntry.Kind.ADJUSTMENT, reason=reason.strip(), actor=actor
        )
        audit.record(user, "credits adjusted", actor=actor, changes={"amount": amount, "reason": reason.strip()})
        return entry


def credits_take_back(*, user: Any, amount: int, reason: str, actor: Any) -> CreditEntry:
    """An admin takes credits back (an adjustment the member sees with its reason). Never below zero: a larger
    amount than the balance is refused, not clipped, so the admin decides what to do."""
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise CreditsError("Take back a whole number of credits greater than zero.")
    if not reason or not reason.strip():
        raise CreditsError("Give a reason; the member sees it on their Credits page.")
    account = credits_account(user)
    try:
        with transaction.atomic():
            return _move(
                account=account, amount=-amount, kind=CreditEntry.Kind.ADJUSTMENT, reason=reason.strip(), actor=actor
            )
    except InsufficientCredits:
        balance = CreditAccount.balance_of(user)
        raise CreditsError(f"The balance is {balance}; take back at most {balance} credits.") from None


def credits_charge(*, generation: Generation, actor: Any, batch: Any = None) -> CreditEntry:
    """Debit a new generation's frozen cost (called by services.create inside its transaction); a video admitted
    with a batch names it on its charge row."""
    account = credits_account(generation.owner)
    return _move(
        account=account,
        amount=-generation.cost,
        kind=CreditEntry.Kind.CHARGE,
        reason=f"Video: {generation.title[:200]}",
        actor=actor,
        generation=generation,
        batch=batch,
    )


def credits_refund(*, generation: Generation, reason: str) -> CreditEntry | None:
    """Give a generation's cost back, at most once (a unique constraint backs the check). Inside a transaction."""
    if CreditEntry.objects.filter(generation=generation, kind=CreditEntry.Kind.REFUND).exists():
        return None
    if not CreditEntry.objects.filter(generation=generation, kind=CreditEntry.Kind.CHARGE).exists():
        return None  # nothing was charged, nothing to give back
    account = credits_account(generation.owner)
    try:
        with transaction.atomic():  # savepoint: a lost race must not poison the caller's transaction
            return _move(
                account=account,
                amount=generation.cost,
                kind=CreditEntry.Kind.REFUND,
                reason=f"Refund: {reason}",
                generation=generation,
            )
    except IntegrityError:
        return None


def credits_audit() -> list[dict[str, Any]]:
    """Accounts whose cached balance differs from the sum of their ledger (should always be empty)."""
    sums = dict(
        CreditEntry.objects.values_list("account").annotate(total=Sum("amount")).values_list("account", "total")
    )
    problems = []
    for account in CreditAccount.objects.select_related("user"):
        ledger = sums.get(account.pk, 0) or 0
        if ledger != account.balance:
            problems.append({"user": account.user.get_username(), "balance": account.balance, "ledger": ledger})
    double = (
        CreditEntry.objects.filter(generation__isnull=False)
        .values("generation", "kind")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    for row in double:
        problems.append({"generation": str(row["generation"]), "kind": row["kind"], "count": row["n"]})
    return problems + _money_against_status()


def _money_against_status() -> list[dict[str, Any]]:
    """Exactly one refund for every failed or canceled generation, none for any other; one charge for each."""
    ended = {Generation.Status.FAILED, Generation.Status.CANCELED}
    problems = []
    rows = Generation.objects.annotate(
        charges=Count("credit_entries", filter=Q(credit_entries__kind=CreditEntry.Kind.CHARGE)),
        refunds=Count("credit_entries", filter=Q(credit_entries__kind=CreditEntry.Kind.REFUND)),
    ).values_list("pk", "status", "charges", "refunds")
    for pk, status, charges, refunds in rows.iterator():
        wanted = 1 if status in ended else 0
        if charges != 1 or refunds != wanted:
            problems.append(
                {"generation": str(pk), "status": status, "charges": charges, "refunds": refunds, "expected": wanted}
            )
    return problems
