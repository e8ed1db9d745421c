"""Whole numbers from query strings: ASCII digits only, bounded in length."""

import pytest

from district.params import whole_number


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0", 0),
        ("42", 42),
        ("9" * 18, int("9" * 18)),
        ("9" * 19, None),  # past what a bigint id lookup takes
        ("²", None),  # str.isdigit() says yes, int() refuses: once a 500
        ("٣", None),  # Arabic-Indic three: int() would take it, ids are ASCII
        ("-1", None),
        (" 1", None),
        ("1.0", None),
        ("", None),
        (None, None),
    ],
)
def test_whole_number(raw, expected):
    assert whole_number(raw) == expected


def test_fewer_digits_when_asked():
    assert whole_number("12345678901", digits=10) is None
    assert whole_number("1234567890", digits=10) == 1234567890
