"""Numbers typed or forged by people: ASCII digits only, and ids that fit the database.

``str.isdigit()`` is true for "²", "①" and "٣"; ``int()`` refuses the first two and takes the
third; Python's ints are unbounded while SQLite holds 64 bits and PostgreSQL's integer 32.
Every number that comes from a message, a command argument, a button payload or a web form is
read here, so a forged "case:open:²" or "/leads 99999999999999999999" is just not a number.
"""

from __future__ import annotations

import re

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# Row ids are ``Integer`` columns: 32 bits on PostgreSQL (SQLite takes 64). An id above this
# cannot name a row, and asyncpg refuses to bind it ("value out of int32 range").
ID_MAX = 2**31 - 1

# ASCII digits (re's \d also matches other scripts' digits); use in patterns that parse.
DIGIT = "[0-9]"
_INT = re.compile(r"-?[0-9]+")


def is_ascii_digits(text: str) -> bool:
    """True for "0123", False for "", "²", "١٢" and "-1"."""
    return bool(text) and text.isascii() and text.isdigit()


def parse_int(text: str | None, *, low: int = INT64_MIN, high: int = INT64_MAX) -> int | None:
    """The integer in ``text`` (ASCII digits, an optional leading "-") within [low, high];
    None for anything else. Never raises."""
    if text is None or len(text) > 20 or not _INT.fullmatch(text):
        return None
    value = int(text)
    return value if low <= value <= high else None


def parse_id(text: str | None) -> int | None:
    """A row id (1 to ``ID_MAX``) typed or carried in a payload; None when it cannot be one."""
    return parse_int(text, low=1, high=ID_MAX)


def fits_int64(value: int) -> bool:
    return INT64_MIN <= value <= INT64_MAX
