"""Settings → API tokens: a member makes personal tokens for scripts, sees each new one once, lists and revokes them.

The rules live in generations/api/tokens.py; these views only show its answers. Tokens are personal: another
member's token id is a 404, for staff too (staff see tokens in the admin).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from generations.api.tokens import TokenError, token_create, token_revoke, token_state, tokens_of
from generations.forms_api import ApiTokenForm
from generations.models_api import ApiToken
from generations.views import shown_once

SHOWN = "api-token"
EXAMPLE_PATH = "/api/v1/balance"  # the call the page shows as a first try (docs: README, "API tokens")


def _own_token(request: HttpRequest, token_id: int) -> ApiToken:
    return get_object_or_404(ApiToken, pk=token_id, user=request.user)


def _page(request: HttpRequest, form: ApiTokenForm, status: int = 200) -> HttpResponse:
    tokens = tokens_of(request.user)
    for token in tokens:
        token.state = token_state(token)
    return render(request, "generations/api_tokens.html", {"form": form, "tokens": tokens}, status=status)


@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    """GET: the member's tokens and the form for a new one. POST: a new token, shown once on the next page."""
    form = ApiTokenForm(request.POST if request.method == "POST" else None)
    if not form.is_bound:
        return _page(request, form)
    if form.is_valid():
        try:
            token, raw = token_create(user=request.user, **form.service_kwargs())
        except TokenError as exc:
            form.add_token_error(exc)
        else:
            shown_once.keep(request, SHOWN, token.pk, raw)
            return redirect("api_token_created", token_id=token.pk)
    return _page(request, form, status=400)


@require_safe
def api_token_created(request: HttpRequest, token_id: int) -> HttpResponse:
    """The new token, shown this once; a reload says it was shown (the site keeps only its SHA-256)."""
    token = _own_token(request, token_id)
    raw = shown_once.take(request, SHOWN, token.pk)
    example = f'curl -H "Authorization: Bearer {raw}" {shown_once.site_url(request, EXAMPLE_PATH)}'
    ctx = {"token": token, "raw": raw, "example": example if raw else ""}
    return shown_once.not_stored(render(request, "generations/api_token_created.html", ctx))


@require_http_methods(["GET", "POST"])
def api_token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    """GET: are you sure? POST: the token stops working at once."""
    token = _own_token(request, token_id)
    state = token_state(token)
    if request.method == "GET":
        return render(request, "generations/api_token_revoke.html", {"token": token, "state": state})
    if state == "revoked":
        messages.info(request, f"The token “{token.name}” was already revoked.")
    else:
        token_revoke(token=token)
        messages.success(request, f"Revoked the token “{token.name}”: it no longer works.")
    return redirect("api_tokens")
