"""Take personal data out of text that is kept without consent (the FAQ misses editors read).

A question the FAQ could not answer is worth keeping for the editors, but workers type their
lives into the chat: phone numbers, e-mail addresses, ID (CCCD/CMND) and social-insurance
numbers, a name after a cancelled form. What is kept is the question's shape, never those:
numbers long enough to identify someone, e-mail addresses and a message that is only a name
are replaced by a marker, and the text is cut short.
"""

from __future__ import annotations

import re

MAX_KEPT = 200  # characters of a question kept for the editors

PHONE = "[số điện thoại]"
EMAIL = "[email]"
NUMBER = "[số giấy tờ]"
NAME = "[tên]"

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# Vietnamese phones: 0 or +84/84 then 9 digits, in groups separated by spaces, dots or dashes.
_PHONE = re.compile(r"(?<!\d)(?:\+?84|0)(?:[\s.\-]?\d){9}(?!\d)")
# Any other run of 7 or more digits (ID card 9 or 12, social insurance 10, bank accounts…),
# also when typed in groups ("0012 3456 7890").
_LONG_NUMBER = re.compile(r"(?<!\d)\d(?:[\s.\-]?\d){6,}(?!\d)")
# The most common Vietnamese family names, folded: a short message of letters that starts with
# one of them is taken to be a person's name ("pham thi lan").
_SURNAMES = frozenset(
    "nguyen tran le pham hoang huynh phan vu vo dang bui do ho ngo duong ly dinh trinh "
    "mai truong lam luong ha cao dao doan ta chu kieu quach thai la tang vuong".split()
)
_LETTERS_ONLY = re.compile(r"^[^\W\d_]+(?:\s+[^\W\d_]+){1,3}$", re.UNICODE)


# Common middle names: with a family name before them, the message is a name, not a question
# ("ly hon don phuong" is about divorce; "pham thi lan" is a person).
_MIDDLE_NAMES = frozenset(
    "thi van duc minh ngoc thanh hong quang xuan huu anh thu kim dinh cong quoc gia bao "
    "tuan trung hai khanh nhu my thuy phuong tien manh".split()
)


def _folded_words(text: str) -> list[str]:
    import unicodedata

    decomposed = unicodedata.normalize("NFD", text.lower())
    plain = "".join(c for c in decomposed if unicodedata.category(c) != "Mn").replace("đ", "d")
    return plain.split()


def looks_like_a_name(text: str) -> bool:
    """Three or four words of letters only: a common family name, then a middle name."""
    text = " ".join(text.split())
    if not _LETTERS_ONLY.match(text):
        return False
    words = _folded_words(text)
    return 3 <= len(words) <= 4 and words[0] in _SURNAMES and words[1] in _MIDDLE_NAMES


# Plain words that survive the matcher's normalisation, so a question can be redacted before it
# is normalised (an e-mail address no longer looks like one afterwards) and read with markers.
_SENTINELS = {"qqsdtqq": PHONE, "qqemailqq": EMAIL, "qqsoqq": NUMBER, "qqtenqq": NAME}
_BY_MARKER = {marker: word for word, marker in _SENTINELS.items()}
_SENTINEL = re.compile("|".join(_SENTINELS))


def redact(text: str, *, markers: bool = True) -> str:
    """The text with phone numbers, e-mail addresses and long numbers replaced, a bare name
    replaced, and cut to ``MAX_KEPT`` characters (at a word boundary). With ``markers=False``
    the replacements are plain words (``restore_markers`` turns them back)."""
    text = " ".join((text or "").split())
    pick = (lambda m: m) if markers else (lambda m: f" {_BY_MARKER[m]} ")
    if looks_like_a_name(text):
        return pick(NAME).strip()
    text = _EMAIL.sub(pick(EMAIL), text)
    text = _PHONE.sub(pick(PHONE), text)
    text = _LONG_NUMBER.sub(pick(NUMBER), text)
    text = " ".join(text.split())
    if len(text) > MAX_KEPT:
        text = text[:MAX_KEPT].rsplit(" ", 1)[0] + " …"
    return text


def restore_markers(text: str) -> str:
    return _SENTINEL.sub(lambda m: _SENTINELS[m.group(0)], text)
