"""The member's balance and ledger."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from generations.models import CreditEntry
from generations.views.gallery import paginate

PER_PAGE = 50


def credits_page(request: HttpRequest) -> HttpResponse:
    # Only what the table shows of the linked generation: a ledger page never loads provider payloads.
    entries = (
        CreditEntry.objects.filter(account__user=request.user)
        .select_related("generation", "actor")
        .only(
            "kind", "amount", "balance_after", "reason", "created_at", "generation_id", "actor_id",
            "generation__deleted_at", "actor__username", "actor__first_name", "actor__last_name",
        )
        .order_by("-created_at", "-id")
    )
    page = paginate(request, entries, PER_PAGE)
    ctx = {"page": page}  # the balance comes from the site context processor
    return render(request, "generations/credits.html", ctx)
