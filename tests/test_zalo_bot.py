"""The Zalo Bot Platform adapter, driven through the real app against FakeZaloBot.

Text only: choices arrive as a numbered list and the worker types the number. Webhooks carry
the secret header; long polling treats HTTP 408 as "nothing new".
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import FEATURES, App
from bot.channels.zalo_bot import ZaloBotChannel, unwrap, update_to_inbound
from bot.core.events import Address, Choice, Choices, Kind, Outgoing, Text
from storage.models import InboxEvent
from tests.fakes.zalo import BotWorker, FakeZaloBot, as_typed, fixture, free_port, settle

SECRET = "zalo-bot-webhook-secret"
HOTLINE = "1800.888864"


@pytest.fixture
async def bot_fake() -> AsyncIterator[FakeZaloBot]:
    fake = FakeZaloBot()
    await fake.start()
    yield fake
    await fake.close()


@dataclass
class ZBot:
    app: App
    channel: ZaloBotChannel
    fake: FakeZaloBot
    webhook: str

    def worker(self, user_id: str = "6ede9afa66b88fe6d6a9") -> BotWorker:
        return BotWorker(self.fake, self.app, self.webhook, SECRET, user_id)


async def boot(
    make_app: Any,
    fake: FakeZaloBot,
    tmp_path: Path,
    *more_channels: Any,
    features: tuple[str, ...] = FEATURES,
    **channel_options: Any,
) -> ZBot:
    options: dict[str, Any] = {"secret": SECRET, **channel_options}
    channel = ZaloBotChannel(fake.token, api_base=fake.api_base, **options)
    port = free_port()
    app = await make_app(
        channel,
        *more_channels,
        features=features,
        url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        http_port=port,
    )
    await app.start(background=False)
    return ZBot(app, channel, fake, f"http://127.0.0.1:{port}/webhooks/zalo-bot")


@pytest.fixture
async def zbot(make_app: Any, bot_fake: FakeZaloBot, tmp_path: Path) -> ZBot:
    return await boot(make_app, bot_fake, tmp_path)


def menu_lines(app: App) -> list[str]:
    labels = [app.texts(f"menu.{k}") for k in ("rights", "join", "ask", "lead", "contact")]
    return [f"{i}. {label}" for i, label in enumerate(labels, 1)]


# ----------------------------------------------------------------------------- conversations


async def test_first_message_welcome_with_hotline_ai_disclosure_and_numbered_menu(
    zbot: ZBot,
) -> None:
    worker = zbot.worker()
    replies = await worker.say("xin chao")
    assert len(replies) == 1
    welcome = replies[0]
    assert "không phải người thật" in welcome and HOTLINE in welcome
    for line in menu_lines(zbot.app):
        assert line in welcome.splitlines()
    assert welcome.rstrip().endswith("(Bạn gõ số để chọn)")
    assert zbot.fake.violations == []


@pytest.mark.parametrize("typed", ["1", "số 1", " 1 ", "So 1", "1."])
async def test_typed_numbers_pick_the_choice(zbot: ZBot, typed: str) -> None:
    worker = zbot.worker()
    await worker.say("/menu")
    index = await worker.say(typed)
    assert index[0].startswith(zbot.app.texts("rights.index"))
    assert "1. " + zbot.app.texts("rights.title.role") in index[0]


async def test_rights_through_numbers_and_out_of_range_number(zbot: ZBot) -> None:
    worker = zbot.worker()
    await worker.say("chào")
    await worker.press("Quyền lợi")
    topic = await worker.press(zbot.app.texts("rights.title.dues"))
    assert topic[0].startswith(as_typed(zbot.app.texts("rights.body.dues"), topic[0]))
    assert "gõ số 1 (“Mục tiếp theo”)" in topic[0] and "bấm" not in topic[0]
    wrong = await worker.say("9")  # only four options now: not a choice, plain text
    assert wrong[0].startswith(zbot.app.texts("common.not_understood"))


async def test_protected_user_gets_the_plain_menu(zbot: ZBot) -> None:
    user = "a1b2c3d4e5f6a7b8c9d0"
    worker = zbot.worker(user)
    await worker.say("chào")
    update = zbot.fake.unsupported(user)
    status, _ = await zbot.fake.post_webhook(zbot.webhook, update, secret=SECRET)
    assert status == 200
    await settle(zbot.app)
    reply = worker.received[-1]
    assert reply.startswith(as_typed(zbot.app.texts("common.unsupported"), reply))
    assert menu_lines(zbot.app)[0] in reply


async def test_image_is_media_with_its_url(zbot: ZBot) -> None:
    worker = zbot.worker()
    await worker.say("chào")
    url = "https://f21-zpc.zdn.vn/jpg/bang-luong.jpg"
    update = zbot.fake.image(worker.user_id, url, "Bảng lương")
    inbound = update_to_inbound(update)
    assert inbound is not None
    assert (inbound.kind, inbound.media, inbound.text) == (Kind.MEDIA, (url,), "Bảng lương")
    assert (await zbot.fake.post_webhook(zbot.webhook, update, secret=SECRET))[0] == 200
    await settle(zbot.app)
    async with zbot.app.db.session() as session:
        rows = list(await session.scalars(select(InboxEvent).order_by(InboxEvent.id)))
    # Recorded, processed, and the raw event (which may hold personal data) not kept.
    assert (rows[-1].status, rows[-1].payload) == ("done", {})


async def test_long_answer_is_split_at_sentence_boundaries(zbot: ZBot) -> None:
    worker = zbot.worker()
    await worker.say("chào")
    sentence = "Đoàn phí là 0,5% tiền lương đóng bảo hiểm xã hội (Điều 29 Luật Công đoàn). "
    long_text = (sentence * 30).strip()
    assert len(long_text) > 2000
    out = Outgoing(Address("zalo_bot", worker.user_id), Text(long_text))
    receipt = await zbot.channel.send(out)
    assert receipt.ok and len(receipt.extra["message_ids"].split(",")) == 2
    parts = worker.received[1:]
    assert len(parts) == 2 and all(len(p) <= 2000 and p.endswith(".") for p in parts)
    assert " ".join(p.replace("\n", " ") for p in parts) == long_text
    assert zbot.fake.violations == []


# ----------------------------------------------------------------------------- webhook


async def test_webhook_secret_shapes_and_duplicates(
    zbot: ZBot, caplog: pytest.LogCaptureFixture
) -> None:
    worker = zbot.worker()
    update = zbot.fake.text(worker.user_id, "xin chao")
    with caplog.at_level(logging.WARNING, logger="bot.channels.zalo_bot"):
        assert (await zbot.fake.post_webhook(zbot.webhook, update, secret="wrong-secret"))[0] == 403
        assert (await zbot.fake.post_webhook(zbot.webhook, update, secret=None))[0] == 403
    messages = [r.getMessage() for r in caplog.records]
    assert any("wrong secret" in m for m in messages) and any("no secret" in m for m in messages)
    await settle(zbot.app)
    assert worker.received == []

    assert (await zbot.fake.post_webhook(zbot.webhook, update, secret=SECRET))[0] == 200
    assert (await zbot.fake.post_webhook(zbot.webhook, update, secret=SECRET))[0] == 200
    await settle(zbot.app)
    assert len(worker.received) == 1  # the duplicate (same message_id) is not processed again

    bare = zbot.fake.text(worker.user_id, "/menu", wrapped=False)
    assert "ok" not in bare
    assert (await zbot.fake.post_webhook(zbot.webhook, bare, secret=SECRET))[0] == 200
    await settle(zbot.app)
    assert worker.received[-1].startswith(zbot.app.texts("menu.text"))


def test_recorded_updates_map_to_inbound() -> None:
    wrapped = unwrap(fixture("bot_update_text"))
    assert len(wrapped) == 1
    text = update_to_inbound(wrapped[0])
    assert text is not None
    assert (text.kind, text.text, text.user_id) == (Kind.TEXT, "Xin chào", "6ede9afa66b88fe6d6a9")
    assert text.dedupe_key == "zalo_bot:2d758cb5e222177a4e35"
    assert text.display_name == "Ted" and text.chat_type == "private"
    image = update_to_inbound(unwrap(fixture("bot_update_image"))[0])
    assert image is not None and image.kind is Kind.MEDIA and image.text == "Bảng lương tháng 10"
    unsupported = update_to_inbound(unwrap(fixture("bot_update_unsupported"))[0])
    assert unsupported is not None and unsupported.kind is Kind.UNSUPPORTED
    assert unwrap(fixture("bot_get_updates_idle")) == []
    command = {**wrapped[0], "message": {**wrapped[0]["message"], "text": "/lienket 12 34"}}
    parsed = update_to_inbound(command)
    assert parsed is not None and (parsed.command, parsed.args) == ("lienket", "12 34")


# ----------------------------------------------------------------------------- polling, limits


async def test_long_polling_treats_408_as_idle_and_delivers_updates(
    make_app: Any, bot_fake: FakeZaloBot, tmp_path: Path
) -> None:
    zbot = await boot(make_app, bot_fake, tmp_path, secret=None, poll_timeout=1)
    assert not zbot.channel.uses_webhook
    await asyncio.sleep(0.5)  # at least one idle poll (408) has come and gone
    assert bot_fake.calls.count("getUpdates") >= 2
    user = "6ede9afa66b88fe6d6a9"
    bot_fake.queue(bot_fake.text(user, "xin chao"))
    for _ in range(100):
        await settle(zbot.app)
        if bot_fake.to(user):
            break
        await asyncio.sleep(0.05)
    assert len(bot_fake.to(user)) == 1 and HOTLINE in bot_fake.to(user)[0]
    assert "deleteWebhook" in bot_fake.calls


async def test_webhook_is_registered_at_start_when_a_url_is_configured(
    make_app: Any, bot_fake: FakeZaloBot, tmp_path: Path
) -> None:
    url = "https://bot.congdoan.example/webhooks/zalo-bot"
    await boot(make_app, bot_fake, tmp_path, webhook_url=url)
    assert bot_fake.webhook == {"url": url, "secret_token": SECRET}


async def test_429_is_waited_out_then_reported(bot_fake: FakeZaloBot) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    channel = ZaloBotChannel(bot_fake.token, api_base=bot_fake.api_base, sleep=sleep)
    user = "6ede9afa66b88fe6d6a9"
    bot_fake.known_chats.add(user)
    try:
        bot_fake.fail_next(429, times=1, retry_after=3)
        ok = await channel.send(Outgoing(Address("zalo_bot", user), Text("Xin chào")))
        assert ok.ok and waits == [3.0] and bot_fake.to(user) == ["Xin chào"]

        bot_fake.fail_next(429, times=3)
        failed = await channel.send(Outgoing(Address("zalo_bot", user), Text("Lần hai")))
        assert not failed.ok and failed.error == "rate_limited"
        assert waits[1:] == [1.0, 2.0]
        assert bot_fake.to(user) == ["Xin chào"]
    finally:
        await channel.stop()


async def test_choices_render_as_a_numbered_list(bot_fake: FakeZaloBot) -> None:
    channel = ZaloBotChannel(bot_fake.token, api_base=bot_fake.api_base)
    user = "6ede9afa66b88fe6d6a9"
    bot_fake.known_chats.add(user)
    try:
        options = (Choice("Có", "x:yes"), Choice("Không", "x:no"))
        out = Outgoing(Address("zalo_bot", user), Choices("Bạn đồng ý?", options))
        receipt = await channel.send(out)
        assert receipt.ok
        assert bot_fake.to(user) == ["Bạn đồng ý?\n\n1. Có\n2. Không\n(Bạn gõ số để chọn)"]
    finally:
        await channel.stop()


def test_from_settings_reads_the_environment_names() -> None:
    channel = ZaloBotChannel.from_settings(
        {"zalo_bot_token": "1:abc", "zalo_bot_secret": SECRET, "zalo_bot_api_base": "http://x/"}
    )
    assert channel.api_base == "http://x" and channel.uses_webhook
    polling = ZaloBotChannel.from_settings({"zalo_bot_token": "1:abc"})
    assert not polling.uses_webhook
    assert polling.api_base == "https://bot-api.zaloplatforms.com"
    with pytest.raises(ValueError):
        ZaloBotChannel.from_settings({"zalo_bot_token": "1:abc", "zalo_bot_secret": "short"})
    assert json.dumps(fixture("bot_send_message"))  # fixtures are valid JSON


# ----------------------------------------------------------------------------- the features


GROUP = "-100200300"
LAWYER = "555"
LE_CHAN = "11383"
ZALO_FEATURES = FEATURES
LEGAL = {"legal": {"group_chat_id": GROUP}, "staff": {"legal": [LAWYER]}}


@pytest.fixture
async def full(make_app: Any, bot_fake: FakeZaloBot, tmp_path: Path) -> Any:
    from tests.driver import CaptureChannel

    staff = CaptureChannel("telegram")
    channel = ZaloBotChannel(bot_fake.token, api_base=bot_fake.api_base, secret=SECRET)
    port = free_port()
    app = await make_app(
        channel,
        staff,
        features=ZALO_FEATURES,
        url=f"sqlite+aiosqlite:///{tmp_path / 'full.db'}",
        http_port=port,
        extra=LEGAL,
    )
    await app.start(background=False)
    return ZBot(app, channel, bot_fake, f"http://127.0.0.1:{port}/webhooks/zalo-bot"), staff


async def test_joining_on_the_zalo_bot_by_typed_numbers(full: Any) -> None:
    from storage.membership import MemberApplication
    from tests.fakes.zalo import join_on_zalo

    zbot, _staff = full
    worker = zbot.worker()
    await worker.say("chào")
    reference = await join_on_zalo(worker, zbot.app.texts)
    async with zbot.app.db.session() as session:
        application = (await session.scalars(select(MemberApplication))).one()
    assert application.reference == reference and application.channel == "zalo_bot"
    assert zbot.fake.violations == []


async def test_question_to_the_legal_centre_and_the_staff_reply_on_the_bot(full: Any) -> None:
    import uuid

    from bot.core.events import Inbound
    from tests.fakes.zalo import question_on_zalo

    zbot, staff = full
    worker = zbot.worker()
    await worker.say("chào")
    number = await question_on_zalo(worker, zbot.app.texts, "bị nợ lương 2 tháng thì làm sao")
    await zbot.app.flush_outbox()
    card_index = next(
        i
        for i, o in enumerate(staff.sent, 1)
        if (o.tag or "").startswith("casecard:") and number in o.text
    )
    reply = Inbound(
        Address("telegram", GROUP),
        LAWYER,
        Kind.TEXT,
        dedupe_key=f"g:{uuid.uuid4().hex}",
        text="Làm thêm không quá 4 giờ một ngày là đúng luật, bạn yên tâm.",
        message_id="7002",
        chat_type="supergroup",
        reply_to=str(card_index),
    )
    await zbot.app.process(reply)
    before = len(worker.received)
    await zbot.app.flush_outbox()
    relayed = worker.received[before:]
    assert len(relayed) == 1 and number in relayed[0] and "4 giờ một ngày" in relayed[0]
    assert zbot.fake.violations == []


async def test_report_of_a_company_without_a_union_on_the_bot(full: Any) -> None:
    from storage.enterprises import Lead
    from storage.people import add_person
    from tests.fakes.zalo import lead_on_zalo

    zbot, staff = full
    async with zbot.app.db.transaction() as session:
        await add_person(
            session, role="volunteer", channel="telegram", external_id="9001",
            area_codes=(LE_CHAN,),
        )  # fmt: skip
    worker = zbot.worker()
    await worker.say("chào")
    done = await lead_on_zalo(worker, zbot.app.texts, "Công ty TNHH Điện Tử Tràng Duệ")
    assert "Phường Lê Chân" in done
    async with zbot.app.db.session() as session:
        assert len((await session.scalars(select(Lead))).all()) == 1
    await zbot.app.flush_outbox()
    notes = [o for o in staff.sent if o.address.chat_id == "9001"]
    assert len(notes) == 1 and "Công ty TNHH Điện Tử Tràng Duệ" in notes[0].text
