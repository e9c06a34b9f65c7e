"""Vietnamese text normalisation shared by every search: FAQ, areas, enterprise names.

Workers type on cheap phones, often without diacritics, with either the old tone placement
("hoà", "thuỷ") or the new one ("hòa", "thủy"). Everything that compares Vietnamese text goes
through here so that one spelling never misses another.
"""

from __future__ import annotations

import re
import unicodedata

_TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}  # huyền sắc ngã hỏi nặng
_WORD = re.compile(r"\w+", re.UNICODE)
# Two-vowel endings where the old and new styles disagree on where the tone mark goes.
_GLIDE_ENDINGS = ("oa", "oe", "uy")


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def fold(text: str) -> str:
    """Lower-case and strip every diacritic, đ → d: what a worker types without Vietnamese input."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return stripped.replace("đ", "d").replace("Đ", "d")


def _canon_syllable(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word)
    tone = next((ch for ch in decomposed if ch in _TONES), None)
    if tone is None:
        return word
    base = "".join(ch for ch in decomposed if ch not in _TONES)
    base_nfc = unicodedata.normalize("NFC", base)
    low = base_nfc.lower()
    if low.endswith(_GLIDE_ENDINGS) and not low.startswith("qu"):
        # Canonical form puts the tone on the last vowel ("hoá", "thuỷ").
        target = len(base_nfc) - 1
    else:
        return word
    chars = list(base_nfc)
    chars[target] = unicodedata.normalize("NFC", chars[target] + tone)
    return "".join(chars)


def canonical(text: str) -> str:
    """NFC, lower case, one tone placement, single spaces."""
    text = nfc(text).lower()
    text = _WORD.sub(lambda m: _canon_syllable(m.group(0)), text)
    return " ".join(text.split())


def _new_style_syllable(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word)
    tone = next((ch for ch in decomposed if ch in _TONES), None)
    if tone is None:
        return word
    base = unicodedata.normalize("NFC", "".join(ch for ch in decomposed if ch not in _TONES))
    low = base.lower()
    if not low.endswith(_GLIDE_ENDINGS) or low.startswith("qu"):
        return word
    target = len(base) - 2  # "hoà" → "hòa", "Thuỷ" → "Thủy": the mark on the first vowel
    chars = list(base)
    chars[target] = unicodedata.normalize("NFC", chars[target] + tone)
    return "".join(chars)


def new_tone_style(text: str) -> str:
    """The new tone placement content/ is written in ("Thuỷ Nguyên" → "Thủy Nguyên"), case kept:
    for names taken from official tables that use the old one."""
    return _WORD.sub(lambda m: _new_style_syllable(m.group(0)), nfc(text))


def tokens(text: str) -> list[str]:
    """Words of the canonical form (accents kept)."""
    return _WORD.findall(canonical(text))


def folded_tokens(text: str) -> list[str]:
    """Words with diacritics removed, for matching text typed without them."""
    return _WORD.findall(fold(canonical(text)))


_TYPED_NUMBER = re.compile(r"^\s*(?:s[oố]\s*)?([0-9]{1,2})\s*[.)]?\s*$", re.IGNORECASE)


def typed_number(text: str) -> int | None:
    """The number a worker typed to pick from a numbered list ("2", "số 2", " 2. "), if any."""
    match = _TYPED_NUMBER.match(text or "")
    return int(match.group(1)) if match else None


# Short answers that mean the same as a label's first word ("không" for "Chưa").
_ALIASES = {
    "khong": ("chua",),
    "chua": ("khong",),
    "ko": ("khong", "chua"),
    "k": ("khong", "chua"),
    "chua co": ("chua", "khong"),
    "co roi": ("co",),
    "roi": ("co",),
    "co": ("co",),
    "khong ro": ("khong biet",),
    "khong biet": ("khong ro",),
    "ko biet": ("khong biet", "khong ro"),
    "ko ro": ("khong ro", "khong biet"),
}
_PLAIN_WORDS = re.compile(r"[a-z0-9]+")


def typed_words(text: str) -> str:
    """What was typed or shown, folded to plain words: "✅ Gửi" and "gui" are both "gui"."""
    return " ".join(_PLAIN_WORDS.findall(fold(text or "")))


def pick_label(typed: str, labels: list[str], *, prefix: bool = False) -> int | None:
    """Which label a typed answer means: the whole label or its first clause ("có" for "Có,
    được liên hệ"), or a same-meaning short word ("không" for "Chưa"). With ``prefix``, also
    the one label that starts with the typed words ("không rõ" for "Không rõ xã/phường")."""
    if not typed:
        return None
    for candidate in (typed, *_ALIASES.get(typed, ())):
        for index, label in enumerate(labels):
            if candidate in (typed_words(label), typed_words(label.split(",")[0])):
                return index
    if not prefix:
        return None
    starting = [i for i, lbl in enumerate(labels) if f"{typed_words(lbl)} ".startswith(f"{typed} ")]
    return starting[0] if len(starting) == 1 else None
