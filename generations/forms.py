"""Forms for the member pages: they read and normalise input; views call one service with the result.

The New video form is built for one catalog model at a time: it shows only ``ModelSpec.field_names()`` and
hands the values to ``catalog.validate`` (the one place that knows the limits), mapping its errors to fields.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, time, timedelta
from functools import cache
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from generations import catalog, image_fields, labels
from generations.media import images
from generations.media.fetch import public_url_problem
from generations.models import Favorite, Generation, MemberSettings
from generations.services import routing
from generations.widgets import QuickSelect
from kling_site.badinput import BoundedDateField

S = Generation.Status
SHOT_ROWS = range(1, catalog.MAX_SHOTS + 1)
# Fields every model shows, whatever it supports.
ALWAYS = ("model", "visibility", "variants", "form_token", "continues", "quoted_cost")
VARIANTS = range(1, 5)  # "Generate 1 to 4 variants": more than one is a batch of the same form (generations/batches)


# --- New video ------------------------------------------------------------------------------------------------


def model_options() -> list[routing.Offer]:
    """Every model an active account serves, once each (services.routing groups the accounts)."""
    return routing.offers()


def _normalise_model(data: Mapping[str, Any], options: list[routing.Offer]) -> dict[str, Any]:
    """Accept old "<account>:<catalog key>" and bare catalog key values: the model plus an account override."""
    data = data.dict() if hasattr(data, "getlist") else dict(data)
    value = data.get("model") or ""
    if not isinstance(value, str) or any(o.slug == value for o in options):
        return data
    try:
        offer, pin = routing.find_offer(value, options)
    except catalog.CatalogError:
        return data  # left as is: the model field reports it
    account = pin.account or next((r.credential.pk for r in offer.routes if pin.allows(r)), None)
    data["model"] = offer.slug
    data.setdefault("account", str(account) if account else "")
    return data


class _GroupField(forms.Field):
    """Never rendered: it only gives a catalog error about a group of inputs (shots, camera) a place to live."""

    is_group = True  # the error summary links to its fieldset (#field-<name>) although it has no input

    def __init__(self) -> None:
        super().__init__(required=False, widget=forms.HiddenInput)

    def clean(self, value: Any) -> None:
        return None


class GenerationForm(forms.Form):
    model = forms.ChoiceField(label="Model")
    account = forms.TypedChoiceField(
        label="Provider account",
        required=False,
        coerce=int,
        empty_value=None,
        help_text="Automatic picks a healthy account by the admins' priority and price, and moves to another "
        "one if an account refuses the video before making it.",
    )
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
        choices=list(labels.SHOT_TYPE_LABELS.items()),
    )
    shots = _GroupField()
    camera_type = forms.ChoiceField(
        label="Camera movement",
        required=False,
        choices=[("", "None"), *[(t, labels.CAMERA_TYPE_LABELS.get(t, t)) for t in catalog.CAMERA_TYPES]],
    )
    camera_axis = forms.ChoiceField(
        label="Axis", required=False, choices=[(a, labels.CAMERA_AXIS_LABELS.get(a, a)) for a in catalog.CAMERA_AXES]
    )
    camera_value = forms.CharField(
        label="Amount",
        required=False,
        widget=forms.NumberInput(attrs={"min": "-10", "max": "10", "step": "1"}),
        help_text="From -10 to 10.",
    )
    camera_control = _GroupField()
    watermark = forms.BooleanField(
        label="Watermark",
        required=False,
        help_text="Kling also makes a copy with its watermark; you get that watermarked copy.",
    )
    visibility = forms.ChoiceField(
        label="Visibility",
        choices=Generation.Visibility.choices,
        initial=Generation.Visibility.TEAM,
        widget=forms.RadioSelect,
    )
    variants = forms.TypedChoiceField(
        label="Variants",
        choices=[(n, str(n)) for n in VARIANTS],
        coerce=int,
        required=False,
        empty_value=1,
        initial=1,
        widget=forms.RadioSelect,
        help_text="Several takes of the same settings, charged together.",
    )
    # "Continue this video": the earlier clip this one starts from (its last frame is the start image).
    continues = forms.UUIDField(required=False, widget=forms.HiddenInput)
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
        options: list[routing.Offer],
        initial: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
        user: Any = None,
    ):
        initial = _normalise_model(initial or {}, options)
        initial.setdefault("form_token", uuid.uuid4())
        if data is not None:
            data = _normalise_model(data, options)
        super().__init__(data, files, initial=initial)
        self.user = user
        chosen = (data or {}).get("model") or initial.get("model") or ""
        self.offer = next((o for o in options if o.slug == chosen), options[0] if options else None)
        self.model_choice = self.offer.slug if self.offer else ""
        self.spec = self.offer.spec if self.offer else None
        self.fields["model"].choices = [(o.slug, o.name) for o in options]
        self.initial["model"] = self.model_choice
        accounts = {r.credential.pk: r for r in self.offer.routes} if self.offer else {}
        automatic = [("", "Automatic (recommended)")]
        self.fields["account"].choices = automatic + [(str(k), r.label) for k, r in accounts.items()]
        pinned = str((data or {}).get("account") or initial.get("account") or "")
        if pinned.isascii() and pinned.isdigit() and int(pinned) in accounts:  # one account: only its options
            self.spec = accounts[int(pinned)].spec
        for n in SHOT_ROWS:
            self.fields[f"shot_prompt_{n}"] = forms.CharField(
                label=f"Shot {n} prompt", required=False, widget=forms.Textarea(attrs={"rows": 2})
            )
            self.fields[f"shot_duration_{n}"] = forms.CharField(
                label=f"Shot {n} seconds", required=False, widget=forms.NumberInput(attrs={"min": "1", "max": "15"})
            )
        if self.spec is not None:
            self._fit_to(self.spec)
            image_fields.add(self)

    def _fit_to(self, spec: catalog.ModelSpec) -> None:
        """Keep only what this model supports, with its own choices and defaults."""
        names = set(spec.field_names()) | set(ALWAYS) | {"account"}
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
        if self.offer is None:
            raise forms.ValidationError("No provider account is active; ask an admin to add one.")
        image_fields.clean(self, data, getattr(self.user, "pk", None))
        self.params = self._params(data)
        try:
            self.choice = routing.candidates(self.offer, self.params, pin=routing.Pin(account=data.get("account")))[0]
        except catalog.CatalogError as exc:
            self.add_catalog_errors(exc.errors)
        for name in ("image_url", "tail_image_url"):  # the downloader's rule: no private or local addresses
            typed = self.params.get(name) or ""
            problem = public_url_problem(typed) if typed and not images.stored_name(typed) else None
            if problem and not self.has_error(name):
                self.add_error(name, problem)
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
        assert self.offer is not None
        return {
            "model_key": self.offer.slug,
            "params": self.params,
            "credential_id": self.cleaned_data.get("account"),
            "continues_id": self.cleaned_data.get("continues"),
            "form_token": self.cleaned_data["form_token"],
            "visibility": self.cleaned_data["visibility"],
            # The price the page showed, when it sends it: a higher current price is confirmed anew.
            "quoted_cost": self.cleaned_data.get("quoted_cost"),
        }

    @property
    def variant_count(self) -> int:
        return self.cleaned_data.get("variants") or 1

    # -- rendering helpers ------------------------------------------------------------------------------------

    def shot_rows(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        if "shots" not in self.fields:
            return []
        return [(self[f"shot_prompt_{n}"], self[f"shot_duration_{n}"]) for n in SHOT_ROWS]


class AgainForm(forms.Form):
    """The Generate again button: its own form token (a double click makes one video) and the price it showed."""

    form_token = forms.UUIDField()
    quoted_cost = forms.IntegerField(min_value=0, max_value=10_000_000)


def remix_initial(gen: Generation, options: list[routing.Offer], *, viewer_id: Any = None) -> dict[str, Any]:
    """The New video form's starting values copied from an earlier generation (same model, same options)."""
    offer = next((o for o in options if any(r.spec.key == gen.model for r in o.routes)), None)
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
    for prefix, (field, _label) in image_fields.PICTURES.items():  # our own pictures: a reference, not a URL
        if name := images.stored_name(getattr(gen, field)):
            initial[field] = ""
            # The viewer's own copy, made while they may see the video: a reference to the owner's file would
            # outlive their access to it (the video made private or deleted).
            initial[f"{prefix}_ref"] = images.sign_upload(images.own_copy(name, viewer_id), owner_id=viewer_id)
    if offer is not None:
        initial["model"] = offer.slug
        same = [r.credential.pk for r in offer.routes if r.spec.key == gen.model]
        if gen.account_chosen_by_member and gen.credential_id in same:
            initial["account"] = str(gen.credential_id)
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

# Gallery orders; "-pk" after each keeps pages stable when values tie.
SORTS = {
    "newest": ("Newest first", ("-created_at",)),
    "oldest": ("Oldest first", ("created_at",)),
    "favourited": ("Most favourited", ("-favorite_count", "-created_at")),
    "longest": ("Longest first", ("-duration", "-created_at")),
}


def _model_choices() -> list[tuple[str, str]]:
    """Each model once, as the New video form lists it, whichever provider accounts made its videos."""
    names = {routing.model_slug(spec): routing.model_name(spec) for spec in catalog.CATALOG.values()}
    return [("", "Any model"), *names.items()]


def _of_model(slug: str) -> Q:
    """The videos of one model (a `_model_choices` value), made through any provider."""
    return Q(model__in=[key for key, spec in catalog.CATALOG.items() if routing.model_slug(spec) == slug])


def _day_start(day: Any) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class _ListedChoices(forms.models.ModelChoiceIterator):
    """The field's rows, read once per form in one plain query (the default iterator() opens a server-side cursor
    on PostgreSQL: three round trips), as names rather than model instances (50 users as instances: ~3 ms)."""

    def __iter__(self) -> Any:
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        yield from self.field.listed()

    def __len__(self) -> int:  # not a COUNT(*) query
        return len(self.field.listed()) + (self.field.empty_label is not None)


class _MemberChoice(forms.ModelChoiceField):
    iterator = _ListedChoices
    # () -> (sql, params) of ``queryset.values_list("pk", "first_name", "last_name", "username")``, when constant
    compiled: Any = None

    def listed(self) -> list[tuple[str, str]]:
        """(pk, the name the cards show), read once per form (the filter form's cache key and its drawing)."""
        if getattr(self, "_listed", None) is None:
            if self.compiled is None:
                rows = list(self.queryset.values_list("pk", "first_name", "last_name", "username"))
            else:  # the same query, its SQL built once (GalleryFilterForm)
                with connection.cursor() as cursor:
                    cursor.execute(*self.compiled())
                    rows = cursor.fetchall()
            self._listed = [(str(pk), f"{first} {last}".strip() or username) for pk, first, last, username in rows]
        return self._listed


@cache
def _gallery_members() -> Any:
    """Only people with a video in the team's gallery, by the name the cards show: listing every account gave an
    attacker the usernames to try passwords on (the superuser included). Built once (a lazy query, never run
    here): building it was ~0.5 ms of each Gallery request."""
    team = Generation.Visibility.TEAM
    shared = Generation.objects.alive().filter(owner=OuterRef("pk"), status=S.READY, visibility=team)
    return (
        get_user_model().objects.filter(is_active=True).filter(Exists(shared))
        .order_by("first_name", "last_name", "username").only("first_name", "last_name", "username")
    )  # fmt: skip


@cache
def _gallery_members_sql() -> tuple[str, tuple[Any, ...]]:
    """The member list's query as SQL, built once: it holds constants only (building it was ~0.3 ms a request)."""
    return _gallery_members().values_list("pk", "first_name", "last_name", "username").query.sql_with_params()


class GalleryFilterForm(forms.Form):
    q = forms.CharField(label="Search prompts", required=False, max_length=200)
    member = _MemberChoice(label="Member", required=False, queryset=None, empty_label="Anyone", widget=QuickSelect)
    model = forms.ChoiceField(label="Model", required=False, widget=QuickSelect)
    mode = forms.ChoiceField(
        label="Mode", required=False, widget=QuickSelect, choices=[("", "Any mode"), *catalog.MODE_LABELS.items()]
    )
    duration = forms.TypedChoiceField(
        label="Duration", required=False, coerce=int, empty_value=None, widget=QuickSelect
    )
    date_from = BoundedDateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = BoundedDateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    favorites = forms.BooleanField(label="Favourites only", required=False)
    aspect_ratio = forms.ChoiceField(
        label="Shape", required=False, widget=QuickSelect, choices=[("", "Any shape"), *labels.ASPECT_LABELS.items()]
    )
    sort = forms.ChoiceField(
        label="Sort", required=False, widget=QuickSelect, choices=[(k, label) for k, (label, _order) in SORTS.items()]
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["member"].queryset = _gallery_members()  # a copy (the field's setter clones it)
        self.fields["member"].compiled = _gallery_members_sql
        self.fields["model"].choices = _model_choices()
        durations = sorted({d for spec in catalog.CATALOG.values() for d in spec.durations})
        self.fields["duration"].choices = [("", "Any length")] + [(str(d), f"{d} s") for d in durations]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            # Refused, not silently empty: neither date is applied until the member fixes them.
            self.add_error("date_to", "The To date is before the From date.")
            data.pop("date_from", None)
        return data

    def filter(self, qs: Any) -> Any:
        """Apply the valid filters (an invalid one is shown as an error and ignored, never a 500)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        if data.get("q"):
            qs = qs.matching(data["q"])
        if data.get("member"):
            qs = qs.filter(owner=data["member"])
        if data.get("model"):
            qs = qs.filter(_of_model(data["model"]))
        for name in ("mode", "duration", "aspect_ratio"):
            if data.get(name):
                qs = qs.filter(**{name: data[name]})
        if data.get("date_from"):
            qs = qs.filter(created_at__gte=_day_start(data["date_from"]))
        if data.get("date_to"):
            qs = qs.filter(created_at__lt=_day_start(data["date_to"] + timedelta(days=1)))
        if data.get("favorites"):
            qs = qs.filter(is_favorite=True)
        _label, order = SORTS.get(data.get("sort") or "newest", SORTS["newest"])
        if "-favorite_count" in order:
            # Counted per row in a subquery (index favorite_once leads with user, so this is the generation FK's).
            stars = Favorite.objects.filter(generation=OuterRef("pk")).values("generation")
            count = Subquery(stars.annotate(n=Count("pk")).values("n")[:1])
            qs = qs.annotate(favorite_count=Coalesce(count, 0))  # no star: 0, not NULL (NULL sorts first)
        return qs.order_by(*order, "-pk")


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
        widget=QuickSelect,
        choices=[("", "Any status"), *[(k, label) for k, (label, _q) in STATUS_FILTERS.items()]],
    )
    model = forms.ChoiceField(label="Model", required=False, widget=QuickSelect)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = _model_choices()

    def filter(self, qs: Any) -> Any:
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        if data.get("status"):
            qs = qs.filter(STATUS_FILTERS[data["status"]][1])
        if data.get("model"):
            qs = qs.filter(_of_model(data["model"]))
        return qs.order_by("-created_at", "-pk")


# --- Admin ----------------------------------------------------------------------------------------------------


class _CreditsMoveForm(forms.Form):
    """An admin's credit movement: an amount, and a reason the member reads on their Credits page."""

    reason = forms.CharField(
        label="Reason", max_length=255, help_text="Required. The member reads it on their Credits page."
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Give a reason; the member sees it.")
        return reason


class GrantCreditsForm(_CreditsMoveForm):
    # A new token each time the form is shown; posting the same form twice grants once.
    token = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4, required=False)
    amount = forms.IntegerField(label="Credits to grant", min_value=1, max_value=10_000_000)
    field_order = ["token", "amount", "reason"]


class TakeBackCreditsForm(_CreditsMoveForm):
    amount = forms.IntegerField(label="Credits to take back", min_value=1, max_value=10_000_000)
    field_order = ["amount", "reason"]


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


# --- Member settings ------------------------------------------------------------------------------------------


class MemberSettingsForm(forms.ModelForm):
    email = forms.EmailField(label="Email address", required=False, max_length=254)

    class Meta:
        model = MemberSettings
        fields = ["email_when_finished"]

    def __init__(self, *args: Any, user: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["email"].initial = user.email
        self.order_fields(["email", "email_when_finished"])

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("email_when_finished") and not data.get("email"):
            self.add_error("email", "Give an address to send the emails to.")
        return data

    def save(self, commit: bool = True) -> MemberSettings:
        self.user.email = self.cleaned_data["email"]
        self.user.save(update_fields=["email"])
        return super().save(commit)
