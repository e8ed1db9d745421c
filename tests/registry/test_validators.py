"""GB 11643, GB 32100, plate and phone checks, with their messages in both languages."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from registry.validators import check_id_number, check_phone, check_plate, check_uscc
from tests.factories import make_id_number, make_uscc


def message_in(lang, check, value):
    """The first error message of ``check(value)``, rendered in ``lang`` (messages are lazy)."""
    with translation.override(lang), pytest.raises(ValidationError) as exc:
        check(value)
    with translation.override(lang):
        return exc.value.messages[0]


def test_known_valid_id_number_derives_birth_and_sex():
    facts = check_id_number("11010519491231002X")
    assert facts.birth_date == datetime.date(1949, 12, 31)
    assert facts.sex == "F"
    assert facts.region_code == "110105"


def test_id_number_is_normalised_from_full_width_and_lower_x():
    assert check_id_number("１１０１０５１９４９１２３１００２x").number == "11010519491231002X"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("110105194912310021", "id_checksum"),  # last digit changed
        ("11010519491231002", "id_format"),  # 17 characters
        ("99010519491231002X", "id_region"),
        ("110105194902300023", "id_birth"),  # 30 February
        ("1101051949123100AX", "id_format"),
    ],
)
def test_bad_id_numbers_are_refused_with_reason(value, code):
    with pytest.raises(ValidationError) as exc:
        check_id_number(value)
    assert exc.value.code == code


def test_future_birth_date_is_refused():
    number = make_id_number(birth=datetime.date(2030, 1, 1))
    with pytest.raises(ValidationError):
        check_id_number(number, today=datetime.date(2026, 11, 22))


def test_id_messages_in_chinese_and_english():
    assert "校验" in message_in("zh-hans", check_id_number, "110105194912310021")
    assert "check digit" in message_in("en", check_id_number, "110105194912310021")


def test_known_valid_uscc():
    assert check_uscc("91350100M000100Y43") == "91350100M000100Y43"
    assert check_uscc(make_uscc(7)) == make_uscc(7)


@pytest.mark.parametrize(
    "value", ["91350100M000100Y44", "91350100M000100Y4", "9135010OM000100Y43", "91ABCDEFM000100Y43"]
)
def test_bad_uscc_is_refused(value):
    with pytest.raises(ValidationError):
        check_uscc(value)


def test_uscc_message_in_both_languages():
    zh = message_in("zh-hans", check_uscc, "91350100M000100Y44")
    assert "GB 32100" in zh and "校验" in zh
    assert "check character" in message_in("en", check_uscc, "91350100M000100Y44")


@pytest.mark.parametrize(
    ("value", "plate", "kind"),
    [
        ("鲁A12345", "鲁A12345", "ordinary"),
        ("鲁 a·1234学", "鲁A1234学", "ordinary"),
        ("京AD12345", "京AD12345", "new_energy"),
        ("粤B12345F", "粤B12345F", "new_energy"),
        ("沪ＡＢ１２３４", "沪AB1234", "ordinary"),
    ],
)
def test_good_plates(value, plate, kind):
    assert check_plate(value) == (plate, kind)


@pytest.mark.parametrize("value", ["A12345", "鲁I12345", "鲁A1234", "鲁A123456", "鲁AD1234X", "X鲁12345"])
def test_bad_plates_are_refused(value):
    with pytest.raises(ValidationError):
        check_plate(value)


def test_plate_message_in_both_languages():
    assert "车牌" in message_in("zh-hans", check_plate, "鲁I12345")
    assert "plate" in message_in("en", check_plate, "鲁I12345")


def test_phones():
    assert check_phone("+86 138-0013-8000") == "13800138000"
    assert check_phone("0531-88886666") == "053188886666"
    with pytest.raises(ValidationError):
        check_phone("12345")
