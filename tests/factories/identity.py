"""Valid identifiers for tests, built with the project's own check-character functions."""

from __future__ import annotations

import datetime
import random

from registry.validators import USCC_CHARS, id_check_char, uscc_check_char


def make_id_number(
    region: str = "370102", birth: datetime.date = datetime.date(1980, 5, 17), seq: int = 1, male: bool = True
) -> str:
    """A GB 11643-valid ID number."""
    order = seq * 2 + (1 if male else 0)
    first17 = f"{region}{birth:%Y%m%d}{order % 1000:03d}"
    return first17 + id_check_char(first17)


def make_uscc(seq: int = 1, region: str = "370102") -> str:
    """A GB 32100-valid unified social credit code."""
    rng = random.Random(seq)
    body = "91" + region + "".join(rng.choice(USCC_CHARS) for _ in range(9))
    return body + uscc_check_char(body)
