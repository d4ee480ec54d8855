"""The New video form's pictures: upload a start (and end) image, keep it across a form error, or continue a video.

Each picture comes from, in order: a file uploaded with this POST; a signed reference to a picture chosen earlier
(after a form error, "Continue this video", a remix); or an http(s) address typed by a power user. An upload is
checked by content and stored before anything is charged; the form then carries only a signed reference, so a
member never uploads twice and can never point at someone else's file.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.urls import reverse

from generations.media import images

# form prefix -> (catalog field, label)
PICTURES = {"start_image": ("image_url", "Start image"), "end_image": ("tail_image_url", "End image")}


def add(form: forms.Form) -> None:
    """Add the upload and reference fields next to the URL fields the model shows."""
    for prefix, (field, label) in PICTURES.items():
        if field not in form.fields:
            continue
        form.fields[f"{prefix}_file"] = forms.FileField(
            label=label,
            required=False,
            allow_empty_file=True,  # images.check_image says "The file is empty." itself
            widget=forms.ClearableFileInput(attrs={"accept": images.ACCEPT, "data-picture": prefix}),
            help_text="JPEG, PNG or WebP, up to 10 MB, at least 300 pixels a side."
            + (" Needs a start image and Professional mode." if prefix == "end_image" else ""),
        )
        form.fields[f"{prefix}_ref"] = forms.CharField(required=False, widget=forms.HiddenInput)
        form.fields[field].label = f"…or the address of the {label.lower()}"
        form.fields[field].help_text = "For pictures already online (http or https)."


def clean(form: forms.Form, data: dict[str, Any], owner_id: Any) -> None:
    """Resolve each picture to "stored:<name>" or a typed URL in ``data``; errors go to the file field."""
    form.picture_refs = {}
    for prefix, (field, _label) in PICTURES.items():
        if field not in form.fields:
            continue
        typed = (data.get(field) or "").strip()
        if typed.lower().startswith(images.STORED):
            form.add_error(field, "Give an http(s) address.")
            continue
        upload = form.files.get(f"{prefix}_file")
        ref = data.get(f"{prefix}_ref") or ""
        name = ""
        if upload is not None:
            try:
                checked = images.check_image(upload, size=upload.size)
            except images.InvalidImage as exc:
                form.add_error(f"{prefix}_file", str(exc))
                continue
            name = images.store_upload(checked, owner_id=owner_id)
        elif ref:
            name = images.unsign_upload(ref, owner_id=owner_id) or ""
            if not name:
                form.add_error(f"{prefix}_file", "That picture has expired; choose it again.")
                continue
        if name:
            name = images.own_copy(name, owner_id)
            form.picture_refs[prefix] = images.sign_upload(name, owner_id=owner_id)
            form.data[f"{prefix}_ref"] = form.picture_refs[prefix]  # re-shown after an error: no second upload
            data[field] = images.STORED + name


def rows(form: forms.Form) -> list[dict[str, Any]]:
    """What the template shows for each picture: the upload field, the URL field and a preview if one is chosen."""
    out = []
    for prefix, (field, _label) in PICTURES.items():
        if f"{prefix}_file" not in form.fields:
            continue
        ref = form[f"{prefix}_ref"].value()
        out.append(
            {
                "prefix": prefix,
                "file": form[f"{prefix}_file"],
                "url": form[field],
                "ref": form[f"{prefix}_ref"],
                "preview": reverse("upload_preview", args=[ref]) if ref else "",
            }
        )
    return out
