"""What every channel adapter provides, and the rendering fallbacks they share.

An adapter turns platform events into ``Inbound`` records and hands them to ``deliver`` (the
app's pipeline: engine -> send replies); it renders ``Outgoing`` items within its platform's
limits and reports a ``Receipt``. Adapters never decide what to say.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from bot.core.events import Inbound, Outgoing, Receipt

if TYPE_CHECKING:
    from aiohttp import web

Deliver = Callable[[Inbound], Awaitable[None]]

MAX_JSON_DEPTH = 32  # platform updates nest about 5 deep; anything past this is not one
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class BadBody(ValueError):
    """A webhook body that is not JSON of a sane shape: answered 400, never a 500."""


def parse_json_body(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """A webhook's JSON body, refused (``BadBody``) when unreadable or nested too deep.

    Nesting is counted on the raw bytes before parsing (strings taken out first), so 100,000
    opening brackets are refused quickly instead of ending in a RecursionError."""
    depth = 0
    for bracket in _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS):
        depth += 1 if bracket in b"[{" else -1
        if depth > max_depth:
            raise BadBody(f"JSON nested more than {max_depth} deep")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadBody(f"unreadable JSON: {type(exc).__name__}") from exc


class SendMark(Protocol):
    """Told around the platform calls of one send, so a crash mid-send is never repeated.

    ``starting`` is awaited right before a call that may deliver (after any pacing wait): the
    app records there that the message is under way. ``delivered`` says a call succeeded;
    ``refused`` that the platform refused one without delivering it (429), so the message
    may be sent again after all."""

    async def starting(self) -> None: ...

    def delivered(self) -> None: ...

    async def refused(self) -> None: ...


@dataclass(frozen=True)
class Capabilities:
    buttons: bool
    max_text: int
    can_message_first: bool
    edit: bool = False
    request_contact: bool = False
    photos: bool = True
    topics: bool = False


class Channel(ABC):
    name: str
    capabilities: Capabilities
    uses_webhook: bool = False  # True when events arrive through the shared web app
    # True when the platform keeps an event until the adapter confirms it after delivery
    # (Telegram getUpdates offsets): then no inbox row is needed before processing.
    redelivers_until_confirmed: bool = False

    async def start(self, deliver: Deliver) -> None:  # noqa: B027 - optional hook
        """Begin receiving (start polling tasks). Webhook channels receive through the web app."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Stop receiving and close sessions."""

    def setup_web(self, app: web.Application, deliver: Deliver) -> None:  # noqa: B027
        """Add webhook routes to the shared aiohttp application, if the channel has any."""

    @abstractmethod
    async def send(self, out: Outgoing) -> Receipt:
        """Deliver one item; never raise for platform errors, report them in the receipt."""

    async def send_marked(self, out: Outgoing, mark: SendMark) -> Receipt:
        """``send``, telling ``mark`` when the message is under way. This default marks it
        before ``send`` (its pacing wait included); adapters that can mark right before the
        platform call (Telegram) do so."""
        await mark.starting()
        return await self.send(out)


_SENTENCE_END = re.compile(r"(?<=[.!?…:])\s+|\n+")


def split_text(text: str, limit: int) -> list[str]:
    """Split at sentence or line boundaries so no part exceeds ``limit`` characters.

    A single sentence longer than the limit is cut at the last space before it, and as a last
    resort hard-cut, so the function always terminates with parts within the limit.
    """
    if len(text) <= limit:
        return [text]
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        if not sentence:
            continue
        while len(sentence) > limit:
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            pieces.append(sentence[:cut].rstrip())
            sentence = sentence[cut:].lstrip()
        pieces.append(sentence)
    parts: list[str] = []
    current = ""
    for piece in pieces:
        candidate = f"{current}\n{piece}" if current else piece
        if len(candidate) <= limit:
            current = candidate
        else:
            parts.append(current)
            current = piece
    if current:
        parts.append(current)
    return parts
