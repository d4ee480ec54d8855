"""Under /api/, every error is problem+json: also the ones Django answers before (or instead of) the API's views.

The bad-input guard's 400s, CSRF's 403 for a path no operation matched, a 404 for a path Django's URL patterns cannot
match (a newline in it), a body too large to read: each has its own page for browsers. A script asked for JSON, so
this middleware, outermost, rewrites those answers (same status, same headers that matter, the text as detail).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from generations.api.problems import MEDIA_TYPE, problem

_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate", "Content-Range")


class ApiProblemsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.prefix: str | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or response.streaming:
            return response
        self.prefix = self.prefix or reverse("api:api-root")
        content_type = response.get("Content-Type", "").split(";")[0].strip()
        if not request.path_info.startswith(self.prefix) or content_type in (MEDIA_TYPE, "application/json"):
            return response
        detail = response.content.decode(errors="replace").strip() if content_type == "text/plain" else ""
        answer = problem(response.status_code, detail.removeprefix("Bad request: "))
        for name in _KEPT_HEADERS:
            if name in response:
                answer[name] = response[name]
        return answer
