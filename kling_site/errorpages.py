"""The site's own 404 and 500 pages under DEBUG too (``make run``), instead of Django's technical pages.

Django's debug 404 page lists every URL pattern and its 500 page shows settings and local variables: a developer
demoing the site, or a teammate on a shared dev box, should see what members see. The traceback of a 500 still
goes to the console log. ``SITE_ERROR_PAGES=0`` brings Django's debug pages back when you want them.
Outside DEBUG this middleware does nothing: Django already renders 404.html and 500.html there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views import defaults

log = logging.getLogger("django.request")


def _active() -> bool:
    return settings.DEBUG and getattr(settings, "SITE_ERROR_PAGES", True)


class SiteErrorPagesMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # A URL that matches no pattern never reaches a view (or process_exception): Django answers it with
        # its technical 404 under DEBUG. No resolver match means exactly that case.
        if response.status_code == 404 and getattr(request, "resolver_match", None) is None and _active():
            return defaults.page_not_found(request, Http404())
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not _active():
            return None
        if isinstance(exception, Http404):
            return defaults.page_not_found(request, exception)
        if isinstance(exception, Exception) and not _handled_by_django(exception):
            log.error("Internal Server Error: %s", request.path, exc_info=exception)
            return defaults.server_error(request)
        return None


def _handled_by_django(exception: Exception) -> bool:
    """400 and 403 pages are the same with DEBUG on or off; leave them to Django."""
    from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
    from django.http.multipartparser import MultiPartParserError

    return isinstance(exception, BadRequest | PermissionDenied | SuspiciousOperation | MultiPartParserError)
