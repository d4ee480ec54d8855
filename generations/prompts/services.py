"""Prompt templates: who may use and change one, the one check of its default settings, filling it; and the
member's prompt history.

The batch page calls ``template_usable_by`` and ``template_fill``; the pages here call the rest. Every write to a
template goes through ``template_create`` / ``template_update`` / ``template_delete``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q, QuerySet

from generations import catalog
from generations.models import Generation, PromptTemplate
from generations.params import has_control_characters, parse_int
from generations.placeholders import MissingValues, fill, names_in
from generations.services import routing

DEFAULT_KEYS = ("model", "mode", "duration", "aspect_ratio", "sound")
NAME_MAX = PromptTemplate._meta.get_field("name").max_length or 100
TEXT_MAX = catalog.PROMPT_MAX  # a template's text and negative prompt; the filled prompt is checked again
ON = ("on", "true", "1", "yes")
OFF = ("off", "false", "0", "no")


class TemplateError(ValueError):
    """A template the rules refuse; ``errors`` maps a field name (or "defaults") to one readable sentence."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__(" ".join(errors.values()))


# --- who may see, use and change a template ---------------------------------------------------------------------


def templates_visible_to(user: Any) -> QuerySet[PromptTemplate]:
    """The member's own templates and the team's shared ones. A private template is its owner's only (staff
    included: they see it in the admin, not on the site)."""
    return PromptTemplate.objects.filter(Q(owner=user) | Q(shared=True)).select_related("owner")


def template_usable_by(user: Any, template_id: Any) -> PromptTemplate:
    """The template ``template_id`` if ``user`` may use it (their own, or shared with the team).

    Raises PromptTemplate.DoesNotExist("No such template.") for anything else: a missing id, a bad one ("abc",
    5,000 digits, None) and someone else's private template alike, so nobody learns that a private one exists.
    """
    pk = parse_int(template_id)
    template = templates_visible_to(user).filter(pk=pk).first() if pk is not None and pk > 0 else None
    if template is None:
        raise PromptTemplate.DoesNotExist("No such template.")
    return template


def can_change(user: Any, template: PromptTemplate) -> bool:
    """Its owner; staff too when it is shared (a private template is its owner's only)."""
    return template.owner_id == user.pk or (template.shared and user.is_staff)


def template_changeable_by(user: Any, template_id: Any) -> PromptTemplate:
    """As template_usable_by, but only a template ``user`` may edit or delete (else DoesNotExist)."""
    template = template_usable_by(user, template_id)
    if not can_change(user, template):
        raise PromptTemplate.DoesNotExist("No such template.")
    return template


# --- default settings: the one check against what the catalog offers ---------------------------------------------


def _words(items: list[str]) -> str:
    return ", ".join(items[:-1]) + (" or " if len(items) > 1 else "") + (items[-1] if items else "nothing")


def _shown(value: Any) -> str:
    text = str(value)
    return f"“{text[:40]}…”" if len(text) > 40 else f"“{text}”"


def template_defaults_clean(raw: Any, *, options: list[routing.Offer] | None = None) -> dict[str, Any]:
    """Default settings as stored: ``{"model": slug, "mode": "pro", "duration": 10, "aspect_ratio": "9:16",
    "sound": True}``, each optional, each one the catalog offers now (``model_options()``, as the New video form).

    Takes form strings or JSON values (the admin); a model may be given by slug or catalog key. Raises
    TemplateError naming each refused setting in a sentence that says what is offered.
    """
    options = routing.offers() if options is None else options
    if not isinstance(raw, Mapping):
        raise TemplateError({"defaults": "Defaults must be an object with some of: " + ", ".join(DEFAULT_KEYS) + "."})
    errors: dict[str, str] = {}
    unknown = [str(k) for k in raw if k not in DEFAULT_KEYS]
    if unknown:
        errors["defaults"] = f"A template has no setting {_shown(unknown[0])}; it sets {_words(list(DEFAULT_KEYS))}."
    values = {k: raw.get(k).strip() if isinstance(raw.get(k), str) else raw.get(k) for k in DEFAULT_KEYS}
    out: dict[str, Any] = {}
    offer = None
    if values["model"] not in (None, ""):
        model = values["model"]
        offer = next((o for o in options if o.slug == model or any(r.spec.key == model for r in o.routes)), None)
        if offer is None:
            offered = _words([o.name for o in options]) if options else "none (no provider account is active)"
            errors["model"] = f"The catalog offers no model {_shown(model)} now. Models offered: {offered}."
        else:
            out["model"] = offer.slug
    specs = [offer.spec] if offer else [o.spec for o in options]
    who = f"{offer.name} offers" if offer else "The models offered now offer"
    modes = [m for m in catalog.MODES if any(m in s.modes for s in specs)]
    durations = sorted({d for s in specs for d in s.durations})
    ratios = [a for a in catalog.ASPECT_RATIOS if any(a in s.aspect_ratios for s in specs)]
    if values["mode"] not in (None, ""):
        if values["mode"] in modes:
            out["mode"] = values["mode"]
        else:
            errors["mode"] = f"{who} {_words([catalog.MODE_LABELS[m] for m in modes])} only."
    if values["duration"] not in (None, ""):
        seconds = parse_int(values["duration"])
        if seconds in durations:
            out["duration"] = seconds
        else:
            listed = _words([str(d) for d in durations]) if len(durations) < 7 else f"{durations[0]} to {durations[-1]}"
            errors["duration"] = f"{who} {listed} seconds only."
    if values["aspect_ratio"] not in (None, ""):
        if values["aspect_ratio"] in ratios:
            out["aspect_ratio"] = values["aspect_ratio"]
        else:
            errors["aspect_ratio"] = f"{who} aspect ratios {_words(ratios)} only."
    sound = values["sound"]
    if isinstance(sound, str):
        sound = True if sound.lower() in ON else False if sound.lower() in OFF else sound or None
    if sound is not None and not isinstance(sound, bool):
        errors["sound"] = "Sound is on, off, or left to the model."
    elif sound and not any(s.sound for s in specs):
        errors["sound"] = f"{offer.name if offer else 'No model offered now'} cannot make sound; choose Off."
    elif sound and offer and offer.spec.sound_requires_pro and out.get("mode", offer.spec.modes[0]) != "pro":
        errors["sound"] = f"Sound on {offer.name} needs Professional mode; set the mode to Professional."
    elif sound is not None:
        out["sound"] = sound
    if errors:
        raise TemplateError(errors)
    return out


def template_settings(template: PromptTemplate, *, options: list[routing.Offer] | None = None) -> tuple[dict, list]:
    """The stored defaults that the catalog still offers, and a sentence for each one dropped.

    A model taken off since the template was saved (or junk typed into the admin's JSON) is left out rather
    than refused: using the template then opens the New video form with the form's own default for it.
    """
    options = routing.offers() if options is None else options
    raw = template.defaults
    if not isinstance(raw, Mapping):
        return {}, ["The stored default settings could not be read (an admin can fix them), so none were applied."]
    try:
        return template_defaults_clean(raw, options=options), []
    except TemplateError as exc:
        keep = {k: v for k, v in raw.items() if k in DEFAULT_KEYS and k not in exc.errors}
        try:
            return template_defaults_clean(keep, options=options), list(exc.errors.values())
        except TemplateError as again:  # e.g. sound kept, but the mode it needs was dropped
            return {}, list(exc.errors.values()) + list(again.errors.values())


# --- filling a template ------------------------------------------------------------------------------------------


def template_placeholders(template: PromptTemplate) -> list[str]:
    """The placeholders of the prompt and the negative prompt, once each ignoring case, in order of appearance:
    one input (or one CSV column) each."""
    seen: dict[str, str] = {}
    for name in names_in(template.text) + names_in(template.negative_prompt):
        seen.setdefault(name.casefold(), name)
    return list(seen.values())


@dataclass(frozen=True)
class Filled:
    """A template with its values in: the New video form's starting values (``initial``)."""

    prompt: str
    negative_prompt: str
    settings: dict[str, Any] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)  # defaults the catalog no longer offers, as sentences

    @property
    def initial(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "negative_prompt": self.negative_prompt, **self.settings}


def template_fill(
    *, template: PromptTemplate, values: Mapping[str, Any], options: list[routing.Offer] | None = None
) -> Filled:
    """Fill the prompt and negative prompt with ``values`` (names ignore case) and read the defaults.

    Raises MissingValues naming every placeholder left blank (in order), or ValueError with a sentence: a value
    over placeholders.MAX_VALUE characters, control characters, or a filled prompt over the model limit.
    """
    missing: list[str] = []
    filled = []
    for text in (template.text, template.negative_prompt):
        try:
            filled.append(fill(text, values))
        except MissingValues as exc:
            missing += [n for n in exc.names if n.casefold() not in {m.casefold() for m in missing}]
            filled.append("")
    if missing:
        raise MissingValues(missing)
    prompt, negative = filled
    if has_control_characters(prompt) or has_control_characters(negative):
        raise ValueError("A value contains control characters (such as ESC); remove them.")
    for label, text in (("prompt", prompt), ("negative prompt", negative)):
        if len(text) > TEXT_MAX:
            too_long = f"The filled {label} is {len(text)} characters; the limit is {TEXT_MAX}."
            raise ValueError(too_long + " Use shorter values.")
    settings, dropped = template_settings(template, options=options)
    return Filled(prompt=prompt, negative_prompt=negative, settings=settings, dropped=dropped)


# --- saving -------------------------------------------------------------------------------------------------------


def template_text_errors(name: str, text: str, negative_prompt: str) -> dict[str, str]:
    errors = {}
    if not name.strip():
        errors["name"] = "Give the template a name."
    elif len(name) > NAME_MAX:
        errors["name"] = f"The name is {len(name)} characters; the limit is {NAME_MAX}."
    if not text.strip():
        errors["text"] = "Write the prompt."
    for key, value, limit in (("name", name, NAME_MAX), ("text", text, TEXT_MAX), ("negative_prompt", negative_prompt,
                                                                                          TEXT_MAX)):
        if key not in errors and len(value) > limit:
            errors[key] = f"It is {len(value)} characters; the limit is {limit}."
        elif key not in errors and has_control_characters(value):
            errors[key] = "It contains control characters (such as ESC); remove them."
    return errors


def _save(template: PromptTemplate, *, defaults: Any, mine: bool) -> PromptTemplate:
    errors = template_text_errors(template.name, template.text, template.negative_prompt)
    try:
        template.defaults = template_defaults_clean(defaults or {})
    except TemplateError as exc:
        errors |= exc.errors
    if errors:
        raise TemplateError(errors)
    try:
        with transaction.atomic():  # a savepoint: the name clash below leaves the request's transaction usable
            template.save()
    except IntegrityError:
        whose = "You already have" if mine else "Its owner already has"
        taken = f"{whose} a template named {_shown(template.name)}; choose another name."
        raise TemplateError({"name": taken}) from None
    return template


def template_create(
    *, owner: Any, name: str, text: str, negative_prompt: str = "", shared: bool = False, defaults: Any = None
) -> PromptTemplate:
    """A new template of ``owner``. Raises TemplateError (name taken, text too long, a default not offered)."""
    template = PromptTemplate(
        owner=owner, name=name.strip(), text=text.replace("\r\n", "\n").strip(),
        negative_prompt=negative_prompt.replace("\r\n", "\n").strip(), shared=shared,
    )  # fmt: skip
    return _save(template, defaults=defaults, mine=True)


def template_update(
    *, template: PromptTemplate, actor: Any, name: str, text: str, negative_prompt: str, shared: bool, defaults: Any
) -> PromptTemplate:
    """Change a template: its owner, or staff for a shared one. Raises PromptTemplate.DoesNotExist for anyone
    else and TemplateError as template_create. The name stays unique among its owner's templates."""
    if not can_change(actor, template):
        raise PromptTemplate.DoesNotExist("No such template.")
    template.name = name.strip()
    template.text = text.replace("\r\n", "\n").strip()
    template.negative_prompt = negative_prompt.replace("\r\n", "\n").strip()
    template.shared = shared
    return _save(template, defaults=defaults, mine=template.owner_id == actor.pk)


def template_delete(*, template: PromptTemplate, actor: Any) -> None:
    """Delete a template: its owner, or staff for a shared one (else PromptTemplate.DoesNotExist)."""
    if not can_change(actor, template):
        raise PromptTemplate.DoesNotExist("No such template.")
    template.delete()


def template_initial_from(gen: Generation, *, options: list[routing.Offer] | None = None) -> dict[str, Any]:
    """"Save as template" on a video: its prompt, negative prompt and settings as the template form's values.

    Settings the catalog no longer offers are left empty (the form then shows no default for them).
    """
    options = routing.offers() if options is None else options
    offer = next((o for o in options if any(r.spec.key == gen.model for r in o.routes)), None)
    raw = {"mode": gen.mode, "duration": gen.duration, "aspect_ratio": gen.aspect_ratio, "sound": gen.sound}
    if offer is not None:
        raw["model"] = offer.slug
    probe = PromptTemplate(defaults=raw)
    settings, _dropped = template_settings(probe, options=options)
    initial = {
        "name": " ".join(gen.title.split()[:8])[:NAME_MAX],
        "text": gen.prompt or "\n".join(str(s.get("prompt", "")) for s in gen.shots if isinstance(s, dict)),
        "negative_prompt": gen.negative_prompt,
    }
    initial |= {k: ("on" if v else "off") if k == "sound" else str(v) for k, v in settings.items()}
    return initial


# --- the member's prompt history ---------------------------------------------------------------------------------


def prompt_history(*, user: Any, query: str = "") -> QuerySet[Any]:
    """The member's past prompts, each once (same text = one row), newest use first, as dicts of ``prompt``,
    ``last_used`` and ``uses``. Their own videos only, deleted ones left out; ``query`` matches every word.

    One GROUP BY over the member's rows (index generation_owner_recent finds them); a page of it is a LIMIT.
    """
    qs = Generation.objects.alive().filter(owner=user).exclude(prompt="")
    if query.strip():
        qs = qs.matching(query)
    grouped = qs.order_by().values("prompt").annotate(last_used=Max("created_at"), uses=Count("pk"))
    return grouped.order_by("-last_used", "prompt")


@dataclass(frozen=True)
class HistoryRow:
    prompt: str
    last_used: datetime
    uses: int
    latest: Generation | None  # the video it was last used for: "Reuse" opens its remix, with all its settings


def prompt_history_rows(*, user: Any, rows: list[dict[str, Any]]) -> list[HistoryRow]:
    """One page of prompt_history with each prompt's latest video, in one more query (never one per row)."""
    if not rows:
        return []
    latest = (
        Generation.objects.alive()
        .filter(owner=user, prompt__in=[r["prompt"] for r in rows], created_at__in=[r["last_used"] for r in rows])
        .only("id", "prompt", "created_at", "model", "mode", "duration", "aspect_ratio", "sound", "status")
        .order_by("-created_at", "-pk")
    )
    by_use: dict[tuple[str, datetime], Generation] = {}
    for gen in latest:
        by_use.setdefault((gen.prompt, gen.created_at), gen)
    return [HistoryRow(r["prompt"], r["last_used"], r["uses"], by_use.get((r["prompt"], r["last_used"]))) for r in rows]
