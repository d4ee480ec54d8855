"""Video cards (Gallery, My videos, a batch) and the favourite star, fast enough for a 24-card page.

Rendering ``includes/_card.html`` through the template engine cost about 0.7 ms a card, most of a page's time.
So each card's HTML is cached under a key made of *everything the card shows* (``card_key``): a change of title,
status, files, visibility, owner's name… is a new key, so a cached card is never stale and nothing needs to
invalidate it. The fragment holds nothing about the viewer: the star (this member's favourite, the CSRF token,
the page to come back to) is put in at each request, and which cards a member gets is decided by the page's
query, never by the cache. The cache is ``caches["cards"]``, a per-process memory cache (settings.CACHES): the
shared Redis is kept for queues and runs with ``noeviction``, where a cache could crowd out jobs.
"""

from __future__ import annotations

import hashlib
import uuid
from functools import cache
from typing import Any

from django import template
from django.conf import settings
from django.core.cache import caches
from django.template.loader import get_template
from django.urls import get_script_prefix, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import get_current_timezone_name

from generations.media import card_media

register = template.Library()

CARD_TEMPLATE = "includes/_card.html"
STAR_SLOT = "<!--star-->"  # where _card.html's star goes; the cached fragment is split there
CARD_SECONDS = 6 * 3600


def _source_digest() -> str:
    return hashlib.sha256(get_template(CARD_TEMPLATE).template.source.encode()).hexdigest()[:12]


_deployed_digest = cache(_source_digest)


def _template_digest() -> str:
    """A new card template (a deploy) makes new keys; the old fragments simply age out. Under DEBUG (make run)
    the template is read again each time, so an edit shows without a restart."""
    return _source_digest() if settings.DEBUG else _deployed_digest()


def card_key(gen: Any, *, show_owner: bool, show_status: bool, show_row: bool) -> str:
    """Everything _card.html shows of ``gen``: add a field here when the card starts showing it."""
    shown = (
        gen.pk, gen.status, gen.title, bool(gen.video), gen.poster.name, gen.card_posters, gen.preview.name,
        gen.video_duration, gen.duration,
        gen.model, gen.mode, gen.visibility, gen.created_at.isoformat(),
        (gen.owner.get_full_name() or gen.owner.get_username()) if show_owner else None,
        gen.batch_row if show_row else None, show_status,
        get_current_timezone_name(), get_script_prefix(),
    )  # fmt: skip
    digest = hashlib.sha256(repr(shown).encode()).hexdigest()[:32]
    return f"card:{_template_digest()}:{digest}"


@register.filter
def version(file: Any) -> str:
    """A stored file's version for its URL (``?v=``), which lets the browser keep it a year (views/files.py)."""
    return card_media.version(file.name)


@register.simple_tag
def card_srcset(gen: Any, ext: str) -> str:
    """``…/poster-320.webp?v=… 320w, …/poster-640.webp?v=… 640w``: the card-size posters in one format."""
    v = card_media.version(gen.poster.name)
    return ", ".join(
        f"{reverse('generation_card_poster', args=[gen.pk, width, ext])}?v={v} {width}w"
        for width in card_media.CARD_WIDTHS
    )


def _star_parts(context: Any) -> tuple[SafeString, str]:
    """What every star of a page shares: the CSRF input (as {% csrf_token %} draws it) and the page to return to."""
    token = str(context.get("csrf_token") or "")  # a lazy string: made a str once, not at each use
    csrf = format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token)
    return (csrf if token and token != "NOTPROVIDED" else mark_safe("")), context["request"].get_full_path()


def _star_form(url: str, fav: bool, shared: tuple[SafeString, str]) -> SafeString:
    """The favourite toggle: a plain POST that redirects back; static/js/cards.js upgrades it to fetch()."""
    csrf, back = shared
    return format_html(
        '<form method="post" action="{}" class="inline" data-favorite>{}'
        '<input type="hidden" name="next" value="{}">'
        '<button type="submit" class="star" aria-pressed="{}" aria-label="Favourite" title="{}">{}</button></form>',
        url,
        csrf,
        back,
        "true" if fav else "false",
        "Remove from favourites" if fav else "Add to favourites",
        "★" if fav else "☆",
    )


def star_html(gen: Any, fav: bool, shared: tuple[SafeString, str]) -> SafeString:
    return _star_form(reverse("generation_favorite", args=[gen.pk]), fav, shared)


# A character that no escaped part of a star can hold (the middleware refuses NUL in a request: badinput.py).
_URL_SLOT = "\x00"


def _page_stars(shared: tuple[SafeString, str]) -> Any:
    """star_html for many cards of one page: the two forms drawn once, each card's URL put in (a reverse() and a
    format_html() per card were ~1 ms of a 24-card page)."""
    placeholder = str(uuid.UUID(int=0))
    head, _slot, tail = reverse("generation_favorite", args=[placeholder]).partition(placeholder)
    forms = {fav: _star_form(_URL_SLOT, fav, shared).split(_URL_SLOT) for fav in (False, True)}

    def star_for(gen: Any, fav: bool) -> str:
        before, after = forms[bool(fav)]
        return f"{before}{head}{gen.pk}{tail}{after}"  # a UUID: nothing to escape

    return star_for


@register.simple_tag(takes_context=True)
def star(context: Any, gen: Any, fav: bool) -> SafeString:
    return star_html(gen, bool(fav), _star_parts(context))


@register.simple_tag(takes_context=True)
def cards(
    context: Any, generations: Any, show_owner: bool = False, show_status: bool = False, show_row: bool = False
) -> SafeString:
    """The cards of ``generations`` (annotated with ``is_favorite``), from the cache where it has them."""
    flags = {"show_owner": show_owner, "show_status": show_status, "show_row": show_row}
    gens = list(generations)
    keys = [card_key(gen, **flags) for gen in gens]
    store = caches["cards"]
    found = store.get_many(keys)
    missing = {}
    for gen, key in zip(gens, keys, strict=True):
        if key not in found:
            found[key] = missing[key] = get_template(CARD_TEMPLATE).render({"gen": gen, **flags})
    if missing:
        store.set_many(missing, CARD_SECONDS)
    star_for, parts = _page_stars(_star_parts(context)), []
    for gen, key in zip(gens, keys, strict=True):
        head, _slot, tail = found[key].partition(STAR_SLOT)
        parts += [head, star_for(gen, getattr(gen, "is_favorite", False)), tail]
    return mark_safe("".join(parts))  # noqa: S308 - autoescaped template output and format_html only
