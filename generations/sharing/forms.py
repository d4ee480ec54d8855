"""The share form on a video's page: a label for whom the link is for, how long it works, and whether the page
names who made the video. Every value is checked here; the service checks the same bounds again."""

from __future__ import annotations

from typing import Any

from django import forms

from generations.sharing.services import DEFAULT_EXPIRY_DAYS, EXPIRY_DAYS, LABEL_MAX


class ShareLinkForm(forms.Form):
    prefix = "share"  # its fields sit on the video's page beside other forms

    label = forms.CharField(
        label="Label",
        required=False,
        max_length=LABEL_MAX,
        help_text="Who the link is for; only your team sees it.",
        widget=forms.TextInput(attrs={"placeholder": "e.g. Acme review", "autocomplete": "off"}),
    )
    days = forms.TypedChoiceField(
        label="Works for",
        coerce=int,
        choices=[(d, f"{d} day" if d == 1 else f"{d} days") for d in EXPIRY_DAYS],
        initial=DEFAULT_EXPIRY_DAYS,
        error_messages={"invalid_choice": "Choose 1, 7 or 30 days."},
    )
    show_names = forms.BooleanField(label="Show who made the video", required=False)

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"label": data["label"], "days": data["days"], "show_names": data["show_names"]}
