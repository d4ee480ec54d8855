"""Provider callbacks. The URL's per-generation secret authenticates; the body is only a hint to poll now.

The body is never read: whatever a callback claims (succeeded, a video URL), only our own poll of the provider
moves a generation on, so a forged or replayed callback can at most make us ask the provider one question
earlier. ``generation_poll_soon`` lets at most one such extra poll wait at a time, however many arrive.
"""

from __future__ import annotations

import hmac

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from generations.models import Generation
from generations.services.pipeline import generation_poll_soon

# Callback secrets are secrets.token_urlsafe(32): 43 characters. Anything shorter is not worth a query.
MIN_SECRET_LENGTH = 32


def _plain(text: str, status: int = 200) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain")


@csrf_exempt  # providers cannot send our CSRF token; the secret in the URL stands in for it
@login_not_required
@require_POST
def provider_hook(request: HttpRequest, provider: str, secret: str) -> HttpResponse:
    gen = None
    if len(secret) >= MIN_SECRET_LENGTH:
        found = Generation.objects.filter(provider=provider, callback_secret=secret)
        gen = found.only("pk", "status", "callback_secret").first()
    # compare_digest keeps the comparison itself from leaking how much of a guess was right
    if gen is None or not hmac.compare_digest(gen.callback_secret, secret):
        return _plain("unknown callback", 404)
    if gen.status not in Generation.IN_FLIGHT:
        # Finished (or handed to an admin): the secret is spent. A late or replayed callback changes nothing.
        return _plain("this generation no longer takes callbacks", 410)
    if gen.status in Generation.POLLING:
        generation_poll_soon(gen)
    return _plain("ok")
