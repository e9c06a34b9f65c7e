"""What a feature gives the form runner, and what a validator answers.

A feature declares validators (``Feature.validators``: a slot's answer -> ``Valid``, ``Invalid``
or ``Candidates``), submitters (the confirmed answers -> the replies) and media options (photos
at any step). They live apart from the runner (``bot.core.forms``) so a feature declaration
names them without importing the runner, which itself builds a ``Feature``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.core.context import Ctx, Handler
from bot.core.events import Outgoing


@dataclass(frozen=True)
class Valid:
    value: Any
    shown: str


@dataclass(frozen=True)
class Invalid:
    error_key: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Candidates:
    """Several possible values (e.g. areas): the worker picks one by button or number."""

    options: tuple[tuple[str, str], ...]  # (value, shown)
    prompt_key: str = "form.pick"
    # Answers a pick gives to later slots too, by option value: {value: {slot: (value, shown)}}
    # (an area typed as "KCN Đại An" also says which industrial park, so that is not asked).
    fills: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)


Result = Valid | Invalid | Candidates
Validator = Callable[[Ctx, str], Awaitable[Result]]
Submit = Callable[[Ctx, dict[str, Any]], Awaitable[list[Outgoing]]]
# A form that accepts photos at any step (``Feature.form_media``): the option is given the
# message and a way to carry on with the form (``resume(ctx)``) once it has kept the media.
MediaOption = Callable[[Ctx, Handler], Awaitable[list[Outgoing] | None]]
