"""The admin: declarative lists, read-only money, and actions that call services (never raw edits of balances)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import pluralize
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.views.decorators.http import require_POST

from generations import audit, catalog
from generations.forms import GrantCreditsForm, MarkFailedForm, ResumeForm, TakeBackCreditsForm
from generations.models import CreditAccount, CreditEntry, Generation, Price, ProviderCredential
from generations.services.credentials import credential_check, credential_retarget_refusal
from generations.services.credits import CreditsError, credits_grant, credits_take_back
from generations.services.manage import (
    ActionRefused,
    generation_mark_failed,
    generation_repoll,
    generation_resume,
)
from generations.services.prices import PriceError, price_combos, prices_set

User = get_user_model()
RECENT_ENTRIES = 20


def count(n: int, noun: str) -> str:
    """``count(1, "member")`` → "1 member", ``count(3, "member")`` → "3 members" (every noun here is regular)."""
    return f"{n} {noun}{pluralize(n)}"


def _action_form(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    objects: Any,
    *,
    form: forms.Form,
    title: str,
    intro: str,
    submit: str,
    action: str = "",
    cancel_url: str = "",
) -> TemplateResponse:
    """The intermediate page of an action (or of a per-object admin view) that needs a little input."""
    opts = modeladmin.model._meta
    ctx = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "intro": intro,
        "form": form,
        "objects": list(objects),
        "action": action,
        "submit_label": submit,
        "opts": opts,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "cancel_url": cancel_url or reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
    }
    return TemplateResponse(request, "admin/kling_action_form.html", ctx)


def _bound(form_class: type[forms.Form], request: HttpRequest) -> forms.Form:
    """The action's form, bound only when its own page was submitted (not on the first click of the action)."""
    return form_class(request.POST if "apply" in request.POST else None)


class ChangedFieldsOnlyAdmin(admin.ModelAdmin):
    """A change form writes only the columns the admin changed.

    Django's default save writes back every column as it was loaded, so a worker's move in between (a refund,
    a stored file, a recorded error, a new password) would be undone. Fields in ``never_saved`` (status, lease,
    file, balance...) are never written from a form, whatever it posts.
    """

    never_saved: tuple[str, ...] = ()

    def save_model(self, request: HttpRequest, obj: Any, form: forms.ModelForm, change: bool) -> None:
        if not change:
            return super().save_model(request, obj, form, change)
        columns = {f.name for f in obj._meta.concrete_fields}
        wanted = [*form.changed_data, *getattr(form, "extra_saved_fields", ())]
        fields = [n for n in dict.fromkeys(wanted) if n in columns and n not in self.never_saved]
        if fields:
            if "updated_at" in columns:
                fields.append("updated_at")
            obj.save(update_fields=fields)
        return None


# --- Users and credits ----------------------------------------------------------------------------------------


def _grant(modeladmin: admin.ModelAdmin, request: HttpRequest, users: Any, form: GrantCreditsForm) -> int:
    amount, reason, token = form.cleaned_data["amount"], form.cleaned_data["reason"], form.cleaned_data["token"]
    done = 0
    for user in users:
        try:
            credits_grant(user=user, amount=amount, reason=reason, actor=request.user, token=token)
        except CreditsError as exc:
            modeladmin.message_user(request, f"{user.get_username()}: {exc}", messages.ERROR)
        else:
            done += 1
    if done:
        granted = f"Granted {amount} credits to {count(done, 'member')}: “{reason}”."
        modeladmin.message_user(request, granted, messages.SUCCESS)
    return done


admin.site.unregister(User)


@admin.register(User)
class UserAdmin(ChangedFieldsOnlyAdmin, BaseUserAdmin):
    # Credits right after the name: at 1280 px with the filter sidebar, a last column would be cut off.
    list_display = ("username", "full_name", "balance", "email", "is_active", "is_staff", "last_login")
    actions = ["grant_credits"]
    readonly_fields = ("balance", "recent_credits")
    never_saved = ("password",)  # changed only through the password form, which saves it alone
    # Credits right after the name: it is what admins of this site open a user for most often.
    fieldsets = (
        *BaseUserAdmin.fieldsets[:2],
        ("Credits", {"fields": ("balance", "recent_credits")}),
        *BaseUserAdmin.fieldsets[2:],
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # The balance column comes with the list query (no query per row).
        return super().get_queryset(request).annotate(_balance=Coalesce("credit_account__balance", 0))

    @admin.display(description="Name", ordering="first_name")
    def full_name(self, obj: Any) -> str:
        return obj.get_full_name()

    @admin.display(description="Credits", ordering="_balance")
    def balance(self, obj: Any) -> int:
        return obj._balance if hasattr(obj, "_balance") else CreditAccount.balance_of(obj)

    @admin.display(description="Recent credit movements")
    def recent_credits(self, obj: Any) -> str:
        if obj.pk is None:
            return "—"
        entries = CreditEntry.objects.filter(account__user=obj).select_related("actor")[:RECENT_ENTRIES]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    timezone.localtime(e.created_at).strftime("%Y-%m-%d %H:%M"),
                    e.get_kind_display(),
                    f"{e.amount:+d}",
                    e.balance_after,
                    e.reason,
                    e.actor.get_username() if e.actor else "",
                )
                for e in entries
            ),
        )
        all_url = reverse("admin:generations_creditentry_changelist") + f"?account__user__id__exact={obj.pk}"
        grant_url = reverse("admin:auth_user_grant_credits", args=[obj.pk])
        take_back_url = reverse("admin:auth_user_take_back_credits", args=[obj.pk])
        return format_html(
            '<p><a class="button" href="{}">Grant credits…</a> <a class="button" href="{}">Take back credits…</a> '
            '<a href="{}">All movements</a></p>'
            '<table class="kling-ledger"><thead><tr><th>When</th><th>Kind</th><th>Amount</th><th>Balance after</th>'
            "<th>Reason</th><th>By</th></tr></thead><tbody>{}</tbody></table>",
            grant_url,
            take_back_url,
            all_url,
            rows or format_html('<tr><td colspan="6">No movements yet.</td></tr>'),
        )

    @admin.action(description="Grant credits to the selected members…")
    def grant_credits(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        form = _bound(GrantCreditsForm, request)
        if form.is_valid():
            _grant(self, request, queryset, form)
            return None
        return _action_form(
            self, request, queryset, form=form, title="Grant credits", action="grant_credits",
            intro="Each selected member receives this many credits. The reason appears on their Credits page.",
            submit="Grant credits",
        )  # fmt: skip

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.grant_credits_view)
        take_back = self.admin_site.admin_view(self.take_back_credits_view)
        return [
            path("<int:object_id>/grant-credits/", view, name="auth_user_grant_credits"),
            path("<int:object_id>/take-back-credits/", take_back, name="auth_user_take_back_credits"),
            *super().get_urls(),
        ]

    def take_back_credits_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """Credits given by mistake come back through the ledger (an adjustment with its reason), never below 0."""
        user = get_object_or_404(User, pk=object_id)
        if not self.has_change_permission(request, user):
            raise PermissionDenied
        form = TakeBackCreditsForm(request.POST or None)
        change_url = reverse("admin:auth_user_change", args=[user.pk])
        if request.method == "POST" and form.is_valid():
            amount, reason = form.cleaned_data["amount"], form.cleaned_data["reason"]
            try:
                credits_take_back(user=user, amount=amount, reason=reason, actor=request.user)
            except CreditsError as exc:
                form.add_error("amount", str(exc))
            else:
                self.message_user(request, f"Took back {amount} credits from {user.get_username()}: “{reason}”.",
                                  messages.SUCCESS)  # fmt: skip
                return HttpResponseRedirect(change_url)
        return _action_form(
            self, request, [user], form=form, title=f"Take back credits from {user.get_username()}",
            intro=f"Current balance: {CreditAccount.balance_of(user)} credits. The balance never goes below zero.",
            submit="Take back credits", cancel_url=change_url,
        )  # fmt: skip

    def grant_credits_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        user = get_object_or_404(User, pk=object_id)
        if not self.has_change_permission(request, user):
            raise PermissionDenied
        form = GrantCreditsForm(request.POST or None)
        change_url = reverse("admin:auth_user_change", args=[user.pk])
        if request.method == "POST" and form.is_valid() and _grant(self, request, [user], form):
            return HttpResponseRedirect(change_url)
        return _action_form(
            self, request, [user], form=form, title=f"Grant credits to {user.get_username()}",
            intro=f"Current balance: {CreditAccount.balance_of(user)} credits.", submit="Grant credits",
            cancel_url=change_url,
        )  # fmt: skip


class _ReadOnlyAdmin(admin.ModelAdmin):
    """Money is never edited by hand: corrections are new ledger rows written by services."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CreditAccount)
class CreditAccountAdmin(_ReadOnlyAdmin):
    list_display = ("user", "balance")
    list_select_related = ("user",)
    search_fields = ("user__username", "user__email")
    ordering = ("user__username",)


@admin.register(CreditEntry)
class CreditEntryAdmin(_ReadOnlyAdmin):
    list_display = ("created_at", "member", "kind", "amount", "balance_after", "reason", "actor", "generation_link")
    list_filter = ("kind", "created_at", ("account__user", admin.RelatedFieldListFilter))
    list_select_related = ("account__user", "actor")
    search_fields = ("reason", "account__user__username", "=generation__id")
    show_full_result_count = False

    @admin.display(description="Member", ordering="account__user__username")
    def member(self, obj: CreditEntry) -> str:
        return obj.account.user.get_username()

    @admin.display(description="Generation")
    def generation_link(self, obj: CreditEntry) -> str:
        if not obj.generation_id:
            return "—"
        url = reverse("admin:generations_generation_change", args=[obj.generation_id])
        return format_html('<a href="{}">{}</a>', url, str(obj.generation_id)[:8])


# --- Provider credentials -------------------------------------------------------------------------------------

SECRET_FIELDS = ("api_key", "access_key", "secret_key")
SECRET_LABELS = {"api_key": "API key", "access_key": "Access key", "secret_key": "Secret key"}


class ProviderCredentialForm(forms.ModelForm):
    """Secrets are write-only: the inputs never show the stored value, and leaving them empty keeps it."""

    base_url = forms.URLField(
        label="Base URL",
        required=False,
        assume_scheme="https",
        help_text="Empty: the provider's public URL. The demo points this at the simulator.",
    )
    api_key = forms.CharField(label="API key", required=False, widget=forms.PasswordInput(render_value=False))
    access_key = forms.CharField(label="Access key", required=False, widget=forms.PasswordInput(render_value=False))
    secret_key = forms.CharField(label="Secret key", required=False, widget=forms.PasswordInput(render_value=False))

    class Meta:
        model = ProviderCredential
        fields = ["provider", "label", "base_url", "is_active", "priority", "max_concurrent"]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        keep = " Leave empty to keep the current secret." if self.instance.secrets_encrypted else ""
        self.fields["api_key"].help_text = "MuleRun, AI/ML API, PowerTokens and Segmind." + keep
        self.fields["access_key"].help_text = "Kling official API only." + keep
        self.fields["secret_key"].help_text = "Kling official API only." + keep
        self.new_secrets: dict[str, str] | None = None
        self.extra_saved_fields: tuple[str, ...] = ()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        provider = data.get("provider")
        if provider not in catalog.PROVIDERS:
            return data
        if refusal := credential_retarget_refusal(
            ProviderCredential.objects.get(pk=self.instance.pk) if self.instance.pk else self.instance,
            provider=provider,
            base_url=data.get("base_url") or "",
        ):
            self.add_error("base_url" if provider == self.initial.get("provider") else "provider", refusal)
        info = catalog.PROVIDERS[provider]
        given = {n: data[n].strip() for n in SECRET_FIELDS if (data.get(n) or "").strip()}
        for name in set(given) - set(info.secret_fields):
            wanted = " and ".join(SECRET_LABELS[n].lower() for n in info.secret_fields)
            self.add_error(name, f"{info.label} does not use this; it needs {wanted}.")
        # An existing secret can be kept only if the provider (and so the kind of secret) did not change.
        can_keep = bool(self.instance.secrets_encrypted) and self.instance.provider == provider
        if given or not can_keep:
            for name in info.secret_fields:
                if name not in given:
                    self.add_error(name, "Required." if not can_keep else "Enter every secret of this provider.")
        if not self.errors and given:
            self.new_secrets = {n: given[n] for n in info.secret_fields}
        return data

    def save(self, commit: bool = True) -> ProviderCredential:
        if self.new_secrets:
            self.instance.set_secrets(self.new_secrets)
            self.instance.last_error = ""
            self.extra_saved_fields = ("secrets_encrypted", "secret_hint", "last_error")
        return super().save(commit)


@admin.register(ProviderCredential)
class ProviderCredentialAdmin(ChangedFieldsOnlyAdmin):
    form = ProviderCredentialForm
    change_form_template = "admin/generations/providercredential/change_form.html"
    list_display = (
        "label", "provider", "base_url_shown", "is_active", "priority", "masked_secret", "short_error",
        "last_checked_at",
    )  # fmt: skip
    list_filter = ("provider", "is_active")
    search_fields = ("label",)
    actions = ["test_connection", "enable", "disable"]
    readonly_fields = ("masked_secret", "last_error", "last_error_at", "last_checked_at", "created_at")
    never_saved = ("last_error_at", "last_checked_at", "created_at")
    fieldsets = (
        (None, {"fields": ("provider", "label", "base_url", "is_active", "priority", "max_concurrent")}),
        ("Secrets (write-only)", {"fields": ("masked_secret", "api_key", "access_key", "secret_key")}),
        ("Health", {"fields": ("last_checked_at", "last_error", "last_error_at", "created_at")}),
    )

    @admin.display(description="Base URL")
    def base_url_shown(self, obj: ProviderCredential) -> str:
        return obj.effective_base_url if obj.provider in catalog.PROVIDERS else obj.base_url

    @admin.display(description="Secret")
    def masked_secret(self, obj: ProviderCredential) -> str:
        if not obj.secrets_encrypted:
            return "not set"
        return f"••••{obj.secret_hint}" if obj.secret_hint else "••••"

    @admin.display(description="Last error")
    def short_error(self, obj: ProviderCredential) -> str:
        return Truncator(obj.last_error).chars(80) if obj.last_error else ""

    @admin.action(description="Test connection")
    def test_connection(self, request: HttpRequest, queryset: QuerySet[ProviderCredential]) -> None:
        for cred in queryset:
            ok, sentence = credential_check(cred)
            self.message_user(request, f"{cred.label}: {sentence}", messages.SUCCESS if ok else messages.ERROR)

    @admin.action(description="Enable the selected credentials")
    def enable(self, request: HttpRequest, queryset: QuerySet[ProviderCredential]) -> None:
        n = queryset.update(is_active=True)
        self.message_user(request, f"Enabled {count(n, 'credential')}.", messages.SUCCESS)

    @admin.action(description="Disable the selected credentials")
    def disable(self, request: HttpRequest, queryset: QuerySet[ProviderCredential]) -> None:
        n = queryset.update(is_active=False)
        done = f"Disabled {count(n, 'credential')}; new videos will not use them."
        self.message_user(request, done, messages.SUCCESS)

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(require_POST(self.test_view))
        return [path("<int:object_id>/test/", view, name="generations_providercredential_test"), *super().get_urls()]

    def test_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        cred = get_object_or_404(ProviderCredential, pk=object_id)
        if not self.has_change_permission(request, cred):
            raise PermissionDenied
        ok, sentence = credential_check(cred)
        self.message_user(request, f"{cred.label}: {sentence}", messages.SUCCESS if ok else messages.ERROR)
        return HttpResponseRedirect(reverse("admin:generations_providercredential_change", args=[cred.pk]))


# --- Prices ---------------------------------------------------------------------------------------------------


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    list_display = ("model", "mode", "duration", "sound", "credits")
    list_editable = ("credits",)
    list_filter = ("model", "mode", "duration", "sound")
    list_per_page = 200

    def get_urls(self) -> list[Any]:
        grid = self.admin_site.admin_view(self.grid_view)
        return [path("grid/", grid, name="generations_price_grid"), *super().get_urls()]

    def grid_view(self, request: HttpRequest) -> HttpResponse:
        """Every price on one page: a table per model, a row per mode and duration, a column per sound setting."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        combos = price_combos()
        current = {(p.model, p.mode, p.duration, p.sound): p.credits for p in Price.objects.all()}
        form = PriceGridForm(request.POST or None, combos=combos, current=current)
        if request.method == "POST" and form.is_valid():
            try:
                changed = prices_set(values=form.values())
            except PriceError as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, f"Saved: {count(changed, 'price')} changed.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:generations_price_grid"))
        ctx = {
            **self.admin_site.each_context(request),
            "title": "Prices",
            "subtitle": "credits per video",
            "opts": self.model._meta,
            "form": form,
            "tables": form.tables(),
        }
        return TemplateResponse(request, "admin/generations/price/grid.html", ctx)


class PriceGridForm(forms.Form):
    """One number field per catalog combination, grouped for the template into a table per model."""

    def __init__(self, data: Any = None, *, combos: list[Any], current: dict[Any, int]):
        super().__init__(data)
        self.combos = combos
        for i, (key, mode, duration, sound) in enumerate(combos):
            spec = catalog.CATALOG[key]
            label = f"{spec.label} · {spec.provider_info.label}, {catalog.MODE_LABELS[mode]}, {duration} s"
            self.fields[f"p{i}"] = forms.IntegerField(
                label=f"{label}, {'with sound' if sound else 'silent'}", min_value=0, max_value=1_000_000,
                initial=current.get((key, mode, duration, sound)), required=True,
                widget=forms.NumberInput(attrs={"class": "vIntegerField kling-price"}),
            )  # fmt: skip

    def values(self) -> dict[Any, int]:
        return {combo: self.cleaned_data[f"p{i}"] for i, combo in enumerate(self.combos)}

    def tables(self) -> list[dict[str, Any]]:
        tables: dict[str, dict[str, Any]] = {}
        for i, (key, mode, duration, sound) in enumerate(self.combos):
            spec = catalog.CATALOG[key]
            table = tables.setdefault(
                key, {"title": f"{spec.label} · {spec.provider_info.label}", "rows": {}, "sound": False}
            )
            table["sound"] |= sound
            row = table["rows"].setdefault((mode, duration), {"label": f"{catalog.MODE_LABELS[mode]}, {duration} s"})
            row["sound" if sound else "silent"] = self[f"p{i}"]
        return [{**t, "rows": list(t["rows"].values())} for t in tables.values()]


# --- Generations ----------------------------------------------------------------------------------------------


class _CatalogFilter(admin.SimpleListFilter):
    """Choices from the catalog, not SELECT DISTINCT over the whole generations table on every page."""

    def queryset(self, request: HttpRequest, queryset: QuerySet[Generation]) -> QuerySet[Generation]:
        return queryset.filter(**{self.parameter_name: self.value()}) if self.value() else queryset


class ModelFilter(_CatalogFilter):
    title = "model"
    parameter_name = "model"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(key, f"{spec.label} · {spec.provider_info.label}") for key, spec in catalog.CATALOG.items()]


class ProviderFilter(_CatalogFilter):
    title = "provider"
    parameter_name = "provider"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(key, info.label) for key, info in catalog.PROVIDERS.items()]


@admin.register(Generation)
class GenerationAdmin(ChangedFieldsOnlyAdmin):
    list_display = ("short_title", "status", "owner", "model", "cost", "created_at", "provider_status", "short_error")
    list_filter = ("status", ProviderFilter, ModelFilter, "owner")
    search_fields = ("prompt", "=provider_task_id", "=external_id")
    list_select_related = ("owner",)
    raw_id_fields = ("owner", "credential")
    show_full_result_count = False  # one COUNT(*) per page is enough on a large table
    actions = ["repoll", "mark_failed", "resume"]
    fieldsets = (
        (None, {"fields": ("id", "owner", "status", "visibility", "credential", "provider", "model", "cost")}),
        ("What the member asked for", {"fields": (
            "prompt", "negative_prompt", "mode", "aspect_ratio", "duration", "sound", "cfg_scale", "image_url",
            "tail_image_url", "multi_shot", "shot_type", "shots", "camera_control", "watermark",
        )}),
        ("Provider", {"fields": (
            "external_id", "provider_task_id", "provider_status", "error", "error_detail_shown",
            "provider_response_shown", "submit_attempts", "poll_count", "poll_errors", "fetch_attempts",
            "callbacks_received",
        )}),
        ("Timing", {"fields": (
            "created_at", "submitted_at", "running_at", "downloading_at", "finished_at", "next_run_at", "lease_until",
            "deadline_at", "deleted_at",
        )}),
        ("File", {"fields": ("video", "poster", "file_size", "video_duration", "width", "height", "has_audio")}),
    )  # fmt: skip

    # Only visibility is editable: status, lease, file, money and provider data change through services alone.
    never_saved = tuple(f.name for f in Generation._meta.concrete_fields if f.name not in ("visibility", "updated_at"))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        names = [f for _title, opts in self.fieldsets for f in opts["fields"]]
        return [f for f in names if f != "visibility"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the ledger points at generations; members soft-delete from their page

    @admin.display(description="Prompt", ordering="created_at")
    def short_title(self, obj: Generation) -> str:
        return Truncator(obj.title).chars(60)

    @admin.display(description="Error")
    def short_error(self, obj: Generation) -> str:
        return Truncator(obj.error).chars(60) if obj.error else ""

    @admin.display(description="Provider's raw response")
    def provider_response_shown(self, obj: Generation) -> str:
        return format_html("<pre class='kling-raw'>{}</pre>", json.dumps(obj.provider_response, indent=2))

    @admin.display(description="Error detail (provider's full answer)")
    def error_detail_shown(self, obj: Generation) -> str:
        return format_html("<pre class='kling-raw'>{}</pre>", obj.error_detail) if obj.error_detail else "—"

    def _each(self, request: HttpRequest, queryset: QuerySet[Generation], call: Any, done: str, *, what: str) -> None:
        ok = 0
        for gen in queryset:
            try:
                call(gen)
            except ActionRefused as exc:
                self.message_user(request, f"{Truncator(gen.title).chars(40)}: {exc}", messages.WARNING)
            else:
                ok += 1
                audit.record(gen, what, actor=request.user)
        if ok:
            self.message_user(request, done.format(n=count(ok, "video")), messages.SUCCESS)

    @admin.action(description="Poll the provider now")
    def repoll(self, request: HttpRequest, queryset: QuerySet[Generation]) -> None:
        done = "Asked the provider about {n}."
        self._each(request, queryset, lambda g: generation_repoll(generation=g), done, what="poll now")

    @admin.action(description="Mark failed and refund…")
    def mark_failed(self, request: HttpRequest, queryset: QuerySet[Generation]) -> HttpResponse | None:
        form = _bound(MarkFailedForm, request)
        if form.is_valid():
            reason = form.cleaned_data["reason"]
            call = lambda g: generation_mark_failed(generation=g, actor=request.user, reason=reason)  # noqa: E731
            done = "Marked {n} failed; their owners were refunded."
            self._each(request, queryset, call, done, what=f"marked failed: {reason or 'no reason given'}")
            return None
        return _action_form(
            self, request, queryset, form=form, title="Mark failed and refund", action="mark_failed",
            intro="These generations stop and their cost goes back to their owners.", submit="Mark failed and refund",
        )  # fmt: skip

    @admin.action(description="Resume with a provider task id…")
    def resume(self, request: HttpRequest, queryset: QuerySet[Generation]) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one generation to resume.", messages.WARNING)
            return None
        form = _bound(ResumeForm, request)
        if form.is_valid():
            task_id = form.cleaned_data["task_id"]
            call = lambda g: generation_resume(generation=g, actor=request.user, task_id=task_id)  # noqa: E731
            done = "Resumed: the video is polled with this task id."
            self._each(request, queryset, call, done, what=f"resumed with task id {task_id}")
            return None
        return _action_form(
            self, request, queryset, form=form, title="Resume with a provider task id", action="resume",
            intro="For a generation that needs attention: the provider did receive it; give its task id.",
            submit="Resume",
        )  # fmt: skip

from generations import admin_team  # noqa: E402, F401  (budget rules on groups and members)
from generations.api import admin as api_admin  # noqa: E402, F401  (API tokens)
from generations.prompts import admin as prompts_admin  # noqa: E402, F401  (prompt templates)
from generations.sharing import admin as sharing_admin  # noqa: E402, F401  (share links)
from generations.webhooks import admin as webhooks_admin  # noqa: E402, F401  (webhooks and their deliveries)
