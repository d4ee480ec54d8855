"""A batch's ready videos as one ZIP, streamed: each file is read from storage in chunks as the client takes it.

zipstream-ng writes the archive (stored, not compressed: MP4 does not shrink) and knows its size before the
first byte, so the download shows its progress. Memory stays at one chunk whatever the batch holds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.core.files.storage import default_storage
from django.http import StreamingHttpResponse
from django.utils.text import slugify
from zipstream import ZIP_STORED, ZipStream

from generations.models import Batch, Generation

CHUNK = 256 * 1024
log = logging.getLogger(__name__)


def _chunks(name: str) -> Iterator[bytes]:
    with default_storage.open(name, "rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def ready_videos(batch: Batch) -> list[Generation]:
    ready = batch.generations.alive().filter(status=Generation.Status.READY).exclude(video="")
    return list(ready.order_by("batch_row"))


def batch_zip_response(batch: Batch) -> StreamingHttpResponse:
    """The ZIP of every ready video of the batch, named by row: ``03-a-red-fox.mp4``."""
    archive = ZipStream(compress_type=ZIP_STORED, sized=True)
    for gen in ready_videos(batch):
        name = f"{gen.batch_row or 0:02d}-{slugify(gen.title)[:60] or 'video'}.mp4"
        try:
            size = default_storage.size(gen.video.name)
        except Exception:  # its file is gone (an operator's mistake; any storage's error): the ZIP holds the others
            log.error("batch %s: the video file of %s is missing from storage", batch.pk, gen.pk)
            continue
        archive.add(_chunks(gen.video.name), name, size=size)
    response = StreamingHttpResponse(archive, content_type="application/zip")
    response["Content-Length"] = str(len(archive))
    title = slugify(batch.title)[:60] or "batch"
    response["Content-Disposition"] = f'attachment; filename="{title}-{str(batch.pk)[:8]}.zip"'
    return response
