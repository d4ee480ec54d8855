"""Pictures sent to POST /api/v1/images cannot fill the disk: a daily count per member, and a sweep that deletes
the ones never used once their ids have expired. A picture a video was made from is never swept."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from generations import jobs
from generations.media import upload_sweep
from generations.media.images import STORED
from generations.services.recovery import UPLOAD_SWEEP_LOCK
from tests.conftest import queue_for
from tests.test_api import API, api_for, is_problem
from tests.test_images import picture

pytestmark = pytest.mark.django_db


def _upload(api: Any, n: int) -> Any:
    data = SimpleUploadedFile(f"p{n}.jpg", picture("JPEG", size=(320 + n, 320)), content_type="image/jpeg")
    return api.client.post(API + "/images", {"file": data})


def _files(media_root: Path) -> list[Path]:
    return sorted(p for p in (media_root / "uploads").rglob("*") if p.is_file())


def test_a_member_sends_at_most_the_daily_number_of_pictures(alice: Any, media_root: Path, settings: Any) -> None:
    settings.API_UPLOADS_PER_DAY = 3
    api = api_for(alice)
    assert [_upload(api, n).status_code for n in range(3)] == [201, 201, 201]
    refused = is_problem(_upload(api, 3), 429)
    assert "3 pictures today" in refused["detail"]
    assert 0 < int(_upload(api, 4)["Retry-After"]) <= 86400
    assert len(_files(media_root)) == 3  # the refused ones were never stored


def test_the_sweep_deletes_only_old_pictures_no_video_uses(
    alice: Any, bob: Any, media_root: Path, make_generation: Any
) -> None:
    api, other = api_for(alice), api_for(bob)
    ids = [_upload(api, n).json()["id"] for n in range(3)] + [_upload(other, 9).json()["id"]]
    assert len(ids) == 4
    old_unused, old_used, new_unused, bobs_old = _files_by_owner(media_root, alice, bob)
    make_generation(alice, image_url=STORED + _name(media_root, old_used))
    long_ago = time.time() - upload_sweep.KEEP.total_seconds() - 3600
    for path in (old_unused, old_used, bobs_old):
        os.utime(path, (long_ago, long_ago))

    assert upload_sweep.uploads_sweep() == 2
    assert _files(media_root) == sorted([old_used, new_unused])
    assert upload_sweep.uploads_sweep(now=timezone.now()) == 0  # nothing more: running it again changes nothing
    # in KEEP days, the new one goes too
    assert upload_sweep.uploads_sweep(now=timezone.now() + upload_sweep.KEEP + timedelta(hours=1)) == 1
    assert _files(media_root) == [old_used]


def test_the_recovery_sweep_job_runs_the_upload_sweep_once_a_day(alice: Any, media_root: Path) -> None:
    _upload(api_for(alice), 0)
    (path,) = _files(media_root)
    long_ago = time.time() - upload_sweep.KEEP.total_seconds() - 3600
    os.utime(path, (long_ago, long_ago))
    queue_for("default").connection.set(UPLOAD_SWEEP_LOCK, "1", ex=60)  # swept earlier today
    jobs.sweep()
    assert _files(media_root) == [path]
    queue_for("default").connection.delete(UPLOAD_SWEEP_LOCK)
    jobs.sweep()
    assert _files(media_root) == []


def _name(media_root: Path, path: Path) -> str:
    return str(path.relative_to(media_root))


def _files_by_owner(media_root: Path, alice: Any, bob: Any) -> list[Path]:
    mine = sorted((media_root / "uploads" / str(alice.pk)).iterdir(), key=lambda p: p.stat().st_mtime_ns)
    (bobs,) = (media_root / "uploads" / str(bob.pk)).iterdir()
    return [mine[0], mine[1], mine[2], bobs]
