"""serve_stored_file on a real FileSystemStorage (Range matrix, conditional GETs, HEAD, X-Accel-Redirect)
and on a real S3 API (moto's server on loopback) for the presigned redirect."""

from __future__ import annotations

import email.utils
import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, InMemoryStorage, Storage
from django.http import Http404, HttpResponseBase
from django.test import RequestFactory, override_settings
from storages.backends.s3 import S3Storage

from generations.media import serving
from generations.media.serving import serve_stored_file

NAME = "videos/2f1c.mp4"
DATA = bytes(range(256)) * 1200  # 307,200 bytes: several 64 KiB chunks
SIZE = len(DATA)
LAST = SIZE - 1


@pytest.fixture
def storage(tmp_path: Path) -> FileSystemStorage:
    storage = FileSystemStorage(location=tmp_path)
    storage.save(NAME, ContentFile(DATA))
    return storage


# Closing a response sends request_finished, whose connection health check may touch the database.
pytestmark = pytest.mark.django_db


def _serve(storage: Storage, method: str = "GET", name: str = NAME, **headers: str) -> HttpResponseBase:
    request = getattr(RequestFactory(), method.lower())(f"/videos/1/file?{name}", headers=headers)
    return serve_stored_file(request, name, filename="sunset.mp4", content_type="video/mp4", storage=storage)


def _body(response: HttpResponseBase) -> bytes:
    try:
        return b"".join(response.streaming_content) if response.streaming else response.content
    finally:
        response.close()


# --- the Range matrix -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-1", 0, 1),  # Safari's probe before it will play a <video>
        ("bytes=0-0", 0, 0),
        ("bytes=100-199", 100, 199),
        ("bytes=65530-65545", 65530, 65545),  # across a chunk boundary
        ("bytes=300000-", 300000, LAST),
        ("bytes=0-", 0, LAST),
        ("bytes=-100", SIZE - 100, LAST),
        ("bytes=-999999", 0, LAST),  # a suffix longer than the file is the whole file
        ("bytes=307000-999999", 307000, LAST),  # an end past the file is clamped
        (f"bytes={LAST}-{LAST}", LAST, LAST),
    ],
)
def test_a_satisfiable_range_gets_206_with_exactly_those_bytes(
    header: str, first: int, last: int, storage: FileSystemStorage
) -> None:
    response = _serve(storage, Range=header)
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {first}-{last}/{SIZE}"
    assert response["Content-Length"] == str(last - first + 1)
    assert response["Accept-Ranges"] == "bytes"
    assert _body(response) == DATA[first : last + 1]


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE + 10}-{SIZE + 20}", "bytes=-0"])
def test_an_unsatisfiable_range_gets_416(header: str, storage: FileSystemStorage) -> None:
    response = _serve(storage, Range=header)
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{SIZE}"
    assert _body(response) == b""


@pytest.mark.parametrize(
    "header",
    ["", "bytes=0-1,5-6", "bytes=5-2", "items=0-1", "bytes=abc", "bytes=-", "bytes 0-1"],
)
def test_multi_and_malformed_ranges_get_the_whole_file(header: str, storage: FileSystemStorage) -> None:
    response = _serve(storage, Range=header) if header else _serve(storage)
    assert response.status_code == 200
    assert response["Content-Length"] == str(SIZE)
    assert "Content-Range" not in response
    assert _body(response) == DATA


def test_the_body_streams_in_bounded_chunks(storage: FileSystemStorage) -> None:
    response = _serve(storage)
    assert response.streaming
    chunks = list(response.streaming_content)
    response.close()
    assert len(chunks) > 1
    assert max(len(c) for c in chunks) <= serving.CHUNK_SIZE
    assert b"".join(chunks) == DATA


def test_an_empty_file_is_served_and_any_range_on_it_is_416(tmp_path: Path) -> None:
    storage = FileSystemStorage(location=tmp_path)
    storage.save("empty.mp4", ContentFile(b""))
    full = _serve(storage, name="empty.mp4")
    assert (full.status_code, full["Content-Length"], _body(full)) == (200, "0", b"")
    ranged = _serve(storage, name="empty.mp4", Range="bytes=0-1")
    assert (ranged.status_code, ranged["Content-Range"]) == (416, "bytes */0")


# --- If-Range and conditional GETs -------------------------------------------------------------------------------


def test_if_range_with_the_current_etag_keeps_the_range(storage: FileSystemStorage) -> None:
    etag = _serve(storage, "HEAD")["ETag"]
    response = _serve(storage, Range="bytes=0-1", If_Range=etag)
    assert response.status_code == 206
    assert _body(response) == DATA[:2]


def test_if_range_with_the_current_date_keeps_the_range(storage: FileSystemStorage) -> None:
    last_modified = _serve(storage, "HEAD")["Last-Modified"]
    response = _serve(storage, Range="bytes=10-11", If_Range=last_modified)
    assert response.status_code == 206
    assert _body(response) == DATA[10:12]


@pytest.mark.parametrize("if_range", ['"stale"', 'W/"weak"', "Mon, 01 Jan 2001 00:00:00 GMT", "garbage"])
def test_a_stale_if_range_gets_the_whole_new_file(if_range: str, storage: FileSystemStorage) -> None:
    response = _serve(storage, Range="bytes=0-1", If_Range=if_range)
    assert response.status_code == 200
    assert _body(response) == DATA


def test_if_none_match_gets_304_with_its_validators(storage: FileSystemStorage) -> None:
    first = _serve(storage)
    _body(first)
    response = _serve(storage, If_None_Match=first["ETag"])
    assert response.status_code == 304
    assert response["ETag"] == first["ETag"]
    assert response["Cache-Control"] == "private"
    assert _body(response) == b""


def test_if_modified_since_gets_304(storage: FileSystemStorage) -> None:
    last_modified = _serve(storage, "HEAD")["Last-Modified"]
    assert _serve(storage, If_Modified_Since=last_modified).status_code == 304
    older = email.utils.formatdate(email.utils.parsedate_to_datetime(last_modified).timestamp() - 60, usegmt=True)
    assert _serve(storage, If_Modified_Since=older).status_code == 200


def test_a_failed_if_match_gets_412(storage: FileSystemStorage) -> None:
    assert _serve(storage, If_Match='"something-else"').status_code == 412


def test_the_etag_changes_when_the_file_changes(storage: FileSystemStorage) -> None:
    before = _serve(storage, "HEAD")["ETag"]
    path = storage.path(NAME)
    os.utime(path, (os.stat(path).st_atime, os.stat(path).st_mtime + 10))
    assert _serve(storage, "HEAD")["ETag"] != before


# --- HEAD, headers, errors --------------------------------------------------------------------------------------


def test_head_gets_the_headers_without_a_body(storage: FileSystemStorage) -> None:
    response = _serve(storage, "HEAD")
    assert response.status_code == 200
    assert response["Content-Length"] == str(SIZE)
    assert response["Accept-Ranges"] == "bytes"
    assert not response.streaming
    assert response.content == b""
    ranged = _serve(storage, "HEAD", Range="bytes=0-1")
    assert (ranged.status_code, ranged["Content-Length"], ranged["Content-Range"]) == (206, "2", f"bytes 0-1/{SIZE}")


def test_it_sends_the_safety_and_type_headers(storage: FileSystemStorage) -> None:
    response = _serve(storage)
    _body(response)
    assert response["Content-Type"] == "video/mp4"
    assert response["Content-Disposition"] == 'inline; filename="sunset.mp4"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "private"
    assert response["ETag"].startswith('"')


def test_as_attachment_asks_the_browser_to_save_with_a_unicode_name(storage: FileSystemStorage) -> None:
    request = RequestFactory().get("/videos/1/file?download=1")
    response = serve_stored_file(
        request, NAME, filename="coucher de soleil é.mp4", content_type="video/mp4", storage=storage, as_attachment=True
    )
    _body(response)
    assert response["Content-Disposition"] == "attachment; filename*=utf-8''coucher%20de%20soleil%20%C3%A9.mp4"


def test_a_missing_file_is_404(storage: FileSystemStorage) -> None:
    with pytest.raises(Http404):
        _serve(storage, name="videos/missing.mp4")


def test_other_methods_are_refused(storage: FileSystemStorage) -> None:
    assert _serve(storage, "POST").status_code == 405


def test_a_storage_without_paths_is_served_too() -> None:
    storage = InMemoryStorage()
    storage.save(NAME, ContentFile(DATA))
    response = _serve(storage, Range="bytes=-10")
    assert (response.status_code, _body(response)) == (206, DATA[-10:])


# --- X-Accel-Redirect ---------------------------------------------------------------------------------------------


@override_settings(MEDIA_ACCEL_REDIRECT_PREFIX="/protected-media/")
def test_with_an_accel_prefix_nginx_gets_the_path_and_django_sends_no_body(storage: FileSystemStorage) -> None:
    response = _serve(storage, Range="bytes=0-1")
    assert response.status_code == 200  # nginx answers the Range itself
    assert response["X-Accel-Redirect"] == f"/protected-media/{NAME}"
    assert response["Content-Type"] == "video/mp4"
    assert response["Content-Disposition"] == 'inline; filename="sunset.mp4"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response.content == b""


@override_settings(MEDIA_ACCEL_REDIRECT_PREFIX="/protected-media")
def test_the_accel_path_is_uri_encoded(tmp_path: Path) -> None:
    storage = FileSystemStorage(location=tmp_path)
    name = storage.save("videos/été 1.mp4", ContentFile(b"x"))
    assert _serve(storage, name=name)["X-Accel-Redirect"] == "/protected-media/videos/%C3%A9t%C3%A9%201.mp4"


@override_settings(MEDIA_ACCEL_REDIRECT_PREFIX="/protected-media/")
def test_the_accel_path_never_leaves_the_media_root(storage: FileSystemStorage) -> None:
    with pytest.raises(SuspiciousFileOperation):
        _serve(storage, name="../../etc/passwd")


@override_settings(MEDIA_ACCEL_REDIRECT_PREFIX="")
def test_without_an_accel_prefix_django_streams(storage: FileSystemStorage) -> None:
    response = _serve(storage, Range="bytes=0-1")
    assert "X-Accel-Redirect" not in response
    assert _body(response) == DATA[:2]


# --- S3: a real S3 API on loopback ---------------------------------------------------------------------------------


@override_settings(MEDIA_URL_EXPIRE_SECONDS=123)
def test_s3_files_redirect_to_a_short_lived_presigned_url(s3: S3Storage, s3_endpoint: str) -> None:
    name = s3.save(NAME, ContentFile(DATA))
    response = _serve(s3, name=name)
    assert response.status_code == 302
    assert response["Cache-Control"] == "private, no-store"
    location = response["Location"]
    parts = urlsplit(location)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}" == s3_endpoint
    assert query["X-Amz-Expires"] == ["123"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["response-content-disposition"] == ['inline; filename="sunset.mp4"']
    assert query["response-content-type"] == ["video/mp4"]
    fetched = httpx.get(location, timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == DATA
    assert fetched.headers["Content-Disposition"] == 'inline; filename="sunset.mp4"'


def test_s3_expiry_defaults_to_five_minutes(s3: S3Storage, settings: object) -> None:
    del settings.MEDIA_URL_EXPIRE_SECONDS  # type: ignore[attr-defined]  # pytest-django restores it
    name = s3.save(NAME, ContentFile(b"x"))
    location = _serve(s3, name=name)["Location"]
    assert parse_qs(urlsplit(location).query)["X-Amz-Expires"] == ["300"]


def test_s3_attachment_is_signed_into_the_url(s3: S3Storage) -> None:
    name = s3.save(NAME, ContentFile(DATA))
    request = RequestFactory().get("/videos/1/file?download=1")
    response = serve_stored_file(
        request, name, filename="sunset.mp4", content_type="video/mp4", storage=s3, as_attachment=True
    )
    fetched = httpx.get(response["Location"], timeout=10)
    assert fetched.headers["Content-Disposition"] == 'attachment; filename="sunset.mp4"'
