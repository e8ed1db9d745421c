"""Whole numbers from query strings and forms, read one way everywhere.

``str.isdigit`` is true for "²" and other Unicode digits that ``int`` refuses, so a check with it
let such a value through to a 500. Only ASCII digits, and no more of them than asked, count here.
"""

from __future__ import annotations

import re

__all__ = ["whole_number"]

_DIGITS = re.compile(r"[0-9]+")


def whole_number(raw: str | None, *, digits: int = 18) -> int | None:
    """``raw`` as a non-negative whole number of at most ``digits`` ASCII digits; None otherwise.

    18 digits stay inside PostgreSQL's bigint, so the value can go into any id lookup.
    """
    if raw is None or len(raw) > digits or not _DIGITS.fullmatch(raw):
        return None
    return int(raw)
