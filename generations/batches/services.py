"""Admitting a batch: every row validated and priced, then all saved and charged in one transaction, or none.

Rows are validated as one-off videos are (services.create.generation_prepare), so the catalog's rules, the
member's allowed models and the picture rules apply row by row; errors come back by row number. The total is
checked against the member's balance and caps under their locked account, and each video gets its own charge
row naming the batch. After commit the waiting line sends them in turn: the per-member limit and the round-robin
between members (services.line) apply to a batch's videos as to any others.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction

from generations import catalog
from generations.batches import rows
from generations.models import Batch, CreditAccount, Generation
from generations.services.create import check_quote, generation_prepare, generations_admit
from generations.services.credits import InsufficientCredits, credits_account

MAX_ROWS = rows.MAX_ROWS
MAX_VARIANTS = 4


@dataclass(frozen=True)
class Item:
    """One video of a batch: its row number as the member counts rows, and what generation_prepare takes."""

    number: int
    model_key: str
    params: Mapping[str, Any]
    credential_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # continues_id for variants of a continued video


class RowsRefused(catalog.CatalogError):
    """Rows the catalog refuses: {row number: one sentence}. Nothing was created or charged."""

    def __init__(self, rows: dict[int, str]):
        self.rows = rows
        super().__init__({"rows": "; ".join(f"Row {n}: {m}" for n, m in sorted(rows.items()))})


def batch_prepare(*, user: Any, items: Sequence[Item], visibility: str) -> list[Generation]:
    """Every row validated, routed and priced (not saved). Raises RowsRefused naming every bad row."""
    if not 1 <= len(items) <= MAX_ROWS:
        raise catalog.CatalogError({"rows": f"A batch has from 1 to {MAX_ROWS} videos; this one has {len(items)}."})
    gens: list[Generation] = []
    errors: dict[int, str] = {}
    for item in items:
        try:
            gen = generation_prepare(
                user=user,
                model_key=item.model_key,
                params=item.params,
                credential_id=item.credential_id,
                visibility=visibility,
                **item.extra,
            )
        except catalog.CatalogError as exc:
            errors[item.number] = " ".join(dict.fromkeys(exc.errors.values()))
        else:
            gen.batch_row = item.number
            gens.append(gen)
    if errors:
        raise RowsRefused(errors)
    return gens


def batch_create(
    *,
    user: Any,
    items: Sequence[Item],
    kind: str = Batch.Kind.LIST,
    title: str = "",
    visibility: str = Generation.Visibility.TEAM,
    form_token: uuid.UUID | None = None,
    quoted_total: int | None = None,
) -> Batch:
    """Charge the member for every row and queue them all, or create and charge nothing.

    Raises RowsRefused (bad rows), CatalogError (a cap, a price that rose above ``quoted_total``, the size) or
    InsufficientCredits. The same ``form_token`` twice returns the first batch, charged once.
    """
    if form_token is not None and (done := Batch.objects.filter(owner=user, form_token=form_token).first()):
        return done
    if kind == Batch.Kind.VARIANTS and not 2 <= len(items) <= MAX_VARIANTS:
        raise catalog.CatalogError({"variants": f"Choose from 1 to {MAX_VARIANTS} variants."})
    try:
        gens = batch_prepare(user=user, items=items, visibility=visibility)
    except RowsRefused as exc:
        if kind == Batch.Kind.VARIANTS:  # the same settings in every row: one sentence, not one per variant
            raise catalog.CatalogError({"model": next(iter(exc.rows.values()))}) from None
        raise
    total = sum(g.cost for g in gens)
    check_quote(total, quoted_total)
    credits_account(user)
    what = "These variants" if kind == Batch.Kind.VARIANTS else "This batch"
    batch = Batch(owner=user, kind=kind, title=title[:200], total_cost=total, form_token=form_token)
    try:
        with transaction.atomic():
            balance = CreditAccount.objects.select_for_update().get(user=user).balance
            if balance < total:  # the charges below would refuse one row; say it for the whole batch
                raise InsufficientCredits(
                    f"Not enough credits: {what.lower()} cost {total} credits ({len(gens)} videos) "
                    f"and the balance is {balance}. Nothing was charged."
                )
            batch.save(force_insert=True)
            generations_admit(user, gens, batch=batch, what=what)
    except (IntegrityError, catalog.CatalogError, InsufficientCredits):
        # The same form sent twice at once: the other request made the batch (and spent the credits or the cap
        # this one would have found missing). Say what was made, not "nothing was charged".
        if form_token is not None and (done := Batch.objects.filter(owner=user, form_token=form_token).first()):
            return done
        raise
    return batch


def variants_create(
    *,
    user: Any,
    count: int,
    model_key: str,
    params: Mapping[str, Any],
    credential_id: int | None = None,
    continues_id: uuid.UUID | None = None,
    visibility: str = Generation.Visibility.TEAM,
    form_token: uuid.UUID | None = None,
    quoted_cost: int | None = None,
) -> Batch:
    """Several takes of one New video form, admitted as one batch (``quoted_cost`` is the total the form showed)."""
    extra = {"continues_id": continues_id} if continues_id else {}
    items = [Item(n, model_key, params, credential_id, extra) for n in range(1, count + 1)]
    prompt = " ".join(str(params.get("prompt") or "").split())
    title = f"{count} variants: {prompt[:120]}" if prompt else f"{count} variants"
    return batch_create(
        user=user,
        items=items,
        kind=Batch.Kind.VARIANTS,
        title=title,
        visibility=visibility,
        form_token=form_token,
        quoted_total=quoted_cost,
    )
