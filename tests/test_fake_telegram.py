"""The fake Bot API server rejects what real Telegram rejects and accepts what aiogram sends.

If the fake were lenient, adapter tests against it would prove nothing; so it is tested here
both with hand-made bad requests and with aiogram's own ``Bot`` over real HTTP.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyParameters,
)
from aiohttp import web

from tests.fakes.telegram import FakeTelegram, skip_without_spec


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    skip_without_spec()
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))
    tg = Bot(fake.token, session=session)
    yield tg
    await tg.session.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _post(
    http: aiohttp.ClientSession, fake: FakeTelegram, method: str, **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    url = f"{fake.base_url}/bot{fake.token}/{method}"
    async with http.post(url, **kwargs) as resp:
        return resp.status, await resp.json()


# ----------------------------------------------------------------- rejecting bad requests


async def test_unknown_field_is_rejected_and_recorded(fake, http) -> None:
    fake.add_user(42)
    status, body = await _post(
        http, fake, "sendMessage", json={"chat_id": 42, "text": "chào", "colour": "red"}
    )
    assert status == 400
    assert body["ok"] is False and body["error_code"] == 400
    assert fake.violations == ["sendMessage.colour: unknown field"]
    assert fake.sent == []


async def test_wrong_type_is_rejected(fake, http) -> None:
    fake.add_user(42)
    status, _ = await _post(
        http, fake, "sendMessage", json={"chat_id": 42, "text": "a", "disable_notification": "yes"}
    )
    assert status == 400
    assert fake.violations == ["sendMessage.disable_notification: expected Boolean, got str 'yes'"]


async def test_wrong_type_in_a_form_body_is_rejected(fake, http) -> None:
    fake.add_user(42)
    form = {"chat_id": "42", "text": "a", "message_thread_id": "mot"}
    status, _ = await _post(http, fake, "sendMessage", data=form)
    assert status == 400
    assert fake.violations == ["sendMessage.message_thread_id: expected Integer, got str 'mot'"]


async def test_missing_required_field_is_rejected(fake, http) -> None:
    status, body = await _post(http, fake, "sendMessage", json={"chat_id": 42})
    assert status == 400
    assert "text: required field missing" in body["description"]
    assert fake.violations == ["sendMessage.text: required field missing"]


async def test_unknown_method_is_rejected(fake, http) -> None:
    status, body = await _post(http, fake, "sendTelepathy", json={"chat_id": 1})
    assert status == 404
    assert body == {"ok": False, "error_code": 404, "description": "Not Found"}
    assert fake.violations == ["sendTelepathy: unknown method"]


async def test_spec_method_the_fake_does_not_serve_is_a_violation(fake, http) -> None:
    status, body = await _post(http, fake, "sendDice", json={"chat_id": 1})
    assert status == 400
    assert "not implemented in fake" in body["description"]
    assert fake.violations == ["sendDice: method not implemented in fake"]


async def test_nested_objects_are_checked_against_their_types(fake, http) -> None:
    fake.add_user(42)
    markup = {"inline_keyboard": [[{"text": "Có", "callback_data": "x" * 65}]]}
    status, _ = await _post(
        http, fake, "sendMessage", json={"chat_id": 42, "text": "a", "reply_markup": markup}
    )
    assert status == 400
    assert fake.violations == [
        "sendMessage.reply_markup.inline_keyboard[0][0].callback_data: length 65 bytes outside 1-64"
    ]


async def test_inline_keyboard_must_be_an_array_of_rows(fake, http) -> None:
    fake.add_user(42)
    markup = json.dumps({"inline_keyboard": [{"text": "Có", "callback_data": "yes"}]})
    status, _ = await _post(
        http, fake, "sendMessage", data={"chat_id": "42", "text": "a", "reply_markup": markup}
    )
    assert status == 400
    assert len(fake.violations) == 1
    assert "reply_markup" in fake.violations[0]


async def test_inline_button_needs_an_action(fake, http) -> None:
    fake.add_user(42)
    markup = {"inline_keyboard": [[{"text": "Có"}]]}
    status, _ = await _post(
        http, fake, "sendMessage", json={"chat_id": 42, "text": "a", "reply_markup": markup}
    )
    assert status == 400
    assert "exactly one action field" in fake.violations[0]


async def test_text_over_4096_characters_is_rejected(fake, http) -> None:
    fake.add_user(42)
    status, _ = await _post(http, fake, "sendMessage", json={"chat_id": 42, "text": "á" * 4097})
    assert status == 400
    assert fake.violations == ["sendMessage.text: length 4097 characters outside 1-4096"]


async def test_photo_must_reference_an_uploaded_part(fake, http) -> None:
    fake.add_user(42)
    form = aiohttp.FormData()
    form.add_field("chat_id", "42")
    form.add_field("photo", "attach://nothing")
    form.add_field("other", b"\x89PNG", filename="a.png")
    status, _ = await _post(http, fake, "sendPhoto", data=form)
    assert status == 400
    assert "sendPhoto.other: unknown field" in fake.violations
    assert "sendPhoto.photo: attach://nothing names no uploaded file part" in fake.violations


async def test_wrong_token_is_unauthorized(fake, http) -> None:
    async with http.post(f"{fake.base_url}/bot999:WRONG/getMe") as resp:
        assert resp.status == 401
        assert (await resp.json())["description"] == "Unauthorized"


async def test_request_contact_button_in_a_group_is_a_violation(fake, http) -> None:
    group = fake.create_chat(chat_type="group")
    markup = {"keyboard": [[{"text": "Gửi số", "request_contact": True}]]}
    status, _ = await _post(
        http,
        fake,
        "sendMessage",
        json={"chat_id": group["id"], "text": "a", "reply_markup": markup},
    )
    assert status == 400
    assert fake.violations and "private chats only" in fake.violations[0]


# ----------------------------------------------------------------- accepting good ones


async def test_good_json_form_and_multipart_requests_are_accepted(fake, http) -> None:
    fake.add_user(42)
    status, body = await _post(http, fake, "sendMessage", json={"chat_id": 42, "text": "một"})
    assert (status, body["result"]["text"]) == (200, "một")
    status, _ = await _post(http, fake, "sendMessage", data={"chat_id": "42", "text": "hai"})
    assert status == 200
    form = aiohttp.FormData()
    form.add_field("chat_id", "42")
    form.add_field("photo", b"\x89PNG-bytes", filename="qr.png")
    status, body = await _post(http, fake, "sendPhoto", data=form)
    assert status == 200
    assert body["result"]["photo"][0]["file_id"]
    assert [s.method for s in fake.sent] == ["sendMessage", "sendMessage", "sendPhoto"]
    assert fake.sent[2].photo == b"\x89PNG-bytes"
    fake.assert_clean()


async def test_aiogram_bot_calls_are_accepted(fake, bot) -> None:
    me = await bot.get_me()
    assert me.is_bot and me.username == fake.bot_username
    fake.send_text(42, "Xin chào")
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Quyền lợi", callback_data="rights")]]
    )
    sent = await bot.send_message(
        42, "Bạn chọn:", reply_markup=keyboard, reply_parameters=ReplyParameters(message_id=1)
    )
    assert sent.reply_to_message is not None and sent.reply_to_message.text == "Xin chào"
    assert sent.reply_markup is not None
    assert sent.reply_markup.inline_keyboard[0][0].callback_data == "rights"
    photo = await bot.send_photo(42, BufferedInputFile(b"\x89PNG", "qr.png"), caption="Mã QR")
    assert photo.caption == "Mã QR"
    await bot.set_my_commands([BotCommand(command="start", description="Bắt đầu")])
    await bot.send_chat_action(42, "typing")
    edited = await bot.edit_message_text("Đã chọn", chat_id=42, message_id=sent.message_id)
    assert edited.text == "Đã chọn"
    await bot.edit_message_reply_markup(
        chat_id=42,
        message_id=photo.message_id,
        reply_markup=keyboard,
    )
    assert await bot.delete_webhook()
    info = await bot.get_webhook_info()
    assert info.url == ""
    assert [s.method for s in fake.sent] == [
        "sendMessage",
        "sendPhoto",
        "editMessageText",
        "editMessageReplyMarkup",
    ]
    assert fake.sent[0].buttons == [("Quyền lợi", "rights")]
    assert fake.sent[0].reply_to == 1
    assert fake.commands == [{"command": "start", "description": "Bắt đầu"}]
    fake.assert_clean()


async def test_forum_topics_and_copies(fake, bot) -> None:
    staff = fake.create_chat(title="Trung tâm tư vấn", is_forum=True)
    topic = await bot.create_forum_topic(staff["id"], "Hỏi đáp #12")
    assert topic.name == "Hỏi đáp #12" and topic.message_thread_id > 0
    worker_photo = fake.send_photo(42, caption="Hợp đồng của em")
    copied = await bot.copy_message(
        staff["id"],
        42,
        worker_photo["message"]["message_id"],
        message_thread_id=topic.message_thread_id,
    )
    assert copied.message_id > topic.message_thread_id
    record = fake.sent[-1]
    assert (record.method, record.thread_id, record.text) == (
        "copyMessage",
        topic.message_thread_id,
        "Hợp đồng của em",
    )
    assert record.message is not None and record.message["is_topic_message"] is True
    assert await bot.close_forum_topic(staff["id"], topic.message_thread_id)
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await bot.send_message(staff["id"], "lạc", message_thread_id=999)
    with pytest.raises(TelegramBadRequest, match="not a forum"):
        await bot.create_forum_topic(42, "không được")
    fake.assert_clean()


async def test_callback_queries_are_answered_once(fake, bot) -> None:
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Có", callback_data="yes")]]
    )
    fake.add_user(42)
    await bot.send_message(42, "Đồng ý?", reply_markup=keyboard)
    with pytest.raises(ValueError, match="no button"):
        fake.press_button(42, fake.sent[-1], "no")
    update = fake.press_button(42, fake.sent[-1], "yes")
    query_id = update["callback_query"]["id"]
    assert await bot.answer_callback_query(query_id)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query_id)
    assert fake.callback_answers == [{"callback_query_id": query_id}]
    fake.assert_clean()


async def test_unknown_chat_and_blocked_user(fake, bot) -> None:
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(777, "ai đó")
    fake.add_user(43)
    fake.block(43)
    with pytest.raises(TelegramForbiddenError, match="blocked"):
        await bot.send_message(43, "chào")
    fake.assert_clean()


async def test_fault_injection(fake, bot) -> None:
    fake.add_user(42)
    fake.fail_next("sendMessage", status=429, retry_after=3)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(42, "một")
    assert caught.value.retry_after == 3
    fake.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(42, "hai")
    await bot.send_message(42, "ba")
    assert [s.text for s in fake.sent] == ["ba"]
    fake.assert_clean()


# ----------------------------------------------------------------- getUpdates


async def test_long_poll_waits_for_timeout_when_idle(fake, bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert time.monotonic() - started >= 0.9


async def test_long_poll_returns_as_soon_as_an_update_arrives(fake, bot) -> None:
    async def later() -> None:
        await asyncio.sleep(0.2)
        fake.send_text(42, "đây")

    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await later()
    updates = await poll
    assert time.monotonic() - started < 2
    assert [u.message.text for u in updates if u.message] == ["đây"]


async def test_offset_confirms_and_limit_caps(fake, bot) -> None:
    sent = [fake.send_text(42, f"tin {i}") for i in range(5)]
    first = await bot.get_updates(limit=2)
    assert [u.update_id for u in first] == [u["update_id"] for u in sent[:2]]
    again = await bot.get_updates(limit=2)
    assert [u.update_id for u in again] == [u.update_id for u in first]  # not confirmed yet
    rest = await bot.get_updates(offset=first[-1].update_id + 1)
    assert [u.message.text for u in rest] == ["tin 2", "tin 3", "tin 4"]
    assert await bot.get_updates(offset=rest[-1].update_id + 1) == []
    assert update_ids_increase(sent)


def update_ids_increase(updates: list[dict[str, Any]]) -> bool:
    ids = [u["update_id"] for u in updates]
    return ids == sorted(ids) and len(set(ids)) == len(ids)


async def test_allowed_updates_filters_types(fake, bot) -> None:
    fake.add_user(42)
    await bot.send_message(
        42,
        "Chọn",
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="A", callback_data="a")]]
        ),
    )
    fake.press_button(42, fake.sent[-1], "a")
    fake.send_text(42, "chữ")
    updates = await bot.get_updates(allowed_updates=["message"])
    assert [u.message.text for u in updates] == ["chữ"]


async def test_redelivery_and_out_of_order(fake, bot) -> None:
    a = fake.send_text(42, "a", queue=False)
    b = fake.send_text(42, "b", queue=False)
    fake.enqueue(b, a)
    got = await bot.get_updates()
    assert [u.message.text for u in got] == ["b", "a"]
    await bot.get_updates(offset=b["update_id"] + 1)
    fake.redeliver(a)
    again = await bot.get_updates(offset=b["update_id"] + 1)
    assert [u.update_id for u in again] == [a["update_id"]]
    assert await bot.get_updates(offset=b["update_id"] + 1) == []


async def test_get_updates_conflicts_with_a_webhook(fake, bot) -> None:
    await bot.set_webhook("https://example.invalid/hook", secret_token="s3cret")
    with pytest.raises(TelegramConflictError):
        await bot.get_updates()
    await bot.delete_webhook()
    assert await bot.get_updates() == []


async def test_generated_updates_match_the_spec(fake) -> None:
    group = fake.create_chat(chat_type="group")
    forum = fake.create_chat(is_forum=True)
    fake.send_text(1, "/start abc")
    first = fake.send_text(2, "chào nhóm", chat_id=group["id"], first_name="Lan", last_name="Vũ")
    fake.send_text(3, "trả lời", chat_id=group["id"], reply_to=first)
    fake.send_contact(4, "+84912345678")
    fake.send_photo(5, caption="ảnh")
    fake.send_document(6)
    fake.send_sticker(7)
    fake.send_message(8, {"voice": {"file_id": "v", "file_unique_id": "v", "duration": 2}})
    own = fake.send_text(9, "sai chính tả")
    fake.edit_text(9, own, "đúng chính tả")
    topic = fake.create_topic(forum["id"], "Hỏi đáp")
    fake.send_text(10, "trong chủ đề", chat_id=forum["id"], thread_id=topic["message_thread_id"])
    assert fake.fake_errors == []


# ----------------------------------------------------------------- webhook driver


async def test_webhook_driver_and_push(fake, bot) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []
    answers = [500, 200]

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        return web.Response(status=answers.pop(0) if answers else 200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        update = fake.send_text(42, "trực tiếp", queue=False)
        status, _ = await fake.deliver_webhook(url, update, secret="abc")
        assert status == 500
        assert received[-1] == ("abc", update)
        await bot.set_webhook(url, secret_token="s3cret_token")
        pushed = fake.send_text(42, "qua webhook")
        await fake.wait_until(lambda: len(received) >= 2)
        assert received[1] == ("s3cret_token", pushed)
        assert fake.webhook_log == [(pushed["update_id"], 200)]
        assert (await bot.get_webhook_info()).pending_update_count == 0
    finally:
        await bot.delete_webhook()
        await runner.cleanup()
    fake.assert_clean()
