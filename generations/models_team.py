"""The team's budget rules: allowances, spending caps and which models and modes a member may use.

A rule is read from the member's own policy, else from their groups' policies (the most generous value wins), else
from the site's defaults in settings (services.team resolves it). Empty means "no rule here, ask the next level".
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models


class _Policy(models.Model):
    monthly_allowance = models.PositiveIntegerField(
        null=True, blank=True, help_text="Credits granted on the 1st of each month. Empty: inherit."
    )
    expire_unused = models.BooleanField(
        null=True, blank=True, help_text="Take back what is left of last month's allowance. Empty: inherit."
    )
    daily_cap = models.PositiveIntegerField(null=True, blank=True, help_text="Credits a member may spend a day.")
    monthly_cap = models.PositiveIntegerField(null=True, blank=True, help_text="Credits a member may spend a month.")
    allowed_models = models.JSONField(
        default=list, blank=True, help_text='Model names a member may use, e.g. ["Kling 2.5 Turbo"]. Empty: all.'
    )
    allowed_modes = models.JSONField(default=list, blank=True, help_text='e.g. ["std"]. Empty: all modes.')
    max_in_flight = models.PositiveIntegerField(
        null=True, blank=True, help_text="Videos at the providers at once; the rest wait in line. 0: no limit."
    )

    class Meta:
        abstract = True


class GroupPolicy(_Policy):
    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="policy")

    class Meta:
        verbose_name = verbose_name_plural = "group budget rules"

    def __str__(self) -> str:
        return f"rules of {self.group}"


class MemberPolicy(_Policy):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="policy")

    class Meta:
        verbose_name = verbose_name_plural = "member budget rules"

    def __str__(self) -> str:
        return f"rules of {self.user}"


class AllowanceGrant(models.Model):
    """One month's allowance of one member: at most one row per (member, month), so a grant happens once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="allowances")
    period = models.CharField(max_length=7)  # "2026-12"
    amount = models.PositiveIntegerField()
    entry = models.OneToOneField("generations.CreditEntry", on_delete=models.PROTECT, related_name="+")
    expired_entry = models.OneToOneField(
        "generations.CreditEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    expired_at = models.DateTimeField(null=True, blank=True)  # the unused rest was handled (taken back or none)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "period"], name="allowance_once_per_period")]

    def __str__(self) -> str:
        return f"{self.user} {self.period}: {self.amount}"
