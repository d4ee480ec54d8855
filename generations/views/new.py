"""New video: the form for one model, its live price, and the one call that charges and queues."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from generations import catalog
from generations.forms import GenerationForm, model_options, parse_model_value, remix_initial
from generations.models import CreditAccount, Generation
from generations.services.create import generation_create, price_for
from generations.services.credits import InsufficientCredits
from generations.views.access import get_generation_for_viewer

QUOTE_FIELDS = ("mode", "duration", "sound")


def quote_for(user: Any, model: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Cost and balance for one model and (mode, duration, sound); raises CatalogError for a bad combination.

    The page and quote.json both use this, and it prices with services.create.price_for: what the member
    sees is what generation_create charges.
    """
    _cred, spec = parse_model_value(model)
    # A stand-in prompt: the quote checks only the fields that change the price.
    clean = catalog.validate(spec.key, {"prompt": "quote", **{k: values.get(k) for k in QUOTE_FIELDS}})
    cost = price_for(spec.key, mode=clean.mode, duration=clean.duration, sound=clean.sound)
    balance = CreditAccount.balance_of(user)
    return {"cost": cost, "balance": balance, "balance_after": balance - cost, "enough": balance >= cost}


def _initial(request: HttpRequest, options: list[Any]) -> dict[str, Any]:
    if request.method == "POST":  # "Update the form" after choosing another model: keep what was typed
        return {k: v for k, v in request.POST.dict().items() if k != "csrfmiddlewaretoken"}
    initial: dict[str, Any] = {k: v for k, v in request.GET.items() if k != "remix"}
    if request.GET.get("remix"):
        try:
            pk = uuid.UUID(request.GET["remix"])
        except ValueError:
            pk = uuid.UUID(int=0)
        initial = remix_initial(get_generation_for_viewer(request, pk), options) | initial
    return initial


@require_http_methods(["GET", "POST"])
def new_video(request: HttpRequest) -> HttpResponse:
    options = model_options()
    if request.method == "POST" and "update_model" not in request.POST:
        form = GenerationForm(request.POST, options=options)
        if form.is_valid():
            kwargs = form.create_kwargs()
            # The same form sent again (a retried POST, or Back then Generate without scripts) opens the video it
            # already made, charged once; say so rather than pretend a new one was queued.
            repeat = Generation.objects.filter(owner=request.user, form_token=kwargs["form_token"]).exists()
            try:
                gen = generation_create(user=request.user, **kwargs)
            except catalog.CatalogError as exc:
                form.add_catalog_errors(exc.errors)
            except InsufficientCredits as exc:
                form.add_error(None, str(exc))
            else:
                if repeat:
                    messages.info(request, "This form was already sent, so here is the video it made (charged once). "
                                  "Open New video to make another.")  # fmt: skip
                else:
                    queued = "Your video is queued. This page updates as it is made."
                    messages.success(request, queued, extra_tags="live")
                return redirect("generation", pk=gen.pk)
    else:
        form = GenerationForm(options=options, initial=_initial(request, options))
    try:
        values = {k: form[k].value() for k in QUOTE_FIELDS if k in form.fields}
        price = quote_for(request.user, form.model_choice, values) if form.spec else None
    except catalog.CatalogError as exc:
        price = {"error": next(iter(exc.errors.values()))}
    ctx = {"form": form, "spec": form.spec, "price": price, "prompt_max": catalog.PROMPT_MAX}
    return render(request, "generations/new.html", ctx)


@require_GET
def quote(request: HttpRequest) -> JsonResponse:
    try:
        data = quote_for(request.user, request.GET.get("model", ""), request.GET)
    except catalog.CatalogError as exc:
        return JsonResponse({"errors": exc.errors}, status=400)
    return JsonResponse(data)
