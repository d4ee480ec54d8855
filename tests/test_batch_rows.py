"""A batch's list (generations/batches/rows.py): pasted prompts and CSV files become numbered rows; every bad row
is named by its number; a file that cannot be read is refused whole with one message, never a 500."""

from __future__ import annotations

import codecs
import csv
import io
import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generations.batches.rows import (
    MAX_BYTES,
    MAX_ROWS,
    Row,
    RowErrors,
    RowsError,
    apply_template,
    parse_csv,
    parse_lines,
)
from generations.placeholders import fill
from generations.reports.export import FORMULA_STARTS, text_cell

SAVE_AS = "Save the file as CSV UTF-8"


def by(text: str) -> Callable[[dict[str, str]], tuple[str, str]]:
    """A template's filler that writes only a prompt (the site's is prompts.services.template_fill)."""
    return lambda values: (fill(text, values), "")


def csv_bytes(*rows: list[str], delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter).writerows(rows)
    return out.getvalue().encode(encoding)


def refusal(data: bytes, **kwargs: list[str]) -> str:
    with pytest.raises(RowsError) as err:
        parse_csv(data, **kwargs)
    assert err.value.message == str(err.value)
    return err.value.message


def row_errors(data: bytes, **kwargs: list[str]) -> dict[int, str]:
    with pytest.raises(RowErrors) as err:
        parse_csv(data, **kwargs)
    return err.value.errors


# --- pasted text ---------------------------------------------------------------------------------------------------


def test_pasted_text_is_one_trimmed_prompt_per_non_blank_line_numbered_as_they_are_counted() -> None:
    rows = parse_lines("  a fox in snow \r\n\n\t\nan owl at dusk\n   \na lighthouse\n")
    assert rows == [Row(1, "a fox in snow"), Row(2, "an owl at dusk"), Row(3, "a lighthouse")]


def test_pasted_list_longer_than_fifty_prompts_is_refused_with_its_count() -> None:
    parse_lines("\n".join(f"prompt {i}" for i in range(MAX_ROWS)))  # 50 is fine
    with pytest.raises(RowsError, match=r"^At most 50 prompts in one batch; this list has 73\.$"):
        parse_lines("\n".join(f"prompt {i}" for i in range(73)))


def test_an_empty_paste_is_refused() -> None:
    with pytest.raises(RowsError, match="The list has no prompts"):
        parse_lines(" \n\n\t \n")


def test_a_paste_over_the_size_limit_is_refused() -> None:
    with pytest.raises(RowsError, match="longer than 256 KB"):
        parse_lines("é" * (MAX_BYTES // 2 + 1))  # fewer characters than the limit, more bytes


def test_a_pasted_prompt_with_an_escape_sequence_is_named_by_its_row() -> None:
    with pytest.raises(RowErrors) as err:
        parse_lines("a fox\nan owl \x1b[31mred\na lighthouse\x7f")
    assert err.value.errors == {
        2: "The prompt contains control characters.",
        3: "The prompt contains control characters.",
    }


def test_pasted_lines_are_the_values_of_a_template_with_one_placeholder() -> None:
    rows = parse_lines("a fox\n\nan owl\n", placeholders=["subject"])
    assert [(r.number, r.prompt, r.values) for r in rows] == [
        (1, "", {"subject": "a fox"}),
        (2, "", {"subject": "an owl"}),
    ]
    filled = apply_template(rows, by("{Subject} walking through snow"))
    assert [r.prompt for r in filled] == ["a fox walking through snow", "an owl walking through snow"]


def test_pasted_lines_are_refused_for_a_template_with_two_placeholders() -> None:
    with pytest.raises(RowsError, match=r"2 placeholders \(subject, place\): upload a CSV file with a column for each"):
        parse_lines("a fox\nan owl", placeholders=["subject", "place"])


# --- CSV columns ---------------------------------------------------------------------------------------------------


def test_csv_reads_every_column_whatever_the_case_spaces_or_underscores_of_its_name() -> None:
    data = csv_bytes(
        [" Prompt ", "Negative Prompt", "ASPECT_RATIO", "duration"],
        ["a fox in snow", "blurry", "9:16", "10"],
        ["an owl at dusk", "", "", ""],
    )
    assert parse_csv(data) == [
        Row(1, "a fox in snow", negative_prompt="blurry", aspect_ratio="9:16", duration=10),
        Row(2, "an owl at dusk"),  # blanks: the batch's shared settings
    ]


def test_a_typo_in_a_column_name_is_refused_naming_it_so_no_prompt_is_dropped() -> None:
    message = refusal(csv_bytes(["promt"], ["a fox"]))
    assert message.startswith('Unknown column "promt" (did you mean "prompt"?).')
    message = refusal(csv_bytes(["prompt", "Negatve prompt", "style"], ["a fox", "", "noir"]))
    assert 'Unknown column "Negatve prompt" (did you mean "negative_prompt"?), "style".' in message
    assert message.endswith("The columns are: prompt, negative_prompt, aspect_ratio, duration.")


def test_a_file_without_a_header_line_is_told_to_name_its_columns() -> None:
    message = refusal(csv_bytes(["a fox walking through snow"], ["an owl at dusk"]))
    assert message == (
        "The first line must name the columns (prompt, negative_prompt, aspect_ratio, duration); "
        'this file starts with "a fox walking through snow".'
    )


def test_a_file_without_a_prompt_column_is_refused() -> None:
    assert refusal(csv_bytes(["duration"], ["5"])).startswith("The file has no prompt column.")


def test_a_column_named_twice_is_refused() -> None:
    assert refusal(csv_bytes(["prompt", "Prompt"], ["a", "b"])) == 'The column "Prompt" appears twice in the header.'


def test_a_header_naming_thousands_of_unknown_columns_is_refused_quickly_naming_a_few() -> None:
    started = time.perf_counter()
    message = refusal(",".join(f"c{i}" for i in range(20_000)).encode() + b"\n")
    assert time.perf_counter() - started < 1  # one pass over the header: a quadratic check would take minutes
    assert len(message) < 300


def test_with_a_template_each_placeholder_has_its_column_matched_ignoring_case() -> None:
    data = csv_bytes(["Subject", "place", "duration"], ["a fox", "snow", "5"], ["an owl", "a barn", ""])
    rows = parse_csv(data, placeholders=["subject", "Place"])
    assert [(r.prompt, r.values, r.duration) for r in rows] == [
        ("", {"subject": "a fox", "Place": "snow"}, 5),  # keyed as the template spells them
        ("", {"subject": "an owl", "Place": "a barn"}, None),
    ]
    assert [r.prompt for r in apply_template(rows, by("{subject} in {place}"))] == ["a fox in snow", "an owl in a barn"]


def test_with_a_template_a_prompt_column_is_refused_rather_than_silently_unused() -> None:
    message = refusal(csv_bytes(["prompt", "subject"], ["x", "a fox"]), placeholders=["subject"])
    assert message == (
        "The template writes each prompt from its placeholders (subject): remove the prompt column, "
        "or choose no template."
    )


def test_a_placeholder_named_prompt_takes_the_prompt_column() -> None:
    rows = parse_csv(csv_bytes(["prompt"], ["a fox"]), placeholders=["prompt"])
    assert apply_template(rows, by("{prompt}, cinematic"))[0].prompt == "a fox, cinematic"


def test_with_a_template_a_missing_placeholder_column_is_named() -> None:
    message = refusal(csv_bytes(["subject"], ["a fox"]), placeholders=["subject", "place", "style"])
    assert message.startswith("The file has no place, style columns.")


def test_with_a_template_every_row_missing_a_value_is_named_with_the_placeholders() -> None:
    data = csv_bytes(
        ["subject", "place", "duration"],
        ["a fox", "", ""],
        ["an owl", "a barn", ""],
        ["", " ", "5"],
        ["x" * 501, "snow", ""],
    )
    assert row_errors(data, placeholders=["subject", "place"]) == {
        1: "Fill in {place}.",
        3: "Fill in {subject}, {place}.",
        4: "The value of {subject} is longer than 500 characters.",
    }


def test_apply_template_names_every_row_it_cannot_fill() -> None:
    rows = [Row(1, "", values={"subject": "a fox"}), Row(2, "", values={"subject": "an owl", "place": "a barn"})]
    with pytest.raises(RowErrors) as err:
        apply_template(rows, by("{subject} in {place}"))
    assert err.value.errors == {1: "Fill in {place}."}
    assert str(err.value) == "Row 1: Fill in {place}."


# --- rows ----------------------------------------------------------------------------------------------------------


def test_every_bad_row_is_reported_by_its_number_not_just_the_first() -> None:
    data = csv_bytes(
        ["prompt", "duration", "aspect_ratio"],
        ["a fox", "5", "16:9"],
        ["  ", "5", ""],
        ["an owl", "7s", ""],
        ["a barn", "", "4/3"],
        ["", "5.5", "wide"],
    )
    with pytest.raises(RowErrors) as err:
        parse_csv(data)
    assert err.value.errors == {
        2: "The prompt is blank.",
        3: "Duration must be a whole number of seconds.",
        4: "Aspect ratio must look like 16:9.",
        5: "The prompt is blank. Duration must be a whole number of seconds. Aspect ratio must look like 16:9.",
    }
    assert err.value.lines()[1] == "Row 3: Duration must be a whole number of seconds."


@pytest.mark.parametrize("duration", ["0", "-5", "5.0", "²", "٣", "\uff15", "9" * 5000, "five"])
def test_a_duration_that_is_not_a_whole_number_of_seconds_is_refused(duration: str) -> None:
    assert row_errors(csv_bytes(["prompt", "duration"], ["a fox", duration])) == {
        1: "Duration must be a whole number of seconds."
    }


def test_an_aspect_ratio_is_checked_for_shape_only_and_excel_times_are_read_back_as_ratios() -> None:
    data = csv_bytes(["prompt", "aspect_ratio"], ["a", "16:09"], ["b", "09:16"], ["c", "1:01"], ["d", "21:9"])
    # 16:09 is how Excel saves a typed 16:9 (as a time); 21:9 has the shape, the catalog decides if a model has it
    assert [r.aspect_ratio for r in parse_csv(data)] == ["16:9", "9:16", "1:1", "21:9"]
    for bad in ("4/3", "16:9:0", "123:4", "١٦:٩", "wide"):
        assert row_errors(csv_bytes(["prompt", "aspect_ratio"], ["a", bad])) == {1: "Aspect ratio must look like 16:9."}


def test_quoted_cells_keep_their_commas_quotes_and_line_breaks() -> None:
    data = b'prompt,negative_prompt\r\n"a fox, in snow","say ""no"" to blur"\r\n"line one\r\nline two",\r\n'
    assert parse_csv(data) == [
        Row(1, "a fox, in snow", negative_prompt='say "no" to blur'),
        Row(2, "line one\nline two"),
    ]


def test_a_row_with_an_unquoted_comma_or_a_missing_cell_is_named() -> None:
    data = b"prompt,duration\na fox, in snow,5\nan owl\na barn,5\n"
    assert row_errors(data) == {
        1: "This row has 3 cells but the header names 2 columns. A cell that holds a comma must be in double quotes.",
        2: "This row has 1 cell but the header names 2 columns. A cell that holds a comma must be in double quotes.",
    }


def test_blank_rows_and_trailing_empty_cells_that_excel_writes_are_ignored() -> None:
    data = b"prompt,,\r\n\r\na fox,,\r\n,,\r\nan owl,,\r\n,,\r\n"
    assert parse_csv(data) == [Row(1, "a fox"), Row(2, "an owl")]
    assert row_errors(b"prompt,\na fox,forgotten header\n") == {
        1: "Column 2 has no name in the header but this row has a value in it."
    }


def test_a_semicolon_or_tab_separated_file_is_read_from_its_header() -> None:
    for sep in ";\t":
        data = csv_bytes(["prompt", "duration"], ["a fox, in snow", "5"], ["an owl; at dusk", "10"], delimiter=sep)
        assert [(r.prompt, r.duration) for r in parse_csv(data)] == [("a fox, in snow", 5), ("an owl; at dusk", 10)]


def test_a_prompt_with_control_characters_is_named_by_its_row() -> None:
    data = csv_bytes(["prompt", "negative_prompt"], ["a fox", "blur\x1b[2J"], ["an \x85owl", ""])
    assert row_errors(data) == {
        1: "The negative prompt contains control characters.",
        2: "The prompt contains control characters.",
    }


# --- whole files ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"\xef\xbb\xbf", b"\r\n\n  \n", b"prompt\r\n", b"prompt,duration\n,\n \n", "prompt\n".encode("utf-16")],
)
def test_an_empty_or_header_only_file_has_no_rows(data: bytes) -> None:
    assert refusal(data) == "The file has no rows."


def test_a_file_of_fifty_rows_is_read_and_fifty_one_are_refused_with_the_count() -> None:
    assert len(parse_csv(csv_bytes(["prompt"], *[[f"p{i}"] for i in range(50)]))) == 50
    assert refusal(csv_bytes(["prompt"], *[[f"p{i}"] for i in range(51)])) == (
        "At most 50 prompts in one batch; this file has 51 rows."
    )


def test_ten_thousand_rows_are_refused_in_well_under_a_second() -> None:
    data = csv_bytes(["prompt", "duration"], *[[f"a fox number {i}", "x"] for i in range(10_000)])
    assert len(data) < MAX_BYTES
    started = time.perf_counter()
    assert refusal(data) == "At most 50 prompts in one batch; this file has 10000 rows."
    assert time.perf_counter() - started < 0.5  # about 0.02 s: rows past the 50th are counted, not built


def test_a_file_over_the_size_limit_is_refused_before_it_is_read() -> None:
    data = b"prompt\n" + b"\xff" * MAX_BYTES  # not UTF-8 either: the size is what it is told
    assert refusal(data) == "The file is 257 KB; a batch file can be at most 256 KB."
    at_limit = csv_bytes(["prompt"], *[["x" * 5000] for _ in range(50)])
    at_limit += b"\n" * (MAX_BYTES - len(at_limit))
    assert len(at_limit) == MAX_BYTES and len(parse_csv(at_limit)) == 50


def test_a_huge_cell_is_refused_with_its_line_never_a_csv_error() -> None:
    data = csv_bytes(["prompt"], ["a fox"], ["x" * 200_000])
    assert refusal(data) == "A cell from line 3 on is longer than 131,072 characters; is this the right file?"


@pytest.mark.parametrize("data", [b'prompt\na fox\n"an owl\nat dusk\n', b'prompt\na fox\n"an owl" at dusk\n'])
def test_a_broken_quote_is_refused_with_its_line_rather_than_swallowing_rows(data: bytes) -> None:
    assert refusal(data).startswith("The file cannot be read from line 3 on: a cell that holds a quote")


def test_a_utf8_file_with_a_byte_order_mark_and_crlf_line_ends_is_read() -> None:
    data = codecs.BOM_UTF8 + "prompt,duration\r\ncafé crème in Zürich,5\r\n東京の夜,10\r\n".encode()
    assert parse_csv(data) == [Row(1, "café crème in Zürich", duration=5), Row(2, "東京の夜", duration=10)]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_excel_unicode_text_utf16_with_a_byte_order_mark_is_read(encoding: str) -> None:
    bom = codecs.BOM_UTF16_BE if encoding == "utf-16-be" else b""  # Python's utf-16 writes its own BOM
    data = bom + csv_bytes(["prompt", "duration"], ["café, crème", "5"], delimiter="\t", encoding=encoding)
    assert parse_csv(data) == [Row(1, "café, crème", duration=5)]


def test_a_windows_1252_file_is_refused_with_the_line_to_fix_not_guessed() -> None:
    data = "prompt\na fox\ncafé crème\n".encode("cp1252")
    assert refusal(data) == (
        "The file is not UTF-8 text: line 3 holds a character saved in another encoding (Windows or Latin-1, "
        "perhaps). Save the file as CSV UTF-8 (in a spreadsheet: Save As, CSV UTF-8) and upload it again."
    )


@pytest.mark.parametrize(
    ("data", "start"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00", "This is not a text file."),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "This is not a text file."),
        (b"prompt\na fox\x00\n", "This is not a text file."),
        ("prompt\na fox\n".encode("utf-16-le"), "This is not a text file."),  # UTF-16 without its BOM
        (codecs.BOM_UTF16_LE + "prompt\na\x00b\n".encode("utf-16-le"), "This is not a text file."),
        (codecs.BOM_UTF16_LE + b"p\x00\x00\xd8", "The file is not valid UTF-16 text."),  # a lone surrogate
        (b"PK\x03\x04\x14\x00\x06\x00[Content_Types].xml", "This is a spreadsheet workbook, not a CSV file."),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "This is a spreadsheet workbook, not a CSV file."),
    ],
)
def test_binary_files_are_refused_with_a_message_never_a_decode_error(data: bytes, start: str) -> None:
    message = refusal(data)
    assert message.startswith(start) and SAVE_AS in message


# --- formulas ------------------------------------------------------------------------------------------------------

HOSTILE = ['=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(A1:A9)"]


def test_formula_prompts_are_kept_as_typed_and_the_site_export_disarms_them() -> None:
    rows = parse_csv(csv_bytes(["prompt", "negative_prompt"], *[[p, p] for p in HOSTILE]))
    assert [r.prompt for r in rows] == HOSTILE
    exported = io.StringIO()
    csv.writer(exported).writerows([text_cell(r.prompt), text_cell(r.negative_prompt)] for r in rows)
    cells = [cell for line in csv.reader(io.StringIO(exported.getvalue())) for cell in line]
    assert cells == ["'" + p for p in HOSTILE for _ in range(2)]
    assert not any(cell.startswith(FORMULA_STARTS) for cell in cells)


# --- properties ----------------------------------------------------------------------------------------------------

# Any text a member may type: no control characters (those are refused per row), no surrogates (not encodable);
# separators, quotes and line breaks, including Unicode's (a CSV row ends at CR or LF only), come often.
special = st.sampled_from(',;"\n\t \u2028\u2029')  # drawn on its own: st.text would merge it into a rare few
prompt_text = st.lists(st.characters(exclude_categories=("Cs", "Cc")) | special, min_size=1).map("".join)
prompts = st.lists(prompt_text.filter(str.strip), min_size=1, max_size=MAX_ROWS)


@given(prompts=prompts, delimiter=st.sampled_from(",;\t"), encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
@settings(max_examples=300, deadline=None, derandomize=True, database=None)
def test_any_prompts_written_by_csv_writer_are_read_back_in_order(
    prompts: list[str], delimiter: str, encoding: str
) -> None:
    data = csv_bytes(["prompt", "duration"], *[[p, ""] for p in prompts], delimiter=delimiter, encoding=encoding)
    rows = parse_csv(data)
    assert [(r.number, r.prompt) for r in rows] == [(i, p.strip()) for i, p in enumerate(prompts, 1)]


@given(prompts=st.lists(prompt_text.map(lambda p: " ".join(p.split())).filter(bool), min_size=1, max_size=MAX_ROWS))
@settings(max_examples=200, deadline=None, derandomize=True, database=None)
def test_any_pasted_lines_are_read_back_in_order(prompts: list[str]) -> None:
    rows = parse_lines("\r\n\n".join(prompts))
    assert [(r.number, r.prompt) for r in rows] == list(enumerate(prompts, 1))
