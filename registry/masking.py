"""Masking of personal identifiers for exports and screens that must not show them whole.

A masked value keeps enough characters for a person to recognise "their" record
(``3701**********123X``, ``138****5678``) but never enough to use it, and it can never be
imported back: a masked ID number or phone fails its checks, so a masked export cannot
overwrite the real values. Who sees values unmasked is the ``pii.view`` capability
(``district.permissions``); which fields are personal identifiers is :data:`PII_FIELDS`.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from registry.choices import POLICE_ONLY_TAGS
from registry.validators import LANDLINE, MOBILE, check_id_number, normalise

__all__ = [
    "PII_FIELDS",
    "full_id_number",
    "identifier_kind",
    "is_masked_copy",
    "mask_birth_date",
    "mask_id_number",
    "mask_phone",
    "mask_value",
    "pii_fields",
    "visible_tags",
]

MASK = "*"


def _keep_ends(value: str, head: int, tail: int) -> str:
    """``value`` with all but its first ``head`` and last ``tail`` characters replaced by ``*``."""
    hidden = len(value) - head - tail
    if hidden <= 0:
        # Too short to show anything and still hide something: hide it all.
        return MASK * len(value)
    return value[:head] + MASK * hidden + value[len(value) - tail :]


def mask_id_number(value: str | None) -> str:
    """An identity-document number with at most its ends shown, whatever the document.

    - 15 characters or more (resident ID cards, old 15-digit cards, the 18-character foreign
      permanent-resident card): first 4 and last 4, ``370102198005170013`` → ``3701**********0013``.
    - 9 to 14 (passports ``E12345678``, HK/Macao permits ``H1234567801``): first 2 and last 2,
      so that most of the number stays hidden (first 4 and last 4 of a passport number would
      show 8 of its 9 characters).
    - 8 or fewer (Taiwan permits, short numbers): first and last character only.
    """
    value = (value or "").strip()
    if not value:
        return ""
    if len(value) >= 15:
        return _keep_ends(value, 4, 4)
    if len(value) > 8:
        return _keep_ends(value, 2, 2)
    return _keep_ends(value, 1, 1)


def _landline_area_code_length(value: str) -> int:
    # 010 and 020–029 are the 3-digit area codes (Beijing, Guangzhou, Shanghai, Tianjin, …);
    # every other area code has 4 digits (0531 Jinan).
    return 3 if value[1] in "12" else 4


def mask_phone(value: str | None) -> str:
    """A phone number with only the ends that identify nobody shown.

    - Mobiles: first 3 and last 4, ``13812345678`` → ``138****5678``.
    - Landlines with an area code: the area code and the last half of the local number,
      ``053188886666`` → ``0531****6666``, ``01062345678`` → ``010****5678``; a 7-digit local
      number keeps its last 3, so 4 digits are always hidden.
    - Anything else (a value recorded before validation): first 3 and last 4 when longer than
      7 characters, otherwise only the last 2.
    """
    value = (value or "").strip()
    if not value:
        return ""
    if MOBILE.fullmatch(value):
        return _keep_ends(value, 3, 4)
    if LANDLINE.fullmatch(value):
        area = _landline_area_code_length(value)
        local = len(value) - area
        return _keep_ends(value, area, local // 2)
    if len(value) > 7:
        return _keep_ends(value, 3, 4)
    return _keep_ends(value, 0, 2)


def mask_birth_date(value: datetime.date | str | None) -> str:
    """A birth date with only its year shown: ``1980-05-17`` → ``1980-**-**``.

    The birth date is digits 7–14 of a resident ID number: shown beside a masked number
    (first 4 and last 4) it would give away 16 of its 18 characters.
    """
    if not value:
        return ""
    text = value.isoformat() if isinstance(value, datetime.date) else str(value)
    return f"{text[:4]}-{MASK * 2}-{MASK * 2}"


MASKERS: dict[str, Callable[[Any], str]] = {"id": mask_id_number, "phone": mask_phone, "date": mask_birth_date}

# The personal identifiers of each registry model, by field: "id" (identity documents),
# "phone", or "date" (a birth date derived from the ID number; read-only, never in a form).
# A credit code (uscc) is not here: it identifies a company and is public.
PII_FIELDS: dict[str, dict[str, str]] = {
    "registry.person": {"id_number": "id", "phone": "phone", "birth_date": "date"},
    "registry.house": {"owner_id_number": "id", "owner_phone": "phone"},
    "registry.organisation": {"contact_phone": "phone"},
}


def pii_fields(model: type[models.Model] | models.Model) -> dict[str, str]:
    """The personal-identifier fields of ``model`` (``{"id_number": "id", …}``), empty if none."""
    return PII_FIELDS.get(model._meta.label_lower, {})


def mask_value(kind: str, value: Any) -> str:
    """``value`` masked as an identity-document number (``kind="id"``), a phone or a birth date."""
    return MASKERS[kind](value)


def is_masked_copy(kind: str, submitted: object, stored: str | None) -> bool:
    """Is ``submitted`` the masked display of ``stored``, sent back unchanged?

    A form or API client that was shown ``3701**********123X`` and sends it back means "keep
    the recorded number"; it must never be saved over the real one.
    """
    if not stored or not isinstance(submitted, str) or not submitted.strip():
        return False
    return normalise(submitted) == normalise(mask_value(kind, stored))


def full_id_number(text: str | None) -> str | None:
    """``text`` normalised when it is a whole, valid resident ID number, else None.

    A search by a full ID number singles out one person, so it is audited whoever makes it;
    a fragment (the last 6 digits, a region prefix) is an ordinary search.
    """
    if not text or not text.strip():
        return None
    try:
        return check_id_number(text).number
    except ValidationError:
        return None


# A whole document number other than a resident ID card: one to three letters, then digits
# (passports E12345678, HK/Macao permits H1234567801, old foreign permanent-resident cards).
OTHER_DOCUMENT = re.compile(r"[A-Z]{1,3}[0-9]{6,17}")


def identifier_kind(token: str) -> str | None:
    """``"phone"`` if the normalised ``token`` is a whole phone number, ``"id"`` if it is a whole
    resident ID number (checksum and all) or looks like another whole document number, else None.

    The kinds are those of :data:`PII_FIELDS`. A search by a user who sees identifiers masked
    compares only such tokens, whole, with the fields of their kind, and each comparison is a
    lookup that is counted (issue #7). The shapes are strict so that a number typed into the
    live search box is not counted at every keystroke: no prefix of a resident ID passes its
    checksum. All-digit document numbers other than resident IDs (Taiwan permits) are left out
    for the same reason: a masked user finds those people by name.
    """
    if MOBILE.fullmatch(token) or LANDLINE.fullmatch(token):
        return "phone"
    if full_id_number(token) is not None or OTHER_DOCUMENT.fullmatch(token):
        return "id"
    return None


def visible_tags(tags: Iterable[str] | None, *, police: bool) -> list[str]:
    """A person's tags as the user may see them: the police-only ones (重点人员) only for police roles.

    Whether someone is a key person is police information (issue #7): pages, API and exports
    show it only to holders of ``registry.key_person`` at the compound.
    """
    return [tag for tag in tags or [] if police or tag not in POLICE_ONLY_TAGS]
