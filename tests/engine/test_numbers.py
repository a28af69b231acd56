"""Whole numbers from tags and query parameters: only plain ASCII digits, within range."""

from __future__ import annotations

import pytest

from rotation import tags as T
from rotation.errors import ConfigurationError
from rotation.numbers import whole_number, whole_number_tag


@pytest.mark.parametrize(
    ("text", "expected"),
    [("7", 7), (" 42 ", 42), ("100", 100), ("1", 1), ("007", 7)],
)
def test_plain_digits_in_range_are_read(text: str, expected: int) -> None:
    assert whole_number(text, 1, 100) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "0",
        "101",
        "+5",
        "-5",
        "5_0",
        "5.0",
        "1e2",
        "٣",
        "²",
        "0x10",
        "5\x00",
        "1000",
        "9" * 5000,
    ],
)
def test_everything_else_is_none(text: str) -> None:
    assert whole_number(text, 1, 100) is None


def test_tag_form_names_the_tag_and_the_range_but_not_the_value() -> None:
    with pytest.raises(ConfigurationError) as raised:
        whole_number_tag("٣٠٠-secret-ish", 1, 100, secret="s", tag=T.MAX_PER_TARGET)
    message = str(raised.value)
    assert T.MAX_PER_TARGET in message and "from 1 to 100" in message
    assert "secret-ish" not in message
    assert whole_number_tag("12", 1, 100, secret="s", tag=T.MAX_PER_TARGET) == 12
