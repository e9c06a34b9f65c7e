"""End-to-end Telegram throughput: updates/second through aiogram against the fake Bot API server.

Four bots take the same load in the same run, against the same fake server (long polling, real
HTTP on 127.0.0.1, every request checked against the Bot API spec):

- a bare aiogram echo bot (``Dispatcher`` + one handler answering with ``sendMessage``), the
  floor any aiogram bot pays for HTTP, parsing and the fake's checks;
- the same bare bot answering with this project's /menu reply (text and five buttons): the
  ceiling for a bot that sends these replies;
- the same echo built on ``TelegramChannel`` (no app): the adapter's own cost;
- congdoan-bot: ``TelegramChannel`` (polling) -> ``App.process`` (SQLite file) ->
  ``Engine.handle`` -> replies through ``TelegramChannel.send``.

A run queues N users x M messages at once and times until every reply has reached the fake.
Runs alternate between the bots; medians are reported with their ratio. The outbound
throttle is off (the fake does not rate-limit), so this measures the software path.

Prints one JSON object. Run: .venv/bin/python bench/telegram_e2e.py [--users 50 --messages 10
--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message

from bench._machine import machine, median
from tests.fakes.telegram import SPEC_PATH, FakeTelegram

FIRST_USER = 500_000
TIMEOUT = 300.0


def _load(fake: FakeTelegram, n_users: int, n_updates: int, texts: list[str]) -> list[dict]:
    """Build ``n_updates`` text updates spread round-robin over ``n_users`` (not yet queued)."""
    return [
        fake.send_text(FIRST_USER + i % n_users, texts[(i // n_users) % len(texts)], queue=False)
        for i in range(n_updates)
    ]


async def _timed(fake: FakeTelegram, updates: list[dict], replies: int) -> float:
    """Queue the updates at once; seconds until ``replies`` messages have reached the fake."""
    before = len(fake.sent)
    started = time.perf_counter()
    fake.enqueue(*updates)
    await fake.wait_until(lambda: len(fake.sent) - before >= replies, timeout=TIMEOUT)
    return time.perf_counter() - started


async def _bare_aiogram(
    fake: FakeTelegram,
    updates: list[dict],
    answer: Callable[[Message], Awaitable[Any]],
) -> float:
    """Updates/second for a bare aiogram bot (aiogram's defaults: handlers as tasks)."""
    bot = Bot(fake.token, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url)))
    router = Router()
    router.message.register(answer)
    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    polling = asyncio.create_task(
        dispatcher.start_polling(bot, polling_timeout=1, handle_signals=False)
    )
    await fake.wait_until(lambda: fake.poll_count >= 1)
    try:
        elapsed = await _timed(fake, updates, len(updates))
    finally:
        await dispatcher.stop_polling()
        await polling
    return len(updates) / elapsed


async def measure_echo(fake: FakeTelegram, n_updates: int, n_users: int) -> float:
    """The bare aiogram echo bot: the floor any aiogram bot pays."""

    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    updates = _load(fake, n_users, n_updates, ["xin chào", "cho hỏi về đoàn phí"])
    return await _bare_aiogram(fake, updates, echo)


def _project_reply() -> tuple[str, Any]:
    """This project's answer to /menu: its text and the five main-menu buttons, as sent."""
    from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

    from bot.config import load_settings
    from bot.core.answers import MENU
    from bot.core.texts import Texts

    settings = load_settings({})
    texts = Texts.load(
        settings.content_dir / "vi",
        {"hotline": settings.hotline, "federation": settings.federation},
    )
    rows = [[InlineKeyboardButton(text=texts(label), callback_data=data)] for label, data in MENU]
    return texts("menu.text"), InlineKeyboardMarkup(inline_keyboard=rows)


async def measure_echo_with_reply(fake: FakeTelegram, n_updates: int, n_users: int) -> float:
    """The bare aiogram bot answering every update with this project's /menu reply (text and
    five buttons): what any bot sending these replies pays, the ceiling for congdoan-bot."""
    text, keyboard = _project_reply()

    async def answer(message: Message) -> None:
        await message.answer(text, reply_markup=keyboard)

    updates = _load(fake, n_users, n_updates, ["/menu", "/trogiup"])
    return await _bare_aiogram(fake, updates, answer)


async def measure_adapter_echo(fake: FakeTelegram, n_updates: int, n_users: int) -> float:
    """Updates/second for an echo bot built on TelegramChannel alone (no app, no database).

    Separates the adapter's own cost (per-chat ordering, confirming a batch only after it was
    delivered, rendering) from the app's: deliver answers through ``channel.send``.
    """
    from bot.channels.telegram import TelegramChannel
    from bot.channels.throttle import unlimited
    from bot.core.events import Inbound, Outgoing, Text

    channel = TelegramChannel(
        fake.token, api_base=fake.base_url, poll_timeout=1, throttle=unlimited()
    )

    async def echo(inbound: Inbound) -> None:
        await channel.send(Outgoing(inbound.address, Text(inbound.text)))

    updates = _load(fake, n_users, n_updates, ["xin chào", "cho hỏi về đoàn phí"])
    await channel.start(echo)
    try:
        elapsed = await _timed(fake, updates, n_updates)
    finally:
        await channel.stop()
    return n_updates / elapsed


async def measure_congdoan(fake: FakeTelegram, n_updates: int, n_users: int = 50) -> float:
    """Updates/second through TelegramChannel + the app (inbox, engine, replies) on SQLite.

    Each user first sends /start (its welcome is not counted), then ``/menu`` and ``/trogiup``
    alternately: each answered with exactly one message, so replies count updates.
    """
    from bot.app import build_app
    from bot.channels.telegram import TelegramChannel
    from bot.channels.throttle import unlimited
    from bot.config import Settings
    from storage.crypto import new_key
    from storage.migrate import upgrade_async

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await upgrade_async(url)
        channel = TelegramChannel(
            fake.token, api_base=fake.base_url, poll_timeout=1, throttle=unlimited()
        )
        app = await build_app(Settings(database_url=url, data_key=new_key()), channels=[channel])
        await app.start()
        try:
            starts = _load(fake, n_users, n_users, ["/start"])
            await _timed(fake, starts, n_users)
            updates = _load(fake, n_users, n_updates, ["/menu", "/trogiup"])
            elapsed = await _timed(fake, updates, n_updates)
        finally:
            await app.stop()
    return n_updates / elapsed


async def one_round(n_users: int, n_messages: int, with_app: bool) -> dict[str, float | None]:
    """One measurement of each bot, each against a fresh fake server."""
    n_updates = n_users * n_messages
    async with FakeTelegram() as fake:
        echo = await measure_echo(fake, n_updates, n_users)
        fake.assert_clean()
    async with FakeTelegram() as fake:
        ceiling = await measure_echo_with_reply(fake, n_updates, n_users)
        fake.assert_clean()
    async with FakeTelegram() as fake:
        adapter = await measure_adapter_echo(fake, n_updates, n_users)
        fake.assert_clean()
    congdoan = None
    if with_app:
        async with FakeTelegram() as fake:
            congdoan = await measure_congdoan(fake, n_updates, n_users)
            fake.assert_clean()
    return {"echo": echo, "ceiling": ceiling, "adapter": adapter, "congdoan": congdoan}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--messages", type=int, default=10, help="per user")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("aiogram").setLevel(logging.WARNING)
    if not SPEC_PATH.exists():
        print(json.dumps({"benchmark": "telegram_e2e", "error": f"missing {SPEC_PATH}"}))
        sys.exit(1)
    with_app = (Path(__file__).resolve().parent.parent / "bot" / "app.py").exists()
    rounds = [asyncio.run(one_round(args.users, args.messages, with_app)) for _ in range(args.runs)]
    echo = [r["echo"] for r in rounds if r["echo"] is not None]
    adapter = [r["adapter"] for r in rounds if r["adapter"] is not None]
    ceiling = [r["ceiling"] for r in rounds if r["ceiling"] is not None]
    ceiling_median = median(ceiling)
    ours = [r["congdoan"] for r in rounds if r["congdoan"] is not None]
    echo_median = median(echo)
    adapter_median = median(adapter)
    ours_median = median(ours) if ours else None
    result = {
        "benchmark": "telegram_e2e",
        "transport": "aiogram long polling over HTTP on 127.0.0.1 to tests/fakes/telegram.py",
        "users": args.users,
        "messages_per_user": args.messages,
        "updates_per_run": args.users * args.messages,
        "runs": args.runs,
        "echo_updates_per_second_median": round(echo_median, 1),
        "echo_updates_per_second_runs": [round(x, 1) for x in echo],
        "echo_with_project_reply_updates_per_second_median": round(ceiling_median, 1),
        "echo_with_project_reply_updates_per_second_runs": [round(x, 1) for x in ceiling],
        "ratio_ceiling_to_echo": round(ceiling_median / echo_median, 3),
        "adapter_echo_updates_per_second_median": round(adapter_median, 1),
        "adapter_echo_updates_per_second_runs": [round(x, 1) for x in adapter],
        "ratio_adapter_echo_to_echo": round(adapter_median / echo_median, 3),
        "congdoan_updates_per_second_median": round(ours_median, 1) if ours_median else None,
        "congdoan_updates_per_second_runs": [round(x, 1) for x in ours],
        "ratio_congdoan_to_echo": round(ours_median / echo_median, 3) if ours_median else None,
        "ratio_congdoan_to_ceiling": (
            round(ours_median / ceiling_median, 3) if ours_median else None
        ),
        "database": "sqlite (file, WAL)" if ours else None,
        "throttle": "lifted (unlimited pace; the fake does not rate-limit)",
        "machine": machine(),
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
