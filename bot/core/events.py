"""The neutral records every channel speaks: one ``Inbound`` in, a list of ``Outgoing`` out.

Adapters translate platform events into these and back; nothing past the adapter knows which
platform a person used. Ids are strings everywhere because Zalo ids overflow 64-bit integers in
some clients and Telegram chat ids are negative for groups.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    TEXT = "text"
    COMMAND = "command"
    BUTTON = "button"
    CONTACT = "contact"
    MEDIA = "media"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True)
class Address:
    """Where a message goes: a chat on a channel, optionally a thread (forum topic)."""

    channel: str
    chat_id: str
    thread_id: str | None = None


def nfc(text: str | None) -> str | None:
    return unicodedata.normalize("NFC", text) if text is not None else None


# What adapters remove from everything people send (#10): C0 and C1 control characters but the
# line break (a NUL fails PostgreSQL's text columns), lone surrogates (not encodable as UTF-8)
# and the bidirectional overrides that make a name read backwards to staff. A tab is a space.
_DROPPED = dict.fromkeys(
    [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0),
     *range(0xD800, 0xE000), *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)  # fmt: skip
_DROPPED[0x09] = " "
NAME_LIMIT = 128  # characters of a display name kept (Telegram allows 64 + 64)
ID_LIMIT = 64  # a platform user or chat id longer than this is not one (columns hold 128)


def clean_text(text: str | None, limit: int | None = None) -> str | None:
    """Text as adapters hand it on: NFC, one kind of line break, no control characters;
    cut to ``limit`` characters when given."""
    if text is None:
        return None
    text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_DROPPED)
    text = unicodedata.normalize("NFC", text)
    return text[:limit] if limit is not None else text


def plausible_id(value: str) -> bool:
    """A platform id the database can hold: printable ASCII, at most ``ID_LIMIT`` characters."""
    return 0 < len(value) <= ID_LIMIT and value.isascii() and value.isprintable()


@dataclass(frozen=True)
class Inbound:
    """One event from a person, already normalised to NFC.

    ``dedupe_key`` is unique per platform delivery (Telegram update_id, Zalo message id); the
    engine refuses to process the same key twice. ``chat_type`` lets the engine ignore groups
    other than the configured staff group.
    """

    address: Address
    user_id: str
    kind: Kind
    dedupe_key: str
    display_name: str = ""
    text: str = ""
    command: str | None = None
    args: str = ""
    payload: str | None = None
    phone: str | None = None
    reply_to: str | None = None
    message_id: str | None = None
    chat_type: str = "private"
    media: tuple[str, ...] = ()
    edited: bool = False
    # The platform's order of this person's events (Telegram update id, Zalo timestamp in ms):
    # events received by different processes are handled in this order.
    sequence: int = 0

    @property
    def channel(self) -> str:
        return self.address.channel


class TryLater(Exception):
    """Raised by delivery when the event could not be handled now (the database is down or
    full): an adapter that can keep the event unconfirmed does so and delivers it again."""


@dataclass(frozen=True)
class Choice:
    label: str
    payload: str


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Choices:
    """A message with buttons. Channels without buttons render a numbered list."""

    text: str
    options: tuple[Choice, ...]


@dataclass(frozen=True)
class RequestContact:
    """Ask for the phone number with a share-contact button where the channel has one."""

    text: str
    button_label: str
    options: tuple[Choice, ...] = ()


@dataclass(frozen=True)
class RemoveKeyboard:
    text: str


@dataclass(frozen=True)
class Photo:
    data: bytes
    caption: str = ""
    filename: str = "image.png"


@dataclass(frozen=True)
class RelayCopy:
    """Copy a message that already exists on the same channel (e.g. a worker's photo)."""

    from_chat_id: str
    message_id: str
    caption: str = ""


@dataclass(frozen=True)
class CreateTopic:
    """Open a forum topic in a group; the adapter reports the new thread id in the receipt."""

    name: str


Content = Text | Choices | RequestContact | RemoveKeyboard | Photo | RelayCopy | CreateTopic


@dataclass(frozen=True)
class Outgoing:
    """One content item for one address.

    ``tag`` is an opaque correlation string: after delivery the app hands the platform's receipt
    (message id, thread id) back to the engine with the tag, so a handler can link e.g. a staff
    group message to the case it belongs to. ``paid_broadcast`` asks Telegram for its paid
    broadcast pace (up to 1,000 messages/s, charged 0.1 Star each): announcements only, when
    staff chose it; other channels ignore it.
    """

    address: Address
    content: Content
    tag: str | None = None
    reply_to: str | None = None
    paid_broadcast: bool = False

    @property
    def text(self) -> str:
        c = self.content
        if isinstance(c, Photo | RelayCopy):
            return c.caption
        if isinstance(c, CreateTopic):
            return c.name
        return c.text


class SendStatus(StrEnum):
    """How a send ended; the app and features act on this, not on error strings."""

    SENT = "sent"
    BLOCKED = "blocked"  # the person blocked the bot: mark the address unreachable, never retry
    RATE_LIMITED = "rate_limited"  # the platform asked us to slow down: retry later
    NO_CHANNEL = "no_channel"  # that channel is not configured in this process: never retry
    HELD = "held"  # kept by the adapter (Zalo's reply window): the outbox must not retry it
    FAILED = "failed"  # anything else (network, rendering): retry with back-off

    @property
    def final(self) -> bool:
        """True when retrying cannot help (the outbox row is closed)."""
        return self in (SendStatus.BLOCKED, SendStatus.NO_CHANNEL, SendStatus.HELD)


_ERROR_STATUS = {
    "blocked": SendStatus.BLOCKED,
    "rate_limited": SendStatus.RATE_LIMITED,
    "no channel": SendStatus.NO_CHANNEL,
}


@dataclass(frozen=True)
class Receipt:
    """What a channel reports after sending: the outcome, the platform's message and thread id.

    ``status`` is derived from ``ok``/``error`` when an adapter does not set it; ``error`` and
    ``extra`` keep the details (the platform's description, every message id of a split text).
    """

    message_id: str | None = None
    thread_id: str | None = None
    ok: bool = True
    error: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    status: SendStatus | None = None

    def __post_init__(self) -> None:
        if self.status is None:
            if self.ok:
                status = SendStatus.SENT
            elif self.extra.get("final") == "yes":
                status = SendStatus.HELD
            else:
                status = _ERROR_STATUS.get(self.error or "", SendStatus.FAILED)
            object.__setattr__(self, "status", status)

    @property
    def outcome(self) -> SendStatus:
        assert self.status is not None
        return self.status


_CONTENT_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (Text, Choices, RequestContact, RemoveKeyboard, Photo, RelayCopy, CreateTopic)
}


def content_to_json(content: Content) -> dict[str, object]:
    """A JSON-safe form for the outbox table."""
    import base64
    from dataclasses import asdict

    data = asdict(content)
    if isinstance(content, Photo):
        data["data"] = base64.b64encode(content.data).decode("ascii")
    return {"type": type(content).__name__, **data}


def content_from_json(data: dict[str, object]) -> Content:
    import base64

    values = dict(data)
    cls = _CONTENT_TYPES[str(values.pop("type"))]
    if cls is Photo:
        values["data"] = base64.b64decode(str(values["data"]))
    if "options" in values:
        values["options"] = tuple(Choice(**o) for o in values["options"])  # type: ignore[union-attr]
    return cls(**values)  # type: ignore[no-any-return]


def inbound_to_json(inbound: Inbound) -> dict[str, object]:
    from dataclasses import asdict

    return asdict(inbound)


def inbound_from_json(data: dict[str, object]) -> Inbound:
    values = dict(data)
    values["address"] = Address(**values["address"])  # type: ignore[arg-type]
    values["kind"] = Kind(values["kind"])
    values["media"] = tuple(values.get("media") or ())  # type: ignore[arg-type]
    return Inbound(**values)  # type: ignore[arg-type]


def pick_by_number(inbound: Inbound, payloads: list[str] | None) -> Inbound:
    """Typed text "2" after a numbered list becomes a press of its second option."""
    from dataclasses import replace

    from bot.core.textnorm import typed_number

    if inbound.kind is not Kind.TEXT or not payloads:
        return inbound
    index = typed_number(inbound.text)
    if index is None or not 1 <= index <= len(payloads):
        return inbound
    return replace(inbound, kind=Kind.BUTTON, payload=payloads[index - 1])


def pick_by_label(
    inbound: Inbound, payloads: list[str] | None, labels: list[str] | None
) -> Inbound:
    """Typed text that is a button's label ("tiep tuc" for "▶️ Tiếp tục") presses that button,
    on every channel: workers often type what they see instead of pressing it."""
    from dataclasses import replace

    from bot.core.textnorm import pick_label, typed_words

    if inbound.kind is not Kind.TEXT or not payloads or not labels or len(labels) != len(payloads):
        return inbound
    index = pick_label(typed_words(inbound.text), labels)
    if index is None:
        return inbound
    return replace(inbound, kind=Kind.BUTTON, payload=payloads[index])


def outgoing_to_json(out: Outgoing) -> dict[str, object]:
    """A JSON-safe form of a whole reply (address, content, tag), kept until it is sent."""
    a = out.address
    return {
        "address": [a.channel, a.chat_id, a.thread_id],
        "content": content_to_json(out.content),
        "tag": out.tag,
        "reply_to": out.reply_to,
    }


def outgoing_from_json(data: dict[str, object]) -> Outgoing:
    channel, chat_id, thread_id = data["address"]  # type: ignore[misc]
    return Outgoing(
        Address(str(channel), str(chat_id), thread_id),
        content_from_json(data["content"]),  # type: ignore[arg-type]
        data.get("tag"),  # type: ignore[arg-type]
        data.get("reply_to"),  # type: ignore[arg-type]
    )
