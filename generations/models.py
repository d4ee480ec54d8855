"""Generations, provider credentials, prices and the credits ledger.

The database is the record of truth: Redis only schedules work. Every state change is a compare-and-set on
``Generation.status`` (see services/), and credits move only together with a ledger row.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from generations import catalog
from generations.crypto import decrypt_secrets, encrypt_secrets


class ProviderCredential(models.Model):
    """An account at one provider. Secrets are Fernet-encrypted; the admin never shows them back."""

    provider = models.CharField(max_length=32, choices=[(k, p.label) for k, p in catalog.PROVIDERS.items()])
    label = models.CharField(max_length=100, unique=True)
    # Empty means the provider's public URL; the demo points this at the local simulator.
    base_url = models.URLField(blank=True)
    secrets_encrypted = models.TextField(editable=False, default="")
    # Last four characters of the first secret, so admins can tell keys apart without seeing them.
    secret_hint = models.CharField(max_length=8, blank=True, editable=False)
    is_active = models.BooleanField(default=True)
    # Lower numbers are tried first when several active credentials offer the same model.
    priority = models.IntegerField(default=100)
    # At most this many of the site's videos at the provider at once (empty: no limit). Waiting videos are
    # sent round-robin across members as places free up (services.line).
    max_concurrent = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],  # 0 would keep paid videos waiting for ever: disable the account instead
        help_text="Videos this account may make at once. Empty: no limit.",
    )
    # The account answered "too many requests": nothing more is sent to it before then (services.line).
    busy_until = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["priority", "label"]

    def __str__(self) -> str:
        return self.label

    @property
    def provider_info(self) -> catalog.ProviderInfo:
        return catalog.PROVIDERS[self.provider]

    @property
    def effective_base_url(self) -> str:
        return (self.base_url or self.provider_info.default_base_url).rstrip("/")

    def set_secrets(self, values: dict[str, str]) -> None:
        self.secrets_encrypted = encrypt_secrets(values)
        first = next(iter(values.values()), "")
        self.secret_hint = first[-4:] if len(first) >= 12 else ""

    def get_secrets(self) -> dict[str, str]:
        return decrypt_secrets(self.secrets_encrypted) if self.secrets_encrypted else {}

    def models(self) -> list[catalog.ModelSpec]:
        return catalog.models_for(self.provider)


class Price(models.Model):
    """Credits for one (model, mode, duration, sound); the cost is frozen on a generation when it is created."""

    model = models.CharField(
        max_length=120, choices=[(k, f"{m.provider_info.label} · {m.label}") for k, m in catalog.CATALOG.items()]
    )
    mode = models.CharField(max_length=8, choices=[(m, catalog.MODE_LABELS[m]) for m in catalog.MODES])
    duration = models.PositiveSmallIntegerField()
    sound = models.BooleanField(default=False)
    credits = models.PositiveIntegerField()

    class Meta:
        ordering = ["model", "mode", "duration", "sound"]
        constraints = [
            models.UniqueConstraint(fields=["model", "mode", "duration", "sound"], name="price_unique_combination"),
        ]

    def __str__(self) -> str:
        return f"{self.model} {self.mode} {self.duration}s{' sound' if self.sound else ''}: {self.credits}"


class CreditAccount(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="credit_account")
    # Cached sum of the ledger; changed only under a row lock together with a CreditEntry.
    balance = models.IntegerField(default=0)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(balance__gte=0), name="credits_balance_non_negative")]

    def __str__(self) -> str:
        return f"{self.user} · {self.balance} credits"

    @classmethod
    def balance_of(cls, user: Any) -> int:
        return cls.objects.filter(user=user).values_list("balance", flat=True).first() or 0


class CreditEntry(models.Model):
    """One movement of credits. Append-only: mistakes are corrected by an adjustment, never an edit."""

    class Kind(models.TextChoices):
        GRANT = "grant", "Grant"
        CHARGE = "charge", "Charge"
        REFUND = "refund", "Refund"
        ADJUSTMENT = "adjustment", "Adjustment"

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.IntegerField()  # signed: charges are negative
    balance_after = models.IntegerField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=255)
    generation = models.ForeignKey(
        "Generation", null=True, blank=True, on_delete=models.PROTECT, related_name="credit_entries"
    )
    # The batch whose admission charged this row (each video of a batch has its own charge row).
    batch = models.ForeignKey(
        "generations.Batch", null=True, blank=True, on_delete=models.PROTECT, related_name="credit_entries"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # The hidden token of the admin form that asked for this movement: a double click grants once.
    request_token = models.UUIDField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name_plural = "credit entries"
        ordering = ["-created_at", "-id"]
        constraints = [
            # A generation is charged once and refunded at most once, whatever retries or races happen.
            models.UniqueConstraint(
                fields=["generation", "kind"],
                condition=Q(kind__in=["charge", "refund"]),
                name="credits_charge_and_refund_once_per_generation",
            ),
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="credits_entry_balance_non_negative"),
            models.UniqueConstraint(fields=["account", "request_token"], name="credits_one_entry_per_form_token"),
        ]
        indexes = [
            # The Credits page: one member's entries, newest first (and a member's usage report).
            models.Index(fields=["account", "-created_at"], name="credit_entry_account_recent"),
            # Staff usage reports (generations/reports/queries.entries): every member's entries in a date range.
            models.Index(fields=["created_at"], name="credit_entry_created"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount:+d} → {self.balance_after}"


class GenerationQuerySet(models.QuerySet["Generation"]):
    def alive(self) -> GenerationQuerySet:
        return self.filter(deleted_at__isnull=True)

    def visible_to(self, user: Any) -> GenerationQuerySet:
        """What a member may open: the team's shared videos, plus everything of their own. Staff see all."""
        qs = self.alive()
        if user.is_staff:
            return qs
        return qs.filter(Q(owner=user) | Q(visibility=Generation.Visibility.TEAM, status=Generation.Status.READY))

    def for_gallery(self, user: Any) -> GenerationQuerySet:
        return (
            self.alive()
            .filter(status=Generation.Status.READY)
            .filter(Q(visibility=Generation.Visibility.TEAM) | Q(owner=user))
            .select_related("owner")
        )

    def in_flight(self) -> GenerationQuerySet:
        return self.filter(status__in=Generation.IN_FLIGHT)

    def matching(self, query: str) -> GenerationQuerySet:
        """Videos whose prompts hold every word of the query, in any order and any case (shot prompts included).

        Each word is a substring test on the casefolded ``search_text``; on PostgreSQL a trigram GIN index on it
        (migration 0006, for the gallery's rows) answers them without scanning the table.
        """
        qs = self
        for word in query.casefold().split()[:SEARCH_MAX_WORDS]:
            qs = qs.filter(search_text__contains=word)
        return qs


SEARCH_MAX_WORDS = 10


def search_text_of(prompt: str, shots: Any) -> str:
    """The text search looks in: the prompt and every shot's prompt, casefolded (so "LIGHTHOUSE" finds "lighthouse")."""
    parts = [prompt or ""]
    parts += [str(s.get("prompt", "")) for s in shots or [] if isinstance(s, dict)]
    return "\n".join(p for p in parts if p).casefold()


def _video_path(instance: Generation, filename: str) -> str:
    return f"videos/{instance.pk}/{filename}"


class Generation(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SUBMITTING = "submitting", "Submitting"
        SUBMITTED = "submitted", "Submitted"
        RUNNING = "running", "Generating"
        DOWNLOADING = "downloading", "Downloading"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"
        NEEDS_ATTENTION = "needs_attention", "Needs attention"

    IN_FLIGHT = {Status.QUEUED, Status.SUBMITTING, Status.SUBMITTED, Status.RUNNING, Status.DOWNLOADING}
    FINISHED = {Status.READY, Status.FAILED, Status.CANCELED}
    POLLING = {Status.SUBMITTED, Status.RUNNING}

    class Visibility(models.TextChoices):
        TEAM = "team", "Team"
        PRIVATE = "private", "Private"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="generations")
    credential = models.ForeignKey(ProviderCredential, on_delete=models.PROTECT, related_name="generations")
    provider = models.CharField(max_length=32)  # copied from the credential: the protocol spoken
    model = models.CharField(max_length=120)  # catalog key, e.g. "mulerun:kling-v2.6"

    # What the member chose (validated against the catalog before the row exists).
    prompt = models.TextField(blank=True)
    negative_prompt = models.TextField(blank=True)
    mode = models.CharField(max_length=8)
    aspect_ratio = models.CharField(max_length=8)
    duration = models.PositiveSmallIntegerField()
    sound = models.BooleanField(default=False)
    cfg_scale = models.FloatField(null=True, blank=True)
    image_url = models.URLField(max_length=2000, blank=True)
    tail_image_url = models.URLField(max_length=2000, blank=True)
    multi_shot = models.BooleanField(default=False)
    shot_type = models.CharField(max_length=16, blank=True)
    shots = models.JSONField(default=list, blank=True)
    camera_control = models.JSONField(null=True, blank=True)
    watermark = models.BooleanField(default=False)
    # Every prompt of the video (main and shot prompts), casefolded, written by save(): what gallery search reads.
    search_text = models.TextField(blank=True, default="", editable=False)

    cost = models.PositiveIntegerField()  # credits, frozen at creation
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    visibility = models.CharField(max_length=8, choices=Visibility.choices, default=Visibility.TEAM)
    # The hidden token of the form that created this row: a double-click cannot create two.
    form_token = models.UUIDField(null=True, blank=True)

    # Our id at the provider (Kling's external_task_id) and the secret in our callback URL.
    external_id = models.CharField(max_length=64, unique=True, default="", editable=False)
    callback_secret = models.CharField(max_length=64, default="", editable=False, db_index=True)
    provider_task_id = models.CharField(max_length=200, blank=True, db_index=True)
    provider_status = models.CharField(max_length=64, blank=True)  # the provider's own last status word
    provider_response = models.JSONField(default=dict, blank=True)  # its last raw answer, for admins
    error = models.TextField(blank=True)  # one sentence a member can read
    error_detail = models.TextField(blank=True)  # the provider's full error body, for admins
    # The provider's result URL: fetched by workers, never shown on a page.
    video_url = models.URLField(max_length=2000, blank=True)

    submit_attempts = models.PositiveIntegerField(default=0)
    poll_count = models.PositiveIntegerField(default=0)
    poll_errors = models.PositiveIntegerField(default=0)
    fetch_attempts = models.PositiveIntegerField(default=0)
    callbacks_received = models.PositiveIntegerField(default=0)
    # Which provider account served the video and why: chosen, refused, moved (services.routing).
    route_log = models.JSONField(default=list, blank=True, editable=False)
    account_chosen_by_member = models.BooleanField(default=False, editable=False)
    # "Continue this video": the clip whose last frame this one starts from.
    continues = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="continued_by", editable=False
    )
    # The batch (a list of prompts, or variants of one form) it was admitted with, and its row number there.
    batch = models.ForeignKey(
        "generations.Batch", null=True, blank=True, on_delete=models.PROTECT, related_name="generations", editable=False
    )
    batch_row = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    # Set once the owner has been told by email that the video is ready or failed (services.notify).
    notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When the next step should run (submit retry, poll or fetch retry).
    next_run_at = models.DateTimeField(null=True, blank=True)
    # A job working on this row holds it until then (heartbeats extend it); expired = the job died.
    lease_until = models.DateTimeField(null=True, blank=True)
    # The fencing token of the claim that holds the lease: every write that ends a step checks it, so a step
    # that lost its lease (and was claimed again) changes nothing.
    lease_token = models.UUIDField(null=True, blank=True, editable=False)
    deadline_at = models.DateTimeField()
    # When the row left the waiting line for its provider (services.line); empty: still waiting its turn.
    admitted_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    running_at = models.DateTimeField(null=True, blank=True)
    downloading_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)  # soft delete: the ledger keeps its reference

    video = models.FileField(upload_to=_video_path, max_length=300, blank=True)
    poster = models.FileField(upload_to=_video_path, max_length=300, blank=True)
    # The poster at card size (WebP and JPEG, media/card_media.py names them after the poster) is stored beside it.
    # False for videos fetched before they existed: their cards show the full poster.
    card_posters = models.BooleanField(default=False)
    # A few seconds at 360p that a card plays on hover; empty when none could be made (the card shows its poster).
    preview = models.FileField(upload_to=_video_path, max_length=300, blank=True)
    file_size = models.BigIntegerField(null=True, blank=True)
    video_duration = models.FloatField(null=True, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    has_audio = models.BooleanField(default=False)
    checksum = models.CharField(max_length=64, blank=True)  # sha256 of the stored video

    objects = GenerationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "form_token"], name="generation_one_per_form_token"),
            models.CheckConstraint(
                condition=~Q(status="ready") | ~Q(video=""), name="generation_ready_has_video"
            ),
        ]
        indexes = [
            # Gallery: ready, not deleted, newest first.
            models.Index(
                fields=["-created_at"],
                condition=Q(status="ready", deleted_at__isnull=True),
                name="generation_gallery",
            ),
            # My videos: one owner's rows, newest first.
            models.Index(fields=["owner", "-created_at"], name="generation_owner_recent"),
            # Recovery sweep: in-flight rows whose next step is overdue.
            models.Index(
                fields=["next_run_at"],
                condition=Q(status__in=["queued", "submitting", "submitted", "running", "downloading"]),
                name="generation_in_flight_due",
            ),
            # The waiting line (services.line): queued rows not yet sent, oldest first.
            models.Index(
                fields=["created_at"], condition=Q(status="queued", admitted_at__isnull=True), name="generation_line"
            ),
            # Estimates: recent finished generations of one model and mode.
            models.Index(fields=["model", "mode", "-finished_at"], name="generation_model_finished"),
            # Poll scheduling (services.timing.expected_seconds): the newest ready videos of one model, mode and
            # duration.
            models.Index(
                fields=["model", "mode", "duration", "-finished_at"],
                condition=Q(status="ready"),
                name="generation_ready_kind_recent",
            ),
            # Staff usage reports (generations/reports/queries.generations): everyone's videos in a date range.
            models.Index(fields=["created_at"], name="generation_created"),
        ]

    def __str__(self) -> str:
        return f"{self.title[:60]} ({self.get_status_display()})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.external_id:
            self.external_id = f"ks-{self.pk.hex}"
        if not self.callback_secret:
            self.callback_secret = secrets.token_urlsafe(32)
        self.search_text = search_text_of(self.prompt, self.shots)
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("generation", args=[self.pk])

    @property
    def spec(self) -> catalog.ModelSpec:
        return catalog.CATALOG[self.model]

    @property
    def title(self) -> str:
        # From the two fields it needs, not self.params: the listings read only a card's columns (CARD_FIELDS).
        return catalog.title_of(self.prompt, [shot["prompt"] for shot in self.shots]) or "Untitled"

    @property
    def params(self) -> catalog.GenerationParams:
        return catalog.GenerationParams(
            prompt=self.prompt,
            negative_prompt=self.negative_prompt,
            mode=self.mode,
            aspect_ratio=self.aspect_ratio,
            duration=self.duration,
            sound=self.sound,
            cfg_scale=self.cfg_scale,
            image_url=self.image_url,
            tail_image_url=self.tail_image_url,
            multi_shot=self.multi_shot,
            shot_type=self.shot_type,
            shots=tuple(catalog.Shot(s["prompt"], int(s["duration"])) for s in self.shots),
            camera_control=self.camera_control,
            watermark=self.watermark,
        )

    @property
    def is_in_flight(self) -> bool:
        return self.status in self.IN_FLIGHT

    @property
    def was_refunded(self) -> bool:
        return self.credit_entries.filter(kind=CreditEntry.Kind.REFUND).exists()


class MemberSettings(models.Model):
    """A member's own preferences, edited on their Settings page."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="member_settings")
    email_when_finished = models.BooleanField(
        "Email me when a video is ready or fails",
        default=False,
        help_text="Sent to the address on your account.",
    )

    class Meta:
        verbose_name = verbose_name_plural = "member settings"

    def __str__(self) -> str:
        return f"settings of {self.user}"

    @classmethod
    def of(cls, user: Any) -> MemberSettings:
        return cls.objects.get_or_create(user=user)[0]


class Favorite(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="favorites")
    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="favorites")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "generation"], name="favorite_once")]

    def __str__(self) -> str:
        return f"{self.user} ★ {self.generation_id}"


from generations.models_api import ApiToken, IdempotencyKey  # noqa: E402, F401
from generations.models_studio import Batch, PromptTemplate, ShareLink  # noqa: E402, F401
from generations.models_team import AllowanceGrant, GroupPolicy, MemberPolicy  # noqa: E402, F401
from generations.models_webhooks import Webhook, WebhookDelivery  # noqa: E402, F401
