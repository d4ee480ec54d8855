"""The member's own settings: the email address notifications go to, and whether to send them."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

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
    return render(request, "generations/settings.html", {"form": form})
