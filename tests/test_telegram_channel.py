"""The Telegram adapter through aiogram's real HTTP session against the fake Bot API server.

Updates made by the fake (schema-checked) must arrive as the right ``Inbound``; everything the
adapter sends must pass the fake's spec checks (``fake.assert_clean()``) and look right to a user.
"""

from __future__ import annotations

import asyncio
import logging
import time
import unicodedata
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram.types import Update
from aiohttp import web

from bot.channels.telegram import (
    BOT_COMMANDS,
    MAX_TEXT,
    OPTIONS_PROMPT,
    WEBHOOK_PATH,
    TelegramChannel,
    update_to_inbound,
)
from bot.channels.throttle import Pace, Throttle, unlimited
from bot.core.events import (
    Address,
    Choice,
    Choices,
    CreateTopic,
    Inbound,
    Kind,
    Outgoing,
    Photo,
    RelayCopy,
    RemoveKeyboard,
    RequestContact,
    SendStatus,
    Text,
)
from tests.fakes.telegram import FakeTelegram, skip_without_spec

USER = 4242
SECRET = "webhook_Secret-123"


class Recorder:
    """A ``deliver`` that remembers what it was given (and can be made slow or failing)."""

    def __init__(self) -> None:
        self.items: list[Inbound] = []

    async def __call__(self, inbound: Inbound) -> None:
        self.items.append(inbound)

    def of(self, chat_id: int | str) -> list[Inbound]:
        return [i for i in self.items if i.address.chat_id == str(chat_id)]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    skip_without_spec()
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def channel(fake: FakeTelegram) -> AsyncIterator[TelegramChannel]:
    """A channel that is not receiving: for send() tests."""
    ch = TelegramChannel(fake.token, api_base=fake.base_url, throttle=unlimited())
    yield ch
    await ch.stop()


async def start_polling(fake: FakeTelegram, deliver: Any, **kwargs: Any) -> TelegramChannel:
    ch = TelegramChannel(
        fake.token, api_base=fake.base_url, poll_timeout=1, throttle=unlimited(), **kwargs
    )
    await ch.start(deliver)
    return ch


def to_user(content: Any, **kwargs: Any) -> Outgoing:
    return Outgoing(Address("telegram", str(USER)), content, **kwargs)


def inbound_of(fake: FakeTelegram, update: dict[str, Any]) -> Inbound | None:
    return update_to_inbound(Update.model_validate(update), fake.bot_username)


# ----------------------------------------------------------------- update_to_inbound


async def test_text_is_nfc_with_user_and_message_ids(fake) -> None:
    decomposed = unicodedata.normalize("NFD", "Chào bạn, lương tháng này")
    update = fake.send_text(USER, decomposed, first_name="Lan", last_name="Vũ", queue=False)
    inbound = inbound_of(fake, update)
    assert inbound == Inbound(
        address=Address("telegram", str(USER)),
        user_id=str(USER),
        kind=Kind.TEXT,
        dedupe_key=f"telegram:{update['update_id']}",
        display_name="Lan Vũ",
        text="Chào bạn, lương tháng này",
        message_id=str(update["message"]["message_id"]),
        chat_type="private",
        sequence=update["update_id"],
    )


@pytest.mark.parametrize(
    ("typed", "command", "args"),
    [
        ("/start", "start", ""),
        ("/start ref_ABC-12", "start", "ref_ABC-12"),
        ("/START@congdoan_test_bot  xyz ", "start", "xyz"),
        ("/TroGiup", "trogiup", ""),
        ("/huy@CongDoan_Test_Bot", "huy", ""),
    ],
)
async def test_commands_and_deep_link_payloads(fake, typed, command, args) -> None:
    inbound = inbound_of(fake, fake.send_text(USER, typed, queue=False))
    assert inbound is not None
    assert (inbound.kind, inbound.command, inbound.args) == (Kind.COMMAND, command, args)


async def test_commands_for_another_bot_and_odd_slashes(fake) -> None:
    assert inbound_of(fake, fake.send_text(USER, "/start@other_bot", queue=False)) is None
    odd = inbound_of(fake, fake.send_text(USER, "/ tôi muốn hỏi", queue=False))
    assert odd is not None and odd.kind is Kind.TEXT


async def test_button_press(fake, channel) -> None:
    fake.add_user(USER)
    receipt = await channel.send(to_user(Choices("Chọn", (Choice("Quyền lợi", "rights:index"),))))
    update = fake.press_button(USER, fake.sent[-1], "rights:index", queue=False)
    inbound = inbound_of(fake, update)
    assert inbound is not None
    assert (inbound.kind, inbound.payload, inbound.message_id) == (
        Kind.BUTTON,
        "rights:index",
        receipt.message_id,
    )
    assert inbound.user_id == str(USER) and inbound.address.chat_id == str(USER)


async def test_contact_own_and_someone_elses(fake) -> None:
    own = inbound_of(fake, fake.send_contact(USER, "+84912345678", queue=False))
    assert own is not None and (own.kind, own.phone) == (Kind.CONTACT, "+84912345678")
    contact = {"phone_number": "0987654321", "first_name": "Mẹ", "user_id": 999}
    other = inbound_of(fake, fake.send_message(USER, {"contact": contact}, queue=False))
    assert other is not None and other.kind is Kind.UNSUPPORTED and other.phone is None


async def test_photo_and_document_are_media(fake) -> None:
    update = fake.send_photo(USER, caption="Hợp đồng", queue=False)
    photo = inbound_of(fake, update)
    assert photo is not None
    assert photo.kind is Kind.MEDIA and photo.text == "Hợp đồng"
    assert photo.media == (update["message"]["photo"][-1]["file_id"],)  # the largest size
    doc = inbound_of(fake, fake.send_document(USER, caption="", queue=False))
    assert doc is not None and doc.kind is Kind.MEDIA and doc.media[0].startswith("BQAC")


@pytest.mark.parametrize(
    "content",
    [
        {"voice": {"file_id": "v1", "file_unique_id": "v1", "duration": 3}},
        {"location": {"latitude": 20.86, "longitude": 106.68}},
        {
            "video": {
                "file_id": "vd",
                "file_unique_id": "vd",
                "width": 1,
                "height": 1,
                "duration": 1,
            }
        },
    ],
)
async def test_unreadable_content_is_unsupported(fake, content) -> None:
    inbound = inbound_of(fake, fake.send_message(USER, content, queue=False))
    assert inbound is not None and inbound.kind is Kind.UNSUPPORTED


async def test_sticker_is_unsupported(fake) -> None:
    inbound = inbound_of(fake, fake.send_sticker(USER, queue=False))
    assert inbound is not None and inbound.kind is Kind.UNSUPPORTED


async def test_edited_message(fake) -> None:
    original = fake.send_text(USER, "luong", queue=False)
    edit = fake.edit_text(USER, original, "lương", queue=False)
    inbound = inbound_of(fake, edit)
    assert inbound is not None
    assert (inbound.kind, inbound.text, inbound.edited) == (Kind.TEXT, "lương", True)
    assert inbound.message_id == str(original["message"]["message_id"])
    assert inbound.dedupe_key == f"telegram:{edit['update_id']}"


async def test_group_message_and_reply(fake) -> None:
    group = fake.create_chat(chat_type="group", title="Tổ sản xuất")
    first = fake.send_text(USER, "chào cả nhà", chat_id=group["id"], queue=False)
    reply = fake.send_text(USER + 1, "chào", chat_id=group["id"], reply_to=first, queue=False)
    inbound = inbound_of(fake, reply)
    assert inbound is not None
    assert inbound.chat_type == "group"
    assert inbound.address.chat_id == str(group["id"]) and inbound.address.chat_id.startswith("-")
    assert inbound.user_id == str(USER + 1)
    assert inbound.reply_to == str(first["message"]["message_id"])


async def test_forum_topic_message_has_thread_but_no_implicit_reply(fake) -> None:
    forum = fake.create_chat(title="Trung tâm tư vấn", is_forum=True)
    topic = fake.create_topic(forum["id"], "Hỏi đáp #1")
    thread = topic["message_thread_id"]
    plain = inbound_of(fake, fake.send_text(7, "em trả lời", chat_id=forum["id"], thread_id=thread))
    assert plain is not None
    assert plain.chat_type == "supergroup"
    assert plain.address.thread_id == str(thread)
    assert plain.reply_to is None  # Telegram's reply to the topic's first message is not a reply
    target = fake.send_text(8, "câu hỏi", chat_id=forum["id"], thread_id=thread, queue=False)
    answer = fake.send_text(7, "đáp", chat_id=forum["id"], thread_id=thread, reply_to=target)
    inbound = inbound_of(fake, answer)
    assert inbound is not None and inbound.reply_to == str(target["message"]["message_id"])


async def test_ignored_updates(fake) -> None:
    member = {
        "chat": {"id": -5, "type": "group", "title": "Nhóm"},
        "from": {"id": USER, "is_bot": False, "first_name": "Lan"},
        "date": 1,
        "old_chat_member": {"status": "left", "user": fake.bot_user},
        "new_chat_member": {"status": "member", "user": fake.bot_user},
    }
    assert inbound_of(fake, fake.make_update({"my_chat_member": member})) is None
    joined = fake.send_message(
        USER, {"new_chat_members": [fake.add_user(5)]}, chat_type="group", queue=False
    )
    assert inbound_of(fake, joined) is None
    from_bot = fake.send_text(USER, "tôi là bot", queue=False)
    from_bot["message"]["from"]["is_bot"] = True
    assert inbound_of(fake, from_bot) is None
    assert fake.fake_errors == []


# ----------------------------------------------------------------- polling


async def test_polling_delivers_every_kind_as_inbound(fake) -> None:
    rec = Recorder()
    ch = await start_polling(fake, rec)
    try:
        fake.send_text(USER, "xin chao")
        fake.send_text(USER, "/start CTV_0042")
        await ch.send(to_user(Choices("Chọn", (Choice("Liên hệ", "contact:show"),))))
        fake.press_button(USER, fake.sent[-1], "contact:show")
        fake.send_contact(USER, "0912345678")
        fake.send_photo(USER, caption="ảnh bảng lương")
        fake.send_sticker(USER)
        typo = fake.send_text(USER, "luog")
        fake.edit_text(USER, typo, "lương")
        group = fake.create_chat(title="Nhóm công nhân")
        fake.send_text(USER + 1, "hello nhóm", chat_id=group["id"])
        await fake.wait_until(lambda: len(rec.items) == 9 and fake.callback_answers)
        mine = rec.of(USER)
        assert [(i.kind, i.text or i.payload or i.phone or i.command) for i in mine] == [
            (Kind.TEXT, "xin chao"),
            (Kind.COMMAND, "/start CTV_0042"),
            (Kind.BUTTON, "contact:show"),
            (Kind.CONTACT, "0912345678"),
            (Kind.MEDIA, "ảnh bảng lương"),
            (Kind.UNSUPPORTED, None),
            (Kind.TEXT, "luog"),
            (Kind.TEXT, "lương"),
        ]
        assert mine[1].args == "CTV_0042"
        assert mine[-1].edited and not mine[-2].edited
        (in_group,) = rec.of(group["id"])
        assert in_group.chat_type == "supergroup" and in_group.user_id == str(USER + 1)
        assert len(fake.callback_answers) == 1
        assert len({i.dedupe_key for i in rec.items}) == 9
        await fake.wait_until(lambda: fake.pending_updates == 0)  # all confirmed
    finally:
        await ch.stop()
    assert fake.commands == [{"command": c, "description": d} for c, d in BOT_COMMANDS]
    assert [c for c, _ in BOT_COMMANDS] == ["start", "menu", "huy", "trogiup"]
    assert all(unicodedata.is_normalized("NFC", d) for _, d in BOT_COMMANDS)
    assert any(c.method == "deleteWebhook" for c in fake.calls)
    fake.assert_clean()


async def test_polling_keeps_order_per_chat_and_runs_chats_concurrently(fake) -> None:
    done: dict[str, list[tuple[str, float]]] = {"slow": [], "fast": []}
    slow_id, fast_id = 1001, 1002

    async def deliver(inbound: Inbound) -> None:
        who = "slow" if inbound.user_id == str(slow_id) else "fast"
        if who == "slow":  # later messages finish faster: only a real queue keeps them in order
            await asyncio.sleep(0.005 * (20 - int(inbound.text)))
        done[who].append((inbound.text, time.monotonic()))

    for n in range(20):
        fake.send_text(slow_id, f"{n}")
        fake.send_text(fast_id, f"{n}")
    ch = await start_polling(fake, deliver)
    try:
        await fake.wait_until(lambda: len(done["slow"]) == 20 and len(done["fast"]) == 20)
    finally:
        await ch.stop()
    assert [t for t, _ in done["slow"]] == [str(n) for n in range(20)]
    assert [t for t, _ in done["fast"]] == [str(n) for n in range(20)]
    assert done["fast"][-1][1] < done["slow"][5][1]  # the fast chat did not wait for the slow one


async def test_updates_are_confirmed_only_after_delivery(fake) -> None:
    release = asyncio.Event()
    rec = Recorder()

    async def deliver(inbound: Inbound) -> None:
        await release.wait()
        await rec(inbound)

    ch = await start_polling(fake, deliver)
    try:
        await fake.wait_until(lambda: fake.poll_count >= 1)
        fake.send_text(USER, "ghi lại giúp tôi")
        await fake.wait_until(lambda: fake.poll_count >= 1 and fake.pending_updates == 1)
        polls = fake.poll_count
        await asyncio.sleep(0.4)
        assert fake.pending_updates == 1  # not confirmed while deliver has not returned
        assert fake.poll_count == polls
        release.set()
        await fake.wait_until(lambda: fake.pending_updates == 0)
        assert [i.text for i in rec.items] == ["ghi lại giúp tôi"]
    finally:
        await ch.stop()


async def test_a_failing_delivery_does_not_stop_polling(fake, caplog) -> None:
    rec = Recorder()

    async def deliver(inbound: Inbound) -> None:
        if inbound.text == "hỏng":
            raise RuntimeError("database down")
        await rec(inbound)

    await _poll_texts(fake, deliver, ["hỏng", "vẫn chạy"], lambda: len(rec.items) == 1)
    assert rec.items[0].text == "vẫn chạy"
    assert "delivery of telegram:" in caplog.text


async def test_an_update_the_database_could_not_take_is_kept_and_retried(fake) -> None:
    """Delivery says TryLater (database down): the update is not confirmed, the chat's next
    update waits behind it, and both go through once the database is back."""
    from bot.core.events import TryLater

    rec = Recorder()
    outage = {"left": 2}

    async def deliver(inbound: Inbound) -> None:
        if outage["left"]:
            outage["left"] -= 1
            raise TryLater("database down")
        await rec(inbound)

    await _poll_texts(
        fake, deliver, ["một", "hai"], lambda: len(rec.items) == 2 and fake.pending_updates == 0
    )
    assert [i.text for i in rec.items] == ["một", "hai"]


async def _poll_texts(fake, deliver, texts: list[str], until) -> None:
    ch = await start_polling(fake, deliver)
    try:
        for text in texts:
            fake.send_text(USER, text)
        await fake.wait_until(until)
    finally:
        await ch.stop()


async def test_redelivered_update_keeps_its_dedupe_key(fake) -> None:
    rec = Recorder()
    ch = await start_polling(fake, rec)
    try:
        update = fake.send_text(USER, "một lần thôi")
        await fake.wait_until(lambda: len(rec.items) == 1 and fake.pending_updates == 0)
        fake.redeliver(update)
        await fake.wait_until(lambda: len(rec.items) == 2)
    finally:
        await ch.stop()
    assert rec.items[0].dedupe_key == rec.items[1].dedupe_key == f"telegram:{update['update_id']}"


# ----------------------------------------------------------------- send()


async def test_send_text_with_reply(fake, channel) -> None:
    asked = fake.send_text(USER, "cho hỏi")
    receipt = await channel.send(to_user(Text("Chào bạn."), reply_to="1"))
    assert receipt.ok and receipt.message_id == str(fake.sent[-1].message_id)
    sent = fake.sent[-1]
    assert (sent.text, sent.reply_to) == ("Chào bạn.", asked["message"]["message_id"])
    fake.assert_clean()


async def test_long_text_is_split_within_the_limit(fake, channel) -> None:
    sentence = "Người lao động có quyền thành lập, gia nhập và hoạt động công đoàn. "
    text = sentence * 160  # about 10,700 characters
    fake.add_user(USER)
    receipt = await channel.send(to_user(Text(text)))
    parts = await fake.wait_for(USER, 3)
    assert receipt.ok and len(parts) == len(receipt.extra["message_ids"].split(",")) >= 3
    assert all(len(p.text) <= MAX_TEXT for p in parts)
    assert " ".join(p.text for p in parts).split() == text.split()
    fake.assert_clean()


async def test_choices_become_an_inline_keyboard(fake, channel) -> None:
    fake.add_user(USER)
    options = (Choice("Quyền lợi đoàn viên", "rights:index"), Choice("Liên hệ", "contact:show"))
    receipt = await channel.send(to_user(Choices("Bạn cần gì?", options)))
    assert receipt.ok
    sent = fake.sent[-1]
    assert sent.text == "Bạn cần gì?"
    assert sent.reply_markup == {
        "inline_keyboard": [
            [{"text": "Quyền lợi đoàn viên", "callback_data": "rights:index"}],
            [{"text": "Liên hệ", "callback_data": "contact:show"}],
        ]
    }
    fake.assert_clean()


async def test_oversized_callback_data_is_dropped_and_logged(fake, channel, caplog) -> None:
    fake.add_user(USER)
    options = (Choice("Dài quá", "x" * 65), Choice("Được", "ok"))
    with caplog.at_level(logging.ERROR):
        receipt = await channel.send(to_user(Choices("Chọn", options)))
    assert receipt.ok
    assert fake.sent[-1].buttons == [("Được", "ok")]
    assert "65 bytes" in caplog.text
    fake.assert_clean()


async def test_request_contact_in_private_chat(fake, channel) -> None:
    fake.add_user(USER)
    content = RequestContact("Bạn gửi số điện thoại nhé.", "📱 Gửi số", (Choice("Bỏ qua", "skip"),))
    receipt = await channel.send(to_user(content))
    ask, options = await fake.wait_for(USER, 2)
    assert ask.text == "Bạn gửi số điện thoại nhé."
    assert ask.keyboard == [{"text": "📱 Gửi số", "request_contact": True}]
    assert options.text == OPTIONS_PROMPT and options.buttons == [("Bỏ qua", "skip")]
    assert receipt.ok and receipt.message_id == str(ask.message_id)
    update = fake.send_contact(USER, "+84901234567", queue=False)
    inbound = inbound_of(fake, update)
    assert inbound is not None and inbound.phone == "+84901234567"
    fake.assert_clean()


async def test_request_contact_in_a_group_falls_back_to_buttons(fake, channel) -> None:
    group = fake.create_chat(chat_type="group")
    content = RequestContact("Gửi số?", "📱 Gửi số", (Choice("Bỏ qua", "skip"),))
    receipt = await channel.send(Outgoing(Address("telegram", str(group["id"])), content))
    assert receipt.ok
    assert fake.sent[-1].keyboard == [] and fake.sent[-1].buttons == [("Bỏ qua", "skip")]
    fake.assert_clean()


async def test_remove_keyboard(fake, channel) -> None:
    fake.add_user(USER)
    assert (await channel.send(to_user(RemoveKeyboard("Đã nhận số điện thoại.")))).ok
    assert fake.sent[-1].reply_markup == {"remove_keyboard": True}
    fake.assert_clean()


async def test_photo_upload(fake, channel) -> None:
    fake.add_user(USER)
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    receipt = await channel.send(to_user(Photo(png, caption="Mã QR của bạn", filename="qr.png")))
    assert receipt.ok
    sent = fake.sent[-1]
    assert (sent.method, sent.photo, sent.text) == ("sendPhoto", png, "Mã QR của bạn")
    long_caption = "Chú thích rất dài. " * 80
    receipt = await channel.send(to_user(Photo(png, caption=long_caption)))
    photo, text = fake.sent[-2:]
    assert photo.method == "sendPhoto" and photo.text == ""
    assert text.method == "sendMessage" and text.text.strip() == long_caption.strip()
    assert len(receipt.extra["message_ids"].split(",")) == 2
    fake.assert_clean()


async def test_topic_relay_copy_and_reply_in_topic(fake, channel) -> None:
    staff = fake.create_chat(title="Trung tâm tư vấn", is_forum=True)
    staff_address = Address("telegram", str(staff["id"]))
    receipt = await channel.send(Outgoing(staff_address, CreateTopic("Hỏi đáp — Lan (#12)")))
    assert receipt.ok and receipt.thread_id
    assert fake.topics[staff["id"]][int(receipt.thread_id)]["name"] == "Hỏi đáp — Lan (#12)"
    in_topic = Address("telegram", str(staff["id"]), receipt.thread_id)
    photo = fake.send_photo(USER, caption="giấy tờ")
    copy = RelayCopy(str(USER), str(photo["message"]["message_id"]), caption="Ảnh của Lan")
    copied = await channel.send(Outgoing(in_topic, copy))
    asked = await channel.send(Outgoing(in_topic, Text("Câu hỏi: bị nợ lương 2 tháng")))
    assert copied.ok and asked.ok
    relay, question = fake.sent[-2:]
    assert (relay.method, relay.thread_id, relay.text) == (
        "copyMessage",
        int(receipt.thread_id),
        "Ảnh của Lan",
    )
    assert question.thread_id == int(receipt.thread_id)
    assert asked.thread_id == receipt.thread_id
    fake.assert_clean()


async def test_create_topic_outside_a_forum_is_reported(fake, channel) -> None:
    group = fake.create_chat(chat_type="supergroup")
    receipt = await channel.send(Outgoing(Address("telegram", str(group["id"])), CreateTopic("x")))
    assert not receipt.ok and "not a forum" in (receipt.error or "")
    fake.assert_clean()


async def test_429_is_honoured_and_retried(fake, channel) -> None:
    fake.add_user(USER)
    fake.fail_next("sendMessage", status=429, retry_after=1)
    started = time.monotonic()
    receipt = await channel.send(to_user(Text("Sau khi chờ")))
    assert receipt.ok
    assert time.monotonic() - started >= 0.95
    assert [c.status for c in fake.calls if c.method == "sendMessage"] == [429, 200]
    assert [s.text for s in fake.sent] == ["Sau khi chờ"]
    fake.assert_clean()


async def test_429_that_persists_is_reported_not_raised(fake, channel) -> None:
    fake.add_user(USER)
    fake.fail_next("sendMessage", status=429, retry_after=1, times=3)
    receipt = await channel.send(to_user(Text("không tới")))
    assert (receipt.ok, receipt.error) == (False, "rate_limited")
    assert receipt.outcome is SendStatus.RATE_LIMITED and not receipt.outcome.final
    assert [c.status for c in fake.calls if c.method == "sendMessage"] == [429, 429, 429]
    assert fake.sent == []


async def test_blocked_user_is_reported(fake, channel) -> None:
    fake.add_user(USER)
    fake.block(USER)
    receipt = await channel.send(to_user(Text("chào")))
    assert (receipt.ok, receipt.error) == (False, "blocked")
    assert receipt.outcome is SendStatus.BLOCKED and receipt.outcome.final
    fake.fail_next("sendMessage", 403, "Forbidden: user is deactivated")
    other = await channel.send(Outgoing(Address("telegram", "77"), Text("chào")))
    assert (other.ok, other.error) == (False, "blocked")
    fake.assert_clean()


async def test_other_errors_are_reported_not_raised(fake, channel) -> None:
    missing = await channel.send(Outgoing(Address("telegram", "5550001"), Text("có ai không")))
    assert not missing.ok and "chat not found" in (missing.error or "")
    calls = len(fake.calls)
    empty = await channel.send(to_user(Text("   ")))
    assert not empty.ok and len(fake.calls) == calls  # an empty message is never sent
    bad_id = await channel.send(Outgoing(Address("telegram", "not-a-number"), Text("x")))
    assert not bad_id.ok
    fake.assert_clean()


async def test_sends_go_through_the_throttle(fake) -> None:
    waited: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waited.append(seconds)

    clock_now = [0.0]
    throttle = Throttle(Pace.of(30, 1), clock=lambda: clock_now[0], sleep=no_sleep)
    ch = TelegramChannel(fake.token, api_base=fake.base_url, throttle=throttle)
    fake.add_user(USER)
    try:
        for n in range(5):
            assert (await ch.send(to_user(Text(f"tin {n}")))).ok
    finally:
        await ch.stop()
    assert len(waited) == 4 and waited[-2:] == pytest.approx([1.0, 2.0])


# ----------------------------------------------------------------- webhook


@pytest.fixture
async def webhook(fake: FakeTelegram) -> AsyncIterator[tuple[TelegramChannel, Recorder, str]]:
    """A webhook-mode channel served by a real aiohttp app on 127.0.0.1."""
    rec = Recorder()
    ch = TelegramChannel(
        fake.token,
        api_base=fake.base_url,
        webhook_url="http://127.0.0.1:1/placeholder",
        webhook_secret=SECRET,
        throttle=unlimited(),
    )
    app = web.Application()
    ch.setup_web(app, rec)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}{WEBHOOK_PATH}"
    ch.webhook_url = url
    await ch.start(rec)
    yield ch, rec, url
    await ch.stop()
    await runner.cleanup()


async def test_webhook_is_registered_with_its_secret(fake, webhook) -> None:
    ch, _, url = webhook
    assert ch.uses_webhook
    assert (fake.webhook["url"], fake.webhook["secret"]) == (url, SECRET)
    assert fake.webhook["allowed_updates"] == ["message", "edited_message", "callback_query"]
    assert fake.poll_count == 0
    fake.assert_clean()


async def test_webhook_with_right_secret_is_delivered(fake, webhook) -> None:
    _, rec, url = webhook
    update = fake.send_text(USER, "/start qr_HP01", queue=False)
    status, _ = await fake.deliver_webhook(url, update, secret=SECRET)
    assert status == 200
    assert [(i.command, i.args) for i in rec.items] == [("start", "qr_HP01")]


@pytest.mark.parametrize("secret", ["wrong-secret", None, SECRET + "x", ""])
async def test_webhook_with_wrong_or_missing_secret_is_refused(fake, webhook, caplog, secret):
    _, rec, url = webhook
    update = fake.send_text(USER, "số CCCD 0123456789", queue=False)
    with caplog.at_level(logging.WARNING):
        status, _ = await fake.deliver_webhook(url, update, secret=secret)
    assert status == 403
    assert rec.items == []
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and "rejected" in warnings[-1].getMessage()
    assert "0123456789" not in caplog.text  # no payload in the logs


async def test_webhook_bad_json_is_400(fake, webhook) -> None:
    _, rec, url = webhook
    assert (await fake.deliver_webhook(url, b"{not json", secret=SECRET))[0] == 400
    assert (await fake.deliver_webhook(url, {"hello": 1}, secret=SECRET))[0] == 400
    assert rec.items == []


async def test_webhook_delivery_failure_is_500_so_telegram_retries(fake) -> None:
    async def broken(inbound: Inbound) -> None:
        raise RuntimeError("database is down")

    ch = TelegramChannel(
        fake.token, api_base=fake.base_url, webhook_url="http://x", webhook_secret=SECRET
    )
    app = web.Application()
    ch.setup_web(app, broken)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}{WEBHOOK_PATH}"
    try:
        status, _ = await fake.deliver_webhook(url, fake.send_text(USER, "a", queue=False), SECRET)
        assert status == 500
    finally:
        await ch.stop()
        await runner.cleanup()


async def test_webhook_ignored_update_is_acknowledged(fake, webhook) -> None:
    _, rec, url = webhook
    member = {
        "chat": {"id": -5, "type": "group", "title": "Nhóm"},
        "from": {"id": USER, "is_bot": False, "first_name": "Lan"},
        "date": 1,
        "old_chat_member": {"status": "left", "user": fake.bot_user},
        "new_chat_member": {"status": "member", "user": fake.bot_user},
    }
    update = fake.make_update({"my_chat_member": member})
    assert (await fake.deliver_webhook(url, update, secret=SECRET))[0] == 200
    assert rec.items == []


async def test_webhook_push_from_telegram_and_button_answered(fake, webhook) -> None:
    ch, rec, _ = webhook
    fake.add_user(USER)
    await ch.send(to_user(Choices("Chọn", (Choice("Có", "yes"),))))
    fake.send_text(USER, "qua webhook")
    fake.press_button(USER, fake.sent[-1], "yes")
    await fake.wait_until(lambda: len(rec.items) == 2 and len(fake.callback_answers) == 1)
    assert [i.kind for i in rec.items] == [Kind.TEXT, Kind.BUTTON]
    assert fake.pending_updates == 0
    fake.assert_clean()


async def test_webhook_needs_a_secret_and_polling_adds_no_route(fake) -> None:
    with pytest.raises(ValueError, match="secret"):
        TelegramChannel(fake.token, webhook_url="https://bot.example/webhooks/telegram")
    ch = TelegramChannel(fake.token, api_base=fake.base_url)
    app = web.Application()
    ch.setup_web(app, Recorder())
    assert not ch.uses_webhook
    assert [r.resource.canonical for r in app.router.routes()] == []
    await ch.stop()


async def test_a_paid_broadcast_asks_telegram_for_its_paid_pace(fake) -> None:
    waited: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waited.append(seconds)

    throttle = Throttle(Pace.of(1, 1000, paid_per_second=1000), clock=lambda: 0.0, sleep=no_sleep)
    ch = TelegramChannel(fake.token, api_base=fake.base_url, throttle=throttle)
    users = [USER + n for n in range(5)]
    for user in users:
        fake.add_user(user)
    try:
        for user in users:
            out = Outgoing(Address("telegram", str(user)), Text("Thông báo"), paid_broadcast=True)
            assert (await ch.send(out)).ok
        for user in users[:2]:
            assert (await ch.send(Outgoing(Address("telegram", str(user)), Text("tin")))).ok
    finally:
        await ch.stop()
    sends = [c for c in fake.calls if c.method == "sendMessage"]
    assert [c.params.get("allow_paid_broadcast") for c in sends] == [True] * 5 + [None] * 2
    # five paid messages go 1 ms apart; the ordinary ones keep their own 1/s overall pace
    assert waited == pytest.approx([0.001, 0.002, 0.003, 0.004, 1.0])


class _Marks:
    """A SendMark that writes down what the adapter told it."""

    def __init__(self) -> None:
        self.said: list[str] = []

    async def starting(self) -> None:
        self.said.append("starting")

    def delivered(self) -> None:
        self.said.append("delivered")

    async def refused(self) -> None:
        self.said.append("refused")


async def test_a_send_is_marked_under_way_before_each_call_and_back_after_a_429(
    fake, channel
) -> None:
    """The app records a reply as under way right before the Bot API call (so a crash never
    sends it twice) and puts it back when Telegram refused it (so it is not lost)."""
    fake.add_user(USER)
    fake.fail_next("sendMessage", status=429, retry_after=1)
    marks = _Marks()
    receipt = await channel.send_marked(to_user(Text("Sau khi chờ")), marks)
    assert receipt.ok
    assert marks.said == ["starting", "refused", "starting", "delivered"]
    assert [s.text for s in fake.sent] == ["Sau khi chờ"]
    fake.assert_clean()
