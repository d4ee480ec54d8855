"""One generation: its page, its live status as JSON, and what its owner (or staff) can do to it."""

from __future__ import annotations

import statistics
import uuid
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat, pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from generations import catalog
from generations.forms import AgainForm
from generations.models import Favorite, Generation
from generations.services import line
from generations.services.again import again_cost, generation_again
from generations.services.credits import InsufficientCredits
from generations.services.manage import (
    ActionRefused,
    favorite_toggle,
    generation_cancel,
    generation_delete,
    generation_set_visibility,
)
from generations.templatetags.kling import seconds
from generations.views.access import get_generation_for_owner, get_generation_for_viewer
from generations.views.files import preview_url

S = Generation.Status
# The steps a member sees; SUBMITTING shows as "Submitted" being the current step.
STEPS = [(S.QUEUED, "Queued"), (S.SUBMITTED, "Submitted"), (S.RUNNING, "Generating"), (S.DOWNLOADING, "Downloading")]
STEP_OF = {S.QUEUED: 0, S.SUBMITTING: 1, S.SUBMITTED: 1, S.RUNNING: 2, S.DOWNLOADING: 3}
ESTIMATE_SAMPLE = 20


def _median_seconds(rows: Any) -> int | None:
    took = [(done - made).total_seconds() for made, done in rows]
    return max(round(statistics.median(took)), 1) if took else None


def estimate_seconds(gen: Generation) -> int:
    """Median time to ready of the model's last 20 ready videos: same mode first, then any mode, then the catalog.

    The catalog's typical time is only a guess for a model nobody has used yet; real times replace it as soon as
    there is one (index: generation_model_finished).
    """
    ready = Generation.objects.filter(model=gen.model, status=S.READY, finished_at__isnull=False)
    for qs in (ready.filter(mode=gen.mode), ready):
        rows = qs.order_by("-finished_at").values_list("created_at", "finished_at")[:ESTIMATE_SAMPLE]
        median = _median_seconds(rows)
        if median is not None:
            return median
    spec = catalog.CATALOG.get(gen.model)
    return spec.typical_seconds if spec else 120


def _reached(gen: Generation) -> int:
    """The index of the step a generation is at (in flight) or stopped at (failed, canceled, needs attention)."""
    if gen.status in STEP_OF:
        return STEP_OF[gen.status]
    if gen.status == S.READY:
        return len(STEPS)
    stamps = [gen.created_at, gen.submitted_at, gen.running_at, gen.downloading_at]
    return max(i for i, stamp in enumerate(stamps) if stamp)


def status_steps(gen: Generation) -> list[dict[str, str]]:
    """Each step with its state; the last step is the outcome once there is one.

    In flight: done / current / todo. Stopped (failed, canceled, needs attention): the steps it got through are
    done, the one it stopped at is "stopped", the rest "skipped", and the outcome is current.
    """
    at = _reached(gen)
    stopped = gen.status in (S.FAILED, S.CANCELED, S.NEEDS_ATTENTION)
    steps = []
    for i, (key, label) in enumerate(STEPS):
        if i < at:
            state = "done"
        elif i == at:
            state = "stopped" if stopped else "current"
        else:
            state = "skipped" if stopped else "todo"
        steps.append({"key": key, "label": label, "state": state})
    last = gen.status if gen.status not in Generation.IN_FLIGHT else S.READY
    outcome = "current" if gen.status not in Generation.IN_FLIGHT else "todo"
    steps.append({"key": last, "label": S(last).label, "state": outcome})
    return steps


def _local(when: Any) -> str:
    return date_format(timezone.localtime(when), "j M Y, H:i:s") if when else ""


def status_payload(gen: Generation) -> dict[str, Any]:
    end = gen.finished_at or timezone.now()
    finished = gen.status in Generation.FINISHED
    waiting = line.is_waiting(gen)
    place = line.place_of(gen)
    payload = {
        "status": gen.status,
        "status_label": "Waiting in line" if waiting else gen.get_status_display(),
        "line": line_sentence(place) if waiting else "",
        "steps": status_steps(gen),
        "elapsed": max(round((end - gen.created_at).total_seconds()), 0),
        # A waiting video's estimate includes its wait, so the page tells one story.
        "estimate": estimate_seconds(gen) + ((place.seconds or 0) if place else 0),
        "error": gen.error,
        "is_finished": finished,
        "needs_attention": gen.status == S.NEEDS_ATTENTION,
        "refunded": gen.status in (S.FAILED, S.CANCELED) and gen.was_refunded,
        "cost": gen.cost,
        "poster_url": reverse("generation_poster", args=[gen.pk]) if gen.poster else "",
        "video_url": reverse("generation_video", args=[gen.pk]) if gen.video and gen.status == S.READY else "",
        # A card that turns ready in place plays this short clip on hover; "" shows the poster only.
        "preview_url": preview_url(gen) if gen.preview and gen.status == S.READY else "",
        # What the settings list shows once the video is finished, so the page needs no reload.
        "finished_at": gen.finished_at.isoformat() if gen.finished_at else "",
        "finished_label": _local(gen.finished_at),
        "resolution": f"{gen.width} \u00d7 {gen.height}" if gen.width and gen.height else "",
        "file_size": filesizeformat(gen.file_size) if gen.file_size else "",
    }
    return payload


def line_sentence(place: line.Place | None) -> str:
    then = "It goes to the provider as soon as a place frees up."
    if place is None:
        return f"Waiting in line behind your earlier videos. {then}"
    ahead = place.position - 1
    sentence = f"Waiting in line: {ahead} video{pluralize(ahead)} ahead of it" if ahead else "Next in line"
    about = f", about {seconds(place.seconds)} before it is sent" if place.seconds else ""
    return f"{sentence}{about}. {then}"


@require_GET
def generation_detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    gen = get_generation_for_viewer(request, pk)
    can_manage = gen.owner_id == request.user.pk or request.user.is_staff
    ctx = {
        "gen": gen,
        "spec": catalog.CATALOG.get(gen.model),
        "status": status_payload(gen),
        "can_manage": can_manage,
        "is_favorite": Favorite.objects.filter(user=request.user, generation=gen).exists(),
        "visibility_choices": Generation.Visibility.choices,
        "again_cost": again_cost(gen, request.user),
        "again_token": uuid.uuid4(),
    }
    return render(request, "generations/generation.html", ctx)


@require_POST
def generation_again_view(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Generate again: the same settings, a new video of the member's own, at most the price the button showed."""
    source = get_generation_for_viewer(request, pk)
    form = AgainForm(request.POST)
    if not form.is_valid():
        messages.error(request, "This button has expired; reload the page and try again.")
        return redirect("generation", pk=source.pk)
    try:
        gen = generation_again(user=request.user, source=source, **form.cleaned_data)
    except (catalog.CatalogError, InsufficientCredits) as exc:
        problems = exc.errors.values() if isinstance(exc, catalog.CatalogError) else [str(exc)]
        messages.error(request, " ".join(dict.fromkeys(problems)))
        return redirect("generation", pk=source.pk)
    messages.success(request, "Your new video is queued. This page updates as it is made.", extra_tags="live")
    return redirect(gen)


@require_GET
def generation_status(request: HttpRequest, pk: uuid.UUID) -> JsonResponse:
    gen = get_generation_for_viewer(request, pk)
    response = JsonResponse(status_payload(gen))
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def generation_cancel_view(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    gen = get_generation_for_owner(request, pk)
    try:
        generation_cancel(generation=gen, actor=request.user)
    except ActionRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Canceled. Your {gen.cost} credits were refunded.")
    return redirect("generation", pk=gen.pk)


@require_POST
def generation_visibility(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    gen = get_generation_for_owner(request, pk)
    try:
        generation_set_visibility(generation=gen, visibility=request.POST.get("visibility", ""))
    except ActionRefused as exc:
        messages.error(request, str(exc))
    else:
        shared = gen.visibility == Generation.Visibility.TEAM
        messages.success(request, "Shared with the team." if shared else "Now private: only you (and admins) see it.")
    return redirect("generation", pk=gen.pk)


@require_http_methods(["GET", "POST"])
def generation_delete_view(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """GET asks for confirmation (works without JavaScript); POST deletes."""
    gen = get_generation_for_owner(request, pk)
    if request.method == "POST":
        try:
            generation_delete(generation=gen, actor=request.user)
        except ActionRefused as exc:
            messages.error(request, str(exc))
            return redirect("generation", pk=gen.pk)
        messages.success(request, "The video was deleted.")
        return redirect("my_videos")
    return render(request, "generations/confirm_delete.html", {"gen": gen})


@require_POST
def generation_favorite(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    gen = get_generation_for_viewer(request, pk)
    starred = favorite_toggle(generation=gen, user=request.user)
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"favorite": starred})
    target = request.POST.get("next", "")
    # Only a local path: redirect() reads a bare word ("٣") as a view name and fails.
    safe = url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure())
    if not target.startswith("/") or not safe:
        target = reverse("generation", args=[gen.pk])
    return redirect(target)
