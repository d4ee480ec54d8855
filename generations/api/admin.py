"""API tokens in the admin: who has which, when each was last used, and revoking one (a leaked token, a member who
left). Read-only otherwise: only the member ever sees a token, once; the admin shows its first characters."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from generations import audit
from generations.admin import _ReadOnlyAdmin as ReadOnly  # no add, change or delete: actions only
from generations.api.tokens import token_revoke, token_state
from generations.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnly):
    list_display = ("name", "user", "shown_as", "scope", "state", "created_at", "expires_at", "last_used_at")
    list_filter = ("scope", "created_at")
    list_select_related = ("user",)
    search_fields = ("user__username", "name", "prefix")
    show_full_result_count = False
    actions = ["revoke"]
    fields = ("name", "user", "shown_as", "scope", "state", "created_at", "expires_at", "last_used_at", "revoked_at")
    readonly_fields = fields

    @admin.display(description="Token")
    def shown_as(self, obj: ApiToken) -> str:
        return f"{obj.prefix}…"

    @admin.display(description="State")
    def state(self, obj: ApiToken) -> str:
        return token_state(obj).capitalize()

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        done = 0
        for token in queryset.filter(revoked_at__isnull=True):
            token_revoke(token=token)
            audit.record(token, "revoked API token", actor=request.user)
            done += 1
        word = "token" if done == 1 else "tokens"
        self.message_user(request, f"Revoked {done} {word}: they no longer open the API.", messages.SUCCESS)
