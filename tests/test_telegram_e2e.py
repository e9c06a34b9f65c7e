"""A worker on (fake) Telegram talks to the real app: aiogram polling -> ingest -> engine -> send.

Everything between the fake Bot API server and the SQLite database is production code: the
adapter, the app's durable inbox and per-person ordering, the engine and the handlers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.channels.telegram import TelegramChannel
from bot.channels.throttle import unlimited
from tests.fakes.telegram import FakeTelegram, skip_without_spec

WORKER = 880001
MENU_LABELS = [
    "Quyền lợi đoàn viên",
    "Gia nhập công đoàn",
    "Hỏi đáp pháp luật",
    "Công ty chưa có công đoàn",
    "Liên hệ",
]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    skip_without_spec()
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def app(fake: FakeTelegram, make_app: Any, tmp_path: Path) -> App:
    """The real app on a SQLite file, receiving from the fake by long polling.

    A file, not ``:memory:``: the in-memory database shares one connection between sessions,
    and concurrent ingest and processing (which real Telegram traffic causes) then break each
    other's transactions. The throttle is lifted: the fake does not rate-limit, and Telegram's
    1 msg/s per chat would make the 50-message test take a minute without testing more.
    """
    channel = TelegramChannel(
        fake.token, api_base=fake.base_url, poll_timeout=1, throttle=unlimited()
    )
    application = await make_app(channel, url=f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}")
    await application.start()
    return application


async def test_start_shows_the_menu_with_inline_buttons(fake, app) -> None:
    fake.send_text(WORKER, "/start", first_name="Hoa")
    (welcome,) = await fake.wait_for(WORKER, 1)
    assert [label for label, _ in welcome.buttons] == MENU_LABELS
    assert "1800.888864" in welcome.text  # the hotline, on first contact
    assert "tự động" in welcome.text  # says it is an automated assistant
    fake.assert_clean()


async def test_pressing_a_button_answers(fake, app) -> None:
    fake.send_text(WORKER, "/start")
    (welcome,) = await fake.wait_for(WORKER, 1)
    payload = dict(welcome.buttons)["Liên hệ"]
    fake.press_button(WORKER, welcome, payload)
    _, contact = await fake.wait_for(WORKER, 2)
    assert "1800.888864" in contact.text
    assert contact.buttons  # ends with a next step: the menu again
    await fake.wait_until(lambda: len(fake.callback_answers) == 1)
    rights_payload = dict(contact.buttons)["Quyền lợi đoàn viên"]
    fake.press_button(WORKER, contact, rights_payload)
    replies = await fake.wait_for(WORKER, 3)
    rights = replies[-1]
    assert rights.text == app.texts("rights.index")
    assert sum(payload.startswith("rights:") for _, payload in rights.buttons) >= 6
    fake.assert_clean()


async def test_fifty_quick_messages_are_answered_in_order(fake, app) -> None:
    fake.send_text(WORKER, "/start")
    await fake.wait_for(WORKER, 1)
    commands = ["/menu", "/trogiup", "/huy", "zzq xyv"]
    expected_keys = ["menu.text", "help.text", "common.nothing_to_cancel", "common.not_understood"]
    expected = {cmd: app.texts(key) for cmd, key in zip(commands, expected_keys, strict=True)}
    sent = [commands[n % 4] for n in range(50)]
    for text in sent:
        fake.send_text(WORKER, text)
    replies = await fake.wait_for(WORKER, 51, timeout=30)
    assert [r.text for r in replies[1:]] == [expected[text] for text in sent]
    fake.assert_clean()


async def test_same_update_twice_is_answered_once(fake, app) -> None:
    first = fake.send_text(WORKER, "/start")
    await fake.wait_for(WORKER, 1)
    await fake.wait_until(lambda: fake.pending_updates == 0)
    fake.redeliver(first)
    fake.send_text(WORKER, "/menu")
    replies = await fake.wait_for(WORKER, 2)
    await fake.wait_until(lambda: fake.pending_updates == 0)
    assert len(fake.sent_to(WORKER)) == 2
    assert replies[1].text == app.texts("menu.text")


async def test_sticker_and_edits_get_an_answer(fake, app) -> None:
    fake.send_text(WORKER, "/start")
    await fake.wait_for(WORKER, 1)
    fake.send_sticker(WORKER)
    typo = fake.send_text(WORKER, "/menu")
    fake.edit_text(WORKER, typo, "/menuu")
    replies = await fake.wait_for(WORKER, 4)
    assert replies[1].text == app.texts("common.unsupported")
    assert replies[3].text == app.texts("common.edited")
    assert all(r.buttons for r in replies)  # every answer offers the menu
    fake.assert_clean()
