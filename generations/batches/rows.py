"""The list of a batch: pasted prompts or an uploaded CSV file, read into numbered rows, every bad row named.

Cells are data, never evaluated: a prompt such as ``=HYPERLINK(...)`` is kept as typed (exports disarm it, see
generations/reports/export.py). This module checks only the shape of a row (a prompt, a whole number of seconds,
an aspect ratio like ``16:9``); whether the model offers that duration or ratio is the catalog's rule, checked by
the caller, whose errors merge with these by row number. Rows are numbered 1, 2, ... as the member counts them:
non-blank lines of pasted text, non-blank rows after the header line of a file (blank ones are skipped).
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from generations.params import has_control_characters, parse_int
from generations.placeholders import fill

MAX_ROWS = 50
MAX_BYTES = 256 * 1024
SETTINGS = ("negative_prompt", "aspect_ratio", "duration")  # optional columns; blank = the batch's shared setting
SPACES = re.compile(r"[\s_]+")
ASPECT_SHAPE = re.compile(r"([0-9]{1,2}):([0-9]{1,2})")
SAVE_AS = "Save the file as CSV UTF-8 (in a spreadsheet: Save As, CSV UTF-8) and upload it again."
WORKBOOKS = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")  # .xlsx (a ZIP) and the older .xls


@dataclass(frozen=True)
class Row:
    number: int
    prompt: str  # "" when a template is chosen, until apply_template fills it
    negative_prompt: str = ""
    aspect_ratio: str = ""  # "" = use the batch's shared setting
    duration: int | None = None  # None = use the batch's shared setting
    values: dict[str, str] = field(default_factory=dict, hash=False)  # by placeholder name, as the template spells it


class RowsError(ValueError):
    """The whole input cannot be read (encoding, size, no rows, too many rows, header): one message."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


class RowErrors(ValueError):
    """Some rows are wrong: ``errors`` maps each bad row's number to its problems, every bad row, in order."""

    def __init__(self, errors: dict[int, str]):
        self.errors = dict(sorted(errors.items()))
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [f"Row {number}: {message}" for number, message in self.errors.items()]


def parse_lines(text: str, *, placeholders: Sequence[str] = ()) -> list[Row]:
    """One prompt per non-blank line; with a template of one placeholder, one value of it per line."""
    if len(text) > MAX_BYTES or len(text.encode()) > MAX_BYTES:
        raise RowsError(f"The list is longer than {MAX_BYTES // 1024} KB.")
    names = list(placeholders)
    if len(names) > 1:
        raise RowsError(
            f"This template has {len(names)} placeholders ({', '.join(names)}): upload a CSV file with a column "
            "for each. Pasted lines fill a template with one placeholder only."
        )
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise RowsError("The list has no prompts.")
    if len(lines) > MAX_ROWS:
        raise RowsError(f"At most {MAX_ROWS} prompts in one batch; this list has {len(lines)}.")
    return _collect(
        _row(n, {}, {names[0]: line}) if names else _row(n, {"prompt": line}, None) for n, line in enumerate(lines, 1)
    )


def parse_csv(data: bytes, *, placeholders: Sequence[str] = ()) -> list[Row]:
    """A CSV file with a header line: prompt (or one column per placeholder of the template) and SETTINGS."""
    text = _decode(data)
    first = re.match(r"[^\r\n]*", text.lstrip())[0]  # the header: no name holds a separator, so count them there
    delimiter = max(",;\t", key=first.count) if any(d in first for d in ",;\t") else ","
    records = _records(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    header = next(records, None)
    if header is None:
        raise RowsError("The file has no rows.")
    columns = _columns(header, list(placeholders))
    results: list[Row | str] = []
    count = 0
    for cells in records:  # keep counting past MAX_ROWS (to say how many) but build no more rows
        count += 1
        if count <= MAX_ROWS:
            results.append(_record(count, cells, columns, delimiter, template=bool(placeholders)))
    if count == 0:
        raise RowsError("The file has no rows.")
    if count > MAX_ROWS:
        raise RowsError(f"At most {MAX_ROWS} prompts in one batch; this file has {count} rows.")
    return _collect(results)


def apply_template(rows: list[Row], write: Callable[[dict[str, str]], tuple[str, str]]) -> list[Row]:
    """Each row with its prompt (and, unless the row has its own, negative prompt) written from its values by
    ``write`` (the template's filler: prompts.services.template_fill); RowErrors names every row that cannot."""
    filled: list[Row] = []
    errors: dict[int, str] = {}
    for row in rows:
        try:
            prompt, negative = write(row.values)
            filled.append(replace(row, prompt=prompt, negative_prompt=row.negative_prompt or negative))
        except ValueError as exc:  # MissingValues, a value over placeholders.MAX_VALUE, a prompt over the limit
            errors[row.number] = str(exc)
    if errors:
        raise RowErrors(errors)
    return filled


def _decode(data: bytes) -> str:
    if len(data) > MAX_BYTES:
        raise RowsError(f"The file is {-(-len(data) // 1024)} KB; a batch file can be at most {MAX_BYTES // 1024} KB.")
    if data.startswith(WORKBOOKS):
        raise RowsError("This is a spreadsheet workbook, not a CSV file. " + SAVE_AS)
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Excel's "Unicode text" (tab-separated)
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise RowsError("The file is not valid UTF-16 text. " + SAVE_AS) from None
    elif b"\x00" in data:  # a picture, an archive, UTF-16 without its BOM: never text we can read
        raise RowsError("This is not a text file. " + SAVE_AS)
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:  # cp1252 / Latin-1 mostly: refuse rather than guess
            line = data.count(b"\n", 0, exc.start) + 1
            raise RowsError(
                f"The file is not UTF-8 text: line {line} holds a character saved in another encoding "
                f"(Windows or Latin-1, perhaps). {SAVE_AS}"
            ) from None
    if "\x00" in text:
        raise RowsError("This is not a text file. " + SAVE_AS)
    return text


def _records(reader: Any) -> Iterator[list[str]]:
    """The non-blank records; a file csv cannot read (an unclosed quote, a giant cell) is one RowsError."""
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise RowsError(f"A cell from line {line} on is longer than {csv.field_size_limit():,} "
                                "characters; is this the right file?") from None  # fmt: skip
            raise RowsError(
                f"The file cannot be read from line {line} on: a cell that holds a quote, a comma or a line break "
                'must be in double quotes, with each quote inside it doubled ("").'
            ) from None
        if any(c.strip() for c in cells):
            yield cells


def _n(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _key(name: str) -> str:
    return SPACES.sub("_", name.strip()).casefold()  # "Negative Prompt" -> "negative_prompt"


def _columns(header: list[str], names: list[str]) -> list[tuple[str, str]]:
    """What each column fills: (its setting or "", its placeholder or ""); ("", "") for a column with no name."""
    by_key = {_key(n): n for n in names}
    known = [*(names or ["prompt"]), *SETTINGS]
    columns: list[tuple[str, str]] = []
    unknown: dict[str, str] = {}  # key -> the name as typed
    seen: set[str] = set()
    for cell in header:
        key = _key(cell)
        if key in seen:
            raise RowsError(f'The column "{cell.strip()[:40]}" appears twice in the header.')
        seen.update([key] if key else [])
        setting = key if key in SETTINGS or (key == "prompt" and not names) else ""
        if key and not setting and key not in by_key:
            unknown[key] = cell.strip()[:40]
        columns.append((setting, by_key.get(key, "")))
    if names and "prompt" in unknown:
        raise RowsError(f"The template writes each prompt from its placeholders ({', '.join(names)}): "
                        "remove the prompt column, or choose no template.")  # fmt: skip
    named = list(unknown)[:5]  # a file that is not a batch list may have thousands: name a few
    hints = {k: f' (did you mean "{m[0]}"?)' if (m := difflib.get_close_matches(k, known, 1)) else "" for k in named}
    if unknown and len(unknown) == len(seen) and not any(hints.values()):
        raise RowsError(f"The first line must name the columns ({', '.join(known)}); "
                        f'this file starts with "{header[0].strip()[:40]}".')  # fmt: skip
    if unknown:
        listed = ", ".join(f'"{unknown[k]}"{hint}' for k, hint in hints.items())
        raise RowsError(f"Unknown column {listed}. The columns are: {', '.join(known)}.")
    missing = [n for n in (names or ["prompt"]) if n not in {s or v for s, v in columns}]
    if missing:
        what = f"{', '.join(missing)} column{'s' if len(missing) > 1 else ''}"
        raise RowsError(f"The file has no {what}. The columns are: {', '.join(known)}.")
    return columns


def _record(number: int, cells: list[str], columns: list[tuple[str, str]], sep: str, template: bool) -> Row | str:
    cells = [c.replace("\r\n", "\n").strip() for c in cells]
    if len(cells) < len(columns) or any(cells[len(columns) :]):  # blank cells past the last column are harmless
        name = {",": "a comma", ";": "a semicolon", "\t": "a tab"}[sep]
        return (
            f"This row has {_n(len(cells), 'cell')} but the header names {_n(len(columns), 'column')}. "
            f"A cell that holds {name} must be in double quotes."
        )
    unnamed = [i + 1 for i, (s, v) in enumerate(columns) if not s and not v and cells[i]]
    if unnamed:
        return f"Column {unnamed[0]} has no name in the header but this row has a value in it."
    settings = {s: cells[i] for i, (s, _) in enumerate(columns) if s}
    return _row(number, settings, {v: cells[i] for i, (_, v) in enumerate(columns) if v} if template else None)


def _row(number: int, settings: dict[str, str], values: dict[str, str] | None) -> Row | str:
    """The Row, or all its problems in one message. ``values`` is None when no template is chosen."""
    texts = {**settings, **{f"value of {{{k}}}": v for k, v in (values or {}).items()}}
    problems = [f"The {name.replace('_', ' ')} contains control characters."
                for name, text in texts.items() if has_control_characters(text)]  # fmt: skip
    prompt = settings.get("prompt", "")
    if values is not None:
        try:  # the one rule of a placeholder value (blank, too long): placeholders.fill itself
            fill(" ".join(f"{{{name}}}" for name in values), values)
        except ValueError as exc:
            problems.append(str(exc))
    elif not prompt:
        problems.append("The prompt is blank.")
    raw = settings.get("duration", "")
    duration = parse_int(raw) if raw else None
    if raw and (duration is None or duration < 1):
        problems.append("Duration must be a whole number of seconds.")
    aspect = settings.get("aspect_ratio", "")
    if aspect and (shape := ASPECT_SHAPE.fullmatch(aspect)):
        aspect = f"{int(shape[1])}:{int(shape[2])}"  # Excel turns 16:9 into the time 16:09
    elif aspect:
        problems.append("Aspect ratio must look like 16:9.")
    if problems:
        return " ".join(problems)
    return Row(number, prompt, settings.get("negative_prompt", ""), aspect, duration, values or {})


def _collect(results: Iterable[Row | str]) -> list[Row]:
    """The rows, or RowErrors naming every row that is a message (numbered by position: rows are 1, 2, ...)."""
    results = list(results)
    errors = {n: r for n, r in enumerate(results, 1) if isinstance(r, str)}
    if errors:
        raise RowErrors(errors)
    return [r for r in results if isinstance(r, Row)]
