"""What a card in a grid shows of a ready video, made once at fetch time: the poster at card size and a preview clip.

A 24-card page must stay light (README, "Page weight"): the full poster (up to 640 px wide, JPEG) becomes WebP and
JPEG copies that fit a 320 and a 640 px wide 16:9 frame (Pillow), and hovering a card plays a few seconds at 360p
(PyAV, the FFmpeg the probe already uses) instead of the whole video. Both are extras: making or storing them may
fail (the error is logged) and the video is ready all the same; a card without them shows the full poster and no
preview. Stored names derive from the poster's, which is unique to one fetch, so the files never change and their
URLs carry ``version(name)`` and are cached for a year.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from django.core.files import File
from django.core.files.storage import default_storage
from PIL import Image

log = logging.getLogger(__name__)

CARD_WIDTHS = (320, 640)  # the frame widths a srcset offers: one card at 1x, and at 2x (or a phone's full width)
CARD_FORMATS = {"webp": "image/webp", "jpg": "image/jpeg"}  # WebP first; JPEG for browsers without it
CLIP_SECONDS = 4  # loops while the pointer stays on the card
CLIP_SHORT_SIDE = 360
CLIP_MAX_FPS = 30
# x264 with a quality target and a ceiling: a grainy 4 s clip stays under ~800 KB, a calm one far below. Decoding
# the source dominates the cost (about 0.6 s of CPU for 4 s of 1080p), so the encoder and the scaler are the fast
# ones: "superfast" and bilinear cost 30 % less than "veryfast" and bicubic for a clip about 60 % larger (~180 kB).
CLIP_OPTIONS = {"preset": "superfast", "crf": "28", "maxrate": "1500k", "bufsize": "3000k", "profile": "main"}


def version(name: str) -> str:
    """A short digest of a stored name, put in its URL so a new file is a new URL (the cache lasts a year)."""
    return hashlib.sha256(name.encode()).hexdigest()[:10]


def card_poster_name(poster_name: str, width: int, ext: str) -> str:
    """``videos/<pk>/poster-<tag>.jpg`` → ``videos/<pk>/poster-<tag>-320.webp``: the one naming rule."""
    return f"{os.path.splitext(poster_name)[0]}-{width}.{ext}"


def card_poster_names(poster_name: str) -> list[str]:
    return [card_poster_name(poster_name, w, ext) for w in CARD_WIDTHS for ext in CARD_FORMATS]


def stored_names(gen: Any) -> list[str]:
    """Every file a generation holds in storage: its video, poster, hover clip and card-size posters."""
    names = [f.name for f in (gen.video, gen.poster, gen.preview) if f]
    if gen.poster and gen.card_posters:
        names += card_poster_names(gen.poster.name)
    return names


@dataclass
class Made:
    """Files made next to the downloaded video, waiting to be stored; ``cleanup()`` removes them."""

    posters: dict[tuple[int, str], Path] = field(default_factory=dict)
    clip: Path | None = None

    def paths(self) -> Iterator[Path]:
        yield from self.posters.values()
        if self.clip is not None:
            yield self.clip

    def cleanup(self) -> None:
        for path in self.paths():
            path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Stored:
    card_posters: bool = False
    preview: str = ""
    names: tuple[str, ...] = ()  # every name stored, to make durable or to delete with the video


def make(video: Path, poster: Path, *, clip: bool = True) -> Made:
    """Card posters from ``poster`` and (``clip``) a preview clip from ``video``; whatever fails is logged and
    left out."""
    made = Made()
    try:
        made.posters = make_card_posters(poster)
    except Exception:  # an extra: Pillow's errors are many, and none may stop the video
        log.exception("card posters for %s failed; cards show the full poster", video.name)
        made.cleanup()
        made.posters = {}
    if not clip:
        return made
    clip_path = video.with_name(f"{video.stem}-preview.mp4")
    try:
        make_clip(video, clip_path)
        made.clip = clip_path
    except Exception:  # an extra: FFmpeg's errors are many, and none may stop the video
        log.exception("preview clip for %s failed; cards show no preview", video.name)
        clip_path.unlink(missing_ok=True)
    return made


def store(made: Made, *, poster_name: str, preview_name: str) -> Stored:
    """Save what was made under names derived from ``poster_name``; a failed save stores none of that kind."""
    card_posters, preview, names = False, "", []
    if made.posters:
        wanted = {card_poster_name(poster_name, w, ext): path for (w, ext), path in made.posters.items()}
        saved = _save_all(wanted)
        card_posters = saved == list(wanted)
        names += saved if card_posters else _deleted(saved)
    if made.clip is not None:
        saved = _save_all({preview_name: made.clip})
        preview = saved[0] if saved == [preview_name] else ""
        names += saved if preview else _deleted(saved)
    return Stored(card_posters=card_posters, preview=preview, names=tuple(names))


def _save_all(wanted: dict[str, Path]) -> list[str]:
    """Save each file under its name; stop at the first failure or renamed save (storage chose another name)."""
    saved: list[str] = []
    for name, path in wanted.items():
        try:
            with path.open("rb") as fh:
                got = default_storage.save(name, File(fh))
        except Exception:  # an extra: a storage error here must not fail the video
            log.exception("storing %s failed", name)
            return saved
        saved.append(got)
        if got != name:
            return saved
    return saved


def _deleted(names: list[str]) -> list[str]:
    for name in names:
        try:
            default_storage.delete(name)
        except Exception:  # an orphan file costs only space
            log.exception("could not delete %s", name)
    return []


def make_card_posters(poster: Path) -> dict[tuple[int, str], Path]:
    """The poster fitted (never enlarged) into each 16:9 card frame, as WebP and JPEG files beside it."""
    out: dict[tuple[int, str], Path] = {}
    with Image.open(poster) as source:
        source.load()
        picture = source.convert("RGB")
    for width in CARD_WIDTHS:
        small = picture.copy()
        small.thumbnail((width, width * 9 // 16), Image.Resampling.LANCZOS)
        for ext in CARD_FORMATS:
            path = poster.with_name(f"{poster.stem}-{width}.{ext}")
            if ext == "webp":
                small.save(path, "WEBP", quality=72, method=4)
            else:
                small.save(path, "JPEG", quality=78, optimize=True, progressive=True)
            out[(width, ext)] = path
    return out


def make_clip(video: Path, out_path: Path) -> None:
    """The first CLIP_SECONDS of ``video`` at 360p (short side), silent H.264, moov first so it starts at once."""
    with av.open(os.fspath(video)) as source:
        stream = source.streams.video[0]
        stream.thread_type = "AUTO"
        width, height = clip_size(stream.codec_context.width, stream.codec_context.height)
        fps = min(round(float(stream.average_rate or 24)), CLIP_MAX_FPS) or 24
        with av.open(os.fspath(out_path), "w", format="mp4", options={"movflags": "faststart"}) as out:
            encoder = out.add_stream("libx264", rate=fps, options={**CLIP_OPTIONS, "g": str(2 * fps)})
            encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
            for index, frame in enumerate(_first_frames(source, stream, fps)):
                picture = frame.reformat(width=width, height=height, format="yuv420p", interpolation="FAST_BILINEAR")
                picture.pts, picture.time_base = index, Fraction(1, fps)
                for packet in encoder.encode(picture):
                    out.mux(packet)
            for packet in encoder.encode(None):
                out.mux(packet)


def _first_frames(source: av.container.InputContainer, stream: av.video.stream.VideoStream, fps: int) -> Iterator:
    """Frames of the first CLIP_SECONDS, at most ``fps`` a second (a 60 fps source keeps every other one)."""
    start = stream.start_time or 0
    time_base = stream.time_base or Fraction(1, av.time_base)
    taken = 0
    for frame in source.decode(stream):
        seconds = float((frame.pts - start) * time_base) if frame.pts is not None else taken / fps
        if seconds >= CLIP_SECONDS:
            return
        if seconds + 1e-6 >= taken / fps:
            taken += 1
            yield frame


def clip_size(width: int, height: int) -> tuple[int, int]:
    """Scale so the short side is at most CLIP_SHORT_SIDE; even sides for 4:2:0."""
    scale = min(1.0, CLIP_SHORT_SIDE / min(width, height))
    w, h = round(width * scale), round(height * scale)
    return max(2, w - w % 2), max(2, h - h % 2)
