"""Template placeholders: what is one, how values fill them, and what a member is told when one is missing."""

import pytest

from generations.placeholders import MAX_VALUE, MissingValues, fill, names_in


def test_names_in_order_once_each() -> None:
    assert names_in("{subject} walking through {place}, {style}; {subject} again") == ["subject", "place", "style"]


def test_braces_that_are_not_placeholders_stay_text() -> None:
    text = "a {} shape, {two words}, {a-b} and {{subject}}"
    assert names_in(text) == ["subject"]
    assert fill(text, {"subject": "fox"}) == "a {} shape, {two words}, {a-b} and {fox}"


def test_fill_replaces_every_occurrence_ignoring_case_of_names() -> None:
    got = fill("{Subject} in {place}, {subject} smiles", {"subject": " a fox ", "PLACE": "snow"})
    assert got == "a fox in snow, a fox smiles"


def test_missing_and_blank_values_are_named_in_order() -> None:
    with pytest.raises(MissingValues) as err:
        fill("{subject} walking through {place}, {style}", {"place": "  ", "other": "x"})
    assert err.value.names == ["subject", "place", "style"]
    assert str(err.value) == "Fill in {subject}, {place}, {style}."


def test_a_value_is_never_read_as_a_placeholder() -> None:
    assert fill("{a} and {b}", {"a": "{b}", "b": "two"}) == "{b} and two"


def test_overlong_value_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match=r"\{place\} is longer than 500"):
        fill("{place}", {"place": "x" * (MAX_VALUE + 1)})


def test_text_without_placeholders_is_unchanged() -> None:
    assert fill("a lighthouse at dusk", {}) == "a lighthouse at dusk"
