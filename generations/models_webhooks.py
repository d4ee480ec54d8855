"""Outgoing webhooks: a member's endpoints, and one delivery row per (endpoint, video, event) — the outbox.

A delivery row is written in the same transaction as the video's status change, so an event is never lost to a
crash; jobs then POST it (generations.webhooks.services) until the endpoint answers 2xx or the retries run out.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from generations.crypto import decrypt_secrets


class Webhook(models.Model):
    class Event(models.TextChoices):
        READY = "generation.ready", "Video ready"
        FAILED = "generation.failed", "Video failed"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks")
    # The API token that registered it (informational: revoking the token does not stop the webhook).
    token = models.ForeignKey(
        "generations.ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="webhooks"
    )
    url = models.CharField(max_length=2000)
    # The signing secret, Fernet-encrypted (generations.crypto); shown to the member once, at registration.
    secret_encrypted = models.TextField(editable=False)
    events = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Webhook {self.pk} of {self.owner}"  # never the URL: its path or query may carry a token

    def get_secret(self) -> str:
        return decrypt_secrets(self.secret_encrypted)["secret"]


class WebhookDelivery(models.Model):
    """One event for one endpoint. ``attempts`` counts POSTs claimed; ``next_attempt_at`` is empty once it is
    delivered or given up. ``error`` is one short sentence, never a secret."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    generation = models.ForeignKey("generations.Generation", on_delete=models.CASCADE, related_name="+")
    event = models.CharField(max_length=32, choices=Webhook.Event.choices)
    payload = models.JSONField()
    attempts = models.PositiveSmallIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A job holds an attempt until then; two jobs never POST the same attempt at once.
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    gave_up_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["webhook", "generation", "event"], name="webhook_event_once"),
        ]
        indexes = [models.Index(fields=["next_attempt_at"], name="webhook_delivery_due")]

    def __str__(self) -> str:
        return f"{self.event} {self.generation_id} → webhook {self.webhook_id}"

    @property
    def state(self) -> str:
        if self.delivered_at:
            return "delivered"
        if self.gave_up_at:
            return "gave up"
        return "retrying" if self.attempts else "pending"
