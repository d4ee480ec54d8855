"""Prompt placeholders: ``{subject} walking through {place}, {style}``, filled from a form or a CSV row.

A placeholder is a name of letters, digits and underscores in braces. Anything else in braces (``{ }``, ``{a-b}``)
is plain text, so a prompt that happens to hold braces is never refused. Filling is plain substitution: a value
is never read as a placeholder again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

PATTERN = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,39})\}")
MAX_VALUE = 500  # characters in one value; the filled prompt is checked against the model's limit as typed ones are


class MissingValues(ValueError):
    """Some placeholders have no value; ``names`` lists them in the order they appear."""

    def __init__(self, names: list[str]):
        self.names = names
        super().__init__("Fill in " + ", ".join(f"{{{n}}}" for n in names) + ".")


def names_in(text: str) -> list[str]:
    """The placeholders of a text, each once, in the order they first appear (case kept as written)."""
    seen: dict[str, None] = {}
    for m in PATTERN.finditer(text or ""):
        seen.setdefault(m.group(1), None)
    return list(seen)


def fill(text: str, values: Mapping[str, object]) -> str:
    """The text with every placeholder replaced by its value (names match ignoring case; values are trimmed).

    Raises MissingValues naming every placeholder without a non-blank value, and ValueError for a value longer
    than MAX_VALUE characters.
    """
    folded = {str(k).casefold(): ("" if v is None else str(v)).strip() for k, v in values.items()}
    missing = [n for n in names_in(text) if not folded.get(n.casefold())]
    if missing:
        raise MissingValues(missing)
    long = [n for n in names_in(text) if len(folded[n.casefold()]) > MAX_VALUE]
    if long:
        raise ValueError(f"The value of {{{long[0]}}} is longer than {MAX_VALUE} characters.")
    return PATTERN.sub(lambda m: folded[m.group(1).casefold()], text)
