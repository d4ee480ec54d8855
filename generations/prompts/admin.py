"""Prompt templates in the admin: find them by name, prompt or owner; edits pass the same checks as the site's
form (services.template_text_errors and template_defaults_clean)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.utils.text import Truncator

from generations.models import PromptTemplate
from generations.placeholders import names_in
from generations.prompts import services


class PromptTemplateAdminForm(forms.ModelForm):
    class Meta:
        model = PromptTemplate
        fields = ["owner", "name", "text", "negative_prompt", "shared", "defaults"]
        help_texts = {
            "defaults": 'Optional settings, e.g. {"model": "kling-2-6", "mode": "pro", "duration": 10, '
            '"aspect_ratio": "9:16", "sound": true}. Only what the catalog offers now is accepted.'
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        texts = (data.get("name") or "", data.get("text") or "", data.get("negative_prompt") or "")
        for key, message in services.template_text_errors(*texts).items():
            if key in data:
                self.add_error(key, message)
        if "defaults" in data:
            try:
                data["defaults"] = services.template_defaults_clean(data["defaults"] or {})
            except services.TemplateError as exc:
                self.add_error("defaults", list(exc.errors.values()))
        return data


@admin.register(PromptTemplate)
class PromptTemplateAdmin(admin.ModelAdmin):
    form = PromptTemplateAdminForm
    list_display = ("name", "owner", "shared", "placeholders", "short_text", "updated_at")
    list_filter = ("shared", "updated_at")
    search_fields = ("name", "text", "owner__username", "owner__first_name", "owner__last_name")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    readonly_fields = ("created_at", "updated_at")
    ordering = ("name", "id")

    @admin.display(description="Placeholders")
    def placeholders(self, obj: PromptTemplate) -> str:
        return ", ".join(names_in(obj.text)) or "none"

    @admin.display(description="Prompt")
    def short_text(self, obj: PromptTemplate) -> str:
        return Truncator(obj.text).chars(60)
