"""The command line shared by ``python -m generations.simulator`` and ``manage.py simulator``."""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from generations.simulator.faults import FAULTS, FaultError
from generations.simulator.server import DEFAULT_KEYS, Simulator

DEFAULT_CACHE_DIR = "var/simulator-cache"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags, shared with ``manage.py simulator``."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--task-seconds", type=float, default=10.0, help="how long each task takes (default 10)")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="global fault, [phase:]kind[xN], repeatable; kinds: " + ", ".join(FAULTS),
    )
    parser.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="PROVIDER=VALUE",
        help="accepted key, repeatable; kling=ACCESS_KEY:SECRET_KEY",
    )
    parser.add_argument("--cache-dir", default=DEFAULT_CACHE_DIR, help="where rendered MP4s are kept")
    parser.add_argument("--slow-seconds", type=float, default=40.0, help="delay of the slow/submit_timeout faults")
    parser.add_argument("--result-ttl", type=float, default=3600.0, help="Segmind v2 result lifetime in seconds")
    parser.add_argument("--oversize-bytes", type=int, default=2 << 30, help="body size of the oversize fault")
    parser.add_argument("--public-url", default="", help="base URL clients use, if not http://HOST:PORT")
    parser.add_argument(
        "--video-style",
        choices=("demo", "plain"),
        default="demo",
        help="demo: colourful 24 fps videos showing the prompt's first words at a realistic bitrate (default); "
        "plain: a cheap moving bar",
    )


def parse_keys(pairs: Iterable[str], defaults: Mapping[str, Any] = DEFAULT_KEYS) -> dict[str, Any]:
    """``["mulerun=abc", "kling=AK:SK"]`` over ``defaults``."""
    keys = dict(defaults)
    for pair in pairs:
        provider, sep, value = pair.partition("=")
        if not sep or provider not in DEFAULT_KEYS or not value:
            raise ValueError(f"--key wants provider=value with a provider from {', '.join(DEFAULT_KEYS)}: {pair!r}")
        if provider == "kling":
            access, colon, secret = value.partition(":")
            if not colon:
                raise ValueError("--key kling=ACCESS_KEY:SECRET_KEY")
            keys[provider] = {"access_key": access, "secret_key": secret}
        else:
            keys[provider] = value
    return keys


def build(options: argparse.Namespace | Any, defaults: Mapping[str, Any] = DEFAULT_KEYS) -> Simulator:
    return Simulator(
        host=options.host,
        port=options.port,
        keys=parse_keys(options.key, defaults),
        task_seconds=options.task_seconds,
        faults=options.fault,
        cache_dir=options.cache_dir,
        slow_seconds=options.slow_seconds,
        result_ttl=options.result_ttl,
        oversize_bytes=options.oversize_bytes,
        public_url=options.public_url,
        video_style=getattr(options, "video_style", "plain"),
    )


def _say(line: str) -> None:
    print(line, flush=True)  # flushed, so process managers (honcho) and tests see the banner at once


def run(sim: Simulator, write: Any = _say) -> None:
    sim.bind()
    write(f"Provider simulator on {sim.base_url} (tasks take {sim.task_seconds:g} s). Ctrl-C stops it.")
    for provider, key in sim.keys.items():
        write(f"  {provider}: {key}")
    if sim.faults.active():
        write("  global faults: " + ", ".join(sim.faults.active()))
    with contextlib.suppress(KeyboardInterrupt):
        sim.serve_forever()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m generations.simulator", description="Run the local provider simulator on one port."
    )
    add_arguments(parser)
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        sim = build(options)
    except (ValueError, FaultError) as exc:
        parser.error(str(exc))
    run(sim)
    return 0
