"""The member's side (make a link from a video's page, revoke one) and the public side at /s/<token>/.

The public views are the only ones in the site open without login besides login, password reset, provider
callbacks and the providers' signed picture links: each finds the link by its token's hash and shows that one
video, with no member navigation, no names unless the link's creator chose so, no referrer and no indexing.
Every token that does not open a video (unknown, malformed, expired, revoked, video deleted or not ready) gets the
same 404 page, so a visitor cannot tell one case from another.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from generations.models import Generation, ShareLink
from generations.sharing.forms import ShareLinkForm
from generations.sharing.services import (
    ShareRefused,
    share_link_create,
    share_link_find,
    share_link_record_view,
    share_link_revoke,
    share_link_state,
    share_refusal,
)
from generations.views import shown_once
from generations.views.access import get_generation_for_owner
from generations.views.files import serve_poster, serve_video

S = Generation.Status
LIST_LIMIT = 20  # links listed on a video's page, newest first (index share_link_video)


# --- the member's side -----------------------------------------------------------------------------------------


def share_panel(*, user: Any, generation: Generation) -> dict[str, Any]:
    """What the video page's share box shows (templates/sharing/_links.html); empty for who may not manage it."""
    if generation.owner_id != user.pk and not user.is_staff:
        return {}
    if generation.status in (S.FAILED, S.CANCELED, S.NEEDS_ATTENTION):
        return {}  # nothing to share, and never was
    links = list(generation.share_links.select_related("created_by")[:LIST_LIMIT])
    for link in links:
        link.state = share_link_state(link)
    return {
        "can_manage": True,
        "refusal": share_refusal(generation=generation, actor=user),
        "form": ShareLinkForm(),
        "links": links,
    }


def _form_page(request: HttpRequest, gen: Generation, **ctx: Any) -> HttpResponse:
    status = ctx.pop("status", 200)
    return render(request, "sharing/share.html", {"gen": gen, **ctx}, status=status)


def _link_url(request: HttpRequest, token: str) -> str:
    return shown_once.site_url(request, reverse("shared_page", args=[token]))


@require_http_methods(["GET", "POST"])
def share_create(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """GET: the form on a page of its own (and its errors, 400). POST: the new link, shown this once."""
    gen = get_generation_for_owner(request, pk)
    refusal = share_refusal(generation=gen, actor=request.user)
    if refusal is not None:
        return _form_page(request, gen, refusal=refusal, status=refusal.status)
    form = ShareLinkForm(request.POST if request.method == "POST" else None)
    if not form.is_valid():
        return _form_page(request, gen, form=form, status=400 if form.is_bound else 200)
    try:
        link, token = share_link_create(generation=gen, actor=request.user, **form.service_kwargs())
    except ShareRefused as exc:  # the video changed since the page was drawn
        return _form_page(request, gen, refusal=exc, status=exc.status)
    # Post/Redirect/Get: a reload of the page that shows the link must not make a second one.
    shown_once.keep(request, "share", link.pk, token)
    return redirect("share_created", pk=gen.pk, link_id=link.pk)


@require_safe
def share_created(request: HttpRequest, pk: uuid.UUID, link_id: int) -> HttpResponse:
    """The new link, shown this once; a reload says it was shown (the site keeps only its hash)."""
    gen = get_generation_for_owner(request, pk)
    link = gen.share_links.filter(pk=link_id).first()
    if link is None:
        raise Http404("No such link.")
    token = shown_once.take(request, "share", link.pk)
    url = _link_url(request, token) if token else ""
    # The only page that ever shows the token.
    return shown_once.not_stored(render(request, "sharing/created.html", {"gen": gen, "link": link, "url": url}))


@require_POST
def share_revoke(request: HttpRequest, pk: uuid.UUID, link_id: int) -> HttpResponse:
    gen = get_generation_for_owner(request, pk)
    link = gen.share_links.filter(pk=link_id).first()
    if link is None:
        raise Http404("No such link.")
    try:
        share_link_revoke(link=link)
    except ShareRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Revoked {_named(link)}: it no longer opens.")
    return redirect("generation", pk=gen.pk)


def _named(link: ShareLink) -> str:
    return f"the link “{link.label}”" if link.label else "the link"


# --- the public side ----------------------------------------------------------------------------------------------


def _public(response: HttpResponseBase) -> HttpResponseBase:
    # The site's default is same-origin; a client's page must not tell the next site where it came from.
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _unavailable(request: HttpRequest) -> HttpResponseBase:
    return _public(render(request, "sharing/unavailable.html", status=404))


def _shape(gen: Generation) -> str:
    """The frame the player sits in: portrait, square or landscape (from the file, else the chosen ratio)."""
    width, height = gen.width, gen.height
    if not (width and height):
        width, _, height = (int(x) if x.isdigit() else 0 for x in gen.aspect_ratio.partition(":"))
    ratio = width / height if width and height else 16 / 9
    return "portrait" if ratio < 0.9 else "square" if ratio <= 1.1 else "landscape"


@login_not_required
@require_safe
def shared_page(request: HttpRequest, token: str) -> HttpResponseBase:
    link = share_link_find(token=token)
    if link is None:
        return _unavailable(request)
    # Openings by the team's own members (the creator checking the link) are not the client's views.
    if request.method == "GET" and not request.user.is_authenticated:
        share_link_record_view(link=link)
    gen = link.generation
    ctx = {
        "link": link,
        "gen": gen,
        "made_by": (gen.owner.get_full_name() or gen.owner.get_username()) if link.show_names else "",
        "shape": _shape(gen),
        "video_url": reverse("shared_video", args=[token]),
        "poster_url": reverse("shared_poster", args=[token]) if gen.poster else "",
    }
    response = render(request, "sharing/shared.html", ctx)
    response["Cache-Control"] = "no-store"  # a revoked link stops at once, in every cache
    return _public(response)


@login_not_required
@require_safe
def shared_video(request: HttpRequest, token: str) -> HttpResponseBase:
    """The video (Range requests answered by serve_stored_file); not counted as a view: players ask many times."""
    return _shared_file(request, token, serve_video)


@login_not_required
@require_safe
def shared_poster(request: HttpRequest, token: str) -> HttpResponseBase:
    return _shared_file(request, token, serve_poster)


def _shared_file(
    request: HttpRequest, token: str, serve: Callable[[HttpRequest, Generation], HttpResponseBase]
) -> HttpResponseBase:
    link = share_link_find(token=token)
    if link is None:
        return _unavailable(request)
    try:
        return _public(serve(request, link.generation))
    except Http404:  # a file missing from storage: the same page as any other dead link
        return _unavailable(request)
