"""The New video form's pictures: upload a start (and end) image, keep it across a form error, or continue a video.

Each picture comes from, in order: a file uploaded with this POST; a signed reference to a picture chosen earlier
(after a form error, "Continue this video", a remix); or an http(s) address typed by a power user. An upload is
checked by content and stored before anything is charged; the form then carries only a signed reference, so a
member never uploads twice and can never point at someone else's file.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.storage import default_storage
from django.urls import reverse

from generations.media import images

# form prefix -> (catalog field, label)
PICTURES = {"start_image": ("image_url", "Start image"), "end_image": ("tail_image_url", "End image")}


# The limits images.check_image enforces, for pictures.js to say at once what the server would say after the upload.
LIMITS = {
    "data-max-bytes": str(images.MAX_BYTES),
    "data-min-side": str(images.MIN_SIDE),
    "data-max-side": str(images.MAX_SIDE),
    "data-max-ratio": f"{images.MAX_RATIO:g}",
}


def add(form: forms.Form) -> None:
    """Add the upload and reference fields next to the URL fields the model shows."""
    for prefix, (field, label) in PICTURES.items():
        if field not in form.fields:
            continue
        form.fields[f"{prefix}_file"] = forms.FileField(
            label=label,
            required=False,
            allow_empty_file=True,  # images.check_image says "The file is empty." itself
            widget=forms.ClearableFileInput(attrs={"accept": images.ACCEPT, "data-picture": prefix, **LIMITS}),
            help_text="JPEG, PNG or WebP, up to 10 MB, at least 300 pixels a side."
            + (" Needs a start image and Professional mode." if prefix == "end_image" else ""),
        )
        form.fields[f"{prefix}_ref"] = forms.CharField(required=False, widget=forms.HiddenInput)
        # Shown beside a kept picture only; without scripts it is how a member lets go of it (pictures.js
        # turns it into a "Remove" button).
        form.fields[f"{prefix}_remove"] = forms.BooleanField(label="Remove this picture", required=False)
        form.fields[field].label = f"…or the address of the {label.lower()}"
        form.fields[field].help_text = "For pictures already online (http or https)."
        if not form.is_bound and _checked(form.initial.get(f"{prefix}_remove")):  # "Show this model's options"
            form.initial[f"{prefix}_ref"] = ""
            form.initial[f"{prefix}_remove"] = False


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
        if data.get(f"{prefix}_remove"):  # the member let go of the kept picture (a new file still counts)
            ref = form.data[f"{prefix}_ref"] = ""
            form.data[f"{prefix}_remove"] = ""
        name = shown = ""
        if upload is not None:
            try:
                checked = images.check_image(upload, size=upload.size)
            except images.InvalidImage as exc:
                form.add_error(f"{prefix}_file", str(exc))
                continue
            name = images.store_upload(checked, owner_id=owner_id)
            shown = upload.name or ""
        elif ref:
            name = images.unsign_upload(ref, owner_id=owner_id) or ""
            if not name or not default_storage.exists(name):  # forged, someone else's, too old, or swept away
                form.data[f"{prefix}_ref"] = ""  # not shown again as if it were kept
                form.add_error(f"{prefix}_file", "That picture has expired; choose it again.")
                continue
            shown = images.upload_shown(ref, owner_id=owner_id)
        if name:
            name = images.own_copy(name, owner_id)
            form.picture_refs[prefix] = images.sign_upload(name, owner_id=owner_id, shown=shown)
            form.data[f"{prefix}_ref"] = form.picture_refs[prefix]  # re-shown after an error: no second upload
            data[field] = images.STORED + name


def rows(form: forms.Form, owner_id: Any = None) -> list[dict[str, Any]]:
    """What the template shows for each picture: the upload field, the URL field, and for a picture already chosen
    its preview, a line saying where it comes from and a way to remove it."""
    out = []
    for prefix, (field, label) in PICTURES.items():
        if f"{prefix}_file" not in form.fields:
            continue
        ref = form[f"{prefix}_ref"].value() or ""
        name = images.unsign_upload(ref, owner_id=owner_id) if ref else None
        ref = ref if name else ""  # a value that is not this member's picture is shown as no picture at all
        shown = images.upload_shown(ref, owner_id=owner_id) if ref else ""
        if form.is_bound:
            kept = f"Kept from your last try: {shown or 'the picture you chose'}."
        else:
            kept = f"Chosen: {shown}." if shown else f"Chosen: the {label.lower()} of the video you started from."
        out.append(
            {
                "prefix": prefix,
                "label": label,
                "file": form[f"{prefix}_file"],
                "url": form[field],
                "ref": form[f"{prefix}_ref"],
                "remove": form[f"{prefix}_remove"],
                # The link names the picture without the file's name: URLs end up in access logs.
                "preview": reverse("upload_preview", args=[images.sign_upload(name, owner_id=owner_id)]) if ref else "",
                "kept": kept if ref else "",
            }
        )
    return out


def _checked(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "on", "true")
