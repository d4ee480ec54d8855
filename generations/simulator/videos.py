"""Real MP4 files for the simulator: H.264 yuv420p (plus AAC when there is sound), moov atom first so a browser
can start playing and seeking before the download ends. Plain style (tests): cheap (ultrafast, 8 fps, a moving bar).
Demo style (``make run``, benchmarks): demo_frames.py's colour, motion and caption at a realistic bitrate. A video made
from a start image begins with that picture, scaled into the frame, and a bar then crosses it. Every file is cached
on disk by (duration, width, height, sound, caption, picture digest)."""

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

from generations.simulator import demo_frames, pictures

FPS = 8
SAMPLE_RATE = 44100
TONE_PERIOD = 100  # samples: a 441 Hz tone that repeats exactly, so the buffer is built by repetition
RESOLUTIONS = {
    "std": {"16:9": (1280, 720), "9:16": (720, 1280), "1:1": (720, 720)},
    "pro": {"16:9": (1920, 1080), "9:16": (1080, 1920), "1:1": (1080, 1080)},
}

# (duration, width, height, sound, caption, picture): the caption is "" for the plain, cheap style; the picture is
# the start image's digest ("" for text-to-video), so two pictures never share a cached file.
VideoKey = tuple[int, int, int, bool, str, str]


def resolution(mode: str, aspect_ratio: str) -> tuple[int, int]:
    # 4k is rendered at 1080p: the simulator proves the flow, and a real 2160p encode would only slow tests down.
    return RESOLUTIONS["std" if mode == "std" else "pro"][aspect_ratio]


def render(
    path: Path, duration: int, width: int, height: int, sound: bool, caption: str = "", picture: bytes = b""
) -> None:
    """Encode ``duration`` seconds exactly, and a quiet tone if ``sound``.

    Without a caption: a bright bar crossing a dark frame at 8 fps, as cheap as possible (most tests). With one
    (demo style, ``make run``): colour, motion, film grain and the caption at 24 fps and a realistic bitrate.
    """
    fps = demo_frames.FPS if caption else FPS
    if caption and not picture:
        options = {"preset": "ultrafast", "g": str(2 * fps)}
    else:
        options = {"preset": "ultrafast", "crf": "35", "g": str(FPS)}
    with av.open(str(path), "w", format="mp4", options={"movflags": "faststart"}) as container:
        video = container.add_stream("libx264", rate=fps, options=options)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        if caption and not picture:
            video.bit_rate = demo_frames.bitrate(width, height)
        audio = container.add_stream("aac", rate=SAMPLE_RATE) if sound else None
        if audio is not None:
            audio.layout = "mono"
        frames = duration * fps
        source: PictureFrames | demo_frames.DemoFrames | None = None
        if picture:
            source = PictureFrames(picture, width, height, frames, fps)
        elif caption:
            source = demo_frames.DemoFrames(width, height, frames, caption)
        for i in range(frames):
            frame = source.frame(i) if source else _frame(i, frames, width, height)
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


class PictureFrames:
    """The start image in every frame; from the second frame on a bright bar crosses it, so the video moves."""

    def __init__(self, picture: bytes, width: int, height: int, frames: int, fps: int):
        self.canvas = pictures.canvas_of(picture, width, height)
        self.width, self.height, self.frames, self.fps = width, height, frames, fps
        self.bar = max(width // 20, 2)

    def frame(self, i: int) -> av.VideoFrame:
        image = self.canvas
        if i > 0:  # the first frame is the picture itself
            x = int((self.width - self.bar) * i / max(self.frames - 1, 1))
            image = self.canvas.copy()
            image.paste((235, 235, 235), (x, 0, x + self.bar, self.height))
        frame = av.VideoFrame.from_image(image).reformat(format="yuv420p")
        frame.pts = i
        frame.time_base = Fraction(1, self.fps)
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
        # Start images by digest (pictures.digest), added at task creation; a key names one of them.
        self.pictures: dict[str, bytes] = {}

    def add_picture(self, picture: bytes) -> str:
        name = pictures.digest(picture)
        if name:
            with self._lock:
                self.pictures[name] = picture
        return name

    def path_for(self, key: VideoKey) -> Path:
        duration, width, height, sound, caption, picture = key
        style = f"-{hashlib.sha256(caption.encode()).hexdigest()[:12]}" if caption else ""
        style += f"-from-{picture}" if picture else ""
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
                    *shape, picture = key
                    render(partial, *shape, picture=self.pictures[picture] if picture else b"")
                    os.replace(partial, path)  # atomic: a reader never sees half a file
                finally:
                    partial.unlink(missing_ok=True)
        return path

    def prepare(self, key: VideoKey) -> Future[Path]:
        return self._pool.submit(self.get, key)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
