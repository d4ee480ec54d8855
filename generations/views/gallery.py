"""The team's shared gallery, plus the two listing helpers My videos reuses."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from generations.forms import GalleryFilterForm
from generations.models import Favorite, Generation
from kling_site.badinput import int_param

PER_PAGE = 24
# "Page 1 of 10+": counting up to 40 pages (961 rows) was 1-3 ms of a page whose target is a few ms (issue 17).
COUNT_CAP_PAGES = 10
# The columns a card shows (generations/templatetags/cards.card_key and Generation.title): a listing reads only
# these; 50 columns made it about 2 ms slower to build and read (bench/pages_latency.py). A card that starts
# showing another field adds it here, or each card costs one more query (test_pages_gallery counts them).
CARD_FIELDS = (
    "id", "status", "prompt", "shots", "video", "poster", "card_posters", "preview", "video_duration", "duration",
    "model", "mode", "visibility", "created_at", "batch_row", "owner", "owner__first_name", "owner__last_name",
    "owner__username",
)  # fmt: skip


@dataclass(frozen=True)
class Page:
    """One page of a listing without a COUNT(*): we fetch one row more than we show to know if there is more."""

    items: list[Any]
    number: int
    has_next: bool
    # The last page number, when counted (count_pages); capped means "at least": there are more rows than counted.
    last: int | None = None
    capped: bool = False

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1


def paginate(request: HttpRequest, qs: QuerySet[Any], per_page: int) -> Page:
    number = int_param(request, "page", default=1, low=1, high=10_000)
    start = (number - 1) * per_page
    rows = list(qs[start : start + per_page + 1])
    return Page(items=rows[:per_page], number=number, has_next=len(rows) > per_page)


def count_pages(page: Page, qs: QuerySet[Any], per_page: int, *, count: bool = True) -> Page:
    """"Page N of M" without a COUNT(*) over 100,000 rows: count at most COUNT_CAP_PAGES pages of rows.

    ``SELECT COUNT(*) FROM (SELECT id ... LIMIT cap+1)`` reads at most cap+1 rows; beyond the cap the
    page shows "of M+". On the last page nothing needs counting. ``count=False``: "of M" only there, elsewhere
    "Page N" with Previous and Next.
    """
    if not page.has_next:
        return replace(page, last=page.number if page.items else None)
    if not count:
        return page
    cap = COUNT_CAP_PAGES * per_page
    rows = qs.order_by().values("pk")[: cap + 1].count()
    last = max(math.ceil(min(rows, cap) / per_page), page.number + 1)
    return replace(page, last=last, capped=rows > cap)


def with_favorites(qs: QuerySet[Generation], user: Any) -> QuerySet[Generation]:
    """Each row's star for this member in the same query (a subquery, not one query per card)."""
    return qs.annotate(is_favorite=Exists(Favorite.objects.filter(user=user, generation=OuterRef("pk"))))


def gallery(request: HttpRequest) -> HttpResponse:
    form = GalleryFilterForm(request.GET)
    qs = with_favorites(Generation.objects.for_gallery(request.user).only(*CARD_FIELDS), request.user)
    listing = form.filter(qs)
    # A search's count would read every match (a common word: a third of the table) to say "of M": not counted.
    searching = bool(form.cleaned_data.get("q"))  # form.filter() has cleaned it
    page = count_pages(paginate(request, listing, PER_PAGE), listing, PER_PAGE, count=not searching)
    filtered = any(v for k, v in request.GET.items() if k not in ("page", "sort"))
    ctx = {"form": form, "page": page, "filtered": filtered}
    return render(request, "generations/gallery.html", ctx)
