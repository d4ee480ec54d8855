"""The REST API's records: members' personal tokens, and the Idempotency-Key of each create request."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    """A member's personal API token. Only its SHA-256 is stored; the token itself is shown once.

    A token acts as its member (same permissions, credits, caps and privacy); ``scope`` limits it to reading.
    """

    class Scope(models.TextChoices):
        READ = "read", "Read"
        WRITE = "write", "Read and write"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=16, editable=False)  # the first characters, to tell tokens apart
    digest = models.CharField(max_length=64, unique=True, editable=False)  # sha256 hex of the whole token
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.READ)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def can_write(self) -> bool:
        return self.scope == self.Scope.WRITE


class IdempotencyKey(models.Model):
    """One create request's Idempotency-Key: the same key and body give back what it made, never a second charge.

    The row is claimed before anything is charged; ``request_hash`` tells a retry (same body) from a misuse
    (a different body under the same key, refused with 422).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    endpoint = models.CharField(max_length=32)
    request_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_once_per_member")]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.key[:40]}"
