"""Every API error as RFC 9457 problem details (``application/problem+json``), with field messages for bad input."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError

from generations import catalog
from generations.services.credits import InsufficientCredits
from generations.services.manage import ActionRefused

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"
# The request's parts, as Ninja names them in a validation error's location; the rest is the field's path.
_PARTS = {"body", "query", "path", "header", "form", "file", "cookie"}


class Problem(Exception):
    """Raised by an endpoint: answered as a problem with this status, sentence and field messages."""

    def __init__(self, status: int, detail: str, errors: Mapping[str, Any] | None = None):
        super().__init__(detail)
        self.status, self.detail, self.errors = status, detail, errors


def problem(status: int, detail: str = "", *, errors: Mapping[str, Any] | None = None) -> JsonResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = {k: [str(m) for m in (v if isinstance(v, list | tuple) else [v])] for k, v in errors.items()}
    return JsonResponse(body, status=status, content_type=MEDIA_TYPE)


def field_of(loc: Iterable[Any], payload_names: frozenset[str]) -> str:
    """ "body.payload.shots.0.prompt" as a member reads it: "shots.0.prompt"."""
    parts = [str(p) for p in loc]
    while parts and (parts[0] in _PARTS or parts[0] in payload_names):
        parts.pop(0)
    return ".".join(parts) or "body"


def install(api: NinjaAPI, payload_names: frozenset[str]) -> None:
    """Answer every error the API can meet as a problem; a 500 is logged with its traceback and says nothing."""

    def validation(request: HttpRequest, exc: ValidationError) -> JsonResponse:
        errors: dict[str, list[str]] = {}
        for err in exc.errors:
            message = str(err.get("msg", "Invalid value.")).removeprefix("Value error, ")
            errors.setdefault(field_of(err.get("loc", ()), payload_names), []).append(message)
        return problem(422, "Some values are not valid; see errors.", errors=errors)

    def unauthenticated(request: HttpRequest, exc: Exception) -> JsonResponse:
        response = problem(401, "Send a valid API token: Authorization: Bearer <token> (Settings → API tokens).")
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response

    def throttled(request: HttpRequest, exc: Throttled) -> JsonResponse:
        return problem(429, "Too many requests for this token; wait for Retry-After seconds.")

    handlers: dict[type[Exception], Any] = {
        ValidationError: validation,
        AuthenticationError: unauthenticated,
        Throttled: throttled,
        HttpError: lambda r, e: problem(e.status_code, str(e)),
        Http404: lambda r, e: problem(404, str(e) or "Not found."),
        Problem: lambda r, e: problem(e.status, e.detail, errors=e.errors),
        catalog.CatalogError: lambda r, e: problem(422, "This request is refused; see errors.", errors=e.errors),
        InsufficientCredits: lambda r, e: problem(402, str(e)),
        ActionRefused: lambda r, e: problem(409, str(e)),
        # Django refuses these while reading the body, inside the view: a client's mistake, not a 500.
        RequestDataTooBig: lambda r, e: problem(413, "The request body is too large."),
        SuspiciousOperation: lambda r, e: problem(400, "The request could not be read."),
        MultiPartParserError: lambda r, e: problem(400, "The multipart body could not be read."),
    }
    for kind, handler in handlers.items():
        api.add_exception_handler(kind, handler)

    def unexpected(request: HttpRequest, exc: Exception) -> JsonResponse:
        log.exception("API error on %s %s", request.method, request.path)
        return problem(500, "Something went wrong on our side; nothing was charged by this error.")

    api.add_exception_handler(Exception, unexpected)


ProblemSchema: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "object",
            "description": "Messages by field, for a request refused as invalid",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
}
