"""The member's own settings: the email address notifications go to, and whether to send them; a way to API tokens
(generations/views/api_tokens.py)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from generations.api.tokens import token_state, tokens_of
from generations.forms import MemberSettingsForm
from generations.models import MemberSettings


@require_http_methods(["GET", "POST"])
def member_settings(request: HttpRequest) -> HttpResponse:
    current = MemberSettings.of(request.user)
    form = MemberSettingsForm(request.POST or None, instance=current, user=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Settings saved.")
        return redirect("member_settings")
    active_tokens = sum(token_state(t) == "active" for t in tokens_of(request.user))
    return render(request, "generations/settings.html", {"form": form, "active_tokens": active_tokens})
