"""Pictures uploaded and never used are deleted once nobody can use them any more.

An upload is used through its signed id, which lasts ``UPLOAD_REF_SECONDS`` (7 days). A day after that, a picture
under ``uploads/<member>/`` that no generation points at (``image_url`` / ``tail_image_url`` = "stored:<name>") can
never be used, so the sweep deletes it. Everything a generation points at stays, whatever its state.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.core.files.storage import default_storage
from django.db.models import Q
from django.utils import timezone

from generations.media.images import STORED, UPLOAD_REF_SECONDS
from generations.models import Generation

log = logging.getLogger(__name__)
ROOT = "uploads"
KEEP = timedelta(seconds=UPLOAD_REF_SECONDS) + timedelta(days=1)


def _used_by_generations(folder: str) -> set[str]:
    prefix = STORED + folder + "/"
    rows = Generation.objects.filter(Q(image_url__startswith=prefix) | Q(tail_image_url__startswith=prefix))
    return {v[len(STORED) :] for pair in rows.values_list("image_url", "tail_image_url") for v in pair if v}


def uploads_sweep(now: datetime | None = None) -> int:
    """Delete unused uploads older than KEEP; returns how many were deleted."""
    cutoff = (now or timezone.now()) - KEEP
    if not default_storage.exists(ROOT):
        return 0
    deleted = 0
    for member in default_storage.listdir(ROOT)[0]:
        folder = f"{ROOT}/{member}"
        used = _used_by_generations(folder)
        for name in default_storage.listdir(folder)[1]:
            path = f"{folder}/{name}"
            if path in used or default_storage.get_modified_time(path) > cutoff:
                continue
            default_storage.delete(path)
            deleted += 1
    if deleted:
        log.info("upload sweep deleted %d unused pictures", deleted)
    return deleted
