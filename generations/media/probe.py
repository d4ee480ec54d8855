"""Look inside a downloaded video with PyAV: is it a real, complete video, and what does it look like. No Django.

Memory stays flat whatever the file size: we read the container header, decode one frame near the start and
one near the end (seeking, never demuxing the whole file), and the poster decodes from one keyframe only.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from fractions import Fraction

import av
import av.container
import av.video.stream

# How many frames after a seek we are willing to decode to reach the wanted time; bounds CPU on long GOPs.
MAX_FRAMES_AFTER_SEEK = 300
POSTER_POSITION = 0.10  # fraction of the duration
# A real MP4 has a handful of top-level boxes (a fragmented one, a few per second); this bounds a hostile file.
MAX_TOP_LEVEL_BOXES = 100_000


class InvalidVideo(Exception):
    """The file is not a decodable video. ``message`` is one sentence a member can read."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class VideoInfo:
    duration: float  # seconds
    width: int
    height: int
    has_audio: bool
    video_codec: str


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Describe the video at ``path``; raise InvalidVideo if it is not a complete, decodable video."""
    if not _mp4_boxes_complete(path):
        raise InvalidVideo("The video file is incomplete.")
    with _open(path) as container:
        stream = _video_stream(container)
        duration = _duration(container, stream)
        try:
            # The index can describe media data that is damaged: decode a frame at the start and one near the end.
            if _frame_at(container, stream, 0.0) is None:
                raise InvalidVideo("The video has no decodable picture.")
            if _frame_at(container, stream, duration * 0.9) is None:
                raise InvalidVideo("The video file is incomplete.")
        except av.FFmpegError as exc:
            raise InvalidVideo("The video file is damaged and cannot be decoded.") from exc
        return VideoInfo(
            duration=duration,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            has_audio=any(s.type == "audio" for s in container.streams),
            video_codec=stream.codec_context.name,
        )


def make_poster(
    video_path: str | os.PathLike[str], out_path: str | os.PathLike[str], *, max_width: int = 640
) -> tuple[int, int]:
    """Write a JPEG of the frame about 10% into the video to ``out_path``; return its (width, height)."""
    with _open(video_path) as container:
        stream = _video_stream(container)
        try:
            frame = _frame_at(container, stream, _duration(container, stream) * POSTER_POSITION)
        except av.FFmpegError as exc:
            raise InvalidVideo("The video file is damaged and cannot be decoded.") from exc
        if frame is None:
            raise InvalidVideo("The video has no decodable picture.")
    width, height = _poster_size(frame.width, frame.height, max_width)
    # yuvj420p is the full-range pixel format the MJPEG encoder expects.
    picture = frame.reformat(width=width, height=height, format="yuvj420p")
    with av.open(os.fspath(out_path), mode="w", format="image2") as out:
        out_stream = out.add_stream("mjpeg", rate=1)
        out_stream.width, out_stream.height, out_stream.pix_fmt = width, height, "yuvj420p"
        picture.pts = None
        for packet in out_stream.encode(picture):
            out.mux(packet)
        for packet in out_stream.encode(None):
            out.mux(packet)
    return width, height


def _mp4_boxes_complete(path: str | os.PathLike[str]) -> bool:
    """For MP4/MOV files, check that the top-level boxes tile the file exactly.

    FFmpeg happily opens a truncated "faststart" MP4 (index in front, media data cut short) and reports the
    full duration; the box sizes are the cheap, exact way to see that bytes are missing. Other containers
    pass through to the decode checks.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        if f.read(8)[4:8] != b"ftyp":
            return True
        offset = 0
        for _ in range(MAX_TOP_LEVEL_BOXES):
            if offset == size:
                return True
            f.seek(offset)
            header = f.read(16)
            if len(header) < 8:
                return False
            box_size = struct.unpack(">I", header[:4])[0]
            if box_size == 1:  # 64-bit "largesize" follows the type
                if len(header) < 16:
                    return False
                box_size = struct.unpack(">Q", header[8:16])[0]
            elif box_size == 0:  # the last box runs to the end of the file
                return True
            if box_size < 8:
                return False
            offset += box_size
            if offset > size:
                return False
    return False


def _open(path: str | os.PathLike[str]) -> av.container.InputContainer:
    try:
        return av.open(os.fspath(path), mode="r")
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise InvalidVideo("The file is not a video we can read.") from exc


def _video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    if not container.streams.video:
        raise InvalidVideo("The file has no video track.")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    if not stream.codec_context.width or not stream.codec_context.height:
        raise InvalidVideo("The video has no picture size.")
    return stream


def _duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        seconds = container.duration / av.time_base
    else:
        seconds = 0.0
    if seconds <= 0:
        raise InvalidVideo("The video has no duration.")
    return seconds


def _frame_at(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, seconds: float
) -> av.VideoFrame | None:
    """Decode the first frame at or after ``seconds`` (or the last one before the end); None if none decodes."""
    time_base = stream.time_base or Fraction(1, av.time_base)
    start = stream.start_time or 0
    target = start + int(seconds / time_base)
    # Seek lands on the keyframe at or before target; decode forward from there, one frame in memory at a time.
    container.seek(target, stream=stream, backward=True, any_frame=False)
    last = None
    for index, frame in enumerate(container.decode(stream)):
        last = frame
        if frame.pts is None or frame.pts >= target or index >= MAX_FRAMES_AFTER_SEEK:
            break
    return last


def _poster_size(width: int, height: int, max_width: int) -> tuple[int, int]:
    if width > max_width:
        height = round(height * max_width / width)
        width = max_width
    # Even sizes keep 4:2:0 chroma subsampling exact.
    return max(2, width - width % 2), max(2, height - height % 2)
