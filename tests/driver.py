"""A chat driver for conversation tests: talk to the real engine as a worker would.

Messages are captured as Outgoing objects by a capture channel, and the text keys that produced
them are recorded, so tests assert on keys and values rather than exact wording.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from bot.channels.base import Capabilities, Channel
from bot.core.events import (
    Address,
    Choices,
    Inbound,
    Kind,
    Outgoing,
    Receipt,
    RequestContact,
)
from bot.core.texts import Texts


class RecordingTexts(Texts):
    """Texts that remember which keys were rendered, in order."""

    def __init__(self, base: Texts) -> None:
        super().__init__({k: base.raw(k) for k in base.keys()}, base.constants)
        self.rendered: list[str] = []

    def __call__(self, key: str, **params: Any) -> str:
        self.rendered.append(key)
        return super().__call__(key, **params)


class CaptureChannel(Channel):
    def __init__(self, name: str = "test", buttons: bool = True, max_text: int = 4096) -> None:
        self.name = name
        self.capabilities = Capabilities(
            buttons=buttons, max_text=max_text, can_message_first=True, request_contact=buttons
        )
        self.sent: list[Outgoing] = []
        self._n = 0

    async def send(self, out: Outgoing) -> Receipt:
        self._n += 1
        self.sent.append(out)
        return Receipt(message_id=str(self._n), thread_id=out.address.thread_id)

    def to(self, chat_id: str) -> list[Outgoing]:
        return [o for o in self.sent if o.address.chat_id == chat_id]


def install_recording_texts(app: Any) -> RecordingTexts:
    texts = RecordingTexts(app.texts)
    app.texts = texts
    app.engine.texts = texts
    return texts


@dataclass
class Chat:
    """One worker's chat with the bot."""

    app: Any
    channel: CaptureChannel
    user_id: str = "1001"
    name: str = "Công nhân"
    replies: list[Outgoing] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)

    @property
    def texts(self) -> RecordingTexts:
        return self.app.texts

    def _inbound(self, kind: Kind, **values: Any) -> Inbound:
        return Inbound(
            Address(self.channel.name, self.user_id),
            self.user_id,
            kind,
            dedupe_key=f"{self.channel.name}:{uuid.uuid4().hex}",
            display_name=self.name,
            message_id=uuid.uuid4().hex[:8],
            **values,
        )

    async def deliver(self, inbound: Inbound) -> list[Outgoing]:
        self.texts.rendered.clear()
        before = len(self.channel.sent)
        await self.app.process(inbound)
        self.replies = self.channel.sent[before:]
        self.keys = list(self.texts.rendered)
        return self.replies

    async def send(self, text: str) -> list[Outgoing]:
        if text.startswith("/"):
            command, _, args = text[1:].partition(" ")
            return await self.deliver(
                self._inbound(Kind.COMMAND, text=text, command=command.lower(), args=args)
            )
        return await self.deliver(self._inbound(Kind.TEXT, text=text))

    async def press(self, label_or_payload: str) -> list[Outgoing]:
        """Press a button shown in the last reply, by its label (or exact payload)."""
        payload = self.find_payload(label_or_payload)
        return await self.deliver(self._inbound(Kind.BUTTON, payload=payload))

    async def press_payload(self, payload: str) -> list[Outgoing]:
        """Press a button by its payload whether or not it is shown (an old or forged one)."""
        return await self.deliver(self._inbound(Kind.BUTTON, payload=payload))

    async def share_contact(self, phone: str) -> list[Outgoing]:
        return await self.deliver(self._inbound(Kind.CONTACT, phone=phone))

    async def send_media(self, kind: Kind = Kind.MEDIA, caption: str = "") -> list[Outgoing]:
        return await self.deliver(self._inbound(kind, text=caption, media=("file-1",)))

    def options(self) -> list[tuple[str, str]]:
        for out in reversed(self.replies):
            if isinstance(out.content, Choices | RequestContact):
                return [(c.label, c.payload) for c in out.content.options]
        return []

    def find_payload(self, label_or_payload: str) -> str:
        options = self.options()
        for _label, payload in options:
            if payload == label_or_payload:
                return payload
        wanted = label_or_payload.casefold()
        for label, payload in options:
            if wanted in label.casefold():
                return payload
        raise AssertionError(f"no button {label_or_payload!r}; buttons: {options}")

    @property
    def text(self) -> str:
        return "\n".join(o.text for o in self.replies)
