"""Values every page's top bar needs."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, Any]:
    ctx: dict[str, Any] = {"brand_name": settings.SITE_NAME}
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        from generations.models import CreditAccount

        ctx["credit_balance"] = CreditAccount.balance_of(user)
    return ctx
