"""Members pick a model; the site picks the provider account. One place decides which account serves a video.

A *model* here is what members think in ("Kling 2.5 Turbo"): every catalog entry whose label names that model,
whichever account offers it. Providers that sell each mode as a model id of its own add the mode to the label
("Kling 2.5 Turbo Pro"); that suffix is not part of the model's name.

A *route* is one active provider account and the catalog entry it offers for the model. The routes able to make
a video are those whose entry accepts every option the member chose and has a price; among them the site takes
the healthy before the recently failing, then the admin's priority, then the lower price.

Failover: when the chosen account refuses the submit in a way that proves no task was created (bad key, out of
credit, rate limited, refused before any task existed), the generation moves to the next route at a price no
higher than the member was charged. Never once a task may exist: ambiguous submits follow the pipeline's rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from generations import catalog
from generations.clock import db_now
from generations.media import images
from generations.models import Generation, Price, ProviderCredential
from generations.services import line

# An account that failed within this window is tried after the healthy ones.
HEALTH_WINDOW = timedelta(minutes=15)
# Refusals that prove the provider created no task: the next account may safely take the video.
FAILOVER_KINDS = frozenset({"auth", "no_credit", "rate_limited"})
_MODE_SUFFIX = re.compile(r"\s+(Pro|Standard|Std|4K)$", re.IGNORECASE)


def model_name(spec: catalog.ModelSpec) -> str:
    """ "Kling 2.5 Turbo Pro" → "Kling 2.5 Turbo": the name members choose, whoever offers it."""
    return _MODE_SUFFIX.sub("", spec.label)


def model_slug(spec: catalog.ModelSpec) -> str:
    return slugify(model_name(spec).replace(".", "-"))


def model_ids(key: str) -> tuple[str, str]:
    """A catalog key as the API and webhooks show it: the model id members choose and its name."""
    spec = catalog.CATALOG.get(key)
    return (model_slug(spec), model_name(spec)) if spec else (key, key)


@dataclass(frozen=True)
class Route:
    credential: ProviderCredential
    spec: catalog.ModelSpec

    @property
    def label(self) -> str:
        """The account's name, then its provider's unless the name starts with it ("MuleRun (simulator)"): a name
        that only mentions a provider somewhere ("backup for Kling") still shows which one it is."""
        account, provider = self.credential.label, self.spec.provider_info.label
        return account if account.casefold().startswith(provider.casefold()) else f"{account} · {provider}"


@dataclass(frozen=True)
class Offer:
    """A model as members see it: its name and every route that serves it, in the admin's priority order."""

    slug: str
    name: str
    routes: tuple[Route, ...]

    @property
    def spec(self) -> catalog.ModelSpec:
        """The union of the routes' options: what the form shows. Each route still checks its own rules."""
        specs = [r.spec for r in self.routes]
        first = specs[0]

        def union(attr: str, order: Iterable[Any]) -> tuple[Any, ...]:
            have = {v for s in specs for v in getattr(s, attr)}
            return tuple(v for v in order if v in have)

        def any_(attr: str) -> bool:
            return any(getattr(s, attr) for s in specs)

        return replace(
            first,
            model=self.slug,
            label=self.name,
            modes=union("modes", catalog.MODES),
            durations=union("durations", sorted({d for s in specs for d in s.durations})),
            aspect_ratios=union("aspect_ratios", catalog.ASPECT_RATIOS),
            negative_prompt=any_("negative_prompt"),
            sound=any_("sound"),
            sound_requires_pro=all(s.sound_requires_pro for s in specs if s.sound),
            sound_default=all(s.sound_default for s in specs if s.sound),
            cfg_scale=any_("cfg_scale"),
            # A default every route accepts, else empty: a value some route refuses would narrow the choice.
            cfg_default=first.cfg_default
            if all(s.cfg_scale and s.cfg_default == first.cfg_default for s in specs)
            else None,
            images=_merged_images([s.images for s in specs if s.images]),
            multi_shot=any_("multi_shot"),
            camera_control=any_("camera_control"),
            watermark=any_("watermark"),
            typical_seconds=min(s.typical_seconds for s in specs),
            notes="",
        )


def _merged_images(rules: list[catalog.ImageRules]) -> catalog.ImageRules | None:
    """What the form shows for pictures: the widest choice any route takes (each route still checks its own)."""
    if not rules:
        return None
    return catalog.ImageRules(
        end_modes=tuple(m for m in catalog.MODES if any(m in r.end_modes for r in rules)),
        end_durations=()
        if any(not r.end_durations for r in rules)
        else tuple(sorted({d for r in rules for d in r.end_durations})),
        end_silent=all(r.end_silent for r in rules),
        cfg_scale=any(r.cfg_scale for r in rules),
    )


def offers() -> list[Offer]:
    """Every model an active account serves, once each, in the order of the best account offering it."""
    grouped: dict[str, list[Route]] = {}
    names: dict[str, str] = {}
    for cred in ProviderCredential.objects.filter(is_active=True).order_by("priority", "label"):
        for spec in cred.models():
            slug = model_slug(spec)
            grouped.setdefault(slug, []).append(Route(cred, spec))
            names.setdefault(slug, model_name(spec))
    return [Offer(slug, names[slug], tuple(routes)) for slug, routes in grouped.items()]


@dataclass(frozen=True)
class Pin:
    """What the member fixed beyond the model: one account, or one provider's catalog entry (None: automatic)."""

    account: int | None = None
    spec_key: str | None = None

    def __bool__(self) -> bool:
        return self.account is not None or self.spec_key is not None

    def allows(self, route: Route) -> bool:
        return (self.account is None or route.credential.pk == self.account) and (
            self.spec_key is None or route.spec.key == self.spec_key
        )


def find_offer(value: str, available: list[Offer] | None = None) -> tuple[Offer, Pin]:
    """The offer for a model slug ("kling-2-5-turbo"), a catalog key ("mulerun:kling-v2.6") or an
    "<account id>:<catalog key>" value. The last two also pin the provider or the account. Raises CatalogError.
    """
    available = offers() if available is None else available
    value = value if isinstance(value, str) else ""
    head, _, rest = value.partition(":")
    account = int(head) if head.isascii() and head.isdigit() and rest and len(head) < 10 else None
    key = rest if account is not None else value
    for offer in available:
        if offer.slug == value:
            return offer, Pin()
        for route in offer.routes:
            if route.spec.key == key and (account is None or route.credential.pk == account):
                return offer, Pin(account=account, spec_key=key)
    if key in catalog.CATALOG or any(model_slug(spec) == value for spec in catalog.CATALOG.values()):
        raise catalog.CatalogError({"model": "This model is not available right now; choose another one."})
    raise catalog.CatalogError({"model": "Choose one of the models offered."})


def price_of(spec: catalog.ModelSpec, clean: catalog.GenerationParams) -> int | None:
    return (
        Price.objects.filter(model=spec.key, mode=clean.mode, duration=clean.duration, sound=clean.sound)
        .values_list("credits", flat=True)
        .first()
    )


def _healthy(cred: ProviderCredential, now: Any) -> bool:
    if not cred.last_error or cred.last_error_at is None:
        return True
    recovered = cred.last_checked_at is not None and cred.last_checked_at > cred.last_error_at
    return recovered or cred.last_error_at < now - HEALTH_WINDOW


PICTURE_UNREACHABLE = (
    "This provider fetches pictures from a public address, and this site has none yet: ask an admin to set "
    "PUBLIC_BASE_URL, or choose an account that takes the picture itself."
)


def _pictures_reachable(route: Route, clean: catalog.GenerationParams) -> bool:
    """A picture in our storage reaches a provider that fetches URLs only through a public link."""
    stored = any(images.stored_name(v) for v in (clean.image_url, clean.tail_image_url))
    if not stored or not images.needs_public_url(route.spec.provider):
        return True
    return bool(settings.PUBLIC_BASE_URL or settings.AWS_STORAGE_BUCKET_NAME)


@dataclass(frozen=True)
class Choice:
    route: Route
    params: catalog.GenerationParams
    cost: int
    why: str


def candidates(offer: Offer, raw: Mapping[str, Any], *, pin: Pin = Pin()) -> list[Choice]:
    """Every route able to make this video, best first. Raises CatalogError (the best route's reasons) if none."""
    now = timezone.now()
    routes = [r for r in offer.routes if pin.allows(r)]
    if not routes:
        raise catalog.CatalogError({"account": "That account does not offer this model; choose Automatic."})
    found: list[tuple[tuple[Any, ...], Choice]] = []
    # The reason of the route that got furthest: refused options < cannot reach the picture < has no price.
    reasons: list[tuple[int, catalog.CatalogError]] = []
    for route in routes:
        try:
            clean = catalog.validate(route.spec.key, raw)
        except catalog.CatalogError as exc:
            reasons.append((0, exc))
            continue
        if not _pictures_reachable(route, clean):
            reasons.append((1, catalog.CatalogError({"image_url": PICTURE_UNREACHABLE})))
            continue
        cost = price_of(route.spec, clean)
        if cost is None:
            no_price = {"model": "This combination has no price yet; ask an admin to set one."}
            reasons.append((2, catalog.CatalogError(no_price)))
            continue
        healthy = _healthy(route.credential, now)
        busy = line.account_busy(route.credential)  # a free account before one whose videos would wait in line
        rank = (not healthy, busy, route.credential.priority, cost, route.credential.pk)
        found.append((rank, Choice(route, clean, cost, why="")))
    if not found:  # the route that got furthest; among equals, the one with the fewest objections (the closest)
        raise max(reasons, key=lambda r: (r[0], -len(r[1].errors)))[1]
    found.sort(key=lambda item: item[0])
    best_cost = min(c.cost for _r, c in found)
    result = []
    for rank, choice in found:
        if pin:
            why = "Chosen by you."
        elif not rank[0] and len(found) == 1:
            why = "The only account that offers these options."
        elif rank[0]:
            why = "Chosen although it failed recently: no healthy account offers these options."
        else:
            why = f"Chosen automatically among {len(found)} accounts: healthy and free first, then the admins' priority"
            why += ", at the lowest price." if choice.cost == best_cost else "."
        result.append(replace(choice, why=why))
    return result


def choose(model: str, raw: Mapping[str, Any], *, account: int | None = None) -> tuple[Choice, bool]:
    """The route that makes this video (see the module docstring), and whether the member pinned it."""
    offer, pin = find_offer(model)
    if account is not None:
        pin = Pin(account=account, spec_key=pin.spec_key)
    return candidates(offer, raw, pin=pin)[0], bool(pin)


# --- failover -------------------------------------------------------------------------------------------------


def route_event(credential: ProviderCredential, event: str, why: str, *, attempts: int = 0) -> dict[str, Any]:
    """One line of a generation's route_log. ``attempts``: the row's submit_attempts when this account took it."""
    return {
        "at": timezone.now().isoformat(timespec="seconds"),
        "account": credential.label,
        "account_id": credential.pk,
        "event": event,
        "why": why,
        "attempts": attempts,
    }


def _first_send_to_this_account(gen: Generation) -> bool:
    """Only the answer to the first request an account ever got for this row proves it made no task.

    Any earlier request to it (a resend after a 5xx, a resend after a lookup found nothing) may have made a task
    that now holds a slot or the last credit, which is exactly what a later 429 or out-of-credit would mean.
    """
    start = next((e.get("attempts", 0) for e in reversed(gen.route_log) if e.get("event") in ("chosen", "moved")), 0)
    return gen.submit_attempts - start == 1


def failover(gen: Generation, kind: str, message: str) -> bool:
    """Move a refused, task-less submit to the next account serving the same model and options.

    Only for refusals in FAILOVER_KINDS to the first request the account got, only while the row is still
    SUBMITTING with no task id, only when the member did not pick the account, only to an account that accepts
    every option as stored, and only at a price no higher than the member was charged.
    Returns True if the generation was moved (and its submit scheduled), False to let the pipeline go on.
    """
    if kind not in FAILOVER_KINDS or gen.provider_task_id or gen.account_chosen_by_member:
        return False
    if not _first_send_to_this_account(gen):
        return False
    tried = {e.get("account_id") for e in gen.route_log} | {gen.credential_id}
    try:
        offer, _pin = find_offer(model_slug(gen.spec))
        # Every option exactly as stored: an account that would drop or change one is not a candidate.
        options = candidates(offer, gen.params.as_dict())
    except catalog.CatalogError:
        return False
    for choice in options:
        cred = choice.route.credential
        if cred.pk in tried or choice.cost > gen.cost or choice.params != gen.params:
            continue
        refused = route_event(gen.credential, "refused", message[:300], attempts=gen.submit_attempts)
        moved = route_event(
            cred, "moved", f"{gen.credential.label} refused the video ({message[:200]}).", attempts=gen.submit_attempts
        )
        now = db_now()
        held = {"lease_token": gen.lease_token} if gen.lease_token is not None else {}
        if (
            Generation.objects.filter(  # only the step that holds the row (its fencing token) may move it
                pk=gen.pk,
                status=Generation.Status.SUBMITTING,
                provider_task_id="",
                credential_id=gen.credential_id,
                submit_attempts=gen.submit_attempts,
                **held,
            ).update(
                status=Generation.Status.QUEUED,
                credential=cred,
                provider=cred.provider,
                model=choice.route.spec.key,
                route_log=[*gen.route_log, refused, moved],
                error="",
                error_detail="",
                lease_until=None,
                lease_token=None,
                # Back into the line for the new account: its limit and rest apply (services.line).
                admitted_at=None,
                next_run_at=None,
                updated_at=now,
            )
            != 1
        ):
            return False
        transaction.on_commit(line.line_advance_safely)
        return True
    return False
