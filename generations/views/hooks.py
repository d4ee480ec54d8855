"""Provider callbacks. The URL's per-generation secret authenticates; the body is only a hint to poll now."""

from __future__ import annotations

import hmac

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from generations.models import Generation
from generations.services.pipeline import generation_poll_soon


@csrf_exempt  # providers cannot send our CSRF token; the secret in the URL stands in for it
@login_not_required
@require_POST
def provider_hook(request: HttpRequest, provider: str, secret: str) -> HttpResponse:
    gen = Generation.objects.filter(provider=provider, callback_secret=secret).first() if len(secret) >= 32 else None
    # compare_digest keeps the comparison itself from leaking how much of a guess was right
    if gen is None or not hmac.compare_digest(gen.callback_secret, secret):
        return HttpResponse("unknown callback", status=404, content_type="text/plain")
    if gen.status in Generation.POLLING:
        generation_poll_soon(gen)
    return HttpResponse("ok", content_type="text/plain")
