"""My videos: everything the member made (except what they deleted), newest first."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from generations.forms import LibraryFilterForm
from generations.models import Generation
from generations.views.gallery import CARD_FIELDS, PER_PAGE, count_pages, paginate, with_favorites


def my_videos(request: HttpRequest) -> HttpResponse:
    form = LibraryFilterForm(request.GET)
    mine = Generation.objects.alive().filter(owner=request.user).select_related("owner").only(*CARD_FIELDS)
    qs = with_favorites(mine, request.user)
    listing = form.filter(qs)
    # No "of M" before the last page: a member's rows are spread over the table, so even a capped count read
    # 241 of them from the heap, ~1 ms of a page whose target is twice a bare page (issue 17). "Page N", Next.
    page = count_pages(paginate(request, listing, PER_PAGE), listing, PER_PAGE, count=False)
    filtered = any(v for k, v in request.GET.items() if k != "page")
    ctx = {"form": form, "page": page, "filtered": filtered}
    return render(request, "generations/my_videos.html", ctx)
