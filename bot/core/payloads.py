"""Typed button payloads: ``prefix:field:field`` packed and unpacked in one place.

In the spirit of aiogram's ``CallbackData``: a frozen dataclass per kind of button, declared
with its prefix::

    @dataclass(frozen=True)
    class Review(Payload, prefix="mship"):
        action: str
        app_id: int = 0

    Review("admit", 12).pack()          # "mship:admit:12"
    Review.unpack("mship:admit:12")     # Review(action="admit", app_id=12)
    Review.unpack("mship:admit:x")      # None: a tampered or stale button is simply not ours

Telegram refuses a button whose payload is over 64 bytes, so ``pack`` checks the length when
the button is built (``PayloadTooLong``), not when the message is sent. Unpacking never raises:
buttons come from people's phones and may be forged.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from functools import cache
from typing import Any, ClassVar, Self, get_type_hints

from bot.core.numbers import ID_MAX, parse_int

MAX_BYTES = 64  # Telegram's callback_data limit (PLATFORMS.md)
SEP = ":"


class PayloadTooLong(ValueError):
    """A payload that Telegram would refuse; a programming error, found in tests."""


class Payload:
    """Base of every typed payload; subclasses are frozen dataclasses with a ``prefix``."""

    prefix: ClassVar[str]

    def __init_subclass__(cls, prefix: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if prefix:
            if SEP in prefix:
                raise ValueError(f"payload prefix {prefix!r} may not contain {SEP!r}")
            cls.prefix = prefix

    def pack(self) -> str:
        declared = fields(self)  # type: ignore[arg-type]
        parts: list[tuple[str, bool]] = []
        for index, f in enumerate(declared):
            value = getattr(self, f.name)
            text = "" if value is None else str(int(value) if isinstance(value, bool) else value)
            if SEP in text and index < len(declared) - 1:
                raise ValueError(f"{type(self).__name__}.{f.name} may not contain {SEP!r}")
            parts.append((text, f.default is not MISSING and value == f.default))
        while parts and parts[-1][1]:  # trailing defaults are left out: "case:new"
            parts.pop()
        packed = SEP.join([self.prefix, *(text for text, _ in parts)])
        if len(packed.encode("utf-8")) > MAX_BYTES:
            raise PayloadTooLong(f"{packed!r} is over {MAX_BYTES} bytes")
        return packed

    @classmethod
    def unpack(cls, payload: str | None) -> Self | None:
        """The payload as this type, or None when it is not one (other prefix, tampered)."""
        if not payload:
            return None
        prefix, _, rest = payload.partition(SEP)
        if prefix != cls.prefix:
            return None
        declared = fields(cls)  # type: ignore[arg-type]
        parts = rest.split(SEP, len(declared) - 1) if declared and rest else []
        if len(parts) > len(declared):
            return None
        hints = _hints(cls)
        values: dict[str, Any] = {}
        for index, f in enumerate(declared):
            if index >= len(parts) or parts[index] == "":
                if f.default is MISSING:
                    return None
                continue
            converted = _convert(parts[index], hints[f.name])
            if converted is _BAD:
                return None
            values[f.name] = converted
        return cls(**values)

    @classmethod
    def matches(cls, payload: str | None) -> bool:
        return bool(payload) and (payload or "").partition(SEP)[0] == cls.prefix


_BAD = object()


@cache
def _hints(kind: type) -> dict[str, Any]:
    """A payload type's field types, resolved once (``get_type_hints`` evaluates the string
    annotations on every call: about 30 µs of every button press)."""
    return get_type_hints(kind)


def _convert(text: str, kind: Any) -> Any:
    if kind is int or kind == int | None:
        # ASCII digits within a row id's range: payload numbers go to the database as they are
        value = parse_int(text, low=-ID_MAX, high=ID_MAX)
        return _BAD if value is None else value
    if kind is bool:
        return {"1": True, "0": False}.get(text, _BAD)
    return text


def button(label: str, payload: Payload) -> tuple[str, str]:
    """A (label, packed payload) pair for ``ctx.choices``: the length is checked here."""
    return label, payload.pack()


__all__ = ["MAX_BYTES", "Payload", "PayloadTooLong", "button", "dataclass"]
