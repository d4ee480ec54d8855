"""How much memory and time does generations.media.fetch.download() take for a big video?

    .venv/bin/python bench/download_memory.py [--mb 300] [--budget-mb 64]

Starts a loopback HTTP server in a child process (so its buffers do not count against us) that streams an
MP4-looking body of --mb MiB, downloads it twice (to /dev/null, then to a temp file like the pipeline does),
and prints RSS before, peak RSS growth during, and MB/s; then the same URL with `curl -o /dev/null` if curl is
on PATH. Exits 1 if the peak growth passes --budget-mb. Linux only (reads /proc/self/status).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generations.media.fetch import download

MIB = 1024 * 1024


def serve(port: int, size: int) -> None:
    """Child process: stream ``size`` bytes (an ftyp box, then zeros) to every GET."""
    block = bytes(MIB)
    head = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            self.wfile.write(head)
            left = size - len(head)
            while left > 0:
                n = min(left, MIB)
                self.wfile.write(block[:n])
                left -= n

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak() -> None:
    # Writing 5 to clear_refs resets VmHWM (Linux >= 4.0), so the peak we read is the download's alone.
    Path("/proc/self/clear_refs").write_text("5")


def measure(label: str, url: str, sink: BinaryIO, size: int) -> float:
    reset_peak()
    before = status_kib("VmRSS")
    started = time.perf_counter()
    result = download(url, sink, max_bytes=size + MIB, allowed_hosts=[url.split("/")[2]], deadline_seconds=3600)
    elapsed = time.perf_counter() - started
    growth = (status_kib("VmHWM") - before) / 1024
    print(
        f"{label:<22} {result.size / MIB:7.0f} MiB in {elapsed:5.2f} s = {result.size / MIB / elapsed:7.1f} MiB/s"
        f"   RSS before {before / 1024:6.1f} MiB, peak growth {growth:5.1f} MiB"
    )
    return growth


def curl(url: str) -> None:
    if not shutil.which("curl"):
        print("curl                   not on PATH; skipped")
        return
    out = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{size_download} %{time_total}", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    size, seconds = int(out[0]), float(out[1])
    print(f"{'curl -o /dev/null':<22} {size / MIB:7.0f} MiB in {seconds:5.2f} s = {size / MIB / seconds:7.1f} MiB/s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=300, help="body size in MiB (default 300)")
    parser.add_argument("--budget-mb", type=float, default=64, help="allowed peak RSS growth (default 64)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # child mode: the port to serve on
    args = parser.parse_args()
    size = args.mb * MIB
    if args.serve:
        serve(args.serve, size)
        return 0

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    child = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--mb", str(args.mb)])
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/video.mp4"
        with open(os.devnull, "wb") as devnull:
            worst = measure("download -> /dev/null", url, devnull, size)
        with tempfile.TemporaryFile() as tmp:
            worst = max(worst, measure("download -> temp file", url, tmp, size))
        curl(url)
    finally:
        child.terminate()
        child.wait()
    verdict = "OK" if worst <= args.budget_mb else "OVER BUDGET"
    print(f"peak RSS growth {worst:.1f} MiB, budget {args.budget_mb:.0f} MiB: {verdict}")
    return 0 if worst <= args.budget_mb else 1


if __name__ == "__main__":
    sys.exit(main())
