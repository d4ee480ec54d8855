"""An API create or quote request checked by the New video form itself: one copy of every rule, for both doors.

The JSON fields are the form's, with pictures as image ids (POST /api/v1/images) and shots and camera movement
as objects. An option the chosen model does not take is refused by name rather than silently dropped.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from generations import catalog
from generations.api.problems import Problem
from generations.api.schemas import GenerationIn
from generations.forms import SHOT_ROWS, GenerationForm, model_options
from generations.models import Generation
from generations.services.create import PriceRose

# form field -> the API field a member wrote
_API_NAME = {
    "start_image_file": "start_image",
    "start_image_ref": "start_image",
    "end_image_file": "end_image",
    "end_image_ref": "end_image",
    "quoted_cost": "max_cost",
    "camera_type": "camera_control",
    "camera_axis": "camera_control",
    "camera_value": "camera_control",
    "__all__": "body",
}
_OPTIONAL = ("negative_prompt", "sound", "cfg_scale", "image_url", "tail_image_url", "multi_shot", "watermark")


def api_name(form_field: str, payload: GenerationIn | None = None) -> str:
    """The API field a form field's message belongs to: the one the member sent (a picture by id or by address)."""
    if form_field.startswith("shot_"):
        return "shots"
    if payload is not None and form_field == "image_url" and payload.start_image:
        return "start_image"
    if payload is not None and form_field == "tail_image_url" and payload.end_image:
        return "end_image"
    return _API_NAME.get(form_field, form_field)


@contextmanager
def price_as(field: str) -> Iterator[None]:
    """A price above the request's cap (max_cost, max_total), said at that field rather than as the form says it."""
    try:
        yield
    except PriceRose as exc:
        message = f"The price is {exc.cost} credits, above your {field} of {exc.quoted}; nothing was charged."
        raise Problem(422, message, {field: message}) from None


def _messages(form: GenerationForm, payload: GenerationIn) -> dict[str, list[str]]:
    """The form's errors by API field; a refused choice lists the choices (Django's sentence does not)."""
    errors: dict[str, list[str]] = {}
    for field, problems in form.errors.as_data().items():
        for problem in problems:
            text = " ".join(problem.messages)
            choices = getattr(form.fields.get(field), "choices", None)
            if problem.code == "invalid_choice" and choices:
                text = "Choose one of: " + ", ".join(str(value) for value, _ in choices if value != "") + "."
            errors.setdefault(api_name(field, payload), []).append(text)
    return errors


def _flat(payload: GenerationIn, defaults: dict[str, Any]) -> dict[str, Any]:
    """The request as the form's POST data would carry it (booleans as "on" or absent)."""
    values = payload.dict(exclude_unset=True)
    data: dict[str, Any] = {k: v for k, v in defaults.items() if v not in (None, "")}
    for key in ("model", "prompt", "negative_prompt", "mode", "aspect_ratio", "image_url", "tail_image_url"):
        if values.get(key) not in (None, ""):
            data[key] = values[key]
    for key in ("duration", "account", "cfg_scale", "continues", "max_cost"):
        if values.get(key) is not None:
            data["quoted_cost" if key == "max_cost" else key] = str(values[key])
    for key in ("sound", "multi_shot", "watermark"):
        if key in values and values[key] is not None:
            data[key] = "on" if values[key] else ""
    data = {k: v for k, v in data.items() if v != ""}
    data["visibility"] = payload.visibility
    if payload.start_image:
        data["start_image_ref"] = payload.start_image
    if payload.end_image:
        data["end_image_ref"] = payload.end_image
    if payload.shot_type:
        data["shot_type"] = payload.shot_type
    if len(payload.shots) > len(SHOT_ROWS):
        raise Problem(422, "Too many shots.", {"shots": f"At most {len(SHOT_ROWS)} shots."})
    for n, shot in zip(SHOT_ROWS, payload.shots, strict=False):
        data[f"shot_prompt_{n}"], data[f"shot_duration_{n}"] = shot.prompt, str(shot.duration)
    if payload.camera_control is not None:
        camera = payload.camera_control
        data |= {"camera_type": camera.type, "camera_axis": camera.axis, "camera_value": f"{camera.value:g}"}
    return data


def _refuse_unknown(payload: GenerationIn, form: GenerationForm) -> None:
    """A field the member set that this model has no place for: say so, never drop it silently."""
    values = payload.dict(exclude_unset=True)
    fields = set(form.fields)
    checks = {
        **{k: k for k in (*_OPTIONAL, "mode", "aspect_ratio", "duration", "shot_type")},
        "shots": "shots",
        "camera_control": "camera_control",
        "start_image": "start_image_ref",
        "end_image": "end_image_ref",
    }
    unknown = {
        name: f"{form.offer.name if form.offer else 'This model'} does not take this option."
        for name, field in checks.items()
        if values.get(name) not in (None, "", [], False) and field not in fields
    }
    if payload.continues and not Generation.objects.visible_to(form.user).filter(pk=payload.continues).exists():
        unknown["continues"] = "No video you can open has this id."
    if values.get("shots") and not payload.multi_shot:
        unknown["shots"] = "Shots make a multi-shot video: send multi_shot: true with them."
    if unknown:
        raise Problem(422, "Some of these options cannot be used; see errors.", unknown)


def checked_form(payload: GenerationIn, *, user: Any, form_token: uuid.UUID | None = None) -> GenerationForm:
    """The New video form, bound to this request and validated; a refusal is a 422 with messages by API field."""
    options = model_options()
    if not any(o.slug == payload.model for o in options):
        known = ", ".join(o.slug for o in options[:20]) or "none: no provider account is active"
        raise Problem(422, "Unknown model.", {"model": f"Choose one of the models of GET /api/v1/models ({known})."})
    blank = GenerationForm(None, options=options, initial={"model": payload.model}, user=user)
    defaults = {k: v for k, v in blank.initial.items() if k in blank.fields and k != "form_token"}
    defaults["duration"] = str(defaults.get("duration", ""))
    defaults["sound"] = "on" if defaults.get("sound") else ""
    data = _flat(payload, defaults)
    data["form_token"] = str(form_token or uuid.uuid4())
    form = GenerationForm(data, options=options, user=user, files={})
    _refuse_unknown(payload, form)
    if not form.is_valid():
        raise Problem(422, "This request is refused; see errors.", _messages(form, payload))
    return form


def quote_values(payload: GenerationIn, *, user: Any) -> dict[str, Any]:
    """The form data quote_for reads (the same flattening as a create, without its checks)."""
    if not any(o.slug == payload.model for o in model_options()):
        raise catalog.CatalogError({"model": "Choose one of the models of GET /api/v1/models."})
    return _flat(payload, {})
