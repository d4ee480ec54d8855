"""The API: one NinjaAPI at /api/, version 1 under /api/v1/, its OpenAPI schema at /api/schema/ and docs at /api/docs/.

Every operation needs a token (generations/api/auth.py) and counts against its rate limit; every error is a
problem+json (generations/api/problems.py), and the schema says so, so the fuzzer can hold us to it.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponseRedirect, JsonResponse
from django.urls import URLPattern, URLResolver, path
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI, Swagger

from generations.api import problems, routes_account, routes_batches, routes_generations, routes_webhooks
from generations.api.auth import TokenAuth, TokenRateThrottle

# Errors any operation can answer (an operation adds its own, such as 402 or 409, in its `response`).
COMMON_ERRORS = {
    400: "Bad request (a missing or malformed header, an unreadable body)",
    401: "No token, or a token that is unknown, expired or revoked",
    403: "The token cannot do this (a Read token changing something)",
    404: "No such thing, or not one you may see",
    422: "Invalid values: `errors` holds a message for each field",
    429: "Too many requests for this token: wait Retry-After seconds",
}
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


class Api(NinjaAPI):
    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        """Ninja's schema, plus what it cannot infer: errors as problem+json on every operation."""
        schema = super().get_openapi_schema(*args, **kwargs)
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = problems.ProblemSchema
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                # Ninja keys responses by int, openapi_extra by str: one key per status, or JSON has it twice.
                responses = {str(code): value for code, value in operation.get("responses", {}).items()}
                operation["responses"] = responses
                for code, text in COMMON_ERRORS.items():
                    responses.setdefault(str(code), {"description": text})
                for code, response in responses.items():
                    if int(code) >= 400 and "application/json" in response.get("content", {"application/json": 1}):
                        response["content"] = {problems.MEDIA_TYPE: {"schema": PROBLEM_REF}}
                        response.setdefault("description", "A problem")
        return schema


api = Api(
    title="Kling Studio API",
    version="1",
    description="Make videos from scripts. Send `Authorization: Bearer <token>` (Settings → API tokens); "
    "create requests need an `Idempotency-Key` header. Errors are `application/problem+json`.",
    auth=TokenAuth(),
    throttle=[TokenRateThrottle()],
    urls_namespace="api",
    openapi_url="schema/",
    docs_url="docs/",
    docs=Swagger(settings={"persistAuthorization": False, "tryItOutEnabled": False}),
)
problems.install(api, payload_names=frozenset({"payload", "filters"}))
for module in (routes_account, routes_generations, routes_batches, routes_webhooks):
    api.add_router("v1/", module.router)


@csrf_exempt  # a POST to a path no operation has is a 404, not the CSRF page
def _not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    return problems.problem(404, "No such API endpoint; see /api/docs/.")


def _public(patterns: list[Any]) -> list[Any]:
    """The API authenticates each request by its token, not by the session: exempt it from LoginRequiredMiddleware."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            _public(entry.url_patterns)
        elif isinstance(entry, URLPattern):
            entry.callback.login_required = False
    return patterns


def _root(request: HttpRequest) -> HttpResponseRedirect:
    return HttpResponseRedirect("docs/")


_not_found.login_required = _root.login_required = False  # type: ignore[attr-defined]
operations = [p for p in api.urls[0] if getattr(p, "name", "") != "api-root"]  # ours: to the docs
urlpatterns = [*_public(operations), path("", _root, name="api-root"), path("<path:rest>", _not_found)]
