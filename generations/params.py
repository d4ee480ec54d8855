"""What counts as a number and as clean text in anything a member sends; Django-free, so the catalog uses it.

Python disagrees with browsers and attackers in ways that each became an HTTP 500 (issue 10): ``"²".isdigit()``
is true but ``int("²")`` fails, ``int("٣")`` is 3, and ``int()`` refuses more than 4,300 digits. ESC sequences,
DEL and C1 controls were stored, sent to providers and rendered. Every parser of a member's number and every
check of a member's text uses these two functions; kling_site/badinput.py builds the form fields and the
request guard on them.
"""

from __future__ import annotations

import re
from typing import Any

# C0 control characters other than tab and line feed, DEL and the C1 block (ESC sequences, CSI): never part of
# a prompt, a name or an address. A browser's CR LF line ends are normalised to LF before the check.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_ASCII_INT = re.compile(r"[+-]?[0-9]{1,18}")  # 18 digits always fit a signed 64-bit column


def has_control_characters(value: str) -> bool:
    """The one rule for every text a member sends (prompts, shot prompts, image URLs): False means clean."""
    return bool(CONTROL_CHARACTERS.search(value.replace("\r\n", "\n")))


def parse_int(value: Any) -> int | None:
    """``value`` as an int if it is (optionally signed) ASCII digits that fit 64 bits, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if abs(value) < 10**18 else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    return int(text) if _ASCII_INT.fullmatch(text) else None
