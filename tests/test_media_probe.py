"""Probe and poster on real MP4s made here with PyAV (x264 + AAC), plus broken files."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import av
import pytest

from generations.media.probe import InvalidVideo, VideoInfo, make_poster, probe


def write_sample_mp4(
    path: Path,
    *,
    seconds: float = 2.0,
    width: int = 320,
    height: int = 240,
    fps: int = 24,
    audio: bool = True,
    faststart: bool = False,
) -> Path:
    """A small real H.264 (+ AAC) MP4 with moving content. Shared with the fetch and serving tests."""
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), mode="w", format="mp4", options=options) as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast", "g": str(fps)}  # one keyframe a second, so seeking is exercised
        sound = out.add_stream("aac", rate=44100, layout="mono") if audio else None
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame(width, height, "yuv420p")
            luma = bytes((x + i * 4) % 256 for x in range(width)) * height
            frame.planes[0].update(luma)
            frame.planes[1].update(bytes([128]) * frame.planes[1].buffer_size)
            frame.planes[2].update(bytes([128]) * frame.planes[2].buffer_size)
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            samples, rate = 1024, 44100
            for n in range(int(seconds * rate / samples)):
                frame = av.AudioFrame(format="fltp", layout="mono", samples=samples)
                tone = [0.2 * math.sin(2 * math.pi * 440 * (n * samples + k) / rate) for k in range(samples)]
                frame.planes[0].update(struct.pack(f"{samples}f", *tone))
                frame.sample_rate, frame.pts = rate, n * samples
                out.mux(sound.encode(frame))
            out.mux(sound.encode(None))
    return path


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample_mp4(tmp_path_factory.mktemp("probe") / "sample.mp4", seconds=3.0)


def test_it_reads_duration_size_codec_and_audio(sample: Path) -> None:
    info = probe(sample)
    assert isinstance(info, VideoInfo)
    assert info.duration == pytest.approx(3.0, abs=0.1)
    assert (info.width, info.height) == (320, 240)
    assert info.has_audio is True
    assert info.video_codec == "h264"


def test_it_reports_no_audio_for_a_silent_video(tmp_path: Path) -> None:
    info = probe(write_sample_mp4(tmp_path / "silent.mp4", seconds=1.0, width=256, height=144, audio=False))
    assert info.has_audio is False
    assert (info.width, info.height) == (256, 144)
    assert info.duration == pytest.approx(1.0, abs=0.1)


def test_it_refuses_a_truncated_file(sample: Path, tmp_path: Path) -> None:
    # Default MP4s keep the index (moov) at the end, so cutting the file loses it.
    broken = tmp_path / "cut.mp4"
    broken.write_bytes(sample.read_bytes()[: sample.stat().st_size // 2])
    with pytest.raises(InvalidVideo):
        probe(broken)


def test_it_refuses_a_truncated_faststart_file(tmp_path: Path) -> None:
    # Here the index is in front and describes media data that is no longer there.
    whole = write_sample_mp4(tmp_path / "fast.mp4", seconds=3.0, faststart=True, audio=False)
    assert probe(whole).duration == pytest.approx(3.0, abs=0.1)
    broken = tmp_path / "fast-cut.mp4"
    broken.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(InvalidVideo):
        probe(broken)


def test_it_refuses_an_html_page(tmp_path: Path) -> None:
    page = tmp_path / "page.mp4"
    page.write_text("<!doctype html><html><body>Access denied</body></html>")
    with pytest.raises(InvalidVideo):
        probe(page)


def test_it_refuses_an_empty_file_and_audio_only_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(InvalidVideo):
        probe(empty)
    audio_only = tmp_path / "audio.m4a"
    with av.open(str(audio_only), mode="w", format="mp4") as out:
        sound = out.add_stream("aac", rate=44100, layout="mono")
        for n in range(10):
            frame = av.AudioFrame(format="fltp", layout="mono", samples=1024)
            frame.planes[0].update(bytes(4096))
            frame.sample_rate, frame.pts = 44100, n * 1024
            out.mux(sound.encode(frame))
        out.mux(sound.encode(None))
    with pytest.raises(InvalidVideo, match="no video track"):
        probe(audio_only)


def test_it_writes_a_scaled_jpeg_poster(tmp_path: Path) -> None:
    video = write_sample_mp4(tmp_path / "wide.mp4", seconds=2.0, width=1280, height=720, audio=False)
    poster = tmp_path / "poster.jpg"
    assert make_poster(video, poster, max_width=640) == (640, 360)
    data = poster.read_bytes()
    assert data[:3] == b"\xff\xd8\xff"  # JPEG SOI marker
    with av.open(str(poster)) as image:
        stream = image.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (640, 360)


def test_it_keeps_small_videos_at_their_size_for_the_poster(sample: Path, tmp_path: Path) -> None:
    assert make_poster(sample, tmp_path / "p.jpg") == (320, 240)


def test_the_poster_refuses_a_non_video(tmp_path: Path) -> None:
    page = tmp_path / "page.mp4"
    page.write_text("<html></html>")
    with pytest.raises(InvalidVideo):
        make_poster(page, tmp_path / "p.jpg")
