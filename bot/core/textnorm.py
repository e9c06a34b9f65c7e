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


def tokens(text: str) -> list[str]:
    """Words of the canonical form (accents kept)."""
    return _WORD.findall(canonical(text))


def folded_tokens(text: str) -> list[str]:
    """Words with diacritics removed, for matching text typed without them."""
    return _WORD.findall(fold(canonical(text)))


_TYPED_NUMBER = re.compile(r"^\s*(?:s[oố]\s*)?(\d{1,2})\s*[.)]?\s*$", re.IGNORECASE)


def typed_number(text: str) -> int | None:
    """The number a worker typed to pick from a numbered list ("2", "số 2", " 2. "), if any."""
    match = _TYPED_NUMBER.match(text or "")
    return int(match.group(1)) if match else None
