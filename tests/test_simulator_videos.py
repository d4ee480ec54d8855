"""The simulator's demo-style videos look like videos: they move, have colour, show the prompt's first words and
come at a realistic bitrate (decoded with PyAV, the same library that wrote them)."""

from __future__ import annotations

from pathlib import Path

import av

from generations.simulator.demo_frames import BITS_PER_PIXEL_SECOND, caption_of
from generations.simulator.videos import render


def _frames(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


def _bright_pixels(frame: av.VideoFrame, top: int, bottom: int) -> int:
    plane = frame.planes[0]
    data = bytes(plane)  # no numpy here: count in the plane's rows
    rows = (data[r * plane.line_size : r * plane.line_size + frame.width] for r in range(top, bottom))
    return sum(1 for row in rows for v in row if v > 200)


def test_a_demo_video_moves_has_colour_shows_its_caption_at_a_realistic_bitrate(tmp_path: Path) -> None:
    path = tmp_path / "demo.mp4"
    render(path, 2, 320, 180, False, caption_of("A red kite, over the dunes at dusk!"))
    frames = _frames(path)
    assert len(frames) == 48  # 24 fps
    first, last = frames[0], frames[-1]
    assert bytes(first.planes[0]) != bytes(last.planes[0]), "nothing moves"
    chroma = set(bytes(first.planes[1]))
    assert max(chroma) - min(chroma) > 60, "no colour"
    bits_per_second = path.stat().st_size * 8 / 2
    assert bits_per_second > 0.5 * BITS_PER_PIXEL_SECOND * 320 * 180, f"{bits_per_second:.0f} bit/s is too low"
    # The caption band in the lower third holds white text; the plain style has none there.
    assert _bright_pixels(first, 120, 170) > 200
    plain = tmp_path / "plain.mp4"
    render(plain, 2, 320, 180, False)
    assert _bright_pixels(_frames(plain)[0], 0, 180) < 180 * 40  # just the bar


def test_captions_keep_the_first_words_in_drawable_letters() -> None:
    assert caption_of("A red kite, over the dunes at dusk!") == "A RED KITE, OVER THE"
    assert caption_of("Café — naïve 東京 test") == "CAF NA VE TEST"
    assert caption_of("") == ""
