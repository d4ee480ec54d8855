"""Webhooks in the admin: read-only. The signing secret is never shown (only its member saw it, once), and an
endpoint's URL is listed by its origin alone, since URLs often carry a token of their own."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.text import Truncator

from generations import audit
from generations.admin import _ReadOnlyAdmin as ReadOnlyAdmin  # imported at the end of generations.admin
from generations.models import Webhook, WebhookDelivery
from generations.webhooks.services import webhook_deactivate


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}/…"


@admin.register(Webhook)
class WebhookAdmin(ReadOnlyAdmin):
    list_display = ("pk", "owner", "destination", "events", "active", "token", "created_at")
    list_filter = ("active", "created_at")
    list_select_related = ("owner", "token")
    search_fields = ("owner__username",)
    show_full_result_count = False
    actions = ["turn_off"]
    fields = ("owner", "destination", "events", "active", "token", "created_at")
    readonly_fields = fields

    @admin.display(description="Destination")
    def destination(self, obj: Webhook) -> str:
        return origin(obj.url)

    @admin.action(description="Turn off the selected webhooks")
    def turn_off(self, request: HttpRequest, queryset: QuerySet[Webhook]) -> None:
        done = 0
        for hook in queryset:
            if webhook_deactivate(webhook=hook):
                audit.record(hook, "turned off webhook", actor=request.user)
                done += 1
        word = "webhook" if done == 1 else "webhooks"
        self.message_user(request, f"Turned off {done} {word}: nothing more is sent to them.", messages.SUCCESS)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("event", "video", "owner", "state", "attempts", "status_code", "last_attempt_at")
    list_filter = ("event", "created_at")
    list_select_related = ("generation", "webhook__owner")
    search_fields = ("=id", "=generation__id", "webhook__owner__username")
    show_full_result_count = False
    fields = (
        "id", "webhook", "generation", "event", "state", "attempts", "status_code", "error", "next_attempt_at",
        "last_attempt_at", "delivered_at", "gave_up_at", "created_at", "body",
    )  # fmt: skip
    readonly_fields = fields

    @admin.display(description="Video")
    def video(self, obj: WebhookDelivery) -> str:
        return Truncator(obj.generation.title).chars(40)

    @admin.display(description="Member")
    def owner(self, obj: WebhookDelivery) -> str:
        return str(obj.webhook.owner)

    @admin.display(description="State")
    def state(self, obj: WebhookDelivery) -> str:
        return obj.state

    @admin.display(description="Payload")
    def body(self, obj: WebhookDelivery) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2))
