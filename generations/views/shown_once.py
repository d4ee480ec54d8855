"""A secret shown on one page view only (a new share link, a new API token), and the site's address to show it with.

Post/Redirect/Get: the POST that makes the secret keeps it in the server-side session and redirects; the page it
redirects to takes it (so it is gone from the session) and shows it. A reload of that page, or the back button,
finds nothing: the site keeps only the secret's hash.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse


def _key(kind: str, key: object) -> str:
    return f"{kind}-shown-{key}"


def keep(request: HttpRequest, kind: str, key: object, secret: str) -> None:
    """Hold ``secret`` for the one page view that shows it (``kind`` and ``key`` name it, e.g. "share", link.pk)."""
    request.session[_key(kind, key)] = secret


def take(request: HttpRequest, kind: str, key: object) -> str:
    """The secret kept for this page, once; "" on any later view."""
    return request.session.pop(_key(kind, key), "") or ""


def not_stored(response: HttpResponse) -> HttpResponse:
    """The page that shows a secret: no cache, no back-button copy."""
    response["Cache-Control"] = "no-store"
    return response


def site_url(request: HttpRequest, path: str) -> str:
    """``path`` on the site's public address (PUBLIC_BASE_URL), else on the address this request came to."""
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return base + path if base else request.build_absolute_uri(path)
