"""Masking of personal identifiers for exports and screens that must not show them whole.

A masked value keeps enough characters for a person to recognise "their" record
(``3701**********123X``, ``138****5678``) but never enough to use it, and it can never be
imported back: a masked ID number or phone fails its checks, so a masked export cannot
overwrite the real values.
"""

from __future__ import annotations

__all__ = ["mask_id_number", "mask_phone"]

MASK = "*"


def _keep_ends(value: str, head: int, tail: int) -> str:
    """``value`` with all but its first ``head`` and last ``tail`` characters replaced by ``*``."""
    hidden = len(value) - head - tail
    if hidden <= 0:
        # Too short to show anything and still hide something: hide it all.
        return MASK * len(value)
    return value[:head] + MASK * hidden + value[len(value) - tail :]


def mask_id_number(value: str | None) -> str:
    """An identity-document number with only its first 4 and last 4 characters shown.

    ``370102198005170013`` → ``3701**********0013``. Shorter documents (passports, permits)
    of 8 characters or fewer keep only their first and last character.
    """
    value = (value or "").strip()
    if not value:
        return ""
    if len(value) > 8:
        return _keep_ends(value, 4, 4)
    return _keep_ends(value, 1, 1)


def mask_phone(value: str | None) -> str:
    """A phone number with its first 3 and last 4 digits shown: ``13812345678`` → ``138****5678``.

    Landlines keep the same ends (``053188886666`` → ``053*****6666``); numbers of 7
    characters or fewer keep only their last 2.
    """
    value = (value or "").strip()
    if not value:
        return ""
    if len(value) > 7:
        return _keep_ends(value, 3, 4)
    return _keep_ends(value, 0, 2)
