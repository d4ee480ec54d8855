"""Generate again: a new video with the settings of one the member can see, priced before they click."""

from __future__ import annotations

import uuid
from typing import Any

from generations import catalog
from generations.media import images
from generations.models import Generation
from generations.services import routing
from generations.services.create import generation_create

PICTURE_FIELDS = ("image_url", "tail_image_url")


def _request(source: Generation) -> tuple[str, dict[str, Any], int | None]:
    """The model, options and pinned account that make the same video again: the same model through the best
    account now, unless the member had chosen the account."""
    params = source.params.as_dict()
    params["shots"] = [{"prompt": s.prompt, "duration": s.duration} for s in source.params.shots]
    pinned = source.credential_id if source.account_chosen_by_member else None
    return routing.model_slug(source.spec), params, pinned


def again_cost(source: Generation) -> int | None:
    """What Generate again would charge now (None: the model or its options are no longer offered)."""
    model_key, params, pinned = _request(source)
    try:
        choice, _ = routing.choose(model_key, params, account=pinned)
    except catalog.CatalogError:
        return None
    return choice.cost


def generation_again(
    *, user: Any, source: Generation, form_token: uuid.UUID | None = None, quoted_cost: int | None = None
) -> Generation:
    """Charge and queue a new video with ``source``'s settings (a video ``user`` may see). The new video is the
    member's own: pictures from a teammate's video are copied, and it is shared with the team unless the member's
    own source was private. Raises CatalogError or InsufficientCredits as generation_create does."""
    model_key, params, pinned = _request(source)
    for field in PICTURE_FIELDS:
        if name := images.stored_name(params.get(field) or ""):
            params[field] = images.STORED + images.own_copy(name, user.pk)
    own = source.owner_id == user.pk
    return generation_create(
        user=user,
        model_key=model_key,
        params=params,
        credential_id=pinned,
        form_token=form_token,
        visibility=source.visibility if own else Generation.Visibility.TEAM,
        quoted_cost=quoted_cost,
    )
