"""The template form (name, prompt, shared, default settings) and the fill form (one input per placeholder).

Both only read and normalise input: the rules (lengths, what the catalog offers, names taken) are in
services.py, whose sentences land on the fields here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms

from generations import catalog, labels
from generations.params import has_control_characters
from generations.placeholders import MAX_VALUE
from generations.prompts import services
from generations.prompts.services import NAME_MAX, TEXT_MAX, TemplateError
from generations.services import routing

NO_DEFAULT = ("", "The model's default")
SETTING_FIELDS = ("model", "mode", "duration", "aspect_ratio", "sound")


def _setting(label: str, help_text: str = "") -> forms.CharField:
    # A select whose value the service checks against the catalog (not Django's "Select a valid choice"), so a
    # stale or forged value gets a sentence that says what is offered.
    return forms.CharField(label=label, required=False, max_length=100, widget=forms.Select, help_text=help_text)


class TemplateForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=NAME_MAX,
        help_text="Unique among your templates.",
        error_messages={"required": "Give the template a name."},
    )
    text = forms.CharField(
        label="Prompt",
        max_length=TEXT_MAX,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Write {name} where a value goes, e.g. <code>{subject} walking through {place}, {style}</code>. "
        "Whoever uses the template fills in each one.",
        error_messages={"required": "Write the prompt."},
    )
    negative_prompt = forms.CharField(
        label="Negative prompt",
        max_length=TEXT_MAX,
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What the video should avoid. It may hold placeholders too.",
    )
    shared = forms.BooleanField(label="Share with the team", required=False, help_text="Everyone can use it.")
    model = _setting("Model")
    mode = _setting("Mode")
    duration = _setting("Duration")
    aspect_ratio = _setting("Aspect ratio")
    sound = _setting("Sound")

    def __init__(self, *args: Any, options: list[routing.Offer], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.options = options
        models = [(o.slug, o.name) for o in options]
        current = str(self["model"].value() or "")
        if current and all(current != slug for slug, _name in models):  # a model taken off since: shown, refused
            models.append((current, f"{current[:40]} (no longer offered)"))
        durations = sorted({d for o in options for d in o.spec.durations})
        self.fields["model"].widget.choices = [NO_DEFAULT, *models]
        self.fields["mode"].widget.choices = [NO_DEFAULT, *catalog.MODE_LABELS.items()]
        self.fields["duration"].widget.choices = [NO_DEFAULT, *[(str(d), f"{d} seconds") for d in durations]]
        self.fields["aspect_ratio"].widget.choices = [NO_DEFAULT, *labels.ASPECT_LABELS.items()]
        self.fields["sound"].widget.choices = [NO_DEFAULT, ("on", "On"), ("off", "Off")]

    def clean(self) -> dict[str, Any]:
        """Every problem at once: the service's checks run here too (and again when it saves)."""
        data = super().clean()
        texts = [data.get(k) or "" for k in ("name", "text", "negative_prompt")]
        problems = services.template_text_errors(*texts)
        try:
            services.template_defaults_clean(self.defaults(), options=self.options)
        except TemplateError as exc:
            problems |= exc.errors
        self.add_service_errors(TemplateError({k: v for k, v in problems.items() if not self.has_error(k)}))
        return data

    @staticmethod
    def settings_initial(stored: Any) -> dict[str, str]:
        """Stored defaults as the selects' values, as they are (one no longer offered is shown, then refused)."""
        stored = stored if isinstance(stored, Mapping) else {}
        shown = {k: str(v) for k, v in stored.items() if k in SETTING_FIELDS}
        if isinstance(stored.get("sound"), bool):
            shown["sound"] = "on" if stored["sound"] else "off"
        return shown

    def defaults(self) -> dict[str, str]:
        """The settings as typed (those without an error of their own), for services.template_defaults_clean."""
        return {k: self.cleaned_data[k] for k in SETTING_FIELDS if self.cleaned_data.get(k)}

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "text": data["text"],
            "negative_prompt": data["negative_prompt"],
            "shared": data["shared"],
            "defaults": self.defaults(),
        }

    def add_service_errors(self, exc: TemplateError) -> None:
        for key, message in exc.errors.items():
            self.add_error(key if key in self.fields else None, message)


class FillForm(forms.Form):
    """One text input per placeholder, labelled with its name; the service fills the template from them."""

    def __init__(self, *args: Any, names: list[str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.names = names
        for name in names:
            self.fields[self.field_for(name)] = forms.CharField(
                label=name, required=False, max_length=MAX_VALUE, widget=forms.TextInput(attrs={"autocomplete": "off"})
            )

    @staticmethod
    def field_for(name: str) -> str:
        return f"v_{name.casefold()}"

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in self.names:
            value = data.get(self.field_for(name)) or ""
            if has_control_characters(value):
                self.add_error(self.field_for(name), f"The value of {{{name}}} contains control characters.")
        return data

    def values(self) -> Mapping[str, str]:
        """Each placeholder's value by its name, for services.template_fill."""
        return {name: self.cleaned_data.get(self.field_for(name)) or "" for name in self.names}

    def add_missing(self, names: list[str]) -> None:
        for name in names:
            field = self.field_for(name)
            if field in self.fields:
                self.add_error(field, f"Fill in {{{name}}}.")
            else:
                self.add_error(None, f"Fill in {{{name}}}.")
