"""The batch form: settings every row shares, and the list (pasted lines or a CSV file), read into rows.

The first submit checks and prices the list; the page then shows each row's cost and the total, and a second,
separate form (every value hidden, the list as the checked CSV) admits exactly what was shown.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Mapping
from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile

from generations import catalog
from generations.batches import rows as batch_rows
from generations.batches.services import Item
from generations.models import Generation, PromptTemplate
from generations.params import parse_int
from generations.prompts.services import template_fill, template_placeholders
from generations.services import routing

SETTINGS = ("model", "mode", "duration", "aspect_ratio", "sound", "negative_prompt", "visibility")


class BatchForm(forms.Form):
    model = forms.ChoiceField(label="Model")
    mode = forms.ChoiceField(label="Mode")
    duration = forms.ChoiceField(label="Duration")
    aspect_ratio = forms.ChoiceField(label="Aspect ratio", widget=forms.RadioSelect)
    sound = forms.BooleanField(label="Sound", required=False)
    negative_prompt = forms.CharField(
        label="Negative prompt", required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For every row without its own.",
    )  # fmt: skip
    template = forms.TypedChoiceField(
        label="Template", required=False, coerce=int, empty_value=None,
        help_text="Each line (one placeholder) or each CSV column (one per placeholder) fills it in.",
    )  # fmt: skip
    prompts = forms.CharField(
        label="Prompts", required=False, strip=False, widget=forms.Textarea(attrs={"rows": 10}),
        help_text=f"One per line, up to {batch_rows.MAX_ROWS}.",
    )  # fmt: skip
    csv_file = forms.FileField(
        label="Or a CSV file", required=False,
        help_text="Columns: prompt, and if you like negative_prompt, aspect_ratio, duration (blank: as above).",
    )  # fmt: skip
    # The list as checked, in the second form: what is admitted is exactly what was priced.
    rows_csv = forms.CharField(required=False, strip=False, widget=forms.HiddenInput)
    visibility = forms.ChoiceField(
        label="Visibility", choices=Generation.Visibility.choices, initial="team", widget=forms.RadioSelect
    )
    form_token = forms.UUIDField(
        widget=forms.HiddenInput, error_messages={"invalid": "This form has expired; please check the list again."}
    )
    quoted_total = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0)

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
        *,
        options: list[routing.Offer],
        templates: list[PromptTemplate],
        initial: Mapping[str, Any] | None = None,
    ):
        initial = dict(initial or {})
        initial.setdefault("form_token", uuid.uuid4())
        super().__init__(data, files, initial=initial)
        chosen = (data or {}).get("model") or initial.get("model") or ""
        self.options = options
        self.offer = next((o for o in options if o.slug == chosen), options[0] if options else None)
        self.fields["model"].choices = [(o.slug, o.name) for o in options]
        self.templates = {t.pk: t for t in templates}
        self.fields["template"].choices = [("", "None")] + [(t.pk, t.name) for t in templates]
        self.row_errors: dict[int, str] = {}
        self.items: list[Item] = []
        if self.offer is not None:
            spec = self.offer.spec
            self.fields["mode"].choices = [(m, catalog.MODE_LABELS[m]) for m in spec.modes]
            self.fields["aspect_ratio"].choices = [(a, a) for a in spec.aspect_ratios]
            self.fields["duration"].choices = [(str(d), f"{d} seconds") for d in spec.durations]
            self.initial.setdefault("mode", spec.modes[0])
            self.initial.setdefault("aspect_ratio", spec.aspect_ratios[0])
            self.initial.setdefault("duration", str(5 if 5 in spec.durations else spec.durations[0]))
            if "sound" not in spec.field_names():
                del self.fields["sound"]
            if "negative_prompt" not in spec.field_names():
                del self.fields["negative_prompt"]

    @property
    def chosen_template(self) -> PromptTemplate | None:
        return self.templates.get(self.cleaned_data.get("template"))  # type: ignore[arg-type]

    def clean_csv_file(self) -> UploadedFile | None:
        upload = self.cleaned_data.get("csv_file")
        if upload is not None and upload.size > batch_rows.MAX_BYTES:
            raise forms.ValidationError(f"The file is larger than {batch_rows.MAX_BYTES // 1024} KB.")
        return upload

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.offer is None:
            raise forms.ValidationError("No provider account is active; ask an admin to add one.")
        if self.errors:
            return data
        try:
            rows = self._rows(data)
        except batch_rows.RowsError as exc:
            self.add_error("prompts", exc.message)
        except batch_rows.RowErrors as exc:
            self.row_errors = exc.errors
        else:
            self.items = [Item(r.number, self.offer.slug, self._params(data, r)) for r in rows]
        return data

    def _rows(self, data: Mapping[str, Any]) -> list[batch_rows.Row]:
        """A new file, else the pasted lines, else the list as last checked (its prompts already filled)."""
        upload, pasted = data.get("csv_file"), (data.get("prompts") or "").strip()
        if upload is not None and pasted:
            raise batch_rows.RowsError("Paste prompts or choose a CSV file, not both: clear one of them.")
        if upload is None and not pasted:
            if data.get("rows_csv"):
                return batch_rows.parse_csv(data["rows_csv"].encode())
            raise batch_rows.RowsError("Paste some prompts, one per line, or choose a CSV file.")
        template = self.chosen_template
        names = template_placeholders(template) if template else []
        if upload is not None:
            found = batch_rows.parse_csv(upload.read(), placeholders=names)
        else:
            found = batch_rows.parse_lines(data["prompts"], placeholders=names)
        if template is None:
            return found

        def write(values: dict[str, str]) -> tuple[str, str]:
            filled = template_fill(template=template, values=values, options=self.options)
            return filled.prompt, filled.negative_prompt

        return batch_rows.apply_template(found, write)

    def template_shown(self) -> dict[str, Any] | None:
        """The chosen template and the columns it needs, shown under the choice."""
        raw = self.data.get("template") if self.is_bound else self.initial.get("template")
        template = self.templates.get(parse_int(raw)) if raw else None
        if template is None:
            return None
        names = template_placeholders(template)
        return {"template": template, "names": names, "one": len(names) == 1}

    def _params(self, data: Mapping[str, Any], row: batch_rows.Row) -> dict[str, Any]:
        params: dict[str, Any] = {
            "prompt": row.prompt,
            "mode": data["mode"],
            "aspect_ratio": row.aspect_ratio or data["aspect_ratio"],
            "duration": row.duration or int(data["duration"]),
        }
        if "sound" in self.fields:
            params["sound"] = data.get("sound", False)
        if "negative_prompt" in self.fields or row.negative_prompt:
            params["negative_prompt"] = row.negative_prompt or data.get("negative_prompt", "")
        return params

    # -- the second form ------------------------------------------------------------------------------------------

    def checked_csv(self) -> str:
        """The checked rows as CSV (prompts filled in): the hidden list of the Generate form."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["prompt", "negative_prompt", "aspect_ratio", "duration"])
        for item in self.items:
            p = item.params
            writer.writerow([p["prompt"], p.get("negative_prompt", ""), p["aspect_ratio"], p["duration"]])
        return out.getvalue()

    def confirm_values(self, total: int) -> list[tuple[str, Any]]:
        """Every value the Generate form sends back, hidden."""
        data = self.cleaned_data
        values = [(name, data.get(name)) for name in (*SETTINGS, "template") if name in self.fields]
        values = [(k, v) for k, v in values if v is not None]
        values = [(k, v) for k, v in values if k != "sound" or v]  # an unticked box sends nothing
        # A new token for each check: the list checked now is a new batch, even when the page came back from
        # an earlier Generate (Back); sending this same Generate form twice still makes one.
        checked = [("rows_csv", self.checked_csv()), ("form_token", uuid.uuid4()), ("quoted_total", total)]
        return [*values, *checked, ("generate", "1")]
