"""The fake's flood limits answer 429 like Telegram, so pacing tests against it can fail."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramRetryAfter

from tests.fakes.telegram import FakeTelegram, RateCap, skip_without_spec


@pytest.fixture
async def capped() -> AsyncIterator[tuple[FakeTelegram, Bot]]:
    skip_without_spec()
    async with FakeTelegram(rate_cap=RateCap(per_second=20, retry_after=2)) as fake:
        bot = Bot(
            fake.token, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))
        )
        yield fake, bot
        await bot.session.close()


async def _try(bot: Bot, chat_id: int) -> int | None:
    try:
        await bot.send_message(chat_id, "Thông báo")
    except TelegramRetryAfter as e:
        return e.retry_after
    return None


async def test_overall_cap_refuses_the_excess_with_retry_after(capped) -> None:
    fake, bot = capped
    for user in range(1, 31):
        fake.add_user(user)
    results = await asyncio.gather(*(_try(bot, user) for user in range(1, 31)))
    refused = [r for r in results if r is not None]
    assert len(refused) == 10 and set(refused) == {2}
    assert len(fake.sent) == 20
    assert {r.limit for r in fake.rate_limited} == {"overall"}
    assert fake.max_in_window() == 20
    fake.assert_clean()


async def test_one_chat_gets_one_message_a_second(capped) -> None:
    fake, bot = capped
    fake.add_user(7)
    assert await _try(bot, 7) is None
    assert await _try(bot, 7) == 2
    assert [r.limit for r in fake.rate_limited] == ["chat"]
    await asyncio.sleep(1.05)
    assert await _try(bot, 7) is None
    assert len(fake.sent_to(7)) == 2


async def test_without_a_cap_nothing_is_refused() -> None:
    skip_without_spec()
    async with FakeTelegram() as fake:
        bot = Bot(
            fake.token, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))
        )
        fake.add_user(7)
        assert [await _try(bot, 7) for _ in range(5)] == [None] * 5
        await bot.session.close()
