"""The Zalo Official Account adapter, driven through the real app against FakeZaloOA.

The bot's web app runs on 127.0.0.1 and the fake signs and posts events to it, as Zalo would;
everything the bot sends goes through the fake's /v3.0/oa/message/cs, which checks the body and
does the 48-hour / 8-free-replies accounting. Assertions are on what a worker sees (the fake's
captured messages) and on what is stored.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import FEATURES, App
from bot.channels.zalo_oa import (
    BUTTON_PREFIX,
    OAConfig,
    ZaloOAChannel,
    event_to_inbound,
    render,
    signature,
)
from bot.core.events import Address, Choice, Choices, Kind, Outgoing, Text, content_to_json
from storage import contacts as contacts_repo
from storage import outbox as outbox_repo
from storage.models import InboxEvent, OutboxMessage
from storage.zalo import (
    ZaloOAStore,
    ZaloOAToken,
    ZaloOAUndelivered,
    fingerprint,
    list_undelivered,
    undelivered_content,
)
from tests.conftest import FakeClock
from tests.fakes.zalo import FakeZaloOA, OAWorker, fixture, free_port, settle

HOTLINE = "1800.888864"


@pytest.fixture
async def oa_fake(clock: FakeClock) -> AsyncIterator[FakeZaloOA]:
    fake = FakeZaloOA(clock=clock)
    await fake.start()
    yield fake
    await fake.close()


def oa_channel(fake: FakeZaloOA, clock: Any, store: Any = None) -> ZaloOAChannel:
    config = OAConfig(
        app_id=fake.app_id,
        secret_key=fake.secret_key,
        oa_id=fake.oa_id,
        app_secret=fake.app_secret,
        access_token=fake.access_token,
        refresh_token=fake.refresh_token,
        api_base=fake.url,
        oauth_base=fake.url,
    )
    return ZaloOAChannel(config, store, clock=clock)


@dataclass
class OABot:
    app: App
    channel: ZaloOAChannel
    fake: FakeZaloOA
    webhook: str

    def worker(self, user_id: str = "246845883529197922") -> OAWorker:
        return OAWorker(self.fake, self.app, self.webhook, user_id)


async def boot(
    make_app: Any,
    fake: FakeZaloOA,
    clock: FakeClock,
    tmp_path: Path,
    *more_channels: Any,
    features: tuple[str, ...] = FEATURES,
) -> OABot:
    """The real app (web server, pipeline, engine) with the OA channel pointed at the fake."""
    channel = oa_channel(fake, clock)
    port = free_port()
    app = await make_app(
        channel,
        *more_channels,
        features=features,
        url=f"sqlite+aiosqlite:///{tmp_path / 'oa.db'}",
        http_port=port,
    )
    channel.attach_store(ZaloOAStore(app.db))
    await app.start(background=False)
    return OABot(app, channel, fake, f"http://127.0.0.1:{port}/webhooks/zalo-oa")


@pytest.fixture
async def bot(make_app: Any, oa_fake: FakeZaloOA, clock: FakeClock, tmp_path: Path) -> OABot:
    return await boot(make_app, oa_fake, clock, tmp_path)


async def notify(app: App, user_id: str, text: str, tag: str | None = None) -> None:
    """A message for the worker through the outbox, as staff replies and reminders are."""
    async with app.db.transaction() as session:
        outbox_repo.enqueue(
            session,
            channel="zalo_oa",
            chat_id=user_id,
            content=content_to_json(Text(text)),
            tag=tag,
            due_at=app.engine.clock(),
        )


# ----------------------------------------------------------------------------- conversations


async def test_follow_gets_the_welcome_with_hotline_ai_disclosure_and_menu(bot: OABot) -> None:
    worker = bot.worker()
    replies = await worker.follow()
    assert len(replies) == 1
    welcome = replies[0]
    assert "không phải người thật" in welcome.text
    assert HOTLINE in welcome.text
    assert [title for title, _ in welcome.buttons] == [
        bot.app.texts(f"menu.{k}") for k in ("rights", "join", "ask", "lead", "contact")
    ]
    assert all(payload.startswith(BUTTON_PREFIX) for _, payload in welcome.buttons)
    # A follow carries no message id: the welcome goes by user id.
    assert not welcome.by_message_id
    assert bot.fake.violations == []


async def test_first_message_welcome_menu_and_rights_by_buttons_and_numbers(bot: OABot) -> None:
    worker = bot.worker()
    first = await worker.say("xin chao")
    assert len(first) == 1 and first[0].by_message_id
    assert "không phải người thật" in first[0].text and HOTLINE in first[0].text

    index = await worker.press("Quyền lợi")
    # Nine choices are more than Zalo's five buttons: a numbered list.
    assert index[0].buttons == []
    assert "1. " in index[0].text and "(Bạn gõ số để chọn)" in index[0].text

    topic = await worker.say(" 2 ")
    assert topic[0].text == bot.app.texts("rights.body.who")
    assert topic[0].buttons  # four options fit as buttons again

    back = await worker.press("Danh sách")
    assert "(Bạn gõ số để chọn)" in back[0].text
    dues = await worker.say("số 3")
    assert dues[0].text == bot.app.texts("rights.body.dues")
    menu = await worker.press("Menu chính")
    assert menu[0].text == bot.app.texts("menu.text")
    assert bot.fake.violations == []


async def test_a_typed_number_is_text_when_the_last_message_had_buttons(bot: OABot) -> None:
    worker = bot.worker()
    await worker.say("xin chao")  # the welcome has five buttons, no numbered list
    reply = await worker.say("2")
    assert reply[0].text == bot.app.texts("common.not_understood")


async def test_sticker_is_answered_with_the_menu(bot: OABot) -> None:
    worker = bot.worker()
    await worker.say("chào")
    before = len(worker.received)
    assert await worker.post(bot.fake.sticker(worker.user_id)) == 200
    reply = worker.received[before:]
    assert reply[0].text == bot.app.texts("common.unsupported")
    assert len(reply[0].buttons) == 5


async def test_image_and_submitted_info_become_media_and_contact(bot: OABot) -> None:
    worker = bot.worker()
    await worker.say("chào")
    url = "https://photo-zmp3.zadn.vn/hop-dong-lao-dong.jpg"
    image = bot.fake.image(worker.user_id, url, "Hợp đồng")
    info = bot.fake.submit_info(worker.user_id, phone="84912345678", name="Nguyễn Thị Hoa")
    kinds = []
    for event in (image, info):
        inbound = event_to_inbound(event, json.dumps(event).encode())
        assert inbound is not None
        kinds.append((inbound.kind.value, list(inbound.media), inbound.phone))
    assert kinds == [("media", [url], None), ("contact", [], "84912345678")]
    assert await worker.post(image) == 200
    assert await worker.post(info) == 200
    async with bot.app.db.session() as session:
        rows = list(await session.scalars(select(InboxEvent).order_by(InboxEvent.id)))
    # Every event processed, and the raw events (a phone number here) not kept afterwards.
    assert all(r.status == "done" and r.payload == {} for r in rows)


# ----------------------------------------------------------------------------- signatures


async def test_signature_valid_forged_missing_replayed_stale(
    bot: OABot, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    worker = bot.worker()
    fake = bot.fake
    event = fake.text(worker.user_id, "xin chao")
    raw = json.dumps(event, ensure_ascii=False).encode()

    with caplog.at_level(logging.WARNING, logger="bot.channels.zalo_oa"):
        assert await worker.post(event, raw=raw, signature="forged") == 401
        assert await worker.post(event, raw=raw, signature="missing") == 401
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("forged or wrong signature" in w for w in warnings)
    assert any("without a signature" in w for w in warnings)
    assert worker.received == []

    assert await worker.post(event, raw=raw) == 200
    assert len(worker.received) == 1
    assert await worker.post(event, raw=raw) == 200  # Zalo resends: acknowledged, not redone
    assert len(worker.received) == 1

    old = fake.text(worker.user_id, "tin cũ", at=clock() - timedelta(hours=2))
    with caplog.at_level(logging.WARNING, logger="bot.channels.zalo_oa"):
        assert await worker.post(old) == 401
    assert any("stale" in r.getMessage() for r in caplog.records)
    assert len(worker.received) == 1

    tampered = raw.replace(b"xin chao", b"xin chao!")
    original = fake.sign(raw, event["timestamp"])
    assert await worker.post(event, raw=tampered, signature=original) == 401
    async with bot.app.db.session() as session:
        recorded = list(await session.scalars(select(InboxEvent)))
    assert len(recorded) == 1


def test_signature_is_sha256_of_app_id_body_timestamp_secret() -> None:
    import hashlib

    raw = b'{"event_name":"user_send_text","timestamp":"1699003881354"}'
    expected = hashlib.sha256(b"app" + raw + b"1699003881354" + b"key").hexdigest()
    assert signature("app", raw, "1699003881354", "key") == "mac=" + expected


def test_recorded_events_map_to_inbound() -> None:
    def inbound(name: str) -> Any:
        data = fixture(name)
        return event_to_inbound(data, json.dumps(data).encode())

    text = inbound("oa_user_send_text")
    assert (text.kind, text.text, text.user_id) == (Kind.TEXT, "Xin chào", "246845883529197922")
    assert text.dedupe_key == "zalo_oa:96d3cdf3af150460909"
    follow = inbound("oa_follow")
    assert (follow.kind, follow.command) == (Kind.COMMAND, "start")
    assert follow.dedupe_key.startswith("zalo_oa:") and len(follow.dedupe_key) == 8 + 64
    image = inbound("oa_user_send_image")
    assert image.kind is Kind.MEDIA and image.media == ("https://photo-zmp3.zadn.vn/hop-dong.jpg",)
    info = inbound("oa_user_submit_info")
    assert (info.kind, info.phone, info.display_name) == (
        Kind.CONTACT,
        "84912345678",
        "Nguyễn Thị Hoa",
    )
    assert inbound("oa_user_send_sticker").kind is Kind.UNSUPPORTED
    button = event_to_inbound(
        {**fixture("oa_user_send_text"), "message": {"text": "#btn:join:start", "msg_id": "m1"}},
        b"{}",
    )
    assert (button.kind, button.payload) == (Kind.BUTTON, "join:start")
    command = event_to_inbound(
        {**fixture("oa_user_send_text"), "message": {"text": "/lienket 123456", "msg_id": "m2"}},
        b"{}",
    )
    assert (command.kind, command.command, command.args) == (Kind.COMMAND, "lienket", "123456")
    seen = {**fixture("oa_user_send_text"), "event_name": "user_seen_message"}
    assert event_to_inbound(seen, b"{}") is None


# ----------------------------------------------------------------------------- sending


def test_render_buttons_numbered_lists_and_splitting() -> None:
    five = tuple(Choice(f"Mục {i}", f"x:{i}") for i in range(5))
    rendered = render(Choices("Chọn nhé", five))
    assert rendered.numbered is None
    buttons = rendered.bodies[-1]["attachment"]["payload"]["buttons"]
    assert [b["payload"] for b in buttons] == [f"#btn:x:{i}" for i in range(5)]
    assert {b["type"] for b in buttons} == {"oa.query.hide"}

    six = (*five, Choice("Mục 5", "x:5"))
    listed = render(Choices("Chọn nhé", six))
    assert listed.numbered == [f"x:{i}" for i in range(6)]
    assert "attachment" not in listed.bodies[-1] and "6. Mục 5" in listed.bodies[-1]["text"]

    sentence = "Người lao động có quyền gia nhập công đoàn theo Điều 5 Luật Công đoàn 2024. "
    long_text = (sentence * 60).strip()
    parts = render(Text(long_text)).bodies
    assert len(parts) > 1 and all(len(p["text"]) <= 2000 for p in parts)
    assert all(p["text"].endswith(".") for p in parts)
    assert " ".join(p["text"].replace("\n", " ") for p in parts) == long_text


async def test_long_answers_are_split_and_each_part_is_a_reply(bot: OABot) -> None:
    worker = bot.worker()
    await worker.say("xin chao")
    sentence = "Bạn được nghỉ hằng năm 12 ngày nếu làm đủ 12 tháng (Điều 113 Bộ luật Lao động). "
    long_text = (sentence * 40).strip()
    assert len(long_text) > 2000
    await notify(bot.app, worker.user_id, long_text)
    assert await bot.app.flush_outbox() == 1
    parts = worker.received[1:]
    assert len(parts) == 2
    assert all(len(p.text) <= 2000 and p.by_message_id for p in parts)
    assert " ".join(p.text.replace("\n", " ") for p in parts) == long_text
    assert bot.fake.violations == []


async def test_outside_48_hours_messages_are_held_reported_and_sent_when_worker_returns(
    bot: OABot, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    worker = bot.worker()
    await worker.say("xin chao")
    clock.advance(hours=49)
    with caplog.at_level(logging.WARNING, logger="bot.channels.zalo_oa"):
        await notify(bot.app, worker.user_id, "Luật sư đã trả lời câu hỏi của bạn.", "relay:1")
        assert await bot.app.flush_outbox() == 0
    assert len(worker.received) == 1  # nothing reached Zalo
    assert bot.fake.refused == []  # and nothing was even tried outside the window
    assert any("NOT sent" in r.getMessage() for r in caplog.records)
    async with bot.app.db.session() as session:
        row = (await session.scalars(select(OutboxMessage))).one()
        held = await list_undelivered(session)
    assert row.status != "sent" and "held as zalo_oa_undelivered" in (row.error or "")
    assert "48 hours" in (row.error or "")
    assert [h.user_id for h in held] == [worker.user_id]
    assert held[0].reason == "window_closed" and held[0].tag == "relay:1"
    # Its fingerprint is keyed with the data key: a plain hash of a message (which may hold a
    # name or phone) could be checked against guesses by anyone reading the table.
    async with bot.app.db.session() as session:
        content = undelivered_content(session, held[0])
    assert held[0].fingerprint != fingerprint(worker.user_id, content, "relay:1")
    assert held[0].fingerprint == fingerprint(
        worker.user_id, content, "relay:1", bot.app.engine.services.crypto
    )

    # The outbox retries: still held once, not twice.
    clock.advance(minutes=5)
    assert await bot.app.flush_outbox() == 0
    async with bot.app.db.session() as session:
        assert len(await list_undelivered(session)) == 1

    # The worker writes again: the held message comes first, then the answer.
    replies = await worker.say("/menu")
    assert replies[0].text == "Luật sư đã trả lời câu hỏi của bạn."
    assert replies[1].text == bot.app.texts("menu.text")
    async with bot.app.db.session() as session:
        assert await list_undelivered(session) == []
        statuses = set(await session.scalars(select(ZaloOAUndelivered.status)))
    assert statuses == {"delivered"}

    # The outbox gave up on the held message at once (a final receipt): no retry sends it again.
    clock.advance(minutes=10)
    assert await bot.app.flush_outbox() == 0
    assert [m.text for m in worker.received].count("Luật sư đã trả lời câu hỏi của bạn.") == 1
    assert bot.fake.violations == [] and bot.fake.refused == []


async def test_eight_free_replies_then_held(bot: OABot) -> None:
    worker = bot.worker()
    await worker.say("xin chao")  # the welcome is reply 1 of 8
    for n in range(8):
        await notify(bot.app, worker.user_id, f"Thông báo số {n + 1}.")
    assert await bot.app.flush_outbox() == 7
    assert len(worker.received) == 8
    async with bot.app.db.session() as session:
        held = await list_undelivered(session)
    assert [(h.reason, undelivered_content(session, h)["text"]) for h in held] == [
        ("quota_used", "Thông báo số 8.")
    ]
    assert bot.fake.refused == []  # our count agrees with Zalo's

    replies = await worker.say("chào")  # a new message: a new window, the held one goes first
    assert replies[0].text == "Thông báo số 8."


async def test_expired_access_token_is_refreshed_once_and_the_send_retried(bot: OABot) -> None:
    worker = bot.worker()
    await worker.say("xin chao")
    bot.fake.expire_access_token()
    reply = await worker.say("/menu")
    assert reply[0].text == bot.app.texts("menu.text")
    assert bot.fake.refresh_calls == 1
    async with bot.app.db.session() as session:
        row = await session.get(ZaloOAToken, bot.fake.oa_id)
    assert row is not None
    assert (row.access_token, row.refresh_token) == ("ACCESS-1", "REFRESH-1")
    assert row.rotations == 1


async def test_access_token_refreshed_before_it_expires(bot: OABot, clock: FakeClock) -> None:
    worker = bot.worker()
    await worker.say("xin chao")
    assert bot.fake.refresh_calls == 0
    clock.advance(hours=2)  # the configured token is assumed to last one hour
    await worker.say("/menu")
    assert bot.fake.refresh_calls == 1 and bot.fake.refused_refreshes == 0
    clock.advance(hours=10)  # the new one lasts 25 hours (expires_in 90000)
    await worker.say("/menu")
    assert bot.fake.refresh_calls == 1


# ----------------------------------------------------------------------------- token rotation


async def _two_processes_refresh(url: str, fake: FakeZaloOA, clock: FakeClock) -> int:
    """Two bot processes (own DB pools, own channels) hit -216 at once; returns refresh calls."""
    from storage.db import Database

    setup = Database(url)
    await setup.create_all()
    await setup.dispose()
    stores = [ZaloOAStore(Database(url), owns_db=True) for _ in range(2)]
    channels = [oa_channel(fake, clock, store) for store in stores]
    user = "246845883529197922"
    try:
        for channel in channels:
            await channel._current_token()  # both load (the first seeds) the same pair
        event = fake.text(user, "xin chao")  # the worker wrote: the engine records it
        async with stores[0].db.transaction() as session:
            identity = await contacts_repo.resolve_identity(session, "zalo_oa", user, user)
            await contacts_repo.touch_identity_row(
                session, identity.id, event["message"]["msg_id"], clock()
            )
        fake.expire_access_token()
        fake.refresh_delay = 0.3
        outs = [Outgoing(Address("zalo_oa", user), Text(f"Tin {i}")) for i in range(2)]
        receipts = await asyncio.gather(*(c.send(o) for c, o in zip(channels, outs, strict=True)))
        assert [r.ok for r in receipts] == [True, True], receipts
        assert fake.refresh_calls == 1 and fake.refused_refreshes == 0
        for channel, store in zip(channels, stores, strict=True):
            assert channel._token is not None and channel._token.access_token == "ACCESS-1"
            stored = await store.load_tokens(fake.oa_id)
            assert stored is not None and stored.refresh_token == "REFRESH-1"
        assert sorted(m.text for m in fake.to(user)) == ["Tin 0", "Tin 1"]
        return fake.refresh_calls
    finally:
        for channel in channels:
            await channel.stop()


async def test_two_refreshers_on_postgresql_spend_the_refresh_token_once(
    pg_url: str, oa_fake: FakeZaloOA, clock: FakeClock
) -> None:
    assert await _two_processes_refresh(pg_url, oa_fake, clock) == 1


async def test_two_refreshers_on_sqlite_spend_the_refresh_token_once(
    tmp_path: Path, oa_fake: FakeZaloOA, clock: FakeClock
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'two.db'}"
    assert await _two_processes_refresh(url, oa_fake, clock) == 1


async def test_tokens_are_encrypted_at_rest_with_a_data_key(
    tmp_path: Path, oa_fake: FakeZaloOA, clock: FakeClock
) -> None:
    from storage.crypto import new_key

    url = f"sqlite+aiosqlite:///{tmp_path / 'enc.db'}"
    store = ZaloOAStore.for_url(url, new_key())
    await store.db.create_all()
    try:
        await store.seed_tokens("oa", "ACCESS-SECRET", "REFRESH-SECRET", clock())
        async with store.db.session() as session:
            row = await session.get(ZaloOAToken, "oa")
        assert row is not None and "SECRET" not in row.access_token + row.refresh_token
        loaded = await store.load_tokens("oa")
        assert loaded is not None and loaded.refresh_token == "REFRESH-SECRET"
    finally:
        await store.close()


async def test_events_for_settle_helper_are_all_processed(bot: OABot) -> None:
    """Many workers at once: each gets exactly one welcome; all inbox rows end done."""
    workers = [bot.worker(str(10_000 + i)) for i in range(15)]
    events = [bot.fake.text(w.user_id, "chào") for w in workers]
    statuses = await asyncio.gather(*(bot.fake.post_event(bot.webhook, e) for e in events))
    assert {s for s, _ in statuses} == {200}
    await settle(bot.app)
    assert all(len(w.received) == 1 for w in workers)
    async with bot.app.db.session() as session:
        rows = list(await session.scalars(select(InboxEvent)))
    assert len(rows) == 15 and {r.status for r in rows} == {"done"}


# ----------------------------------------------------------------------------- the features


GROUP = "-100200300"
LAWYER = "555"
LE_CHAN = "11383"
ZALO_FEATURES = FEATURES
LEGAL = {"legal": {"group_chat_id": GROUP}, "staff": {"legal": [LAWYER]}}


async def staff_reply(app: App, text: str, reply_to: str) -> list[Outgoing]:
    """A lawyer answers in the legal centre's Telegram group, replying to the case card."""
    import uuid

    from bot.core.events import Inbound

    inbound = Inbound(
        Address("telegram", GROUP),
        LAWYER,
        Kind.TEXT,
        dedupe_key=f"g:{uuid.uuid4().hex}",
        display_name="Luật sư Minh",
        text=text,
        message_id="7001",
        chat_type="supergroup",
        reply_to=reply_to,
    )
    return await app.process(inbound)


@pytest.fixture
async def full(make_app: Any, oa_fake: FakeZaloOA, clock: FakeClock, tmp_path: Path) -> Any:
    from tests.driver import CaptureChannel

    staff = CaptureChannel("telegram")
    channel = oa_channel(oa_fake, clock)
    port = free_port()
    app = await make_app(
        channel,
        staff,
        features=ZALO_FEATURES,
        url=f"sqlite+aiosqlite:///{tmp_path / 'full.db'}",
        http_port=port,
        extra=LEGAL,
    )
    channel.attach_store(ZaloOAStore(app.db))
    await app.start(background=False)
    return OABot(app, channel, oa_fake, f"http://127.0.0.1:{port}/webhooks/zalo-oa"), staff


async def test_joining_on_the_official_account(full: Any) -> None:
    from storage.membership import MemberApplication
    from tests.fakes.zalo import join_on_zalo

    bot, _staff = full
    worker = bot.worker()
    await worker.follow()
    reference = await join_on_zalo(worker, bot.app.texts)
    async with bot.app.db.session() as session:
        application = (await session.scalars(select(MemberApplication))).one()
    assert application.reference == reference and application.channel == "zalo_oa"
    assert "Nguyễn" not in (application.name_enc or "")  # stored encrypted
    assert bot.fake.violations == [] and bot.fake.refused == []


async def test_question_to_the_legal_centre_and_the_staff_reply_on_the_oa(full: Any) -> None:
    from tests.fakes.zalo import question_on_zalo

    bot, staff = full
    worker = bot.worker()
    await worker.say("xin chao")
    number = await question_on_zalo(worker, bot.app.texts, "cty no luong 2 thang thi lam sao")
    await bot.app.flush_outbox()
    card_index, card = next(
        (i, o)
        for i, o in enumerate(staff.sent, 1)
        if (o.tag or "").startswith("casecard:") and number in o.text
    )
    assert worker.user_id not in card.text  # anonymous: no Zalo id in the staff group
    await staff_reply(bot.app, "Bạn gửi giúp bảng lương tháng gần nhất nhé.", str(card_index))
    before = len(worker.received)
    await bot.app.flush_outbox()
    relayed = worker.received[before:]
    assert len(relayed) == 1 and number in relayed[0].text
    assert "bảng lương tháng gần nhất" in relayed[0].text
    assert relayed[0].by_message_id  # a free reply inside the worker's 48-hour window
    assert bot.fake.violations == []


async def test_report_of_a_company_without_a_union_on_the_oa(full: Any) -> None:
    from storage.enterprises import Lead
    from storage.people import add_person
    from tests.fakes.zalo import lead_on_zalo

    bot, staff = full
    async with bot.app.db.transaction() as session:
        await add_person(
            session, role="volunteer", channel="telegram", external_id="9001",
            area_codes=(LE_CHAN,),
        )  # fmt: skip
    worker = bot.worker()
    await worker.say("xin chao")
    done = await lead_on_zalo(worker, bot.app.texts, "Công ty TNHH Giày Da Hải Phòng")
    assert "Phường Lê Chân" in done and "Điều" in done
    async with bot.app.db.session() as session:
        lead = (await session.scalars(select(Lead))).one()
    assert lead.reporter_contact_id is None  # anonymous
    await bot.app.flush_outbox()
    notes = [o for o in staff.sent if o.address.chat_id == "9001"]
    assert len(notes) == 1 and "Công ty TNHH Giày Da Hải Phòng" in notes[0].text
    assert worker.user_id not in notes[0].text


async def test_configured_from_the_environment_and_served_by_make_run_wiring(
    tmp_path: Path,
) -> None:
    """ZALO_* variables -> build_channels -> the app's web server: the production path, on
    the system clock (the channel built from settings has no test clock)."""
    from bot.app import build_app
    from bot.config import load_settings
    from storage.crypto import new_key

    oa_fake = FakeZaloOA()
    await oa_fake.start()
    port = free_port()
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'env.db'}",
        "HTTP_PORT": str(port),
        "CONGDOAN_DATA_KEY": new_key(),
        "ZALO_OA_APP_ID": oa_fake.app_id,
        "ZALO_OA_ID": oa_fake.oa_id,
        "ZALO_OA_SECRET_KEY": oa_fake.secret_key,
        "ZALO_APP_SECRET": oa_fake.app_secret,
        "ZALO_OA_ACCESS_TOKEN": oa_fake.access_token,
        "ZALO_OA_REFRESH_TOKEN": oa_fake.refresh_token,
        "ZALO_OA_API_BASE": oa_fake.url,
        "ZALO_OAUTH_BASE": oa_fake.url,
    }
    settings = load_settings(env, config_path=tmp_path / "none.toml")
    app = await build_app(settings, create_schema=True)
    try:
        channel = app.channels["zalo_oa"]
        assert isinstance(channel, ZaloOAChannel) and channel.config.oa_id == oa_fake.oa_id
        await app.start(background=False)
        worker = OAWorker(oa_fake, app, f"http://127.0.0.1:{port}/webhooks/zalo-oa", "77")
        replies = await worker.say("xin chao")
        assert len(replies) == 1 and HOTLINE in replies[0].text
        oa_fake.expire_access_token()
        await worker.say("/menu")
        assert oa_fake.refresh_calls == 1
        async with app.db.session() as session:
            row = await session.get(ZaloOAToken, oa_fake.oa_id)
        assert row is not None and row.refresh_token.startswith("enc:")  # sealed with the key
    finally:
        await app.stop()
        await oa_fake.close()


async def test_a_failed_recording_answers_500_so_zalo_retries(
    oa_fake: FakeZaloOA, clock: FakeClock
) -> None:
    """When the event cannot be stored, Zalo must not get a 200 (it would not resend)."""
    from aiohttp import web

    channel = oa_channel(oa_fake, clock)
    calls: list[Any] = []

    async def failing(inbound: Any) -> None:
        calls.append(inbound)
        raise RuntimeError("database is down")

    web_app = web.Application()
    channel.setup_web(web_app, failing)
    runner = web.AppRunner(web_app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        url = f"http://127.0.0.1:{port}/webhooks/zalo-oa"
        status, _ = await oa_fake.post_event(url, oa_fake.text("42", "xin chao"))
        assert status == 500 and len(calls) == 1
        ignored = {**oa_fake.text("42", "x"), "event_name": "user_seen_message"}
        assert (await oa_fake.post_event(url, ignored))[0] == 200 and len(calls) == 1
    finally:
        await runner.cleanup()
        await channel.stop()


async def test_a_send_finishing_after_stop_still_goes_out(bot: OABot) -> None:
    worker = bot.worker()
    await worker.say("xin chao")
    await bot.channel.stop()  # shutdown has begun; an answer in flight must not be lost
    receipt = await bot.channel.send(Outgoing(Address("zalo_oa", worker.user_id), Text("Kết.")))
    assert receipt.ok and worker.received[-1].text == "Kết."
