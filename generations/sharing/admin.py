"""Share links in the admin: read-only, with one action, Revoke, that calls the service (and is audited).

Nothing about a link is edited by hand: its token is not stored, and its video, expiry and counts are facts.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator

from generations import audit
from generations.models import ShareLink
from generations.sharing.services import ShareRefused, share_link_revoke, share_link_state

STATE_LABELS = {"active": "Active", "expired": "Expired", "revoked": "Revoked", "paused": "Paused (video withheld)"}


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(k, v) for k, v in STATE_LABELS.items() if k != "paused"]  # "active" lists paused links too

    def queryset(self, request: HttpRequest, queryset: QuerySet[ShareLink]) -> QuerySet[ShareLink]:
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True, expires_at__gt=now)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset  # no filter, or a value no lookup offers


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    list_display = (
        "__str__", "video", "created_by", "created_at", "expires_at", "state", "view_count", "last_viewed_at",
    )  # fmt: skip
    list_filter = (StateFilter, "show_names", "created_at")
    list_select_related = ("generation", "created_by")
    search_fields = ("label", "=generation__id", "created_by__username")
    show_full_result_count = False
    actions = ["revoke"]
    fields = (
        "video", "label", "created_by", "show_names", "created_at", "expires_at", "revoked_at", "view_count",
        "last_viewed_at",
    )  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a link is made on its video's page, where its token can be shown to its maker once

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the row keeps who shared what, and for how long

    @admin.display(description="Video")
    def video(self, obj: ShareLink) -> str:
        url = reverse("admin:generations_generation_change", args=[obj.generation_id])
        return format_html('<a href="{}">{}</a>', url, Truncator(obj.generation.title).chars(50))

    @admin.display(description="State")
    def state(self, obj: ShareLink) -> str:
        return STATE_LABELS[share_link_state(obj)]

    @admin.action(description="Revoke the selected links")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ShareLink]) -> None:
        done = 0
        for link in queryset.filter(revoked_at__isnull=True):
            try:
                share_link_revoke(link=link)
            except ShareRefused:
                continue  # revoked meanwhile by its maker: already what was asked
            audit.record(link, "revoked share link", actor=request.user)
            done += 1
        if not done:
            self.message_user(request, "The selected links were already revoked.", messages.WARNING)
            return
        word = "link" if done == 1 else "links"
        self.message_user(request, f"Revoked {done} {word}: they no longer open.", messages.SUCCESS)
