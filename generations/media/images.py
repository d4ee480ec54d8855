"""Start and end images a member uploads: checked by content, re-encoded without metadata, then stored.

The limits are Kling's for image-to-video (docs/providers.md, "Images"): at most 10 MB, at least 300 px on each
side, an aspect ratio between 1:2.5 and 2.5:1. A file is accepted only if Pillow decodes it completely as a JPEG,
PNG or WebP: the name and the declared type are never trusted, so an SVG, an HTML page renamed .png, a polyglot, a
truncated file or a decompression bomb is refused with one sentence, before anything is stored or charged.
The stored copy is a fresh JPEG (or PNG when the picture has transparency) with no EXIF, XMP or ICC payloads.
"""

from __future__ import annotations

import base64
import hashlib
import io
import uuid
import warnings
from dataclasses import dataclass
from typing import IO, Any

import av
from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 10 * 1024 * 1024
MIN_SIDE = 300
MAX_SIDE = 8000
MAX_PIXELS = 40_000_000  # well above any camera the members use; far below a decompression bomb
MAX_RATIO = 2.5
FORMATS = {"JPEG", "PNG", "WEBP"}
ACCEPT = "image/jpeg,image/png,image/webp"


class InvalidImage(ValueError):
    """An upload we refuse; the message is one sentence a member can act on."""


@dataclass(frozen=True)
class CheckedImage:
    data: bytes  # the re-encoded file we store and send
    content_type: str
    width: int
    height: int

    @property
    def extension(self) -> str:
        return "png" if self.content_type == "image/png" else "jpg"

    @property
    def ratio(self) -> float:
        return self.width / self.height


def check_image(upload: IO[bytes], *, size: int | None = None) -> CheckedImage:
    """Decode, bound and re-encode one upload; raises InvalidImage with the reason."""
    if size is not None and size > MAX_BYTES:
        raise InvalidImage(f"The image is {size / 1048576:.1f} MB; the limit is 10 MB.")
    raw = upload.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise InvalidImage("The image is larger than 10 MB.")
    if not raw:
        raise InvalidImage("The file is empty.")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(raw), formats=sorted(FORMATS)) as probe:
                width, height = probe.size
                _check_size(width, height)
                probe.verify()  # structure and checksums, without decoding the pixels
            with Image.open(io.BytesIO(raw), formats=sorted(FORMATS)) as img:
                img.load()  # every pixel: a truncated file fails here
                picture = ImageOps.exif_transpose(img)
        except InvalidImage:
            raise
        except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise InvalidImage(_unidentified(raw, exc)) from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise InvalidImage("The image is damaged or cut short; export it again and upload the new file.") from exc
    return _reencode(picture)


def _check_size(width: int, height: int) -> None:
    if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
        raise InvalidImage(f"The image is {width} by {height} pixels; the limit is {MAX_SIDE} pixels on a side.")
    if min(width, height) < MIN_SIDE:
        raise InvalidImage(f"The image is {width} by {height} pixels; each side needs at least {MIN_SIDE}.")
    if width > height * MAX_RATIO:
        raise InvalidImage(
            f"The image is too wide ({width} by {height} pixels): its width may be at most {MAX_RATIO:g} times "
            "its height."
        )
    if height > width * MAX_RATIO:
        raise InvalidImage(
            f"The image is too narrow and tall ({width} by {height} pixels): its height may be at most {MAX_RATIO:g} "
            "times its width."
        )


def _unidentified(raw: bytes, exc: Exception) -> str:
    if isinstance(exc, Image.DecompressionBombError | Image.DecompressionBombWarning):
        return "The image has too many pixels to process safely."
    head = raw[:512].lstrip().lower()
    if head.startswith((b"<svg", b"<?xml", b"<!doctype", b"<html")):
        return "That file is an SVG or a web page, not a picture; upload a JPEG, PNG or WebP."
    return "That file is not a JPEG, PNG or WebP picture."


def _reencode(picture: Image.Image) -> CheckedImage:
    transparent = picture.mode in ("RGBA", "LA") or (picture.mode == "P" and "transparency" in picture.info)
    out = io.BytesIO()
    if transparent:
        picture.convert("RGBA").save(out, format="PNG", optimize=True)
        content_type = "image/png"
    else:
        picture.convert("RGB").save(out, format="JPEG", quality=92, optimize=True)
        content_type = "image/jpeg"
    return CheckedImage(out.getvalue(), content_type, picture.width, picture.height)


def store_upload(image: CheckedImage, *, owner_id: Any) -> str:
    """Save a checked image under uploads/<owner>/ and return its storage name."""
    digest = hashlib.sha256(image.data).hexdigest()[:16]
    name = f"uploads/{owner_id}/{uuid.uuid4().hex[:8]}-{digest}.{image.extension}"
    return default_storage.save(name, ContentFile(image.data))


def ratio_hint(image_ratio: float, aspect_ratio: str) -> str:
    """A sentence when the picture's shape is far from the video's (the provider crops or pads), else ""."""
    w, _, h = aspect_ratio.partition(":")
    if not (w.isdigit() and h.isdigit()) or int(h) == 0:
        return ""
    target = int(w) / int(h)
    if abs(image_ratio - target) / target < 0.15:
        return ""
    return f"This picture is not {aspect_ratio}: the provider will crop or pad it to fit the video."


# --- images we hold, as the providers receive them --------------------------------------------------------------

# A generation's image_url holds "stored:<storage name>" for a picture in our storage (an upload, or a frame of an
# earlier video); members can only type http(s) addresses, so this prefix is set by the site alone.
STORED = "stored:"
# Kling's protocol takes the picture itself: "URL or Base64-encoded string (without the data:image prefix)"
# (docs/providers.md, "Images"). The others fetch a URL, which must then be public: PUBLIC_BASE_URL.
BASE64_PROVIDERS = frozenset({"kling", "powertokens"})
# How long a provider may take to fetch the picture (queues and retries included).
LINK_SECONDS = 6 * 3600
_SALT = "generations.provider-image"


def stored_name(value: str) -> str:
    return value[len(STORED) :] if value.startswith(STORED) else ""


def needs_public_url(provider: str) -> bool:
    return provider not in BASE64_PROVIDERS


def sign_name(name: str) -> str:
    return signing.dumps(name, salt=_SALT, compress=True)


def unsign_name(token: str) -> str | None:
    try:
        return signing.loads(token, salt=_SALT, max_age=LINK_SECONDS)
    except signing.BadSignature:
        return None


def for_provider(value: str, provider: str) -> str:
    """What the provider gets for an image field: a member's URL as typed, or our picture as base64 or a link.

    The link shows that one picture and nothing else, and stops working after LINK_SECONDS.
    """
    name = stored_name(value)
    if not name:
        return value
    if not needs_public_url(provider):
        with default_storage.open(name, "rb") as fh:
            return base64.b64encode(fh.read()).decode("ascii")
    if settings.AWS_STORAGE_BUCKET_NAME:
        return default_storage.url(name, expire=LINK_SECONDS)
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("provider_image", args=[sign_name(name)])


def frame_of(video_name: str, *, at: float | None = None) -> CheckedImage:
    """One frame of a stored video as a checked picture: the last one, or the one at ``at`` seconds."""
    with default_storage.open(video_name, "rb") as fh, av.open(fh) as container:
        stream = container.streams.video[0]
        duration = float(stream.duration * stream.time_base) if stream.duration else (container.duration or 0) / 1e6
        target = duration if at is None else max(0.0, min(at, duration))
        seek_to = max(0.0, target - 2.0)
        container.seek(int(seek_to / stream.time_base), stream=stream, backward=True, any_frame=False)
        chosen = None
        for frame in container.decode(stream):
            if chosen is not None and frame.time is not None and frame.time > target + 1e-3:
                break
            chosen = frame
        if chosen is None:
            raise InvalidImage("This video has no picture to start from.")
        image = chosen.to_image()
    return _reencode(image)


# --- a picture chosen on the New video form, before the video exists ---------------------------------------------
_UPLOAD_SALT = "generations.upload-ref"
UPLOAD_REF_SECONDS = 7 * 86400


def sign_upload(name: str, *, owner_id: Any, shown: str = "") -> str:
    """A form value naming one of the member's pictures; it cannot be forged or used by anyone else.

    ``shown`` is what the member knows it as (the uploaded file's name, "last frame"): the form shows it when it keeps
    the picture after an error."""
    data = {"n": name, "u": owner_id} | ({"f": shown_name(shown)} if shown else {})
    return signing.dumps(data, salt=_UPLOAD_SALT, compress=True)


def unsign_upload(token: str, *, owner_id: Any) -> str | None:
    data = _upload_ref(token, owner_id)
    return data["n"] if data else None


def upload_shown(token: str, *, owner_id: Any) -> str:
    """The name a member knows a chosen picture by ("" when none was kept with it)."""
    data = _upload_ref(token, owner_id)
    return data.get("f", "") if data and isinstance(data.get("f"), str) else ""


def shown_name(filename: str) -> str:
    """A file name as a member's browser sent it, without any folder, cut to a length a form line can show."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return base if len(base) <= 60 else base[:28] + "…" + base[-28:]


def _upload_ref(token: str, owner_id: Any) -> dict[str, Any] | None:
    try:
        data = signing.loads(token, salt=_UPLOAD_SALT, max_age=UPLOAD_REF_SECONDS)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("u") != owner_id or not isinstance(data.get("n"), str):
        return None
    return data


def own_copy(name: str, owner_id: Any) -> str:
    """A picture from someone else's shared video (a remix, Generate again) is copied, so each generation owns its
    pictures: deleting one member's video never takes a picture from another's."""
    if owns(name, owner_id):
        return name
    with default_storage.open(name, "rb") as fh:
        data = fh.read()
    extension = name.rsplit(".", 1)[-1] if "." in name else "jpg"
    return default_storage.save(f"uploads/{owner_id}/copy.{extension}", ContentFile(data))


def owns(name: str, owner_id: Any) -> bool:
    """Only pictures under the member's own uploads/ folder may go into their generation."""
    return name.startswith(f"uploads/{owner_id}/") and ".." not in name
