"""The console channel: the same engine in a terminal, for local use, demos and tests.

Reads one line per message from standard input (a terminal or a pipe), shows choices as a
numbered list, and stops cleanly at end of input. When input is piped, each line is echoed so a
transcript reads like a chat.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from bot.channels.base import Capabilities, Channel
from bot.core.events import (
    Address,
    Choices,
    CreateTopic,
    Inbound,
    Kind,
    Outgoing,
    Photo,
    Receipt,
    RelayCopy,
    RemoveKeyboard,
    RequestContact,
    Text,
    clean_text,
)
from bot.core.wording import for_typing, numbered_list

USER_ID = "console-user"


def line_to_inbound(line: str, user_id: str = USER_ID) -> Inbound:
    text = clean_text(line.strip()) or ""
    address = Address("console", user_id)
    key = f"console:{uuid.uuid4().hex}"
    if text.startswith("/") and len(text) > 1:
        command, _, args = text[1:].partition(" ")
        return Inbound(address, user_id, Kind.COMMAND, key, text=text,
                       command=command.lower(), args=args.strip())  # fmt: skip
    return Inbound(address, user_id, Kind.TEXT, key, text=text)


class ConsoleChannel(Channel):
    name = "console"
    capabilities = Capabilities(buttons=False, max_text=100_000, can_message_first=True)

    def __init__(
        self, out: TextIO | None = None, media_dir: Path | None = None, echo: bool | None = None
    ) -> None:
        self.out = out or sys.stdout
        self.media_dir = media_dir
        self.echo = echo
        self._counter = 0

    def _write(self, text: str) -> None:
        self.out.write(text.rstrip() + "\n\n")
        self.out.flush()

    async def send(self, out: Outgoing) -> Receipt:
        c = out.content
        self._counter += 1
        if isinstance(c, Choices):
            self._write("🤖 " + numbered_list(c.text, c.options))
        elif isinstance(c, RequestContact):
            body = c.text + "\n(Bạn gõ số điện thoại của bạn.)"
            shown = numbered_list(body, c.options) if c.options else for_typing(body)
            self._write("🤖 " + shown)
        elif isinstance(c, Text | RemoveKeyboard):
            self._write("🤖 " + for_typing(c.text))  # no buttons here: "bấm" reads "chọn"
        elif isinstance(c, Photo):
            where = ""
            if self.media_dir is not None:
                self.media_dir.mkdir(parents=True, exist_ok=True)
                path = self.media_dir / f"{self._counter}-{c.filename}"
                path.write_bytes(c.data)
                where = f" — đã lưu: {path}"
            self._write(f"🤖 [Ảnh {c.filename}{where}]\n{c.caption}")
        elif isinstance(c, RelayCopy):
            self._write(f"🤖 [Tin nhắn chuyển tiếp] {c.caption}")
        elif isinstance(c, CreateTopic):
            return Receipt(ok=False, error="topics not supported")
        return Receipt(message_id=str(self._counter))

    async def run(
        self, process: Callable[[Inbound], Awaitable[object]], stdin: TextIO | None = None
    ) -> None:
        """Read until end of input; each line is one message from the console user."""
        stdin = stdin or sys.stdin
        echo = self.echo if self.echo is not None else not stdin.isatty()
        loop = asyncio.get_running_loop()
        await process(line_to_inbound("/start"))
        while True:
            if not echo:
                self.out.write("Bạn: ")
                self.out.flush()
            line = await loop.run_in_executor(None, stdin.readline)
            if not line:
                break
            if not line.strip():
                continue
            if echo:
                self.out.write(f"Bạn: {line.strip()}\n\n")
            await process(line_to_inbound(line))
