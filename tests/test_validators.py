"""Phone numbers in every shape a worker types them, and Vietnamese names with diacritics."""

from __future__ import annotations

import unicodedata

import pytest

from bot.core.validators import (
    Rejected,
    display_phone,
    normalise_person_name,
    normalise_phone,
)

# -- phones ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "0912 345 678",
        "0912345678",
        "+84 912345678",
        "+84912345678",
        "84912345678",
        "0912.345.678",
        "0912-345-678",
        "091-234-5678",
        "(091) 234 5678",
        "0084 912 345 678",
        "+84 0912 345 678",
        "912345678",
        " 0912 345 678 ",
        "０９１２３４５６７８",  # full-width digits from some keyboards
    ],
)
def test_common_forms_normalise_to_e164(typed: str) -> None:
    assert normalise_phone(typed) == "+84912345678"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("0327 111 222", "+84327111222"),  # Viettel 03x
        ("0582 123 456", "+84582123456"),  # Vietnamobile 058
        ("0707 123 456", "+84707123456"),  # MobiFone 070
        ("0862 123 456", "+84862123456"),  # Viettel 086
        ("0849 123 456", "+84849123456"),  # Vinaphone 084, not the country code
        ("84849123456", "+84849123456"),
        ("0993 123 456", "+84993123456"),  # Gmobile 099
    ],
)
def test_every_carrier_prefix(typed: str, expected: str) -> None:
    assert normalise_phone(typed) == expected


@pytest.mark.parametrize(
    ("typed", "reason", "params"),
    [
        ("", "empty", {}),
        ("   ", "empty", {}),
        ("không có", "not_a_number", {}),
        ("0912abc678", "not_a_number", {}),
        ("0912 345 67", "wrong_length", {"count": 9}),
        ("0912 345 6789", "wrong_length", {"count": 11}),
        ("+84 91234567", "wrong_length", {"count": 9}),
        ("+1 202 555 0143", "foreign", {}),
        ("+86 139 1234 5678", "foreign", {}),
        ("0225 3842 123", "landline", {}),  # Hải Phòng landline
        ("024 3825 3825", "landline", {}),
        ("0166 234 5678", "old_11_digits", {}),
        ("0112 345 678", "not_mobile", {}),
        ("0612 345 678", "not_mobile", {}),
        ("0952 345 678", "not_mobile", {}),
    ],
)
def test_rejections_say_why(typed: str, reason: str, params: dict[str, int]) -> None:
    with pytest.raises(Rejected) as err:
        normalise_phone(typed)
    assert err.value.reason == reason
    assert err.value.params == params


def test_display_form() -> None:
    assert display_phone("+84912345678") == "0912 345 678"
    assert display_phone(normalise_phone("84327111222")) == "0327 111 222"


# -- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Nguyễn Thị Thu Hà", "Nguyễn Thị Thu Hà"),
        ("nguyễn văn an", "Nguyễn Văn An"),
        ("ĐẶNG VĂN LÂM", "Đặng Văn Lâm"),
        ("  trần   thị   hoa ", "Trần Thị Hoa"),
        ("nguyen van an", "Nguyen Van An"),  # typed without diacritics: kept as typed
        ("H'Hen Niê", "H'Hen Niê"),  # Ê Đê names carry an apostrophe
        ("y-moan ênuôl", "Y-Moan Ênuôl"),
        ("Lê Thị Hồng Nhung", "Lê Thị Hồng Nhung"),
    ],
)
def test_names_are_tidied(typed: str, expected: str) -> None:
    assert normalise_person_name(typed) == expected


def test_decomposed_input_comes_out_nfc() -> None:
    typed = unicodedata.normalize("NFD", "Phạm Thị Hương")
    result = normalise_person_name(typed)
    assert result == "Phạm Thị Hương"
    assert unicodedata.is_normalized("NFC", result)


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", "empty"),
        ("Hoa", "too_short"),
        ("Nguyễn Văn 3", "has_digits"),
        ("0912345678", "has_digits"),
        ("an@gmail.com", "bad_chars"),
        ("Nguyễn 😀 An", "bad_chars"),
        ("Nguyễn, Văn An", "bad_chars"),
        ("'Nguyễn Văn", "bad_chars"),
        ("Nguyễn " * 9, "too_long"),
        ("Nguyễn Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "too_long"),
    ],
)
def test_bad_names_say_why(typed: str, reason: str) -> None:
    with pytest.raises(Rejected) as err:
        normalise_person_name(typed)
    assert err.value.reason == reason
