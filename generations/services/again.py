"""Generate again: a new video with the settings of one the member can see, priced before they click."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.files.storage import default_storage

from generations import catalog
from generations.media import images
from generations.models import Generation
from generations.services import routing, team
from generations.services.create import generation_create

PICTURE_FIELDS = ("image_url", "tail_image_url")


def _request(source: Generation) -> tuple[str, dict[str, Any], int | None]:
    """The model, options and pinned account that make the same video again: the same model through the best
    account now, unless the member had chosen the account."""
    params = source.params.as_dict()
    params["shots"] = [{"prompt": s.prompt, "duration": s.duration} for s in source.params.shots]
    pinned = source.credential_id if source.account_chosen_by_member else None
    return routing.model_slug(source.spec), params, pinned


def again_cost(source: Generation, user: Any) -> int | None:
    """What Generate again would charge ``user`` now (None: the model or its options are no longer offered, or
    the member's rules do not allow them, so the page offers no button)."""
    model_key, params, pinned = _request(source)
    try:
        choice, _ = routing.choose(model_key, params, account=pinned)
        team.check_allowed(user, choice.route.spec, choice.params.mode)
    except catalog.CatalogError:
        return None
    return choice.cost


def generation_again(
    *, user: Any, source: Generation, form_token: uuid.UUID | None = None, quoted_cost: int | None = None
) -> Generation:
    """Charge and queue a new video with ``source``'s settings (a video ``user`` may see). The new video is the
    member's own, with the source's visibility: a copy of a private video is private too, whoever makes it.
    Pictures from someone else's video are copied; a copy that ends up unused (the video was refused, or the
    button was sent twice) is deleted. Raises CatalogError or InsufficientCredits as generation_create does."""
    if form_token is not None and (done := Generation.objects.filter(owner=user, form_token=form_token).first()):
        return done
    model_key, params, pinned = _request(source)
    copies = []
    for field in PICTURE_FIELDS:
        name = images.stored_name(params.get(field) or "")
        if name and not images.owns(name, user.pk):
            copies.append(images.own_copy(name, user.pk))
            params[field] = images.STORED + copies[-1]
    try:
        gen = generation_create(
            user=user,
            model_key=model_key,
            params=params,
            credential_id=pinned,
            form_token=form_token,
            visibility=source.visibility,
            quoted_cost=quoted_cost,
        )
    except Exception:
        _forget(copies)
        raise
    _forget([c for c in copies if images.STORED + c not in (gen.image_url, gen.tail_image_url)])
    return gen


def _forget(names: list[str]) -> None:
    for name in names:
        default_storage.delete(name)
