"""Start and end images a member uploads: checked by content, re-encoded without metadata, then stored.

The limits are Kling's for image-to-video (docs/providers.md, "Images"): at most 10 MB, at least 300 px on each
side, an aspect ratio between 1:2.5 and 2.5:1. A file is accepted only if Pillow decodes it completely as a JPEG,
PNG or WebP: the name and the declared type are never trusted, so an SVG, an HTML page renamed .png, a polyglot, a
truncated file or a decompression bomb is refused with one sentence, before anything is stored or charged.
The stored copy is a fresh JPEG (or PNG when the picture has transparency) with no EXIF, XMP or ICC payloads.
"""

from __future__ import annotations

import hashlib
import io
import uuid
import warnings
from dataclasses import dataclass
from typing import IO, Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
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
        raise InvalidImage(f"The image is {width} × {height} pixels; the limit is {MAX_SIDE} pixels on a side.")
    if min(width, height) < MIN_SIDE:
        raise InvalidImage(f"The image is {width} × {height} pixels; each side needs at least {MIN_SIDE}.")
    if max(width / height, height / width) > MAX_RATIO:
        raise InvalidImage("The image is too narrow: its sides may differ by at most 2.5 times.")


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
