"""Demo-style frames for the simulator's videos: colour that shifts over time, moving stripes with film grain, a
bouncing light, and the prompt's first words across the lower third, encoded at a realistic bitrate.

Pure Python on bytes (no numpy or Pillow): each frame is built from precomputed rows, sliced and repeated, so a
10 s 1080p video costs well under a second of Python before the encoder.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

import av

FPS = 24
BITS_PER_PIXEL_SECOND = 3.8  # about 3.5 Mbit/s at 720p and 8 Mbit/s at 1080p, what providers deliver
CAPTION_WORDS = 5
GRAIN_VARIANTS = 8

# A 3x5 pixel font, scaled up: enough for the first words of a prompt. Unknown characters become spaces.
FONT = {
    "A": "010101111101101", "B": "110101110101110", "C": "011100100100011", "D": "110101101101110",
    "E": "111100110100111", "F": "111100110100100", "G": "011100101101011", "H": "101101111101101",
    "I": "111010010010111", "J": "001001001101010", "K": "101101110101101", "L": "100100100100111",
    "M": "101111111101101", "N": "110101101101101", "O": "010101101101010", "P": "110101110100100",
    "Q": "010101101110011", "R": "110101110101101", "S": "011100010001110", "T": "111010010010010",
    "U": "101101101101111", "V": "101101101101010", "W": "101101111111101", "X": "101101010101101",
    "Y": "101101010010010", "Z": "111001010100111", "0": "111101101101111", "1": "010110010010111",
    "2": "110001010100111", "3": "110001010001110", "4": "101101111001001", "5": "111100110001110",
    "6": "011100111101111", "7": "111001010010010", "8": "111101111101111", "9": "111101111001110",
    " ": "000000000000000", "-": "000000111000000", ".": "000000000000010", ",": "000000000010100",
    "!": "010010010000010", "?": "110001010000010", "'": "010010000000000",
}  # fmt: skip


def caption_of(prompt: str) -> str:
    """The first words of a prompt, in the characters the font draws: "A red kite, at dusk…" → "A RED KITE, AT DUSK"."""
    words = "".join(c if c.upper() in FONT else " " for c in prompt).upper().split()
    return " ".join(words[:CAPTION_WORDS])[:40]


def bitrate(width: int, height: int) -> int:
    return int(BITS_PER_PIXEL_SECOND * width * height)


class DemoFrames:
    """Frames for one video; build once, then ``frame(i)`` for i in range(frames)."""

    def __init__(self, width: int, height: int, frames: int, caption: str, seed: int = 7):
        self.width, self.height, self.frames = width, height, frames
        rng = random.Random(seed)
        self.period = max(width // 3, 8)
        wave = [int(110 + 60 * math.sin(2 * math.pi * x / self.period)) for x in range(width + self.period)]
        self.rows = [bytes(min(max(v + rng.randint(-14, 14), 16), 235) for v in wave) for _ in range(GRAIN_VARIANTS)]
        self.pad = b"\x00"
        self.band_top, self.band = self._caption_band(caption)
        self.light = max(min(width, height) // 6, 4)

    def _caption_band(self, caption: str) -> tuple[int, list[bytes]]:
        """Rows of the lower-third band: dark, with the caption in white (each font pixel a square of ``scale``)."""
        w = self.width
        if not caption:
            return self.height, []
        scale = max(min(w // (4 * len(caption) + 4), self.height // 14), 1)
        text_w = (4 * len(caption) - 1) * scale
        left = max((w - text_w) // 2, 0)
        rows = [b"\x18" * w] * scale
        for fy in range(5):
            row = bytearray(b"\x18" * w)
            for n, ch in enumerate(caption):
                glyph = FONT.get(ch, FONT[" "])
                for fx in range(3):
                    if glyph[fy * 3 + fx] == "1":
                        x = left + (4 * n + fx) * scale
                        row[x : min(x + scale, w)] = b"\xeb" * max(min(scale, w - x), 0)
            rows += [bytes(row)] * scale
        rows += [b"\x18" * w] * scale
        top = max(self.height - len(rows) - self.height // 5, 0)  # clear of players' controls and badges
        return top, rows[: self.height - top]

    def frame(self, i: int) -> av.VideoFrame:
        w, h = self.width, self.height
        frame = av.VideoFrame(w, h, "yuv420p")
        luma = frame.planes[0]
        pad = b"\x00" * (luma.line_size - w)
        shift = (i * 3) % self.period
        t = i / max(self.frames - 1, 1)
        # A light that bounces across the frame: the eye (and the encoder) sees motion.
        lx = int((w - self.light) * abs(math.sin(math.pi * t * 1.5)))
        ly = int((h - self.light) * (0.25 + 0.2 * math.sin(2 * math.pi * t)))
        band_end = self.band_top + len(self.band)
        out = []
        for r in range(h):
            if self.band_top <= r < band_end:
                row = self.band[r - self.band_top]
            else:
                start = (shift + r) % self.period
                row = self.rows[(r * 3 + i) % GRAIN_VARIANTS][start : start + w]
                if ly <= r < ly + self.light:
                    row = row[:lx] + b"\xeb" * self.light + row[lx + self.light :]
            out.append(row + pad)
        luma.update(b"".join(out))
        self._chroma(frame, t)
        frame.pts = i
        frame.time_base = Fraction(1, FPS)
        return frame

    def _chroma(self, frame: av.VideoFrame, t: float) -> None:
        """Colour: the hue turns over the video and changes from top to bottom; the caption band stays neutral."""
        for plane, phase in ((frame.planes[1], 0.0), (frame.planes[2], math.pi / 2)):
            cw, ch = self.width // 2 + self.width % 2, self.height // 2 + self.height % 2
            pad = b"\x80" * (plane.line_size - cw)
            rows = []
            for r in range(ch):
                if self.band_top // 2 <= r < (self.band_top + len(self.band) + 1) // 2:
                    value = 128
                else:
                    value = int(128 + 60 * math.cos(2 * math.pi * t + phase + math.pi * r / ch))
                rows.append(bytes((value,)) * cw + pad)
            plane.update(b"".join(rows)[: plane.buffer_size])
