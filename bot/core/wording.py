"""The words of a message for a channel without buttons (the console, the Zalo Bot Platform).

Messages are written once, for a phone with buttons: "Đúng rồi thì bấm “Gửi”". Where choices are
a numbered list the worker types a number, so "bấm" would ask for something that is not there.
``for_typing`` rewrites such a message for the numbered list it comes with: a pressed label
becomes its number ("gõ số 5 (“Gửi”)"), a label named later in the sentence gets its number
beside it ("“Bỏ đơn” (số 2)"), and the other ways of saying "press" become "gõ số" or "chọn". Pure
text rules, so adapters can call it where they render a numbered list.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.core.textnorm import typed_words

if TYPE_CHECKING:
    from bot.core.events import Choice

# "bấm “Gửi”", "Bấm nút “Gửi”", or just a quoted label: group 1 is the press word when present.
_QUOTED = re.compile(r"(?:\b([Bb])ấm(?: nút)? )?“([^”\n]{1,60})”")
_ONE_BELOW = "gõ số thứ tự của một mục bên dưới"
# Other ways of saying "press", most specific first. A replacement's first letter follows the
# case of the match's first letter.
_PHRASES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r",? hoặc bấm nút gửi số điện thoại(?: nếu có)?"), ""),
    (re.compile(r"\b[Bb]ấm nút bên dưới để gửi số điện thoại, hoặc gõ"), "gõ"),
    (re.compile(r"\b[Cc]họn một nút bên dưới \(hoặc gõ số thứ tự\)"), _ONE_BELOW),
    (re.compile(r"\b[Bb]ấm \(hoặc gõ số\)"), "gõ số"),
    (re.compile(r"\b[Bb]ấm vào liên kết"), "mở liên kết"),
    (re.compile(r"\b[Bb]ấm vào "), "gõ số của "),
    (re.compile(r"\b[Bb]ấm một "), "gõ số của một "),
    (re.compile(r"\b[Bb]ấm lần nữa"), "gõ lại số đó"),
    (re.compile(r"\b[Bb]ấm nút (?:bên dưới|dưới đây)"), "gõ số bên dưới"),
    (re.compile(r"\b[Bb]ấm để"), "gõ số để"),
    (re.compile(r"\bnút bấm\b"), "số thứ tự"),
    (re.compile(r"\bkhông bấm gì\b"), "không chọn gì"),
)
_PRESS = re.compile(r"\b[Bb]ấm\b")


def _case(template: str, match: str) -> str:
    if template and match[:1].isupper():
        return template[0].upper() + template[1:]
    return template


def _numbers(quoted: str, labels: Sequence[str]) -> list[int]:
    """1-based numbers of the labels a quoted name stands for: the label itself, its first
    clause, or (when nothing is exact) every label that starts with it ("Sửa" → "Sửa họ tên")."""
    want = typed_words(quoted)
    if not want:
        return []
    plain = [typed_words(label) for label in labels]
    for i, label in enumerate(labels):
        if want in (plain[i], typed_words(label.split(",")[0])):
            return [i + 1]
    return [i + 1 for i, p in enumerate(plain) if f"{p} ".startswith(f"{want} ")]


def for_typing(text: str, labels: Sequence[str] = ()) -> str:
    """``text`` as it should read above a numbered list of ``labels`` (or with no list)."""
    if not text:
        return text

    def quoted(m: re.Match[str]) -> str:
        press, name = m.group(1), m.group(2)
        found = _numbers(name, labels)
        if press is None:
            return f"“{name}” (số {found[0]})" if len(found) == 1 else m.group(0)
        if len(found) == 1:
            return _case(f"gõ số {found[0]} (“{name}”)", press)
        if found:
            span = (
                f"{found[0]}–{found[-1]}"
                if found == list(range(found[0], found[-1] + 1))
                else (", ".join(str(n) for n in found))
            )
            return _case(f"gõ số {span} (“{name} …”)", press)
        return _case(f"chọn “{name}”", press)

    text = _QUOTED.sub(quoted, text)
    for pattern, replacement in _PHRASES:
        text = pattern.sub(lambda m, r=replacement: _case(r, m.group(0)), text)
    leftover = "gõ số" if labels else "chọn"
    return _PRESS.sub(lambda m: _case(leftover, m.group(0)), text)


def numbered_list(text: str, options: tuple[Choice, ...]) -> str:
    """The buttonless rendering of choices: the number a person types picks the option, and the
    words say so ("gõ số 2 (“Gửi”)" where the message says "bấm “Gửi”", bot/core/wording.py)."""
    text = for_typing(text, [choice.label for choice in options])
    lines = [text, ""] if text else []
    lines += [f"{i}. {choice.label}" for i, choice in enumerate(options, 1)]
    lines.append("(Bạn gõ số để chọn)")
    return "\n".join(lines)
