"""Forms for the member pages: they read and normalise input; views call one service with the result.

The New video form is built for one catalog model at a time: it shows only ``ModelSpec.field_names()`` and
hands the values to ``catalog.validate`` (the one place that knows the limits), mapping its errors to fields.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from generations import catalog
from generations.models import Generation, ProviderCredential

S = Generation.Status
SHOT_ROWS = range(1, catalog.MAX_SHOTS + 1)
# Fields every model shows, whatever it supports.
ALWAYS = ("model", "visibility", "form_token")


# --- New video ------------------------------------------------------------------------------------------------


def model_options() -> list[tuple[ProviderCredential, catalog.ModelSpec]]:
    """Every (active credential, model it offers), in the order members see them (one query)."""
    creds = ProviderCredential.objects.filter(is_active=True).order_by("priority", "label")
    return [(cred, spec) for cred in creds for spec in cred.models()]


def model_value(cred_id: int | None, key: str) -> str:
    """The <option> value: credential id and catalog key (keys contain ':' themselves, so split once)."""
    return f"{cred_id}:{key}" if cred_id else key


def parse_model_value(value: str) -> tuple[int | None, catalog.ModelSpec]:
    """``"7:mulerun:kling-v2.6"`` or a bare catalog key; raises CatalogError for anything else."""
    head, _, rest = (value or "").partition(":")
    if head.isdigit() and rest:
        return int(head), catalog.get_model(rest)
    return None, catalog.get_model(value or "")


class _GroupField(forms.Field):
    """Never rendered: it only gives a catalog error about a group of inputs (shots, camera) a place to live."""

    def __init__(self) -> None:
        super().__init__(required=False, widget=forms.HiddenInput)

    def clean(self, value: Any) -> None:
        return None


class GenerationForm(forms.Form):
    model = forms.ChoiceField(label="Model")
    prompt = forms.CharField(
        label="Prompt", required=False, strip=False, widget=forms.Textarea(attrs={"rows": 6})
    )
    negative_prompt = forms.CharField(
        label="Negative prompt",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What the video should avoid.",
    )
    mode = forms.ChoiceField(label="Mode")
    aspect_ratio = forms.ChoiceField(label="Aspect ratio", widget=forms.RadioSelect)
    duration = forms.ChoiceField(label="Duration")
    sound = forms.BooleanField(label="Sound", required=False)
    cfg_scale = forms.CharField(
        label="CFG scale",
        required=False,
        widget=forms.NumberInput(attrs={"min": "0", "max": "1", "step": "0.05"}),
        help_text="0 follows the prompt loosely, 1 follows it strictly.",
    )
    image_url = forms.CharField(label="Start image URL", required=False, widget=forms.URLInput)
    tail_image_url = forms.CharField(
        label="End image URL", required=False, widget=forms.URLInput, help_text="Needs a start image and Pro mode."
    )
    multi_shot = forms.BooleanField(label="Multi-shot video", required=False)
    shot_type = forms.ChoiceField(
        label="Shot type",
        required=False,
        choices=[("customize", "I write each shot"), ("intelligence", "The model splits my prompt")],
    )
    shots = _GroupField()
    camera_type = forms.ChoiceField(
        label="Camera movement",
        required=False,
        choices=[("", "None"), *[(t, t.replace("_", " ").capitalize()) for t in catalog.CAMERA_TYPES]],
    )
    camera_axis = forms.ChoiceField(
        label="Axis", required=False, choices=[(a, a.capitalize()) for a in catalog.CAMERA_AXES]
    )
    camera_value = forms.CharField(
        label="Amount",
        required=False,
        widget=forms.NumberInput(attrs={"min": "-10", "max": "10", "step": "1"}),
        help_text="From -10 to 10.",
    )
    camera_control = _GroupField()
    watermark = forms.BooleanField(label="Watermark", required=False)
    visibility = forms.ChoiceField(
        label="Visibility",
        choices=Generation.Visibility.choices,
        initial=Generation.Visibility.TEAM,
        widget=forms.RadioSelect,
    )
    # The credits the page showed for these options; the page sends it with the form (absent: no quote check).
    quoted_cost = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0)
    form_token = forms.UUIDField(
        widget=forms.HiddenInput,
        error_messages={
            "required": "This form has expired; please submit it again.",
            "invalid": "This form has expired; please submit it again.",
        },
    )

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        options: list[tuple[ProviderCredential, catalog.ModelSpec]],
        initial: Mapping[str, Any] | None = None,
    ):
        initial = dict(initial or {})
        initial.setdefault("form_token", uuid.uuid4())
        super().__init__(data, initial=initial)
        values = [model_value(cred.pk, spec.key) for cred, spec in options]
        chosen = (data or {}).get("model") or initial.get("model") or ""
        if chosen not in values:  # a bare catalog key (?model=kling:kling-v3): the first account offering it
            chosen = next((v for v in values if v.partition(":")[2] == chosen), values[0] if values else "")
        self.model_choice = chosen
        self.credential_id, self.spec = parse_model_value(self.model_choice) if values else (None, None)
        self.credential_label = next((c.label for c, _s in options if c.pk == self.credential_id), "")
        groups: dict[str, list[tuple[str, str]]] = {}
        for cred, spec in options:
            groups.setdefault(cred.label, []).append((model_value(cred.pk, spec.key), spec.label))
        self.fields["model"].choices = list(groups.items())
        self.initial["model"] = self.model_choice
        for n in SHOT_ROWS:
            self.fields[f"shot_prompt_{n}"] = forms.CharField(
                label=f"Shot {n} prompt", required=False, widget=forms.Textarea(attrs={"rows": 2})
            )
            self.fields[f"shot_duration_{n}"] = forms.CharField(
                label=f"Shot {n} seconds", required=False, widget=forms.NumberInput(attrs={"min": "1", "max": "15"})
            )
        if self.spec is not None:
            self._fit_to(self.spec)

    def _fit_to(self, spec: catalog.ModelSpec) -> None:
        """Keep only what this model supports, with its own choices and defaults."""
        names = set(spec.field_names()) | set(ALWAYS)
        if "shots" in names:
            names |= {f"shot_{kind}_{n}" for kind in ("prompt", "duration") for n in SHOT_ROWS}
        if "camera_control" in names:
            names |= {"camera_type", "camera_axis", "camera_value"}
        for name in [n for n in self.fields if n not in names]:
            del self.fields[name]
        self.fields["mode"].choices = [(m, catalog.MODE_LABELS[m]) for m in spec.modes]
        self.fields["aspect_ratio"].choices = [(a, a) for a in spec.aspect_ratios]
        self.fields["duration"].choices = [(str(d), f"{d} seconds") for d in spec.durations]
        defaults = {
            "mode": spec.modes[0],
            "aspect_ratio": spec.aspect_ratios[0],
            "duration": str(5 if 5 in spec.durations else spec.durations[0]),
            "sound": spec.sound_default,
            "cfg_scale": spec.cfg_default,
            "shot_type": "customize",
        }
        for name, value in defaults.items():
            if name in self.fields and self.initial.get(name) in (None, ""):
                self.initial[name] = value
        if "prompt" in self.fields:
            self.fields["prompt"].help_text = f"Up to {catalog.PROMPT_MAX} characters."

    # -- validation -------------------------------------------------------------------------------------------

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.spec is None:
            raise forms.ValidationError("No provider account is active; ask an admin to add one.")
        self.params = self._params(data)
        try:
            catalog.validate(self.spec.key, self.params)
        except catalog.CatalogError as exc:
            self.add_catalog_errors(exc.errors)
        return data

    def _params(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The member's values as catalog.validate reads them (fields this model lacks are left out)."""
        simple = (
            "prompt", "negative_prompt", "mode", "aspect_ratio", "duration", "sound", "cfg_scale",
            "image_url", "tail_image_url", "multi_shot", "shot_type", "watermark",
        )  # fmt: skip
        params: dict[str, Any] = {k: data[k] for k in simple if k in self.fields and k in data}
        if "shots" in self.fields:
            rows = [(data.get(f"shot_prompt_{n}") or "", data.get(f"shot_duration_{n}") or "") for n in SHOT_ROWS]
            params["shots"] = [{"prompt": p, "duration": d} for p, d in rows if p.strip() or d.strip()]
        if "camera_control" in self.fields and data.get("camera_type"):
            config = {data.get("camera_axis") or "": data.get("camera_value") or ""}
            params["camera_control"] = {"type": data["camera_type"], "config": config}
        return params

    def add_catalog_errors(self, errors: Mapping[str, str]) -> None:
        """Put each catalog sentence at its field; what has no field here goes to the top of the form."""
        for key, message in errors.items():
            self.add_error(key if key in self.fields else None, message)

    def create_kwargs(self) -> dict[str, Any]:
        """Arguments for services.create.generation_create (after is_valid())."""
        assert self.spec is not None
        return {
            "model_key": self.spec.key,
            "params": self.params,
            "credential_id": self.credential_id,
            "form_token": self.cleaned_data["form_token"],
            "visibility": self.cleaned_data["visibility"],
            # The price the page showed, when it sends it: a higher current price is confirmed anew.
            "quoted_cost": self.cleaned_data.get("quoted_cost"),
        }

    # -- rendering helpers ------------------------------------------------------------------------------------

    def shot_rows(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        if "shots" not in self.fields:
            return []
        return [(self[f"shot_prompt_{n}"], self[f"shot_duration_{n}"]) for n in SHOT_ROWS]


def remix_initial(gen: Generation, options: list[tuple[ProviderCredential, catalog.ModelSpec]]) -> dict[str, Any]:
    """The New video form's starting values copied from an earlier generation."""
    same = [c.pk for c, s in options if s.key == gen.model]
    cred_id = gen.credential_id if gen.credential_id in same else (same[0] if same else None)
    initial: dict[str, Any] = {
        "prompt": gen.prompt,
        "negative_prompt": gen.negative_prompt,
        "mode": gen.mode,
        "aspect_ratio": gen.aspect_ratio,
        "duration": str(gen.duration),
        "sound": gen.sound,
        "cfg_scale": gen.cfg_scale,
        "image_url": gen.image_url,
        "tail_image_url": gen.tail_image_url,
        "multi_shot": gen.multi_shot,
        "shot_type": gen.shot_type,
        "watermark": gen.watermark,
        "visibility": gen.visibility,
    }
    if cred_id:
        initial["model"] = model_value(cred_id, gen.model)
    for n, shot in enumerate(gen.shots[: catalog.MAX_SHOTS], start=1):
        initial[f"shot_prompt_{n}"] = shot.get("prompt", "")
        initial[f"shot_duration_{n}"] = shot.get("duration", "")
    camera = gen.camera_control or {}
    if camera.get("type"):
        initial["camera_type"] = camera["type"]
        axis, value = next(((a, v) for a, v in (camera.get("config") or {}).items() if v), ("", ""))
        initial.update(camera_axis=axis, camera_value=value)
    return initial


# --- Listing filters ------------------------------------------------------------------------------------------

SORTS = {"newest": "-created_at", "oldest": "created_at"}


def _model_choices() -> list[tuple[str, str]]:
    return [("", "Any model")] + [
        (key, f"{spec.label} · {spec.provider_info.label}") for key, spec in catalog.CATALOG.items()
    ]


def _day_start(day: Any) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class _MemberChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return obj.get_full_name() or obj.get_username()


class GalleryFilterForm(forms.Form):
    q = forms.CharField(label="Search prompts", required=False, max_length=200)
    member = _MemberChoice(label="Member", required=False, queryset=None, empty_label="Anyone")
    model = forms.ChoiceField(label="Model", required=False)
    mode = forms.ChoiceField(
        label="Mode", required=False, choices=[("", "Any mode"), *catalog.MODE_LABELS.items()]
    )
    duration = forms.TypedChoiceField(label="Duration", required=False, coerce=int, empty_value=None)
    date_from = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    favorites = forms.BooleanField(label="Favourites only", required=False)
    sort = forms.ChoiceField(
        label="Sort", required=False, choices=[("newest", "Newest first"), ("oldest", "Oldest first")]
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["member"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")
        self.fields["model"].choices = _model_choices()
        durations = sorted({d for spec in catalog.CATALOG.values() for d in spec.durations})
        self.fields["duration"].choices = [("", "Any length")] + [(str(d), f"{d} s") for d in durations]

    def filter(self, qs: Any) -> Any:
        """Apply the valid filters (an invalid one is shown as an error and ignored, never a 500)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        if data.get("q"):
            qs = qs.filter(prompt__icontains=data["q"])
        if data.get("member"):
            qs = qs.filter(owner=data["member"])
        for name in ("model", "mode", "duration"):
            if data.get(name):
                qs = qs.filter(**{name: data[name]})
        if data.get("date_from"):
            qs = qs.filter(created_at__gte=_day_start(data["date_from"]))
        if data.get("date_to"):
            qs = qs.filter(created_at__lt=_day_start(data["date_to"] + timedelta(days=1)))
        if data.get("favorites"):
            qs = qs.filter(is_favorite=True)
        return qs.order_by(SORTS.get(data.get("sort") or "newest", "-created_at"), "-pk")


STATUS_FILTERS = {
    "in_flight": ("In progress", Q(status__in=Generation.IN_FLIGHT)),
    "ready": ("Ready", Q(status=S.READY)),
    "failed": ("Failed", Q(status=S.FAILED)),
    "canceled": ("Canceled", Q(status=S.CANCELED)),
    "needs_attention": ("Needs attention", Q(status=S.NEEDS_ATTENTION)),
}


class LibraryFilterForm(forms.Form):
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[("", "Any status"), *[(k, label) for k, (label, _q) in STATUS_FILTERS.items()]],
    )
    model = forms.ChoiceField(label="Model", required=False)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = _model_choices()

    def filter(self, qs: Any) -> Any:
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        if data.get("status"):
            qs = qs.filter(STATUS_FILTERS[data["status"]][1])
        if data.get("model"):
            qs = qs.filter(model=data["model"])
        return qs.order_by("-created_at", "-pk")


# --- Admin ----------------------------------------------------------------------------------------------------


class GrantCreditsForm(forms.Form):
    # A new token each time the form is shown; posting the same form twice grants once.
    token = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4, required=False)
    amount = forms.IntegerField(label="Credits to grant", min_value=1, max_value=10_000_000)
    reason = forms.CharField(
        label="Reason", max_length=255, help_text="Required. The member reads it on their Credits page."
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Give a reason; the member sees it.")
        return reason


class MarkFailedForm(forms.Form):
    reason = forms.CharField(
        label="Reason shown to the member",
        max_length=500,
        required=False,
        help_text="Optional. Default: “An admin stopped this generation.” The cost is refunded.",
    )


class ResumeForm(forms.Form):
    task_id = forms.CharField(
        label="Provider task id",
        max_length=200,
        help_text="The id the provider gave this task (look it up in the provider's dashboard).",
    )
