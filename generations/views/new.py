"""New video: the form for one model, its live price, and the one call that charges and queues."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from generations import catalog, image_fields
from generations.batches.services import variants_create
from generations.forms import VARIANTS, GenerationForm, model_options, remix_initial
from generations.media import images
from generations.models import Batch, CreditAccount, Generation
from generations.services import routing, team
from generations.services.create import generation_create
from generations.services.credits import InsufficientCredits
from generations.views.access import get_generation_for_viewer

QUOTE_FIELDS = ("mode", "duration", "sound")
# Options that decide which accounts can make the video (new_video.js sends the same list to quote.json).
ROUTE_FIELDS = (
    *QUOTE_FIELDS, "account", "aspect_ratio", "cfg_scale", "watermark", "multi_shot", "shot_type", "negative_prompt",
    "image_url", "tail_image_url", "camera_type", "camera_axis", "camera_value",
)  # fmt: skip


def quote_for(user: Any, model: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Cost, balance and the account that would make the video; raises CatalogError for a bad combination.

    The page and quote.json both use this, and it prices through services.routing, as generation_create
    does: what the member sees is what they are charged. With only the price fields (an early quote), other
    options are assumed at their defaults.
    """
    offer, pin = routing.find_offer(model)
    account = values.get("account")
    if isinstance(account, str) and account.isascii() and account.isdigit() and len(account) < 10:
        pin = routing.Pin(account=int(account))
    # A stand-in prompt: the quote checks only the fields that change the route and the price.
    raw = {k: v for k, v in values.items() if k in ROUTE_FIELDS and k != "account"} | {"prompt": "quote"}
    if raw.get("camera_type"):
        config = {raw.get("camera_axis") or "": raw.get("camera_value") or ""}
        raw["camera_control"] = {"type": raw["camera_type"], "config": config}
    if raw.get("multi_shot") in (True, "1", "on", "true") and raw.get("shot_type") != "intelligence":
        raw["shot_type"] = "intelligence"  # the shots' own texts do not change the route: price it as one
    try:
        choice = routing.candidates(offer, raw, pin=pin)[0]
    except catalog.CatalogError:
        choice = routing.candidates(offer, {"prompt": "quote", **{k: values.get(k) for k in QUOTE_FIELDS}}, pin=pin)[0]
    balance = CreditAccount.balance_of(user)
    count = variant_count(values.get("variants"))
    cost = choice.cost * count
    return {
        "cost": cost,
        "unit_cost": choice.cost,
        "count": count,
        "balance": balance,
        "balance_after": balance - cost,
        "enough": balance >= cost,
        "cap_error": team.cap_problem(user, cost, what="These variants" if count > 1 else "This video"),
        "account": choice.route.label,
        "why": choice.why,
    }


def variant_count(value: Any) -> int:
    """How many variants a quote is for: 1 to 4; anything else (absent, junk) prices one."""
    text = str(value or "")
    return int(text) if text in {str(n) for n in VARIANTS} else 1


PREFILL_KEY = "new_video_prefill"
PREFILL_KEEP = 5  # starting values kept per session (one per tab a member may have open)


def prefill_url(request: HttpRequest, values: Mapping[str, Any]) -> str:
    """A /new/ address that opens the form with ``values`` (JSON-able): they wait in the session, not in the URL,
    as a 2,500-character prompt would pass the 4 KB request line gunicorn and proxies accept."""
    token = secrets.token_urlsafe(9)
    kept = list(request.session.get(PREFILL_KEY, {}).items())[-(PREFILL_KEEP - 1) :]
    request.session[PREFILL_KEY] = dict(kept) | {token: dict(values)}
    return f"{reverse('new_video')}?prefill={token}"


def _initial(request: HttpRequest, options: list[Any]) -> dict[str, Any]:
    if request.method == "POST":  # "Update the form" after choosing another model: keep what was typed
        return {k: v for k, v in request.POST.dict().items() if k != "csrfmiddlewaretoken"}
    skip = ("remix", "continue", "at", "prefill")
    initial: dict[str, Any] = {k: v for k, v in request.GET.items() if k not in skip}
    stashed = request.session.get(PREFILL_KEY, {}).get(request.GET.get("prefill", ""))
    if isinstance(stashed, dict):  # a template filled in (prefill_url); the address's own values win
        initial = stashed | initial
    source = request.GET.get("remix") or request.GET.get("continue")
    if source:
        try:
            pk = uuid.UUID(source)
        except ValueError:
            pk = uuid.UUID(int=0)
        gen = get_generation_for_viewer(request, pk)
        initial = remix_initial(gen, options, viewer_id=request.user.pk) | initial
        if "continue" in request.GET:
            initial |= continue_initial(request, gen)
            same = next((o for o in options if o.slug == initial.get("model")), None)
            if same is None or not same.spec.image_urls:  # the same model cannot start from a picture
                same = next((o for o in options if o.spec.image_urls), same)
                initial.pop("account", None)
            if same is not None:  # a mode in which an account of this model takes a start image
                modes = [m for r in same.routes if r.spec.image_urls for m in r.spec.modes]
                initial["model"] = same.slug
                if modes and initial.get("mode") not in modes:
                    initial["mode"] = modes[0]
    return initial


def continue_initial(request: HttpRequest, gen: Any) -> dict[str, Any]:
    """ "Continue this video": its last frame (or the paused one, ?at=seconds) as the start image."""
    if not gen.video:
        raise Http404("This video is not ready.")
    at = request.GET.get("at", "")
    try:
        seconds = float(at) if at else None
    except ValueError:
        seconds = None
    if seconds is not None and not (seconds == seconds and 0 <= seconds < 86400):  # NaN and nonsense: the end
        seconds = None
    frame = images.frame_of(gen.video.name, at=seconds)
    name = images.store_upload(frame, owner_id=request.user.pk)
    return {
        "start_image_ref": images.sign_upload(
            name, owner_id=request.user.pk, shown="last frame" if seconds is None else f"frame at {seconds:g} s"
        ),
        "image_url": "",
        "tail_image_url": "",
        "multi_shot": False,
        "continues": str(gen.pk),
    }


@require_http_methods(["GET", "POST"])
def new_video(request: HttpRequest) -> HttpResponse:
    rules = team.rules_for(request.user)
    options = [o for o in model_options() if rules.allows(o.name)]  # what the member's groups allow
    if request.method == "POST" and "update_model" not in request.POST:
        form = GenerationForm(request.POST, files=request.FILES, options=options, user=request.user)
        if form.is_valid():
            try:
                return _submit(request, form)
            except catalog.CatalogError as exc:
                form.add_catalog_errors(exc.errors)
            except InsufficientCredits as exc:
                form.add_error(None, str(exc))
    else:
        form = GenerationForm(options=options, initial=_initial(request, options), user=request.user)
    pictures = image_fields.rows(form, request.user.pk)
    try:
        values = {k: form[k].value() for k in (*ROUTE_FIELDS, "variants") if k in form.fields}
        for row in pictures:  # a chosen picture narrows the accounts as a typed address does
            if row["ref"].value():
                values[row["url"].name] = images.STORED + "chosen"
        price = quote_for(request.user, form.model_choice, values) if form.offer else None
    except catalog.CatalogError as exc:
        price = {"error": next(iter(exc.errors.values()))}
    if "mode" in form.fields:
        form.fields["mode"].choices = [c for c in form.fields["mode"].choices if rules.mode_allowed(c[0])]
    ctx = {
        "headroom": team.headroom(request.user, rules),
        "form": form,
        "spec": form.spec,
        "price": price,
        "prompt_max": catalog.PROMPT_MAX,
        "pictures": pictures,
        "continues": _continues(request, form),
    }
    return render(request, "generations/new.html", ctx)


def _submit(request: HttpRequest, form: GenerationForm) -> HttpResponse:
    """Charge and queue one video, or several variants of it as one batch; open what was made."""
    kwargs = form.create_kwargs()
    token = kwargs["form_token"]
    if form.variant_count > 1:
        repeat = Batch.objects.filter(owner=request.user, form_token=token).exists()
        made: Any = variants_create(user=request.user, count=form.variant_count, **kwargs)
        queued = f"{form.variant_count} variants are queued. This page updates as they are made."
    else:
        # The same form sent again (a retried POST, or Back then Generate without scripts) opens the video it
        # already made, charged once; say so rather than pretend a new one was queued.
        repeat = Generation.objects.filter(owner=request.user, form_token=token).exists()
        made = generation_create(user=request.user, **kwargs)
        queued = "Your video is queued. This page updates as it is made."
    if repeat:
        messages.info(request, "This form was already sent, so here is what it made (charged once). "
                      "Open New video to make another.")  # fmt: skip
    else:
        messages.success(request, queued, extra_tags="live")
    return redirect(made.get_absolute_url())


def _continues(request: HttpRequest, form: GenerationForm) -> Any:
    pk = form["continues"].value() if "continues" in form.fields else None
    try:
        return Generation.objects.visible_to(request.user).filter(pk=uuid.UUID(str(pk))).first() if pk else None
    except ValueError:
        return None


@require_GET
def quote(request: HttpRequest) -> JsonResponse:
    try:
        data = quote_for(request.user, request.GET.get("model", ""), request.GET.dict())
    except catalog.CatalogError as exc:
        return JsonResponse({"errors": exc.errors}, status=400)
    return JsonResponse(data)
