"""Real MP4 files for the simulator: H.264 yuv420p (plus AAC when there is sound), moov atom first so a browser
can start playing and seeking before the download ends. Plain style (tests): cheap (ultrafast, 8 fps, a moving bar).
Demo style (``make run``, benchmarks): demo_frames.py's colour, motion and caption at a realistic bitrate. Every file
is cached on disk by (duration, width, height, sound, caption)."""

from __future__ import annotations

import array
import hashlib
import math
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import av

from generations.simulator import demo_frames

FPS = 8
SAMPLE_RATE = 44100
TONE_PERIOD = 100  # samples: a 441 Hz tone that repeats exactly, so the buffer is built by repetition
RESOLUTIONS = {
    "std": {"16:9": (1280, 720), "9:16": (720, 1280), "1:1": (720, 720)},
    "pro": {"16:9": (1920, 1080), "9:16": (1080, 1920), "1:1": (1080, 1080)},
}

# (duration, width, height, sound, caption): the caption is "" for the plain, cheap style.
VideoKey = tuple[int, int, int, bool, str]


def resolution(mode: str, aspect_ratio: str) -> tuple[int, int]:
    # 4k is rendered at 1080p: the simulator proves the flow, and a real 2160p encode would only slow tests down.
    return RESOLUTIONS["std" if mode == "std" else "pro"][aspect_ratio]


def render(path: Path, duration: int, width: int, height: int, sound: bool, caption: str = "") -> None:
    """Encode ``duration`` seconds exactly, and a quiet tone if ``sound``.

    Without a caption: a bright bar crossing a dark frame at 8 fps, as cheap as possible (most tests). With one
    (demo style, ``make run``): colour, motion, film grain and the caption at 24 fps and a realistic bitrate.
    """
    fps = demo_frames.FPS if caption else FPS
    if caption:
        options = {"preset": "ultrafast", "g": str(2 * fps)}
    else:
        options = {"preset": "ultrafast", "crf": "35", "g": str(FPS)}
    with av.open(str(path), "w", format="mp4", options={"movflags": "faststart"}) as container:
        video = container.add_stream("libx264", rate=fps, options=options)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        if caption:
            video.bit_rate = demo_frames.bitrate(width, height)
        audio = container.add_stream("aac", rate=SAMPLE_RATE) if sound else None
        if audio is not None:
            audio.layout = "mono"
        frames = duration * fps
        demo = demo_frames.DemoFrames(width, height, frames, caption) if caption else None
        for i in range(frames):
            frame = demo.frame(i) if demo else _frame(i, frames, width, height)
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if audio is not None:
            for frame in _tone(duration):
                for packet in audio.encode(frame):
                    container.mux(packet)
            for packet in audio.encode():
                container.mux(packet)


def _frame(i: int, frames: int, width: int, height: int) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, "yuv420p")
    luma = frame.planes[0]
    bar = max(width // 10, 2)
    x = int((width - bar) * i / max(frames - 1, 1))
    # Rows are padded to line_size; building one row and repeating it keeps this in C speed without numpy.
    row = b"\x20" * x + b"\xd0" * bar + b"\x20" * (width - x - bar) + b"\x00" * (luma.line_size - width)
    luma.update(row * height)
    frame.planes[1].update(b"\x90" * frame.planes[1].buffer_size)
    frame.planes[2].update(b"\x70" * frame.planes[2].buffer_size)
    frame.pts = i
    frame.time_base = Fraction(1, FPS)
    return frame


def _tone(duration: int) -> list[av.AudioFrame]:
    period = array.array("f", (0.2 * math.sin(2 * math.pi * k / TONE_PERIOD) for k in range(TONE_PERIOD)))
    total = SAMPLE_RATE * duration
    samples = period * (total // TONE_PERIOD + 1)
    frames = []
    for start in range(0, total, 1024):
        count = min(1024, total - start)
        frame = av.AudioFrame(format="flt", layout="mono", samples=count)
        frame.planes[0].update(samples[start : start + count].tobytes())
        frame.sample_rate = SAMPLE_RATE
        frame.pts = start
        frame.time_base = Fraction(1, SAMPLE_RATE)
        frames.append(frame)
    return frames


class VideoCache:
    """Files on disk, rendered once per key; ``prepare`` starts a render in the background at task creation."""

    def __init__(self, directory: str | os.PathLike[str]):
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._key_locks: dict[VideoKey, threading.Lock] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sim-video")

    def path_for(self, key: VideoKey) -> Path:
        duration, width, height, sound, caption = key
        style = f"-{hashlib.sha256(caption.encode()).hexdigest()[:12]}" if caption else ""
        return self.directory / f"{duration}s-{width}x{height}-{'sound' if sound else 'silent'}{style}.mp4"

    def get(self, key: VideoKey) -> Path:
        """The file for ``key``, rendering it first if needed (concurrent callers wait for one render)."""
        path = self.path_for(key)
        if path.exists():
            return path
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            if not path.exists():
                self.directory.mkdir(parents=True, exist_ok=True)
                partial = path.with_name(f".{path.name}.{threading.get_ident()}.part")
                try:
                    render(partial, *key)
                    os.replace(partial, path)  # atomic: a reader never sees half a file
                finally:
                    partial.unlink(missing_ok=True)
        return path

    def prepare(self, key: VideoKey) -> Future[Path]:
        return self._pool.submit(self.get, key)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
