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
from generations.models import Generation, Price, ProviderCredential
from generations.scheduling import schedule
from generations.services.credits import credits_account, credits_charge
from generations.services.pipeline import submit_step


def price_for(model_key: str, *, mode: str, duration: int, sound: bool) -> int:
    """The one pricing function: the New video page shows exactly what generation_create charges."""
    credits = (
        Price.objects.filter(model=model_key, mode=mode, duration=duration, sound=sound)
        .values_list("credits", flat=True)
        .first()
    )
    if credits is None:
        raise catalog.CatalogError({"model": "This combination has no price yet; ask an admin to set one."})
    return credits


def credential_for(model_key: str, credential_id: int | None) -> ProviderCredential:
    """The chosen credential if it is active and offers the model, else the best active one that does."""
    spec = catalog.get_model(model_key)
    active = ProviderCredential.objects.filter(is_active=True, provider=spec.provider)
    if credential_id is not None:
        active = active.filter(pk=credential_id)
    credential = active.order_by("priority", "pk").first()
    if credential is None:
        raise catalog.CatalogError({"model": "This model is not available right now; choose another one."})
    return credential


def generation_create(
    *,
    user: Any,
    model_key: str,
    params: Mapping[str, Any],
    credential_id: int | None = None,
    form_token: uuid.UUID | None = None,
    visibility: str = Generation.Visibility.TEAM,
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
    credential = credential_for(model_key, credential_id)
    clean = catalog.validate(model_key, params)
    cost = price_for(model_key, mode=clean.mode, duration=clean.duration, sound=clean.sound)
    if quoted_cost is not None and cost > quoted_cost:
        # An admin raised the price after the member saw it: never a silent higher charge. (A lower price is
        # simply charged: the member pays at most what the form showed.)
        raise catalog.CatalogError(
            {"model": f"The price changed to {cost} credits (the form showed {quoted_cost}). Submit again to confirm."}
        )
    if visibility not in Generation.Visibility.values:
        raise catalog.CatalogError({"visibility": "Choose Team or Private."})
    credits_account(user)
    now = db_now()
    gen = Generation(
        owner=user,
        credential=credential,
        provider=credential.provider,
        model=model_key,
        cost=cost,
        visibility=visibility,
        form_token=form_token,
        created_at=now,
        deadline_at=now + timedelta(seconds=settings.GENERATION_DEADLINE_SECONDS),
        next_run_at=now,
        **{k: v for k, v in clean.as_dict().items() if k != "shots"},
        shots=[{"prompt": s.prompt, "duration": s.duration} for s in clean.shots],
    )
    try:
        with transaction.atomic():
            gen.save(force_insert=True)
            credits_charge(generation=gen, actor=user)
            schedule(submit_step(gen), gen.pk, key="0")
    except IntegrityError:
        if form_token is not None:
            existing = Generation.objects.filter(owner=user, form_token=form_token).first()
            if existing is not None:
                return existing
        raise
    return gen
