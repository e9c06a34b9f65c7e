"""Keyed Vietnamese messages from content/vi/*.toml, with strict placeholders.

Words live in content files so editors can change them without touching code. A missing key or
a placeholder that the caller did not fill is a bug, so both raise instead of showing a worker a
broken message; `congdoan-bot content check` finds them before a worker could.
"""

from __future__ import annotations

import string
import tomllib
import unicodedata
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

LOCALE = "vi_VN"
LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
_FORMATTER = string.Formatter()


class TextError(KeyError):
    pass


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in _FORMATTER.parse(template) if name}


def _flatten(prefix: str, table: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for key, value in table.items():
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            yield from _flatten(full, value)
        elif isinstance(value, str):
            yield full, value
        else:
            raise TextError(f"{full}: only strings and tables are allowed, got {type(value)}")


def load_text_files(directory: Path) -> dict[str, tuple[str, Path]]:
    """Every key in every file of the directory, with the file it came from."""
    out: dict[str, tuple[str, Path]] = {}
    for path in sorted(directory.glob("*.toml")):
        data = tomllib.loads(path.read_text("utf-8"))
        for key, value in _flatten("", data):
            if key in out:
                raise TextError(f"{key} defined twice ({out[key][1].name}, {path.name})")
            out[key] = (value, path)
    return out


def fmt_number(value: int | float | Decimal) -> str:
    return format_decimal(value, locale=LOCALE)


def fmt_money(value: int | Decimal) -> str:
    """Vietnamese style: 253.000 đ."""
    return f"{format_decimal(value, locale=LOCALE)} đ"


def fmt_date(value: date | datetime) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(LOCAL_TZ).date()
    return format_date(value, "dd/MM/yyyy", locale=LOCALE)


def fmt_datetime(value: datetime) -> str:
    return format_datetime(value.astimezone(LOCAL_TZ), "HH:mm dd/MM/yyyy", locale=LOCALE)


class Texts:
    """Looks up and fills messages; shared constants (hotline...) are filled in automatically."""

    def __init__(self, messages: Mapping[str, str], constants: Mapping[str, str] | None = None):
        self._messages = {k: unicodedata.normalize("NFC", v).strip() for k, v in messages.items()}
        self.constants = dict(constants or {})

    @classmethod
    def load(cls, directory: Path, constants: Mapping[str, str] | None = None) -> Texts:
        return cls({k: v for k, (v, _) in load_text_files(directory).items()}, constants)

    def __contains__(self, key: str) -> bool:
        return key in self._messages

    def keys(self) -> list[str]:
        return list(self._messages)

    def raw(self, key: str) -> str:
        try:
            return self._messages[key]
        except KeyError:
            raise TextError(f"missing text key: {key}") from None

    def __call__(self, key: str, **params: Any) -> str:
        template = self.raw(key)
        needed = placeholders(template)
        values = {**self.constants, **params}
        missing = needed - values.keys()
        if missing:
            raise TextError(f"{key}: missing placeholders {sorted(missing)}")
        extra = set(params) - needed
        if extra:
            raise TextError(f"{key}: unexpected placeholders {sorted(extra)}")
        return template.format(**{k: values[k] for k in needed})
