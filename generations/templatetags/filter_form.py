"""The Gallery's and My videos' filter form, drawn once per distinct query string and member list.

Drawing the form through Django's form and field templates cost about 6 ms of a Gallery page (12 fields), more
than the bare page it is measured against (bench/pages_latency.py, issue 17). Its HTML is a function of the
form's submitted values (errors included), the choices a member may pick from, the page's path and whether a
filter is in use; the key is made of exactly those, so a cached form is never stale. The one choice list that
comes from the database (the Gallery's members) is read for every request, in the query the form makes anyway,
and is part of the key. Nothing here is per viewer: the form is a GET form, without a CSRF token. The fragments
share the per-process ``caches["cards"]``; ``page`` is not a field, so paging through a search reuses its form.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django import forms, template
from django.conf import settings
from django.core.cache import caches
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

FILTERS_TEMPLATE = "includes/_filters.html"
FORM_SECONDS = 3600


def form_key(form: forms.Form, *, path: str, filtered: bool) -> str:
    """Everything the filter form shows: the submitted value of each field and the database-backed choices."""
    data = form.data
    getlist = data.getlist if hasattr(data, "getlist") else lambda name: [data.get(name)]
    submitted = [(name, tuple(getlist(name))) for name in form.fields]
    # A ModelChoiceField's choices run its query; _MemberChoice keeps the rows it read (forms.py), so drawing
    # the form on a miss reads them from memory instead of a second query.
    choices = [
        (name, tuple((str(value), label) for value, label in field.choices))
        for name, field in form.fields.items()
        if isinstance(field, forms.ModelChoiceField)
    ]
    shown = (type(form).__qualname__, submitted, choices, path, filtered)
    return "filters:" + hashlib.sha256(repr(shown).encode()).hexdigest()[:32]


@register.simple_tag(takes_context=True)
def filter_form(context: Any, form: forms.Form, filtered: bool) -> SafeString:
    """``includes/_filters.html`` for this form, from the cache where it has it (not under DEBUG: an edit shows)."""
    request = context["request"]
    key = form_key(form, path=request.path, filtered=bool(filtered))
    store = caches["cards"]
    html = None if settings.DEBUG else store.get(key)
    if html is None:
        html = render_to_string(FILTERS_TEMPLATE, {"form": form, "filtered": filtered, "request": request})
        store.set(key, html, FORM_SECONDS)
    return mark_safe(html)  # noqa: S308 - the template engine's autoescaped output
