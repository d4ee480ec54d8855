"""The form that makes a personal API token (Settings → API tokens): a name, a scope and when it stops working.

The name and scope rules (and "an expiry in the future") are the service's (generations/api/tokens.py): the form
passes them on and shows its TokenError. Its own rule is the expiry choice: a number of days, never, or a date.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from generations.api.tokens import NAME_MAX, TokenError
from generations.models_api import ApiToken

EXPIRY_CHOICES = [("never", "Never"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("date", "On a date")]
DEFAULT_EXPIRY = "90"
_DATE_RADIO = f"id_expires_{[c for c, _ in EXPIRY_CHOICES].index('date')}"
LATEST_DATE_YEARS = 10  # a later date is "Never" in all but name (and would overflow some time zones)


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label="Name",
        required=False,  # the service says what a good name is
        strip=False,
        help_text="What will use it, such as “Nightly export script”.",
        widget=forms.TextInput(
            attrs={"maxlength": NAME_MAX, "required": True, "autocomplete": "off", "placeholder": "e.g. Nightly export"}
        ),
    )
    scope = forms.CharField(
        label="Can",
        required=False,  # the service refuses anything but the two scopes
        initial=ApiToken.Scope.READ,
        widget=forms.RadioSelect(choices=ApiToken.Scope.choices),
        help_text="Read: see your videos, credits and balance. Read and write: also make videos, which spends credits.",
    )
    expires = forms.ChoiceField(
        label="Expires",
        choices=EXPIRY_CHOICES,
        initial=DEFAULT_EXPIRY,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose when the token stops working.",
            "invalid_choice": "Choose Never, 30 days, 90 days, 1 year or On a date.",
        },
    )
    expires_on = forms.DateField(
        label="Date",
        required=False,
        help_text="With “On a date”: the token works until the end of that day.",
        # Picking a date picks "On a date" too (static/js/site.js, data-checks).
        widget=forms.DateInput(attrs={"type": "date", "data-checks": _DATE_RADIO}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter the date as year-month-day, such as 2026-12-31."},
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        choice, day = data.get("expires"), data.get("expires_on")
        if choice == "date" and day is None and "expires_on" not in self.errors:
            self.add_error("expires_on", "Pick the date the token stops working.")
        elif choice == "date" and day is not None and day > _today() + timedelta(days=365 * LATEST_DATE_YEARS):
            self.add_error("expires_on", f"Choose a date within {LATEST_DATE_YEARS} years, or Never.")
        return data

    def add_token_error(self, exc: TokenError) -> None:
        """The service's sentence at the field it is about (its expires_at is this form's date), else at the top."""
        field = {"name": "name", "scope": "scope", "expires_at": "expires_on"}.get(exc.field or "")
        if field == "expires_on" and self.cleaned_data.get("expires") != "date":
            field = "expires"
        self.add_error(field, str(exc))

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        expires_at = _expires_at(data["expires"], data["expires_on"])
        return {"name": data["name"], "scope": data["scope"], "expires_at": expires_at}


def _today() -> date:
    return timezone.localdate()


def _expires_at(choice: str, day: date | None) -> datetime | None:
    if choice == "never":
        return None
    if choice == "date":
        assert day is not None  # clean() saw to it
        return timezone.make_aware(datetime.combine(day, time.max))  # through the end of that day, site time
    return timezone.now() + timedelta(days=int(choice))
