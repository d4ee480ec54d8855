"""Templates: the list, new / edit / delete, "Use" (fill the placeholders, then the New video form), and the
member's prompt history. Someone else's private template, or one a member may not change, is a 404."""

from __future__ import annotations

import math
import uuid
from dataclasses import replace
from typing import Any

from django.contrib import messages
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from generations import catalog, labels
from generations.forms import model_options
from generations.models import PromptTemplate
from generations.placeholders import MissingValues
from generations.prompts import services
from generations.prompts.forms import FillForm, TemplateForm
from generations.services import team
from generations.views.access import get_generation_for_viewer
from generations.views.gallery import paginate
from generations.views.new import prefill_url

PER_PAGE = 24
HISTORY_PER_PAGE = 25
SEARCH_MAX = 200


def _template(request: HttpRequest, template_id: int, *, change: bool = False) -> PromptTemplate:
    find = services.template_changeable_by if change else services.template_usable_by
    try:
        return find(request.user, template_id)
    except PromptTemplate.DoesNotExist:
        raise Http404("No such template.") from None


def settings_summary(settings: dict[str, Any], options: list[Any]) -> list[str]:
    """Default settings in words: "Kling 2.6", "Professional · 1080p", "10 s", "9:16 portrait", "Sound on"."""
    names = {o.slug: o.name for o in options}
    words = {
        "model": lambda v: names.get(v, v),
        "mode": lambda v: catalog.MODE_LABELS.get(v, v),
        "duration": lambda v: f"{v} s",
        "aspect_ratio": lambda v: labels.ASPECT_LABELS.get(v, v),
        "sound": lambda v: "Sound on" if v else "Silent",
    }
    return [words[k](settings[k]) for k in services.DEFAULT_KEYS if k in settings]


def _query(request: HttpRequest) -> str:
    return " ".join(request.GET.get("q", "").split())[:SEARCH_MAX]


@require_GET
def template_list(request: HttpRequest) -> HttpResponse:
    q = _query(request)
    templates = services.templates_visible_to(request.user)
    for word in q.split()[:10]:
        templates = templates.filter(Q(name__icontains=word) | Q(text__icontains=word))
    page = paginate(request, templates.order_by("name", "owner__username", "pk"), PER_PAGE)
    options = model_options()
    cards = [
        (t, settings_summary(services.template_settings(t, options=options)[0], options),
         services.can_change(request.user, t))
        for t in page.items
    ]  # fmt: skip
    ctx = {"page": page, "cards": cards, "q": q, "filtered": bool(q), "tab": "templates"}
    return render(request, "prompts/list.html", ctx)


@require_http_methods(["GET", "POST"])
def template_new(request: HttpRequest) -> HttpResponse:
    options = model_options()
    initial: dict[str, Any] = {}
    source = request.GET.get("from", "")
    if source:  # "Save as template" on a video the member can see (anything else: 404, as the video page)
        try:
            pk = uuid.UUID(source)
        except ValueError:
            raise Http404("No such video.") from None
        initial = services.template_initial_from(get_generation_for_viewer(request, pk), options=options)
    form = TemplateForm(request.POST if request.method == "POST" else None, initial=initial, options=options)
    if form.is_valid():
        try:
            template = services.template_create(owner=request.user, **form.service_kwargs())
        except services.TemplateError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Template “{template.name}” saved.")
            return redirect("template_list")
    ctx = {"form": form, "options": options, "from_video": bool(source)}
    return render(request, "prompts/form.html", ctx)


@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, template_id: int) -> HttpResponse:
    template = _template(request, template_id, change=True)
    options = model_options()
    _settings, dropped = services.template_settings(template, options=options)
    initial = {"name": template.name, "text": template.text, "negative_prompt": template.negative_prompt,
               "shared": template.shared, **TemplateForm.settings_initial(template.defaults)}  # fmt: skip
    form = TemplateForm(request.POST if request.method == "POST" else None, initial=initial, options=options)
    if form.is_valid():
        try:
            services.template_update(template=template, actor=request.user, **form.service_kwargs())
        except services.TemplateError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Template “{template.name}” saved.")
            return redirect("template_list")
    mine = template.owner_id == request.user.pk
    ctx = {"form": form, "options": options, "template": template, "not_mine": not mine, "dropped": dropped}
    return render(request, "prompts/form.html", ctx)


@require_http_methods(["GET", "POST"])
def template_delete(request: HttpRequest, template_id: int) -> HttpResponse:
    template = _template(request, template_id, change=True)
    if request.method == "POST":
        services.template_delete(template=template, actor=request.user)
        messages.success(request, f"Template “{template.name}” deleted.")
        return redirect("template_list")
    ctx = {"template": template, "not_mine": template.owner_id != request.user.pk}
    return render(request, "prompts/confirm_delete.html", ctx)


@require_http_methods(["GET", "POST"])
def template_use(request: HttpRequest, template_id: int) -> HttpResponse:
    template = _template(request, template_id)
    options = model_options()
    form = FillForm(request.POST if request.method == "POST" else None, names=services.template_placeholders(template))
    if form.is_valid():
        try:
            filled = services.template_fill(template=template, values=form.values(), options=options)
        except MissingValues as exc:
            form.add_missing(exc.names)
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            for sentence in filled.dropped:
                messages.warning(request, f"A default of this template was not applied: {sentence}")
            return redirect(prefill_url(request, filled.initial))
    settings, dropped = services.template_settings(template, options=options)
    rules = team.rules_for(request.user)
    offer = next((o for o in options if o.slug == settings.get("model")), None)
    ctx = {
        "template": template,
        "form": form,
        "summary": settings_summary(settings, options),
        "model_name": offer.name if offer else "",
        "model_not_allowed": offer is not None and not rules.allows(offer.name),
        "dropped": dropped,
    }
    return render(request, "prompts/use.html", ctx)


@require_GET
def prompt_history(request: HttpRequest) -> HttpResponse:
    q = _query(request)
    groups = services.prompt_history(user=request.user, query=q)
    page = paginate(request, groups, HISTORY_PER_PAGE)
    if page.has_next:  # "page N of M": one COUNT over the member's groups (their own videos only)
        page = replace(page, last=max(math.ceil(groups.count() / HISTORY_PER_PAGE), page.number + 1))
    else:
        page = replace(page, last=page.number if page.items else None)
    rows = services.prompt_history_rows(user=request.user, rows=page.items)
    ctx = {"page": page, "rows": rows, "q": q, "filtered": bool(q), "tab": "history"}
    return render(request, "prompts/history.html", ctx)
