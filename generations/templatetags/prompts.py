"""Template helpers for the prompt template pages."""

from __future__ import annotations

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from generations.placeholders import PATTERN

register = template.Library()


@register.filter
def mark_placeholders(text: str) -> SafeString:
    """The text, escaped, with each {placeholder} in a <mark> (escaping leaves braces and names as they are)."""
    marked = PATTERN.sub(lambda m: f'<mark class="placeholder">{m.group(0)}</mark>', escape(text or ""))
    return mark_safe(marked)  # noqa: S308  (escaped above; the inserted names are letters, digits and _)
