"""Studio work: batches of videos admitted together, team prompt templates, and share links for outsiders."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone


class Batch(models.Model):
    """Videos admitted together (a list of prompts, or 2 to 4 variants of one form): all charged or none.

    Each video keeps its own charge row in the ledger; the row names the batch (CreditEntry.batch).
    """

    class Kind(models.TextChoices):
        LIST = "list", "Batch"
        VARIANTS = "variants", "Variants"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="batches")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.LIST)
    title = models.CharField(max_length=200, blank=True)
    total_cost = models.PositiveIntegerField(default=0)  # credits held when it was admitted
    # The hidden token of the form that made it: the same form sent twice makes one batch, charged once.
    form_token = models.UUIDField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "batches"
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["owner", "form_token"], name="batch_one_per_form_token")]

    def __str__(self) -> str:
        return self.title or f"{self.get_kind_display()} {str(self.pk)[:8]}"

    def get_absolute_url(self) -> str:
        return reverse("batch", args=[self.pk])


class PromptTemplate(models.Model):
    """A saved prompt with {placeholders} and default settings, the member's own or shared with the team."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="prompt_templates")
    name = models.CharField(max_length=100)
    text = models.TextField(help_text="The prompt; {name} marks a placeholder filled in when the template is used.")
    negative_prompt = models.TextField(blank=True)
    shared = models.BooleanField(default=False, help_text="Everyone in the team can use it.")
    # Default settings of the New video form: model, mode, duration, aspect_ratio, sound (all optional).
    defaults = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="prompt_template_name_once")]

    def __str__(self) -> str:
        return self.name


class ShareLink(models.Model):
    """A link that shows one ready video to people outside the team, without login, until it expires or is revoked.

    Only a hash of the token is stored: the link is shown once, when it is made.
    """

    generation = models.ForeignKey("generations.Generation", on_delete=models.CASCADE, related_name="share_links")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    label = models.CharField(max_length=100, blank=True, help_text="Who the link is for, e.g. “Acme review”.")
    show_names = models.BooleanField(default=False, help_text="Show who made the video on the shared page.")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    view_count = models.PositiveIntegerField(default=0)
    last_viewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["generation", "-created_at"], name="share_link_video"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(expires_at__gt=models.F("created_at")), name="share_link_expires_later"),
        ]

    def __str__(self) -> str:
        return self.label or f"link {self.pk}"
