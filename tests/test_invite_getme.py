"""Invite links with only the Telegram token set (issue #12 point 15): the bot's username comes
from getMe, through the fake Bot API server, for /moiban and for the employer QR poster."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import FEATURES
from bot.channels.telegram import TelegramChannel
from bot.channels.throttle import unlimited
from bot.commands import employer as employer_cmd
from storage.people import add_person
from tests.fakes.telegram import FakeTelegram, skip_without_spec

COLLABORATOR = 660101


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    skip_without_spec()
    async with FakeTelegram(bot_username="hp_congdoan_that_bot") as server:
        yield server


async def test_moiban_link_uses_the_username_from_getme(fake, make_app, tmp_path) -> None:
    fake.add_user(COLLABORATOR, "Cộng tác viên")
    channel = TelegramChannel(fake.token, api_base=fake.base_url, poll_timeout=1,
                              throttle=unlimited())  # fmt: skip
    app = await make_app(channel, features=FEATURES, http_port=0,  # a free port, never 8080
                         url=f"sqlite+aiosqlite:///{tmp_path / 'invite.db'}")  # fmt: skip
    async with app.db.transaction() as session:
        await add_person(session, role="collaborator", external_id=str(COLLABORATOR))
    await app.start()  # no bot_username anywhere in the settings: only the token
    fake.send_text(COLLABORATOR, "/moiban")
    sent = await fake.wait_for(COLLABORATOR, 1)
    text = "\n".join(s.text or "" for s in sent)
    assert "https://t.me/hp_congdoan_that_bot?start=" in text, text
    assert any(call.method == "getMe" for call in fake.calls)


def _qr(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    employer_cmd.add_arguments(parser)
    return employer_cmd.run(parser.parse_args(argv))


async def test_employer_qr_reads_the_username_from_getme(
    fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", fake.token)
    monkeypatch.setenv("TELEGRAM_API_BASE", fake.base_url)
    monkeypatch.delenv("TELEGRAM_BOT_USERNAME", raising=False)
    monkeypatch.setenv("CONGDOAN_CONFIG", str(tmp_path / "absent.toml"))
    out = tmp_path / "qr.png"
    assert await asyncio.to_thread(_qr, ["qr", "--out", str(out)]) == 0
    assert "https://t.me/hp_congdoan_that_bot?start=employer" in capsys.readouterr().out
    assert out.read_bytes().startswith(b"\x89PNG")
