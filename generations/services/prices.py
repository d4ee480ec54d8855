"""Prices: the admins' grid of credits per (model, mode, duration, sound). Only catalog combinations are priced."""

from __future__ import annotations

from collections.abc import Mapping

from django.db import transaction

from generations import catalog
from generations.models import Price

Combo = tuple[str, str, int, bool]
MAX_CREDITS = 1_000_000


class PriceError(ValueError):
    pass


def price_combos() -> list[Combo]:
    """Every (model, mode, duration, sound) the catalog can make, in catalog order."""
    return [(key, mode, duration, sound) for key, mode, duration, sound, _default in catalog.price_rows()]


def prices_set(*, values: Mapping[Combo, int]) -> int:
    """Set many prices in one transaction; returns how many changed. A video already made keeps its frozen cost."""
    known = set(price_combos())
    for combo, credits in values.items():
        if combo not in known:
            raise PriceError(f"{combo} is not a combination the catalog offers.")
        if isinstance(credits, bool) or not isinstance(credits, int) or not 0 <= credits <= MAX_CREDITS:
            raise PriceError(f"A price is a whole number of credits from 0 to {MAX_CREDITS:,}.")
    changed = 0
    with transaction.atomic():
        current = {(p.model, p.mode, p.duration, p.sound): p for p in Price.objects.select_for_update()}
        for (model, mode, duration, sound), credits in values.items():
            price = current.get((model, mode, duration, sound))
            if price is None:
                Price.objects.create(model=model, mode=mode, duration=duration, sound=sound, credits=credits)
                changed += 1
            elif price.credits != credits:
                price.credits = credits
                price.save(update_fields=["credits"])
                changed += 1
    return changed
