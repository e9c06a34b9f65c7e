"""Checks for what workers type into forms: Vietnamese person names and mobile phone numbers.

Pure functions, no storage and no messages: each returns the normalised value or raises
``Rejected`` with a short reason code (and parameters) that the caller turns into a friendly
Vietnamese sentence. Keeping the rules here lets the join form, the lead report and the legal
question share them and test them without an engine.

Phone numbers arrive in every shape a phone keyboard produces ("0912 345 678", "+84 912345678",
"84912345678", "0912.345.678", "(091) 234-5678", "0084 912 345 678", "+84 0912…") and from the
Telegram contact button ("84912345678"). They are normalised to E.164 ("+84912345678") so the
keyed hash of one number is always the same, whatever the worker typed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from bot.core.numbers import is_ascii_digits


@dataclass
class Rejected(ValueError):
    """Input that cannot be accepted; ``reason`` is a stable code, ``params`` fill its message."""

    reason: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.reason)


# -- phone numbers ----------------------------------------------------------------------------

# Vietnamese mobile prefixes (the two digits after the leading 0) since the 2018 renumbering:
# Viettel 32–39, 86, 96–98; Vinaphone 81–85, 88, 91, 94; MobiFone 70, 76–79, 89, 90, 93;
# Vietnamobile 52, 56, 58, 92; Gmobile 59, 99; Reddi 55; Itelecom 87.
MOBILE_PREFIXES = frozenset(
    {"32", "33", "34", "35", "36", "37", "38", "39"}
    | {"52", "55", "56", "58", "59"}
    | {"70", "76", "77", "78", "79"}
    | {"81", "82", "83", "84", "85", "86", "87", "88", "89"}
    | {"90", "91", "92", "93", "94", "96", "97", "98", "99"}
)
_PHONE_SEPARATORS = re.compile(r"[\s.\-()/]+")
_DIGITS = re.compile(r"^\+?[0-9]+$")
NATIONAL_LENGTH = 10  # 0 + 9 digits


def normalise_phone(text: str) -> str:
    """A Vietnamese mobile number in E.164 form ("+84912345678"), or ``Rejected``.

    Reasons: ``empty``, ``not_a_number`` (letters or symbols), ``foreign`` (another country
    code), ``old_11_digits`` (01x numbers retired in 2018), ``landline`` (02x area codes),
    ``wrong_length`` (params: ``count`` digits typed), ``not_mobile`` (an unknown prefix).
    """
    raw = unicodedata.normalize("NFKC", text or "").strip()
    compact = _PHONE_SEPARATORS.sub("", raw)
    if not compact:
        raise Rejected("empty")
    if not _DIGITS.match(compact):
        raise Rejected("not_a_number")
    plus = compact.startswith("+")
    digits = compact.lstrip("+")
    if digits.startswith("0084"):
        digits, plus = digits[2:], True
    if plus and not digits.startswith("84"):
        raise Rejected("foreign")
    if plus or (digits.startswith("84") and len(digits) in (11, 12)):
        national = digits[2:]
        national = national if national.startswith("0") else "0" + national
    else:
        national = digits if digits.startswith("0") else "0" + digits
    if national.startswith("01") and len(national) == 11:
        raise Rejected("old_11_digits")
    if national.startswith("02"):
        raise Rejected("landline")
    if len(national) != NATIONAL_LENGTH:
        raise Rejected("wrong_length", {"count": len(national)})
    if national[1:3] not in MOBILE_PREFIXES:
        raise Rejected("not_mobile")
    return "+84" + national[1:]


def display_phone(e164: str) -> str:
    """The way Vietnamese write a mobile number: "0912 345 678"."""
    national = "0" + e164.removeprefix("+84")
    return f"{national[:4]} {national[4:7]} {national[7:]}"


# -- person names -----------------------------------------------------------------------------

NAME_MIN_WORDS = 2
NAME_MAX_WORDS = 7
NAME_MAX_CHARS = 60
WORD_MAX_CHARS = 15
# Apostrophes and hyphens occur inside names of several ethnic minorities (H'Hen Niê, Y-Moan).
_JOINERS = {"'", "’", "-"}


def normalise_person_name(text: str) -> str:
    """A full name, NFC, single-spaced, each word capitalised ("Nguyễn Thị Thu Hà").

    Names typed without diacritics are accepted as they are (we cannot guess the marks).
    Reasons: ``empty``, ``too_short`` (fewer than two words: we need family and given name),
    ``too_long`` (params: ``limit``), ``has_digits``, ``bad_chars`` (symbols, emoji, "@").
    """
    clean = unicodedata.normalize("NFC", text or "")
    words = clean.split()
    if not words:
        raise Rejected("empty")
    joined = " ".join(words)
    if any(ch.isdigit() for ch in joined):
        raise Rejected("has_digits")
    for word in words:
        if not _is_name_word(word):
            raise Rejected("bad_chars")
    if len(joined) > NAME_MAX_CHARS or len(words) > NAME_MAX_WORDS:
        raise Rejected("too_long", {"limit": NAME_MAX_CHARS})
    if any(len(w) > WORD_MAX_CHARS for w in words):
        raise Rejected("too_long", {"limit": NAME_MAX_CHARS})
    if len(words) < NAME_MIN_WORDS:
        raise Rejected("too_short")
    return " ".join(_capitalise(w) for w in words)


def _is_name_word(word: str) -> bool:
    decomposed = unicodedata.normalize("NFD", word)
    if decomposed[0] in _JOINERS or decomposed[-1] in _JOINERS:
        return False
    for ch in decomposed:
        category = unicodedata.category(ch)
        if category.startswith("L") or category == "Mn" or ch in _JOINERS:
            continue
        return False
    return True


def _capitalise(word: str) -> str:
    """Upper-case the first letter of each part ("h'hen" -> "H'Hen", "nguyễn" -> "Nguyễn")."""
    out = []
    upper_next = True
    for ch in word:
        out.append(ch.upper() if upper_next else ch.lower())
        upper_next = ch in _JOINERS
    return unicodedata.normalize("NFC", "".join(out))


# Weights of the check digit of a Vietnamese tax code (mã số thuế, 10 digits; a branch adds
# "-NNN"): the tenth digit is 10 - (sum of the first nine times these weights) mod 11.
_TAX_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)


def valid_tax_code(digits: str) -> bool:
    """Is this (10 or 13 digits, separators removed) a tax code with a correct check digit?

    Catches a mistyped digit before a volunteer spends a visit on the wrong company."""
    if not is_ascii_digits(digits) or len(digits) not in (10, 13):
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], _TAX_WEIGHTS, strict=True))
    check = 10 - total % 11
    return check < 10 and int(digits[9]) == check
