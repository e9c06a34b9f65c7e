"""Announcements end to end on capture channels: consent per topic, stop at once, polls, clicks,
blocked recipients, linked accounts, quiet hours and the Zalo OA window rules."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.core.events import Choices, Kind, Outgoing, Photo, Receipt
from handlers.broadcast_send import BroadcastConfig
from storage import broadcasts as repo
from storage.models import ChannelIdentity
from tests.broadcast_helpers import NO_QUIET, counts, new_broadcast, seed_subscribers, sender
from tests.driver import CaptureChannel, Chat


class Recorder(CaptureChannel):
    """A channel that records when (on the app's clock) each message went, and can block."""

    def __init__(self, name: str, clock: Any, blocked: set[str] | None = None, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.clock = clock
        self.blocked = blocked or set()
        self.times: list[datetime] = []
        self.on_send: Any = None

    async def send(self, out: Outgoing) -> Receipt:
        if out.address.chat_id in self.blocked:
            return Receipt(ok=False, error="blocked")
        if self.on_send is not None:
            await self.on_send(out)
        self.times.append(self.clock())
        return await super().send(out)


async def test_subscribe_per_topic_list_stop_and_erase(chat: Chat) -> None:
    await chat.send("/nhantin")
    assert "NHẬN TIN CÔNG ĐOÀN" in chat.text and "Luật 91/2025/QH15" in chat.text
    labels = [label for label, _ in chat.options()]
    assert labels[:3] == ["Tin chiến dịch", "Quyền lợi và luật mới", "Hoạt động, phúc lợi"]
    await chat.press("Quyền lợi và luật mới")
    assert "quyền lợi và luật mới" in chat.text
    assert "✅ Quyền lợi và luật mới" in [label for label, _ in chat.options()]
    async with chat.app.db.session() as session:
        subs = await session.scalars(select(repo.Subscription))
        [sub] = list(subs)
    assert sub.topic == "rights" and sub.notice_version.startswith("2026-12-1+")
    await chat.send("/dulieucuatoi")
    assert "Nhận tin công đoàn: Quyền lợi và luật mới" in chat.text
    await chat.send("Dừng")
    assert "đã dừng gửi tin" in chat.text
    async with chat.app.db.session() as session:
        assert await repo.active_topics(session, 1) == {}
    await chat.send("/dulieucuatoi")
    assert "đã dừng lúc" in chat.text
    await chat.send("/xoadulieu")
    await chat.press("dữ liệu")
    async with chat.app.db.session() as session:
        assert list(await session.scalars(select(repo.Subscription))) == []


async def test_help_names_the_command_and_all_topics_at_once(chat: Chat) -> None:
    await chat.send("/trogiup")
    assert "/nhantin" in chat.text and "/dungtin" in chat.text
    await chat.send("/nhantin")
    await chat.press("Nhận cả ba chủ đề")
    assert "tin chiến dịch, quyền lợi và luật mới, hoạt động, phúc lợi" in chat.text
    await chat.send("huy dang ky")
    assert "đã dừng gửi tin" in chat.text
    await chat.send("stop")
    assert "chưa đăng ký nhận tin" in chat.text


async def test_only_subscribers_receive_once_each_on_the_channel_used_last(make_app, clock) -> None:
    tg, zb = Recorder("telegram", clock), Recorder("zalo_bot", clock, buttons=False)
    app = await make_app(tg, zb)
    contacts = await seed_subscribers(app.db, [11, 12], now=clock())
    # 13 never subscribed: known to the bot, but not in any audience.
    async with app.db.transaction() as session:
        from storage import contacts as contacts_repo

        await contacts_repo.resolve_identity(session, "telegram", "13", "13")
        # 12 also uses Zalo Bot, more recently: one copy, there.
        session.add(ChannelIdentity(contact_id=contacts[12], channel="zalo_bot", external_id="z12",
                                    chat_id="z12", last_inbound_at=clock()))  # fmt: skip
    bid = await new_broadcast(app.db, clock(), button="join")
    await sender(app).run(bid)
    assert [o.address.chat_id for o in tg.sent] == ["11"]
    assert [o.address.chat_id for o in zb.sent] == ["z12"]
    content = tg.sent[0].content
    assert isinstance(content, Choices)
    assert [c.label for c in content.options] == ["Gia nhập công đoàn", "Dừng nhận tin"]
    result = await counts(app.db, bid)
    assert (result["total"], result["sent"], result["queued"]) == (2, 2, 0)
    await sender(app).run(bid)  # running it again sends nothing twice
    assert len(tg.sent) + len(zb.sent) == 2


async def test_button_press_is_counted_and_opens_the_feature(make_app, clock) -> None:
    tg = Recorder("telegram", clock)
    app = await make_app(tg)
    await seed_subscribers(app.db, [21], now=clock())
    bid = await new_broadcast(app.db, clock(), button="rights")
    await sender(app).run(bid)
    worker = Chat(app, tg, user_id="21")
    await worker.deliver(worker._inbound(Kind.BUTTON, payload=f"bc:btn:{bid}"))
    assert worker.replies, "the rights feature answered"
    assert (await counts(app.db, bid))["clicks"] == 1
    stranger = Chat(app, tg, user_id="22")
    await stranger.deliver(stranger._inbound(Kind.BUTTON, payload=f"bc:btn:{bid}"))
    assert "đã cũ" in stranger.text
    assert (await counts(app.db, bid))["clicks"] == 1


async def test_poll_one_answer_per_person_second_press_changes_it(make_app, clock) -> None:
    tg, zb = Recorder("telegram", clock), Recorder("zalo_bot", clock, buttons=False)
    app = await make_app(tg, zb)
    await seed_subscribers(app.db, [31, 32], now=clock())
    await seed_subscribers(app.db, [33], channel="zalo_bot", now=clock())
    question = "Bạn muốn sinh hoạt ngày nào?"
    options = ["Thứ Bảy", "Chủ nhật", "Tối thứ Tư"]
    bid = await new_broadcast(
        app.db, clock(), text="", poll_question=question, poll_options=options
    )
    await sender(app).run(bid)
    first = Chat(app, tg, user_id="31")
    first.replies = tg.to("31")
    await first.press("Thứ Bảy")
    assert first.text.startswith("Cảm ơn bạn đã trả lời: “Thứ Bảy”")
    first.replies = tg.to("31")[:1]
    await first.press("Chủ nhật")
    assert "từ “Thứ Bảy” thành “Chủ nhật”" in first.text
    second = Chat(app, tg, user_id="32")
    second.replies = tg.to("32")
    await second.press("Chủ nhật")
    zalo = Chat(app, zb, user_id="33")
    await zalo.send("3")  # Zalo Bot has no buttons: the typed number answers
    assert "“Tối thứ Tư”" in zalo.text
    async with app.db.session() as session:
        assert await repo.poll_counts(session, bid) == {2: 2, 3: 1}


async def test_blocked_recipient_is_counted_and_marked_unreachable(make_app, clock) -> None:
    tg = Recorder("telegram", clock, blocked={"42"})
    app = await make_app(tg)
    await seed_subscribers(app.db, [41, 42, 43], now=clock())
    bid = await new_broadcast(app.db, clock())
    await sender(app).run(bid)
    result = await counts(app.db, bid)
    assert (result["sent"], result["blocked"]) == (2, 1)
    async with app.db.session() as session:
        identity = await session.scalar(
            select(ChannelIdentity).where(ChannelIdentity.external_id == "42")
        )
    assert identity is not None and identity.unreachable


async def test_opt_out_during_the_run_is_honoured(make_app, clock) -> None:
    tg = Recorder("telegram", clock)
    app = await make_app(tg)
    users = list(range(100, 140))
    await seed_subscribers(app.db, users, now=clock())
    bid = await new_broadcast(app.db, clock())
    last = Chat(app, CaptureChannel("telegram"), user_id=str(users[-1]))

    async def stop_the_last_one(out: Outgoing) -> None:
        if not tg.sent and tg.on_send is not None:
            tg.on_send = None  # the reply to "dừng" goes through this channel too
            await last.send("dừng")

    tg.on_send = stop_the_last_one
    await sender(app).run(bid)
    assert last.keys == ["news.stopped"]
    announced = {o.address.chat_id for o in tg.sent if o.text.startswith("Tháng Công nhân")}
    assert len(announced) == 39 and str(users[-1]) not in announced
    result = await counts(app.db, bid)
    assert (result["sent"], result["opted_out"]) == (39, 1)


async def test_photo_then_text_and_ctrl_c_resumes_without_duplicates(make_app, clock) -> None:
    tg = Recorder("telegram", clock)
    app = await make_app(tg)
    await seed_subscribers(app.db, list(range(200, 230)), now=clock())
    bid = await new_broadcast(app.db, clock(), photo=b"\x89PNG fake", photo_name="t5.png")
    stop = asyncio.Event()

    async def interrupt(out: Outgoing) -> None:
        if len(tg.sent) >= 9:
            stop.set()  # what Ctrl+C does in `broadcast send`

    tg.on_send = interrupt
    await sender(app).run(bid, stop)
    middle = await counts(app.db, bid)
    assert middle["queued"] > 0 and middle["unknown"] == 0 and middle["sending"] == 0
    tg.on_send = None
    await sender(app).run(bid)
    per_chat: dict[str, list[str]] = {}
    for out in tg.sent:
        per_chat.setdefault(out.address.chat_id, []).append(type(out.content).__name__)
    assert len(per_chat) == 30
    assert all(kinds == [Photo.__name__, Choices.__name__] for kinds in per_chat.values())
    assert (await counts(app.db, bid))["sent"] == 30


async def test_quiet_hours_pause_and_continue_on_a_fake_clock(make_app, clock) -> None:
    clock.now = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)  # 21:30 in Hai Phong
    tg = Recorder("telegram", clock)
    app = await make_app(tg)
    await seed_subscribers(app.db, [51, 52], now=clock())
    bid = await new_broadcast(app.db, clock())
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds=seconds)
        await asyncio.sleep(0)

    await sender(app, config=BroadcastConfig(), sleep=fake_sleep).run(bid)
    assert len(tg.times) == 2
    opens = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)  # 07:00 in Hai Phong
    assert all(t >= opens for t in tg.times)
    assert sum(slept) >= (opens - datetime(2026, 11, 24, 14, 30, tzinfo=UTC)).total_seconds()
    assert BroadcastConfig().quiet_for(datetime(2026, 11, 24, 9, 0, tzinfo=UTC)) == 0.0


async def test_zalo_oa_inside_window_sent_outside_held_or_skipped(make_app, clock) -> None:
    oa = Recorder("zalo_oa", clock)
    app = await make_app(oa)
    now = clock()
    await seed_subscribers(app.db, [61], channel="zalo_oa", now=now, seen=now - timedelta(hours=2))
    await seed_subscribers(app.db, [62], channel="zalo_oa", now=now, seen=now - timedelta(hours=50))
    skip = replace(NO_QUIET, zalo_oa_outside_window="skip")
    bid = await new_broadcast(app.db, now)
    await sender(app, config=skip).run(bid)
    assert [o.address.chat_id for o in oa.sent] == ["61"]
    result = await counts(app.db, bid)
    assert (result["sent"], result["skipped"]) == (1, 1)


async def test_zalo_oa_promotion_quota_is_never_exceeded(make_app, clock) -> None:
    oa = Recorder("zalo_oa", clock)
    app = await make_app(oa)
    now = clock()
    await seed_subscribers(app.db, [71], channel="zalo_oa", now=now, seen=now - timedelta(days=9))
    promoted: list[Outgoing] = []

    async def promote(out: Outgoing) -> Receipt:
        promoted.append(out)
        return Receipt(message_id="p1")

    config = replace(NO_QUIET, zalo_oa_outside_window="skip", zalo_oa_promotions_per_month=2)
    sent_days = []
    for day in range(4):
        bid = await new_broadcast(app.db, clock())
        await sender(app, config=config, promote=promote).run(bid)
        sent_days.append((await counts(app.db, bid))["sent"])
        if day == 0:  # a second one the same day: one promotion a day
            again = await new_broadcast(app.db, clock())
            await sender(app, config=config, promote=promote).run(again)
            assert (await counts(app.db, again))["skipped"] == 1
        clock.advance(days=1)
    assert sent_days == [1, 1, 0, 0]
    assert len(promoted) == 2 and oa.sent == []


async def test_scheduled_announcement_starts_at_its_time_in_one_process(make_app, clock) -> None:
    tg = Recorder("telegram", clock)
    app = await make_app(tg)
    await seed_subscribers(app.db, [81, 82], now=clock())
    bid = await new_broadcast(app.db, clock(), status=repo.SCHEDULED,
                              scheduled_at=clock() + timedelta(hours=1))  # fmt: skip
    await app.run_job("broadcast.scheduler")
    assert tg.sent == []
    clock.advance(hours=1)
    async with app.db.transaction() as session:  # another process's scheduler got there first
        assert await repo.start_due(session, clock()) == [bid]
        assert await repo.start_due(session, clock()) == []  # and only that one
    # ... but it died before queueing anyone: this process takes the announcement over.
    await app.run_job("broadcast.scheduler")
    assert sorted(o.address.chat_id for o in tg.sent) == ["81", "82"]
    assert (await counts(app.db, bid))["sent"] == 2
