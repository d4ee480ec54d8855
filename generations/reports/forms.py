"""The report's filters. Every value is checked here: a bad one is a field error (the page answers 400 with the
form), never an exception further down. Members get no member field: they always see their own figures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from generations import catalog
from generations.models import ProviderCredential
from generations.reports import dates
from generations.reports.queries import GRANULARITIES, Filters
from kling_site.badinput import BoundedDateField

GRANULARITY_LABELS = {"day": "Days", "week": "Weeks", "month": "Months"}


class _MemberChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return obj.get_full_name() or obj.get_username()


class _AccountChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return obj.label if obj.is_active else f"{obj.label} (inactive)"


class ReportFilterForm(forms.Form):
    # Empty To: today; empty From: DEFAULT_DAYS days before To (the page says which range it shows).
    date_from = BoundedDateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = BoundedDateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    member = _MemberChoice(label="Member", required=False, queryset=None, empty_label="Everyone")
    model = forms.ChoiceField(label="Model", required=False)
    account = _AccountChoice(label="Provider account", required=False, queryset=None, empty_label="Any account")
    granularity = forms.ChoiceField(
        label="Chart by", required=False,
        choices=[("", "Automatic"), *[(g, GRANULARITY_LABELS[g]) for g in GRANULARITIES]],
    )  # fmt: skip

    def __init__(self, *args: Any, viewer: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.viewer = viewer
        if viewer.is_staff:
            self.fields["member"].queryset = (
                get_user_model().objects.filter(credit_account__isnull=False)
                .order_by("first_name", "last_name", "username")
            )  # fmt: skip
        else:
            del self.fields["member"]  # a member's ?member= is not a filter at all: nothing to read, nothing to leak
        self.fields["model"].choices = [("", "Any model")] + [
            (key, f"{spec.label} · {spec.provider_info.label}") for key, spec in catalog.CATALOG.items()
        ]
        self.fields["account"].queryset = ProviderCredential.objects.order_by("label")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "date_from" not in data or "date_to" not in data:
            return data  # a date field already has its error
        last = data["date_to"] or dates.today()
        first = data["date_from"] or last - timedelta(days=dates.DEFAULT_DAYS - 1)
        if first > last:
            self.add_error("date_to" if data["date_to"] else "date_from", "The To date is before the From date.")
            return data
        chosen = data.get("granularity") or dates.finest(first, last)
        if dates.count_periods(first, last, chosen) > dates.MAX_PERIODS:
            self.add_error(
                "granularity" if data.get("granularity") else "date_from",
                f"This range is too long to chart by {chosen}: choose a shorter range or a coarser step "
                f"(at most {dates.MAX_PERIODS} {GRANULARITY_LABELS[chosen].lower()}).",
            )
            return data
        data.update(first=first, last=last, chosen_granularity=chosen)
        return data

    def filters(self) -> Filters:
        """The valid filters, for this viewer (call after is_valid())."""
        data = self.cleaned_data
        return Filters.for_viewer(
            self.viewer,
            member=data.get("member"),
            start=dates.day_start(data["first"]),
            end=dates.day_start(data["last"] + timedelta(days=1)),
            granularity=data["chosen_granularity"],
            model=data.get("model") or "",
            account=data.get("account"),
        )
