"""The share box on a video's page (templates/sharing/_links.html) reads its links and form through this tag, so
the page's own view needs to know nothing about sharing (generations/sharing/)."""

from __future__ import annotations

from typing import Any

from django import template

from generations.models import Generation
from generations.sharing.views import share_panel as _panel

register = template.Library()


@register.simple_tag(takes_context=True)
def share_panel(context: dict[str, Any], gen: Generation) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return _panel(user=user, generation=gen)
