"""The team's shared gallery, plus the two listing helpers My videos reuses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from generations.forms import GalleryFilterForm
from generations.models import Favorite, Generation
from kling_site.badinput import int_param

PER_PAGE = 24


@dataclass(frozen=True)
class Page:
    """One page of a listing without a COUNT(*): we fetch one row more than we show to know if there is more."""

    items: list[Any]
    number: int
    has_next: bool

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


def with_favorites(qs: QuerySet[Generation], user: Any) -> QuerySet[Generation]:
    """Each row's star for this member in the same query (a subquery, not one query per card)."""
    return qs.annotate(is_favorite=Exists(Favorite.objects.filter(user=user, generation=OuterRef("pk"))))


def gallery(request: HttpRequest) -> HttpResponse:
    form = GalleryFilterForm(request.GET)
    qs = with_favorites(Generation.objects.for_gallery(request.user), request.user)
    page = paginate(request, form.filter(qs), PER_PAGE)
    filtered = any(v for k, v in request.GET.items() if k not in ("page", "sort"))
    ctx = {"form": form, "page": page, "filtered": filtered}
    return render(request, "generations/gallery.html", ctx)
