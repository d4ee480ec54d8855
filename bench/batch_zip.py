"""How much memory and time does a batch's ZIP take to stream? (generations/batches/archive.py)

    .venv/bin/python bench/batch_zip.py [--videos 50] [--mb 40] [--budget-mb 64]

Makes a throwaway SQLite database and media folder, a batch of --videos ready videos of --mb MiB each (an
MP4-looking file, written once and hard-linked), then streams the batch's ZIP response to /dev/null as a web
server would, and prints the archive's size, MB/s, and the peak RSS growth while streaming next to the budget.
Exits 1 if the growth passes --budget-mb. Linux only (reads /proc/self/status).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ["DATABASE_URL"] = "sqlite://:memory:"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from download_memory import MIB, reset_peak, status_kib  # noqa: E402

HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--videos", type=int, default=50)
    parser.add_argument("--mb", type=int, default=40, help="MiB per video (default 40)")
    parser.add_argument("--budget-mb", type=float, default=64, help="allowed peak RSS growth (default 64)")
    args = parser.parse_args()
    media = Path(tempfile.mkdtemp(prefix="zipbench-"))
    settings.MEDIA_ROOT = str(media)
    connection.creation.create_test_db(verbosity=0, keepdb=False)

    from django.contrib.auth import get_user_model

    from generations.batches.archive import batch_zip_response
    from generations.models import Batch, Generation, ProviderCredential

    owner = get_user_model().objects.create_user("bench")
    cred = ProviderCredential.objects.create(provider="mulerun", label="bench")
    batch = Batch.objects.create(owner=owner, title="Bench batch")
    source = media / "source.mp4"
    with source.open("wb") as fh:
        fh.write(HEAD + bytes(args.mb * MIB - len(HEAD)))
    now = timezone.now()
    for row in range(1, args.videos + 1):
        pk = uuid.uuid4()
        name = f"videos/{pk}/video.mp4"
        (media / name).parent.mkdir(parents=True)
        os.link(source, media / name)
        Generation.objects.create(
            id=pk, owner=owner, credential=cred, provider="mulerun", model="mulerun:kling-v2.6", prompt=f"Shot {row}",
            mode="std", aspect_ratio="16:9", duration=5, cost=10, status="ready", video=name, deadline_at=now,
            batch=batch, batch_row=row,
        )  # fmt: skip

    reset_peak()
    before = status_kib("VmRSS")
    started = time.perf_counter()
    response = batch_zip_response(batch)
    sent = 0
    with open(os.devnull, "wb") as sink:
        for chunk in response.streaming_content:
            sink.write(chunk)
            sent += len(chunk)
    took = time.perf_counter() - started
    growth = (status_kib("VmHWM") - before) / 1024
    assert sent == int(response["Content-Length"]), (sent, response["Content-Length"])
    print(f"batch ZIP: {args.videos} videos x {args.mb} MiB = {sent / MIB:,.0f} MiB streamed in {took:.1f} s "
          f"({sent / MIB / took:,.0f} MiB/s)")  # fmt: skip
    print(f"   RSS before {before / 1024:6.1f} MiB, peak growth {growth:5.1f} MiB (budget {args.budget_mb:.0f} MiB)")
    return 0 if growth <= args.budget_mb else 1


if __name__ == "__main__":
    sys.exit(main())
