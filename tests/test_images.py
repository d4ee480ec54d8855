"""Start and end images: accepted by content only, re-encoded without metadata; hostile files get one sentence."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from generations.media.images import InvalidImage, check_image, ratio_hint


def picture(fmt: str = "JPEG", size: tuple[int, int] = (640, 360), mode: str = "RGB", **save: object) -> bytes:
    out = io.BytesIO()
    img = Image.new(mode, size, (200, 40, 40) if mode == "RGB" else None)
    img.save(out, format=fmt, **save)
    return out.getvalue()


def check(data: bytes) -> object:
    return check_image(io.BytesIO(data), size=len(data))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_jpeg_png_and_webp_are_accepted_and_reencoded(fmt: str) -> None:
    got = check(picture(fmt))
    assert (got.width, got.height) == (640, 360)
    assert got.content_type == "image/jpeg"
    assert Image.open(io.BytesIO(got.data)).format == "JPEG"


def test_transparency_is_kept_as_png() -> None:
    got = check(picture("PNG", mode="RGBA"))
    assert got.content_type == "image/png"


def test_metadata_is_stripped() -> None:
    exif = Image.Exif()
    exif[0x010E] = "secret-location-note"  # ImageDescription
    data = picture(exif=exif.tobytes())
    assert b"secret-location-note" in data
    got = check(data)
    assert b"secret-location-note" not in got.data
    assert not Image.open(io.BytesIO(got.data)).getexif()


def test_a_rotated_phone_photo_is_stored_upright() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    got = check(picture(size=(640, 360), exif=exif.tobytes()))
    assert (got.width, got.height) == (360, 640)


def _png_with_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge picture (a decompression bomb's shape)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


HOSTILE = {
    "zero bytes": (b"", "empty"),
    "50 MB": (b"\xff\xd8" + b"\0" * (50 * 1024 * 1024), "10 MB"),
    "svg": (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "SVG or a web page"),
    "html renamed .png": (b"<!doctype html><html><script>alert(1)</script></html>", "SVG or a web page"),
    "gif": (picture("GIF"), "not a JPEG, PNG or WebP"),
    "truncated jpeg": (picture(size=(800, 600))[:2000], "damaged or cut short"),
    "huge dimensions": (_png_with_size(100_000, 100_000), "too many pixels"),
    "too wide": (_png_with_size(9000, 4000), "limit is 8000"),
    "too small": (picture(size=(200, 200)), "at least 300"),
    "too wide for its height": (picture(size=(2000, 400)), r"too wide \(2000 by 400 pixels\): its width may"),
    "too tall for its width": (picture(size=(300, 1000)), r"too narrow and tall \(300 by 1000 pixels\): its height"),
    "random bytes": (bytes(range(256)) * 40, "not a JPEG, PNG or WebP"),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_files_get_one_clear_sentence(name: str) -> None:
    data, message = HOSTILE[name]
    with pytest.raises(InvalidImage, match=message):
        check(data)


def test_an_exif_bomb_is_refused_or_stripped_never_crashes() -> None:
    """A JPEG whose EXIF block points its IFD at itself, over and over (parsers that follow it loop forever)."""
    ifd = struct.pack("<2sHI", b"II", 42, 8) + struct.pack("<H", 1) + struct.pack("<HHII", 0x8769, 4, 1, 8) + b"\0" * 4
    data = picture()
    bomb = data[:2] + b"\xff\xe1" + struct.pack(">H", len(ifd) + 8) + b"Exif\0\0" + ifd + data[2:]
    try:
        got = check(bomb)
    except InvalidImage:
        return
    assert not Image.open(io.BytesIO(got.data)).getexif()


def test_a_polyglot_keeps_only_the_picture() -> None:
    """A valid PNG with an HTML page glued on: the picture is accepted, the payload never stored."""
    data = picture("PNG") + b"<html><script>alert(document.cookie)</script></html>"
    got = check(data)
    assert b"<script>" not in got.data


def test_a_shape_hint_when_the_picture_does_not_match_the_video() -> None:
    assert ratio_hint(16 / 9, "16:9") == ""
    assert "not 9:16" in ratio_hint(16 / 9, "9:16")
