"""A query parameter an operation does not take is refused by name (422), not ignored.

A script that sends ``?stauts=failed`` must not get every video back as if it had filtered them. The parameters each
operation takes are read from the API's own OpenAPI schema, so there is no second list to keep in step.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from generations.api.problems import problem

_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


@cache
def _taken() -> dict[tuple[str, str], frozenset[str]]:
    from generations.api.main import api  # the schema is built once the routes are all mounted

    paths = api.get_openapi_schema(path_prefix=reverse("api:api-root"))["paths"]
    return {
        (route, method.upper()): frozenset(p["name"] for p in operation.get("parameters", []) if p["in"] == "query")
        for route, operations in paths.items()
        for method, operation in operations.items()
    }


class UnknownQueryMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view: Any, args: Any, kwargs: Any) -> HttpResponse | None:
        match = request.resolver_match
        if match is None or "api" not in match.namespaces or not request.GET:
            return None
        taken = _taken().get(("/" + _CONVERTER.sub(r"{\1}", match.route), request.method or ""))
        unknown = sorted(set(request.GET) - taken) if taken is not None else []
        if not unknown:
            return None
        message = "This operation takes no such query parameter."
        return problem(422, "Unknown query parameters; see errors.", errors={name: [message] for name in unknown})
