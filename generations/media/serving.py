"""Serve a stored file to a member who has already passed the view's permission check.

Three ways, best first (RELIABILITY.md §4.7):

* S3 (django-storages): a 302 to a short-lived presigned URL; S3 does Range, conditional GETs and the bytes.
* Local storage behind nginx (``MEDIA_ACCEL_REDIRECT_PREFIX`` set): an empty response with ``X-Accel-Redirect``
  pointing at an ``internal`` location; nginx streams the file with sendfile and handles Range itself.
* Local storage without nginx (runserver, tests, small installs): Django streams the file with HTTP Range
  support, because Safari will not play a ``<video>`` whose ``Range: bytes=0-1`` probe is not answered 206.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage, default_storage
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.utils.cache import get_conditional_response
from django.utils.encoding import iri_to_uri
from django.utils.http import content_disposition_header, http_date, parse_http_date_safe

CHUNK_SIZE = 64 * 1024
DEFAULT_EXPIRE_SECONDS = 300
# Only the member's own browser keeps it (the files are private to who may see the video), and never revalidates.
IMMUTABLE = "private, max-age=31536000, immutable"
# One "bytes=first-last" / "bytes=first-" / "bytes=-suffix" range; anything else (multi-range included) is
# ignored and answered with the whole file, which RFC 9110 §14.2 allows.
# ASCII digits only (\d matches "²", which int() refuses), and at most 18 of them (no file is an exabyte;
# int() refuses strings over 4,300 digits): anything else is no range, so the whole file.
_RANGE = re.compile(r"^bytes=([0-9]{0,18})-([0-9]{0,18})$")


def serve_stored_file(
    request: HttpRequest,
    name: str,
    *,
    filename: str,
    content_type: str,
    storage: Storage | None = None,
    as_attachment: bool = False,
    immutable: bool = False,
) -> HttpResponseBase:
    """Answer ``request`` with the stored file ``name``. The caller has checked that the member may see it.

    ``filename`` is what the browser shows or saves as; ``as_attachment`` asks it to download (``?download=1``).
    ``immutable``: the URL names these very bytes (a versioned URL), so the member's browser may keep them a year.
    Raises Http404 if the file is missing from local storage.
    """
    storage = storage if storage is not None else default_storage
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    disposition = content_disposition_header(as_attachment, filename) or "inline"
    if _is_s3(storage):
        return _presigned_redirect(storage, name, disposition, content_type)
    prefix = getattr(settings, "MEDIA_ACCEL_REDIRECT_PREFIX", "")
    if prefix and isinstance(storage, FileSystemStorage):
        response: HttpResponseBase = _accel_redirect(storage, name, prefix, content_type)
    else:
        response = _ranged_file_response(request, storage, name, content_type)
    response["Content-Disposition"] = disposition
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = IMMUTABLE if immutable else "private"
    return response


def _is_s3(storage: Storage) -> bool:
    try:
        from storages.backends.s3 import S3Storage
    except ImportError:  # django-storages is optional for local-only installs
        return False
    return isinstance(storage, S3Storage)


def _presigned_redirect(storage: Storage, name: str, disposition: str, content_type: str) -> HttpResponseBase:
    expire = int(getattr(settings, "MEDIA_URL_EXPIRE_SECONDS", DEFAULT_EXPIRE_SECONDS))
    # The response-* parameters are signed into the URL, so S3 itself sends our filename and type.
    # With a custom (unsigned CDN) domain they would be appended as plain, meaningless query strings: skip them.
    parameters = (
        {}
        if getattr(storage, "custom_domain", None)
        else {
            "ResponseContentDisposition": disposition,
            "ResponseContentType": content_type,
        }
    )
    response = HttpResponseRedirect(storage.url(name, parameters=parameters, expire=expire))
    # The signed URL is personal and short-lived: no shared cache may keep the redirect.
    response["Cache-Control"] = "private, no-store"
    return response


def _accel_redirect(storage: FileSystemStorage, name: str, prefix: str, content_type: str) -> HttpResponse:
    # storage.path() runs safe_join, so a name that climbs out of MEDIA_ROOT raises instead of being served.
    storage.path(name)
    response = HttpResponse(content_type=content_type)
    response["X-Accel-Redirect"] = iri_to_uri(prefix.rstrip("/") + "/" + name.lstrip("/"))
    return response


def _ranged_file_response(request: HttpRequest, storage: Storage, name: str, content_type: str) -> HttpResponseBase:
    try:
        size = storage.size(name)
        modified = int(storage.get_modified_time(name).timestamp())
    except (FileNotFoundError, NotImplementedError) as exc:
        raise Http404("No such file.") from exc
    # Stored names are never rewritten in place (UUID keys), so size + mtime identify the bytes well enough
    # for a strong ETag, which If-Range needs.
    etag = f'"{size:x}-{modified:x}"'
    response = _choose_response(request, storage, name, content_type, size, etag, modified)
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = etag
    response["Last-Modified"] = http_date(modified)
    return response


def _choose_response(
    request: HttpRequest, storage: Storage, name: str, content_type: str, size: int, etag: str, modified: int
) -> HttpResponseBase:
    # 304 for If-None-Match / If-Modified-Since, 412 for a failed If-Match / If-Unmodified-Since.
    conditional = get_conditional_response(request, etag=etag, last_modified=modified)
    if conditional is not None:
        return conditional
    byte_range = _requested_range(request, size, etag, modified)
    if byte_range == "unsatisfiable":
        response: HttpResponseBase = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    start, end = byte_range if isinstance(byte_range, tuple) else (0, size - 1)
    if request.method == "HEAD":
        response = HttpResponse(content_type=content_type)
    else:
        response = StreamingHttpResponse(
            _FileSlice(storage.open(name, "rb"), start, end + 1 - start), content_type=content_type
        )
    response["Content-Length"] = str(end + 1 - start)
    if isinstance(byte_range, tuple):
        response.status_code = 206
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    return response


def _requested_range(request: HttpRequest, size: int, etag: str, modified: int) -> tuple[int, int] | str | None:
    """(first, last) inclusive, "unsatisfiable", or None for "send everything"."""
    header = request.headers.get("Range", "").replace(" ", "")
    match = _RANGE.match(header)
    if not match or match.groups() == ("", ""):
        return None
    if_range = request.headers.get("If-Range")
    if if_range and not _if_range_matches(if_range, etag, modified):
        return None  # the client's partial copy is stale: it needs the whole new file
    first, last = match.groups()
    if first == "":  # suffix range: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - suffix), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if last != "" and int(last) < start:
        return None  # syntactically invalid ("bytes=5-2"): ignore the header
    if start >= size:
        return "unsatisfiable"
    return start, end


def _if_range_matches(if_range: str, etag: str, modified: int) -> bool:
    if if_range.startswith(('"', "W/")):
        return if_range == etag  # strong comparison; a weak validator never matches
    date = parse_http_date_safe(if_range)
    return date is not None and date == modified


class _FileSlice:
    """Iterate ``length`` bytes from ``start`` in CHUNK_SIZE pieces, never the whole file in memory.

    A class rather than a generator so that StreamingHttpResponse.close() closes the file even when the
    body was never iterated (a client that hung up first).
    """

    def __init__(self, f: IO[bytes], start: int, length: int):
        self._file = f
        self._start = start
        self._length = length

    def __iter__(self) -> Iterator[bytes]:
        self._file.seek(self._start)
        remaining = self._length
        while remaining > 0:
            chunk = self._file.read(min(CHUNK_SIZE, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk

    def close(self) -> None:
        self._file.close()
