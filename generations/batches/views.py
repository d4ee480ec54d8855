"""Batch pages: the list form with its price before anything is charged, a batch's progress, and its ZIP."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.db.models import Count, Q, Sum
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_http_methods, require_safe

from generations import catalog
from generations.batches.archive import batch_zip_response, ready_videos
from generations.batches.forms import BatchForm
from generations.batches.services import RowsRefused, batch_create, batch_prepare
from generations.forms import model_options
from generations.models import Batch, CreditAccount, CreditEntry, Generation, PromptTemplate
from generations.prompts.services import template_settings, template_usable_by, templates_visible_to
from generations.services import team
from generations.services.credits import InsufficientCredits
from generations.views.gallery import count_pages, paginate, with_favorites

S = Generation.Status


def get_batch_for_owner(request: HttpRequest, pk: uuid.UUID) -> Batch:
    """The member's own batch (staff: anyone's); 404 otherwise, as for a private video."""
    batch = Batch.objects.filter(pk=pk).first()
    if batch is None or not (batch.owner_id == request.user.pk or request.user.is_staff):
        raise Http404("No such batch.")
    return batch


def _form(request: HttpRequest) -> BatchForm:
    rules = team.rules_for(request.user)
    options = [o for o in model_options() if rules.allows(o.name)]
    templates = list(templates_visible_to(request.user).order_by("name"))
    if request.method == "POST" and "update_model" not in request.POST:
        return BatchForm(request.POST, request.FILES, options=options, templates=templates)
    initial = request.POST.dict() if request.method == "POST" else request.GET.dict()
    if request.method == "GET" and "template" in request.GET:  # "Make a batch" from a template: its settings
        try:
            template = template_usable_by(request.user, request.GET["template"])
        except PromptTemplate.DoesNotExist:
            initial.pop("template")
        else:
            initial = template_settings(template, options=options)[0] | initial
    return BatchForm(initial=initial, options=options, templates=templates)


@require_http_methods(["GET", "POST"])
def batch_new(request: HttpRequest) -> HttpResponse:
    form = _form(request)
    preview: dict[str, Any] | None = None
    if form.is_bound and form.is_valid() and form.items:
        data = form.cleaned_data
        try:
            if "generate" in request.POST:
                repeat = Batch.objects.filter(owner=request.user, form_token=data["form_token"]).exists()
                if batch := _generate(request, form):
                    if repeat:
                        messages.info(request, "This list was already sent, so here is its batch (charged once).")
                    else:
                        queued = f"{len(form.items)} video{pluralize(len(form.items))} queued."
                        messages.success(request, queued, extra_tags="live")
                    return redirect(batch)
            # A check, or a Generate refused as a whole (a price rose, the balance fell): the list priced anew.
            gens = batch_prepare(user=request.user, items=form.items, visibility=data["visibility"])
            preview = _preview(request, form, gens)
        except RowsRefused as exc:
            form.row_errors = exc.rows
        except (catalog.CatalogError, InsufficientCredits) as exc:
            form.add_error(None, _sentence(exc))
    ctx = {
        "form": form,
        "preview": preview,
        "balance": CreditAccount.balance_of(request.user),
        "template": form.template_shown(),
    }
    return render(request, "batches/new.html", ctx)


def _generate(request: HttpRequest, form: BatchForm) -> Batch | None:
    """The Generate form: admit exactly the rows that were priced, or say why not (and keep the list)."""
    data = form.cleaned_data
    try:
        return batch_create(
            user=request.user, items=form.items, title=_title(form), visibility=data["visibility"],
            form_token=data["form_token"], quoted_total=data.get("quoted_total"),
        )  # fmt: skip
    except RowsRefused:
        raise
    except (catalog.CatalogError, InsufficientCredits) as exc:
        form.add_error(None, _sentence(exc) + " Nothing was charged; the list is priced again below.")
        return None


def _sentence(exc: catalog.CatalogError | InsufficientCredits) -> str:
    problems = exc.errors.values() if isinstance(exc, catalog.CatalogError) else [str(exc)]
    return " ".join(dict.fromkeys(problems))


def _title(form: BatchForm) -> str:
    template = form.chosen_template
    first = form.items[0].params["prompt"]
    count = f"{len(form.items)} video{pluralize(len(form.items))}"
    return f"{template.name}: {count}" if template else f"{count}: {first[:120]}"


def _preview(request: HttpRequest, form: BatchForm, gens: list[Generation]) -> dict[str, Any]:
    total = sum(g.cost for g in gens)
    balance = CreditAccount.balance_of(request.user)
    return {
        "rows": gens,
        "total": total,
        "balance_after": balance - total,
        "enough": balance >= total,
        "cap_error": team.cap_problem(request.user, total, what="This batch"),
        "confirm": form.confirm_values(total),
        "rows_csv": form.checked_csv(),
    }


BATCHES_PER_PAGE = 20


def with_counts(qs: Any) -> Any:
    """Each batch's progress in the same query: ready, failed or canceled, in flight and all (deleted left out)."""
    alive = Q(generations__deleted_at__isnull=True)
    stopped = (S.FAILED, S.CANCELED, S.NEEDS_ATTENTION)
    return qs.annotate(
        ready=Count("generations", filter=alive & Q(generations__status=S.READY)),
        failed=Count("generations", filter=alive & Q(generations__status__in=stopped)),
        in_flight=Count("generations", filter=alive & Q(generations__status__in=Generation.IN_FLIGHT)),
        total=Count("generations", filter=alive),
    )


@require_safe
def batch_list(request: HttpRequest) -> HttpResponse:
    """The member's own batches and variants, newest first, with their progress."""
    listing = with_counts(Batch.objects.filter(owner=request.user)).order_by("-created_at", "-pk")
    page = count_pages(paginate(request, listing, BATCHES_PER_PAGE), listing, BATCHES_PER_PAGE)
    return render(request, "batches/list.html", {"page": page})


@require_safe
def batch_detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    batch = get_batch_for_owner(request, pk)
    gens = with_favorites(batch.generations.alive().select_related("owner"), request.user).order_by("batch_row")
    ctx = {"batch": batch, "gens": gens, "counts": progress(batch)}
    return render(request, "batches/detail.html", ctx)


def progress(batch: Batch) -> dict[str, Any]:
    """A batch's progress as the page and its live updates show it: counts, and credits net of refunds."""
    row = with_counts(Batch.objects.filter(pk=batch.pk)).get()
    refunded = CreditEntry.objects.filter(generation__batch=batch, kind=CreditEntry.Kind.REFUND).aggregate(
        n=Sum("amount")
    )["n"] or 0
    counts = {k: getattr(row, k) for k in ("ready", "failed", "in_flight", "total")}
    return counts | {"charged": batch.total_cost - refunded, "refunded": refunded}


@require_safe
def batch_status(request: HttpRequest, pk: uuid.UUID) -> JsonResponse:
    response = JsonResponse(progress(get_batch_for_owner(request, pk)))
    response["Cache-Control"] = "no-store"
    return response


@require_safe
def batch_zip(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    batch = get_batch_for_owner(request, pk)
    if not ready_videos(batch):
        raise Http404("No video of this batch is ready yet.")
    return batch_zip_response(batch)
