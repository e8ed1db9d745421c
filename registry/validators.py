"""Validators of Chinese identifiers: GB 11643 ID numbers, GB 32100 USCC, plates, phones.

Each ``check_*`` returns the normalised value or raises ``ValidationError`` with a message in
the active language. Devices and spreadsheets send full-width characters and lower case, so
everything is normalised (NFKC, upper case, no blanks) before it is checked.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


def normalise(value: str) -> str:
    """Full-width to half-width, upper case, no spaces or separators."""
    value = unicodedata.normalize("NFKC", str(value or ""))
    return re.sub(r"[\s·\-_.]", "", value).upper()


# --- GB 11643-1999: citizen identity number ------------------------------------------------
# Free text (a record's notes) is bounded like every other field: a page of text, not megabytes.
NOTES_MAX_LENGTH = 2000

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"
# First two digits: the province-level division codes of GB/T 2260 (plus 71/81/82/83).
PROVINCE_CODES = frozenset(
    """11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46
    50 51 52 53 54 61 62 63 64 65 71 81 82 83""".split()
)


@dataclass(frozen=True)
class IdNumberFacts:
    """What an ID number says of its holder."""

    number: str
    birth_date: datetime.date
    sex: str  # "M" or "F"
    region_code: str


def id_check_char(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARS[total % 11]


def check_id_number(value: str, *, today: datetime.date | None = None) -> IdNumberFacts:
    """Validate an 18-character resident identity number and derive birth date and sex."""
    number = normalise(value)
    if not re.fullmatch(r"\d{17}[\dX]", number):
        raise ValidationError(_("An ID number has 18 characters: 17 digits and a final digit or X."), code="id_format")
    if number[:2] not in PROVINCE_CODES:
        raise ValidationError(_("The ID number does not start with a valid region code."), code="id_region")
    try:
        birth = datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise ValidationError(_("The birth date inside the ID number is not a real date."), code="id_birth") from None
    today = today or datetime.date.today()
    if birth > today or birth.year < 1890:
        raise ValidationError(_("The birth date inside the ID number is out of range."), code="id_birth")
    if id_check_char(number[:17]) != number[17]:
        raise ValidationError(
            _("The ID number's check digit is wrong (GB 11643): please check every digit."), code="id_checksum"
        )
    return IdNumberFacts(number, birth, "M" if int(number[16]) % 2 else "F", number[:6])


def validate_id_number(value: str) -> None:
    """Model-field validator form of :func:`check_id_number`."""
    check_id_number(value)


# --- GB 32100-2015: unified social credit code ---------------------------------------------
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character of the first 17 characters."""
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_CHARS[(31 - total % 31) % 31]


def check_uscc(value: str) -> str:
    """Validate a unified social credit code (统一社会信用代码) and return it normalised."""
    code = normalise(value)
    if len(code) != 18 or any(c not in USCC_CHARS for c in code):
        raise ValidationError(
            _("A unified social credit code has 18 characters: digits and capital letters except I, O, Z, S, V."),
            code="uscc_format",
        )
    if not code[2:8].isdigit():
        raise ValidationError(_("Characters 3 to 8 of the credit code must be a division code."), code="uscc_region")
    if uscc_check_char(code[:17]) != code[17]:
        raise ValidationError(
            _("The credit code's check character is wrong (GB 32100): please check every character."),
            code="uscc_checksum",
        )
    return code


def validate_uscc(value: str) -> None:
    """Model-field validator form of :func:`check_uscc`."""
    check_uscc(value)


# --- Plates (GA 36) -------------------------------------------------------------------------
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_L = "A-HJ-NP-Z"  # letters without I and O
ORDINARY_PLATE = re.compile(rf"^[{PROVINCES}][{_L}][{_L}0-9]{{4}}[{_L}0-9挂学警港澳]$")
NEW_ENERGY_PLATE = re.compile(rf"^[{PROVINCES}][{_L}](?:[DF][{_L}0-9]\d{{4}}|\d{{5}}[DF])$")


def check_plate(value: str) -> tuple[str, str]:
    """Validate a plate number; return it normalised and its kind ("ordinary" or "new_energy")."""
    plate = normalise(value)
    if NEW_ENERGY_PLATE.fullmatch(plate):
        return plate, "new_energy"
    if ORDINARY_PLATE.fullmatch(plate):
        return plate, "ordinary"
    raise ValidationError(
        _(
            "Not a valid plate number: expected a province character, a letter and 5 characters "
            "(7 in all), or 6 for new-energy vehicles (8 in all), e.g. 鲁B12345 or 鲁BD12345."
        ),
        code="plate_format",
    )


def validate_plate(value: str) -> None:
    """Model-field validator form of :func:`check_plate`."""
    check_plate(value)


# --- Phones ---------------------------------------------------------------------------------
MOBILE = re.compile(r"^1[3-9]\d{9}$")
LANDLINE = re.compile(r"^0\d{2,3}\d{7,8}$")


def check_phone(value: str) -> str:
    """Validate a mainland mobile (11 digits) or landline number with area code."""
    phone = normalise(value).removeprefix("+86")
    if MOBILE.fullmatch(phone) or LANDLINE.fullmatch(phone):
        return phone
    raise ValidationError(
        _("Not a valid phone number: use an 11-digit mobile number or a landline with its area code."),
        code="phone_format",
    )


def validate_phone(value: str) -> None:
    """Model-field validator form of :func:`check_phone`."""
    check_phone(value)


def normalised_or_raw(check: Callable[[str], str], value: str) -> str:
    """``check(value)`` if valid, else ``value`` unchanged.

    For ``Model.clean()``: the field's own validator has already reported a bad value, and
    reporting it twice (once as a non-field error) would only confuse the user.
    """
    try:
        return check(value)
    except ValidationError:
        return value
