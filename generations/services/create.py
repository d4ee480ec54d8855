"""Creating a generation: validate, price, charge and insert in one transaction; submit after commit."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from generations import catalog
from generations.clock import db_now
from generations.media import images
from generations.models import Generation, Price
from generations.services import line, routing, team
from generations.services.credits import InsufficientCredits, credits_account, credits_charge


def price_for(model_key: str, *, mode: str, duration: int, sound: bool) -> int:
    """The price of one catalog entry's combination (admin price grid, tests); routing prices every route."""
    credits = (
        Price.objects.filter(model=model_key, mode=mode, duration=duration, sound=sound)
        .values_list("credits", flat=True)
        .first()
    )
    if credits is None:
        raise catalog.CatalogError({"model": "This combination has no price yet; ask an admin to set one."})
    return credits


def generation_prepare(
    *,
    user: Any,
    model_key: str,
    params: Mapping[str, Any],
    credential_id: int | None = None,
    visibility: str = Generation.Visibility.TEAM,
    continues_id: uuid.UUID | None = None,
) -> Generation:
    """A generation validated, routed and priced, not yet saved nor charged. Raises CatalogError for bad input.

    ``model_key`` is a model as members choose it ("kling-2-5-turbo") or a catalog key; services.routing picks
    the provider account unless ``credential_id`` (or the catalog key) pins it.
    """
    for field in ("image_url", "tail_image_url"):  # a stored picture must be one of the member's own
        name = images.stored_name(str(params.get(field) or ""))
        if name and not images.owns(name, user.pk):
            raise catalog.CatalogError({field: "Choose a picture of your own."})
    choice, pinned = routing.choose(model_key, params, account=credential_id)
    credential, clean, cost = choice.route.credential, choice.params, choice.cost
    team.check_allowed(user, choice.route.spec, clean.mode)
    if visibility not in Generation.Visibility.values:
        raise catalog.CatalogError({"visibility": "Choose Team or Private."})
    now = db_now()
    return Generation(
        owner=user,
        credential=credential,
        provider=credential.provider,
        model=choice.route.spec.key,
        cost=cost,
        account_chosen_by_member=pinned,
        route_log=[routing.route_event(credential, "chosen", choice.why)],
        visibility=visibility,
        continues=Generation.objects.visible_to(user).filter(pk=continues_id).first() if continues_id else None,
        created_at=now,
        deadline_at=now + timedelta(seconds=settings.GENERATION_DEADLINE_SECONDS),
        next_run_at=now,
        **{k: v for k, v in clean.as_dict().items() if k != "shots"},
        shots=[{"prompt": s.prompt, "duration": s.duration} for s in clean.shots],
    )


def generations_admit(user: Any, gens: list[Generation], *, batch: Any = None, what: str = "This video") -> None:
    """Save and charge prepared generations in one transaction: every one of them, or none (and nothing charged).

    Caps are checked against the member's locked account for the total, so no two submits slip under a cap; each
    generation gets its own charge row (naming ``batch`` when there is one). Raises CatalogError (a cap) or
    InsufficientCredits. Must be called inside transaction.atomic(); the line moves after commit.
    """
    total = sum(g.cost for g in gens)
    team.lock_account(user)
    team.check_caps(user, total, what=what)
    for gen in gens:
        gen.batch = batch
        gen.save(force_insert=True)
        credits_charge(generation=gen, actor=user, batch=batch)
    # Charged now, sent when their turn comes (at once unless the member or the account is at its limit).
    transaction.on_commit(line.line_advance_safely)


def generation_create(
    *,
    user: Any,
    model_key: str,
    params: Mapping[str, Any],
    credential_id: int | None = None,
    form_token: uuid.UUID | None = None,
    visibility: str = Generation.Visibility.TEAM,
    continues_id: uuid.UUID | None = None,
    quoted_cost: int | None = None,
) -> Generation:
    """Charge the member and queue the video. Raises CatalogError (bad input) or InsufficientCredits.

    The same form token twice (a double-click, a retried POST) returns the first generation, charged once.
    ``quoted_cost`` is the price the member was shown: a higher current price is refused (they confirm it anew).
    """
    if form_token is not None:
        existing = Generation.objects.filter(owner=user, form_token=form_token).first()
        if existing is not None:
            return existing
    gen = generation_prepare(
        user=user,
        model_key=model_key,
        params=params,
        credential_id=credential_id,
        visibility=visibility,
        continues_id=continues_id,
    )
    check_quote(gen.cost, quoted_cost)
    gen.form_token = form_token
    credits_account(user)
    try:
        with transaction.atomic():
            generations_admit(user, [gen])
    except (IntegrityError, catalog.CatalogError, InsufficientCredits):
        # The same form sent twice at once: the other request made the video (and spent what this one found
        # missing). Open what was made rather than say nothing was charged.
        if form_token is not None:
            existing = Generation.objects.filter(owner=user, form_token=form_token).first()
            if existing is not None:
                return existing
        raise
    return gen


class PriceRose(catalog.CatalogError):
    """The price is above what the member was shown (or, through the API, the most they allowed)."""

    def __init__(self, cost: int, quoted: int):
        self.cost, self.quoted = cost, quoted
        message = f"The price changed to {cost} credits (the form showed {quoted}). Submit again to confirm."
        super().__init__({"model": message})


def check_quote(cost: int, quoted_cost: int | None) -> None:
    """A price rose, or the account the page showed is no longer the best, after the member saw the quote: never a
    silent higher charge. (A lower price is simply charged: at most what the form showed.)"""
    if quoted_cost is not None and cost > quoted_cost:
        raise PriceRose(cost, quoted_cost)
