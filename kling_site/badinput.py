"""Bad input is a clear 400, decided in one place, before any view, form, CSRF check or login throttle runs.

Python and the database disagree with browsers and attackers about text and numbers in a few ways that each
turned into an HTTP 500 (issue 10). This module owns all of them:

* NUL bytes: PostgreSQL refuses them in text, so a ``%00`` in a path, a query or a form field reached a query
  and failed there. ``BadInputMiddleware`` answers 400 for a NUL in the path, or in a query or form key or
  value. Other control characters are for the forms to refuse with a field error (``has_control_characters``,
  the one rule every text a member sends is checked with).
* Bodies in another charset than UTF-8: ``charset=utf-16`` made Django decode form fields into garbage and fail
  again inside the CSRF failure page. Browsers only send UTF-8 forms, so anything else is a 400.
* Unicode digits and huge numbers: ``int_param`` and ``AsciiIntegerField`` read numbers with
  ``generations.params.parse_int`` (ASCII digits only, at most 18 of them); text is checked with its
  ``has_control_characters``.
* Dates at the end of the calendar: adding a day to 9999-12-31 overflows. ``BoundedDateField`` refuses years
  outside 1900 to 9998 with a field error.

Each rule has a test in tests/test_bad_requests.py; tests/test_every_url.py walks every URL with these values.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.http.multipartparser import MultiPartParserError

from generations.params import parse_int

_BODY_CHARSETS = {"utf-8", "ascii"}
MIN_YEAR, MAX_YEAR = 1900, 9998


def int_param(request: HttpRequest, name: str, *, default: int, low: int, high: int) -> int:
    """A query parameter as an int in [low, high]; anything else (², 5,000 digits, "1%00") gives ``default``."""
    number = parse_int(request.GET.get(name, ""))
    if number is None or not low <= number <= high:
        return default
    return number


class AsciiIntegerField(forms.IntegerField):
    """An IntegerField that takes only ASCII digits (Django's accepts ``"٣"`` and fails on 5,000 digits)."""

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        number = parse_int(value)
        if number is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return number


class BoundedDateField(forms.DateField):
    """A DateField whose dates leave room for day arithmetic (9999-12-31 + 1 day overflows)."""

    def to_python(self, value: Any) -> date | None:
        day = super().to_python(value)
        if day is not None and not MIN_YEAR <= day.year <= MAX_YEAR:
            raise forms.ValidationError(f"Enter a date between {MIN_YEAR} and {MAX_YEAR}.", code="invalid")
        return day


def _bad_text(values: Iterable[str]) -> bool:
    return any("\x00" in v for v in values)


def request_problem(request: HttpRequest) -> str | None:
    """Why this request is refused with 400, or None. Reads the form body only for POST/PUT/PATCH forms."""
    if "\x00" in request.path:
        return "The address contains a NUL byte."
    if _bad_text(k for k in request.GET) or _bad_text(v for _k, vs in request.GET.lists() for v in vs):
        return "A query parameter contains a NUL byte."
    if request.method not in ("POST", "PUT", "PATCH"):
        return None
    charset = request.content_params.get("charset") if request.content_params else None
    if charset:
        try:
            name = codecs.lookup(charset).name
        except LookupError:
            return "Unknown charset."
        if name not in _BODY_CHARSETS:
            return "Send forms as UTF-8."
    try:
        post = request.POST
    except (MultiPartParserError, UnicodeDecodeError):
        return "The form body could not be read."
    fields = [(k, v) for k, vs in post.lists() for v in vs]
    if _bad_text(k for k, _v in fields) or _bad_text(v for _k, v in fields if isinstance(v, str)):
        return "A form field contains a NUL byte."
    return None


class BadInputMiddleware:
    """400 for the requests ``request_problem`` refuses; first in the chain, so nothing else sees them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem = request_problem(request)
        if problem is not None:
            return HttpResponseBadRequest(f"Bad request: {problem}\n", content_type="text/plain; charset=utf-8")
        return self.get_response(request)
