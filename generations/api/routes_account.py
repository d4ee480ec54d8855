"""/api/v1/models, /balance and /ledger: the catalog as the New video form offers it, and the member's credits."""

from __future__ import annotations

from itertools import product
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from generations import catalog
from generations.api import out
from generations.api.schemas import BalanceOut, LedgerPage, PriceOut
from generations.forms import model_options
from generations.models import CreditAccount, CreditEntry
from generations.services import routing, team

router = Router(tags=["Models and credits"])


class ModelOut(Schema):
    id: str
    name: str
    modes: list[str]
    durations: list[int]
    aspect_ratios: list[str]
    sound: bool
    negative_prompt: bool
    cfg_scale: bool
    start_image: bool
    end_image_modes: list[str]
    multi_shot: bool
    camera_control: bool
    watermark: bool
    allowed: bool
    prices: list[PriceOut]


def _prices(offer: Any) -> list[dict[str, Any]]:
    """What each combination costs, priced as a create would be (services.routing: the best account for it)."""
    spec, out = offer.spec, []
    for mode, duration, sound in product(spec.modes, spec.durations, (False, True) if spec.sound else (False,)):
        raw = {"prompt": "price", "mode": mode, "duration": duration} | ({"sound": sound} if spec.sound else {})
        try:
            cost = routing.candidates(offer, raw)[0].cost
        except catalog.CatalogError:
            continue  # a combination no account offers (sound needs Professional mode, say)
        out.append({"mode": mode, "duration": duration, "sound": sound, "credits": cost})
    return out


def _model_out(offer: Any, user: Any) -> dict[str, Any]:
    spec = offer.spec
    try:
        team.check_allowed(user, offer.routes[0].spec, spec.modes[0])
        allowed = True
    except catalog.CatalogError:
        allowed = False
    return {
        "id": offer.slug,
        "name": offer.name,
        "modes": list(spec.modes),
        "durations": list(spec.durations),
        "aspect_ratios": list(spec.aspect_ratios),
        "sound": spec.sound,
        "negative_prompt": spec.negative_prompt,
        "cfg_scale": spec.cfg_scale,
        "start_image": spec.images is not None,
        "end_image_modes": list(spec.images.end_modes) if spec.images else [],
        "multi_shot": spec.multi_shot,
        "camera_control": spec.camera_control,
        "watermark": spec.watermark,
        "allowed": allowed,
        "prices": _prices(offer),
    }


@router.get("/models", response=list[ModelOut], summary="The models you can choose, their options and prices")
def models(request: HttpRequest) -> list[dict[str, Any]]:
    return [_model_out(o, request.user) for o in model_options()]


@router.get("/balance", response=BalanceOut, summary="Your credits, and what your caps leave today and this month")
def balance(request: HttpRequest) -> dict[str, Any]:
    room = team.headroom(request.user)
    return {"balance": CreditAccount.balance_of(request.user), "daily_left": room.day, "monthly_left": room.month}


class LedgerFilters(Schema):
    cursor: str = ""
    limit: int = Field(50, ge=1, le=200)


@router.get("/ledger", response=LedgerPage, summary="Every movement of your credits, newest first")
def ledger(request: HttpRequest, filters: Query[LedgerFilters]) -> dict[str, Any]:
    qs = CreditEntry.objects.filter(account__user=request.user)
    rows, cursor = out.page_of(qs, cursor=filters.cursor, limit=filters.limit)
    return {"items": [out.entry_out(e) for e in rows], "next_cursor": cursor}
