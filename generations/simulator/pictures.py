"""Start images as the simulated providers receive them: a URL they fetch, or base64 they decode.

A picture that cannot be had or decoded raises ``PictureError`` with the words the route puts in the provider's own
error shape. Decoded pictures are kept as PNG bytes; ``canvas_of`` scales one into a video frame (letterboxed on
black) so the first frame of the video visibly is the picture.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import threading
from collections import OrderedDict

import httpx
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 10 * 1024 * 1024  # every provider: "Image file size cannot exceed 10MB"
MIN_SIDE = 300  # "Width and height dimensions must not be less than 300px"
MAX_RATIO = 2.5  # "Aspect ratio should be between 1:2.5 ~ 2.5:1"
FETCH_SECONDS = 10.0
CACHE_SIZE = 64  # fetched URLs, so the catalog cross-check does not fetch one picture thousands of times
ASPECTS = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0}


class PictureError(ValueError):
    """The picture cannot be used; the message is the provider's refusal."""


_cache: OrderedDict[str, bytes] = OrderedDict()
_lock = threading.Lock()


def load(value: object, *, field: str, base64_ok: bool = True) -> bytes:
    """The picture behind a URL or a raw base64 string, checked as the providers document, as PNG bytes."""
    if not isinstance(value, str) or not value.strip():
        raise PictureError(f"{field} must be a non-empty string")
    value = value.strip()
    if value.startswith(("http://", "https://")):
        raw = _fetch(value, field)
    elif value.startswith("data:"):
        raise PictureError(f"{field}: send Base64 without the data:image prefix")
    elif base64_ok:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise PictureError(f"{field} is neither a URL nor valid Base64") from None
    else:
        raise PictureError(f"{field} must be a URL")
    return _checked(raw, field)


def _fetch(url: str, field: str) -> bytes:
    with _lock:
        if url in _cache:
            _cache.move_to_end(url)
            return _cache[url]
    try:
        with httpx.stream("GET", url, timeout=FETCH_SECONDS, follow_redirects=True, trust_env=False) as answer:
            if answer.status_code != 200:
                raise PictureError(f"{field} could not be downloaded (HTTP {answer.status_code})")
            data = b""
            for chunk in answer.iter_bytes():
                data += chunk
                if len(data) > MAX_BYTES:
                    raise PictureError(f"{field}: image file size cannot exceed 10MB")
    except httpx.HTTPError as exc:
        raise PictureError(f"{field} could not be downloaded ({type(exc).__name__})") from None
    with _lock:
        _cache[url] = data
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return data


def _checked(raw: bytes, field: str) -> bytes:
    if len(raw) > MAX_BYTES:
        raise PictureError(f"{field}: image file size cannot exceed 10MB")
    try:
        with Image.open(io.BytesIO(raw)) as img:
            img.load()
            picture = img.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise PictureError(f"{field}: image format is not supported (jpg, jpeg or png)") from None
    width, height = picture.size
    if min(width, height) < MIN_SIDE:
        raise PictureError(f"{field}: width and height must not be less than {MIN_SIDE}px")
    if max(width / height, height / width) > MAX_RATIO:
        raise PictureError(f"{field}: aspect ratio should be between 1:2.5 and 2.5:1")
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def digest(picture: bytes) -> str:
    return hashlib.sha256(picture).hexdigest()[:16] if picture else ""


def nearest_aspect(picture: bytes) -> str:
    """The video shape a picture gets where the provider takes no aspect_ratio with an image: the closest one."""
    with Image.open(io.BytesIO(picture)) as img:
        ratio = img.width / img.height
    return min(ASPECTS, key=lambda name: abs(ASPECTS[name] - ratio) / ASPECTS[name])


def canvas_of(picture: bytes, width: int, height: int) -> Image.Image:
    """The picture scaled to fit ``width`` x ``height`` and centred on black."""
    with Image.open(io.BytesIO(picture)) as img:
        fitted = ImageOps.contain(img.convert("RGB"), (width, height))
    canvas = Image.new("RGB", (width, height))
    canvas.paste(fitted, ((width - fitted.width) // 2, (height - fitted.height) // 2))
    return canvas
