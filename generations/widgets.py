"""Form widgets drawn in Python where Django's templates are too slow for a page drawn at every visit."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe


def _attrs(attrs: dict[str, Any]) -> SafeString:
    """As django/forms/widgets/attrs.html: ``True`` is a bare attribute, ``False`` none at all."""
    shown = ((name, "" if value is True else format_html('="{}"', value)) for name, value in attrs.items())
    return format_html_join("", " {}{}", ((name, rest) for name, rest in shown if attrs[name] is not False))


class QuickSelect(forms.Select):
    """A ``<select>`` with the HTML of Django's own, without one template render per option.

    The gallery's filters list every member, model and shape: ~90 option templates through the template engine,
    about 15 ms of a page whose target is a few ms (bench/pages_latency.py).
    """

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        html = format_html('<select name="{}"{}>', widget["name"], _attrs(widget["attrs"]))
        for group_name, group, _index in widget["optgroups"]:
            rows = ((o["value"], _attrs(o["attrs"]), o["label"]) for o in group)
            options = format_html_join("", '\n  <option value="{}"{}>{}</option>', rows)
            if group_name:
                options = format_html('\n  <optgroup label="{}">{}\n  </optgroup>', group_name, options)
            html += options
        return mark_safe(html + "\n</select>")  # noqa: S308 - every part above went through format_html
