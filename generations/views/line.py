"""The waiting line: every video waiting for a place at a provider, in the order they will be sent."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from generations.models import Generation
from generations.services import line


@require_GET
def line_page(request: HttpRequest) -> HttpResponse:
    places = line.places()
    rows = Generation.objects.filter(pk__in=places).select_related("owner", "credential")
    entries = sorted(({"gen": g, "place": places[g.pk]} for g in rows), key=lambda e: e["place"].position)
    for entry in entries:  # one rule for everyone, admins included: a private prompt is its owner's alone
        gen = entry["gen"]
        entry["mine"] = gen.owner_id == request.user.pk
        entry["prompt_shown"] = entry["mine"] or gen.visibility == Generation.Visibility.TEAM
    ctx = {"entries": entries, "mine": sum(e["mine"] for e in entries)}
    return render(request, "generations/line.html", ctx)
