"""Small template helpers for the member pages: catalog labels, page links, durations."""

from __future__ import annotations

from typing import Any

from django import template

from generations import catalog, labels

register = template.Library()


@register.filter
def model_label(key: str) -> str:
    """``"mulerun:kling-v2.6"`` → ``"Kling 2.6"``; a key the catalog no longer has is shown as it is."""
    spec = catalog.CATALOG.get(key)
    return spec.label if spec else key


@register.filter
def provider_label(key: str) -> str:
    spec = catalog.CATALOG.get(key)
    return spec.provider_info.label if spec else ""


@register.filter
def summary_line(error: str, label: str) -> str:
    """A field's error as the error summary lists it: "Label: message", unless the message already starts with the
    label ("Prompt is required.", as the catalog words its sentences), which would then read twice."""
    label, error = str(label or ""), str(error)
    if not label or error.casefold().startswith(label.casefold()):
        return error
    return f"{label}: {error}"


@register.filter
def mode_label(mode: str) -> str:
    return catalog.MODE_LABELS.get(mode, mode)


@register.filter
def seconds(value: Any) -> str:
    """42 → "42 s", 135 → "2 min 15 s"."""
    try:
        total = round(float(value))
    except (TypeError, ValueError):
        return ""
    minutes, secs = divmod(max(total, 0), 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


@register.simple_tag(takes_context=True)
def page_url(context: dict[str, Any], number: int) -> str:
    """The current URL's query string with another page number (filters are kept)."""
    query = context["request"].GET.copy()
    query["page"] = str(number)
    return "?" + query.urlencode()


@register.filter
def aspect_class(ratio: str) -> str:
    """``"16:9"`` → ``"r16x9"``, the class of the little preview box next to each aspect ratio."""
    return "r" + str(ratio).replace(":", "x")


@register.filter
def signed(value: int) -> str:
    return f"{value:+d}" if isinstance(value, int) else str(value)


@register.filter
def shot_type_label(value: str) -> str:
    return labels.SHOT_TYPE_LABELS.get(value, value or "On")


@register.filter
def camera_label(value: Any) -> str:
    return labels.camera_label(value)


@register.filter
def aspect_label(value: str) -> str:
    return labels.ASPECT_LABELS.get(value, value)


@register.filter
def clock(value: Any) -> str:
    """A video's length as players show it: 5 → "0:05", 10.4 → "0:10", 75 → "1:15"."""
    try:
        total = round(float(value))
    except (TypeError, ValueError):
        return ""
    minutes, secs = divmod(max(total, 0), 60)
    return f"{minutes}:{secs:02d}"
