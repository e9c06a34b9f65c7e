"""Runs every transcript in tests/conversations/ through the chat driver on the real engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.driver import CaptureChannel, Chat
from tests.transcripts import parse

CONVERSATIONS = sorted((Path(__file__).parent / "conversations").glob("*.txt"))


@pytest.mark.parametrize("path", CONVERSATIONS, ids=[p.stem for p in CONVERSATIONS])
async def test_transcript(path: Path, make_app, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"
    channel = CaptureChannel()
    chat = Chat(await make_app(channel, url=url), channel)
    pending_keys: list[str] = []
    for step in parse(path):
        where = f"{path.name}:{step.line}"
        if step.who == ">":
            body = step.body
            if body.startswith("[") and body.endswith("]"):
                await chat.press(body[1:-1])
            elif body.startswith("(phone ") and body.endswith(")"):
                await chat.share_contact(body[7:-1])
            else:
                await chat.send(body)
            pending_keys = list(chat.keys)
        elif step.who == "<":
            if step.body.startswith('"'):
                words = step.body.strip('"')
                assert words in chat.text, f"{where}: {words!r} not in reply:\n{chat.text}"
            else:
                assert step.body in pending_keys, (
                    f"{where}: expected {step.body}, the bot used {chat.keys}\n{chat.text}"
                )
                pending_keys = pending_keys[pending_keys.index(step.body) + 1 :]
        elif step.body == "restart":
            channel = CaptureChannel()
            chat = Chat(await make_app(channel, url=url), channel, user_id=chat.user_id)
        else:
            raise AssertionError(f"{where}: unknown action {step.body}")
