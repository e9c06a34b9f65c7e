"""The legal-centre relay end to end: a worker's question becomes a case in the staff group, a
lawyer's reply reaches the worker, follow-ups return to the case, clocks fire once, ratings stick.

The worker and the staff group share one capture channel named "telegram" (so photos can be
copied across); group messages are Inbound with chat_type="supergroup" and the group's chat id.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.app import FEATURES
from bot.config import ConfigReader, Settings
from bot.core.events import (
    Address,
    Choices,
    CreateTopic,
    Inbound,
    Kind,
    Outgoing,
    Receipt,
    RelayCopy,
)
from handlers.relay_shared import LegalConfig, OfficeHours
from storage import cases as cases_repo
from storage.cases import CaseLink, CaseMessage, CaseRating, FaqMiss, LegalCase
from storage.migrate import upgrade_async
from tests.driver import CaptureChannel, Chat

GROUP = "-100200300"
LAWYER = "555"
OTHER = "556"
DUTY = "777"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
RELAY_FEATURES = FEATURES


class ForumChannel(CaptureChannel):
    """A capture channel whose group supports forum topics: CreateTopic gets a thread id."""

    def __init__(self) -> None:
        super().__init__("telegram")
        self.topics: list[str] = []

    async def send(self, out: Outgoing) -> Receipt:
        receipt = await super().send(out)
        if isinstance(out.content, CreateTopic):
            self.topics.append(out.content.name)
            return Receipt(message_id=receipt.message_id, thread_id=str(900 + len(self.topics)))
        return receipt


def legal_extra(*, topics: bool = False, duty: str | None = DUTY) -> dict[str, Any]:
    legal: dict[str, Any] = {"group_chat_id": GROUP, "topics": topics}
    if duty:
        legal["duty_lead"] = duty
    return {"legal": legal, "staff": {"legal": [LAWYER]}}


async def relay_app(make_app: Any, channel: CaptureChannel, **kw: Any) -> Any:
    return await make_app(
        channel, features=RELAY_FEATURES, extra=legal_extra(**kw), url=kw.pop("url", None)
    )


class Group:
    """Staff typing in the legal centre's supergroup."""

    def __init__(self, app: Any, channel: CaptureChannel, chat_id: str = GROUP) -> None:
        self.app, self.channel, self.chat_id = app, channel, chat_id
        self._n = 5000

    async def send(
        self,
        text: str = "",
        *,
        user: str = LAWYER,
        name: str = "Luật sư Minh",
        reply_to: str | None = None,
        thread: str | None = None,
        media: bool = False,
        edited: bool = False,
    ) -> list[Outgoing]:
        self._n += 1
        values: dict[str, Any] = {"text": text}
        kind = Kind.MEDIA if media else Kind.TEXT
        if media:
            values["media"] = ("file-abc",)
        if text.startswith("/"):
            command, _, args = text[1:].partition(" ")
            kind = Kind.COMMAND
            values.update(command=command, args=args)
        inbound = Inbound(
            Address("telegram", self.chat_id, thread),
            user,
            kind,
            dedupe_key=f"g:{uuid.uuid4().hex}",
            display_name=name,
            message_id=str(self._n),
            chat_type="supergroup",
            reply_to=reply_to,
            edited=edited,
            **values,
        )
        return await self.app.process(inbound)


def message_id_of(channel: CaptureChannel, out: Outgoing) -> str:
    """CaptureChannel numbers its sends 1, 2, 3... in order."""
    return str(next(i for i, o in enumerate(channel.sent, 1) if o is out))


def group_posts(channel: CaptureChannel) -> list[Outgoing]:
    return [o for o in channel.sent if o.address.chat_id == GROUP]


def card_of(channel: CaptureChannel, number: str) -> Outgoing:
    return next(
        o
        for o in group_posts(channel)
        if (o.tag or "").startswith("casecard:") and number in o.text
    )


async def submit_question(
    chat: Chat,
    question: str = "Công ty nợ lương tôi ba tháng rồi, tôi phải làm gì?",
    *,
    named: bool = False,
) -> str:
    await chat.send("/start")
    await chat.deliver(chat._inbound(Kind.BUTTON, payload="case:new"))
    if any(payload.startswith("consent_") for _, payload in chat.options()):
        await chat.press("Đồng ý")  # the question's data notice, once per notice version
    assert "relay.form.question.prompt" in chat.keys
    await chat.send(question)
    assert "relay.form.workplace.prompt" in chat.keys
    await chat.send("Công ty May Hòa Bình, KCN Đại An")
    if named:
        await chat.press("Cho biết tên")
        await chat.send("nguyễn thị hoa")
        await chat.send("0912 345 678")
    else:
        await chat.press("Ẩn danh")
    assert "relay.form.confirm" in chat.keys
    await chat.press("Gửi")
    assert "relay.submitted.open" in chat.keys or "relay.submitted.closed" in chat.keys
    async with chat.app.db.session() as session:
        case = (await session.scalars(select(LegalCase).order_by(LegalCase.id.desc()))).first()
    assert case is not None and case.number and case.number in chat.text
    return case.number


async def load_case(app: Any, number: str) -> LegalCase:
    async with app.db.session() as session:
        case = await cases_repo.case_by_number(session, number)
        assert case is not None
        return case


def clock_job(app: Any) -> Any:
    async def run(now: Any) -> None:
        await app.run_job("legal_clocks", now)

    return run


# -- the worker's question -----------------------------------------------------------------


async def test_anonymous_question_becomes_a_case_card_without_personal_data(make_app) -> None:
    channel = CaptureChannel("telegram")
    app = await relay_app(make_app, channel)
    chat = Chat(app, channel)
    number = await submit_question(chat)
    assert number == "TV-2026-000001"  # the fake clock's year, six digits
    # Tuesday 09:00 in office hours: answer expected the same day, 4 working hours later.
    assert "13:00" in chat.text and "24/11/2026" in chat.text
    assert "case:more:" in str(chat.options())
    assert await app.flush_outbox() >= 1
    card = card_of(channel, number)
    assert "Công ty nợ lương tôi ba tháng rồi" in card.text
    assert "KCN Đại An" in card.text
    assert "ẩn danh" in card.text
    assert "Công nhân" not in card.text  # the display name is never shown when anonymous
    async with app.db.session() as session:
        case = await cases_repo.case_by_number(session, number)
        assert case is not None and not case.named and case.name_enc is None
        assert "nợ lương" not in case.question_enc  # stored encrypted
        links = (await session.scalars(select(CaseLink))).all()
        assert [link.kind for link in links] == ["card"]
        assert links[0].message_id == message_id_of(channel, card)


async def test_named_question_shows_name_and_phone_to_lawyers_only_encrypted_at_rest(
    make_app,
) -> None:
    channel = CaptureChannel("telegram")
    app = await relay_app(make_app, channel)
    chat = Chat(app, channel)
    number = await submit_question(chat, named=True)
    await app.flush_outbox()
    card = card_of(channel, number)
    assert "Nguyễn Thị Hoa" in card.text and "0912 345 678" in card.text
    case = await load_case(app, number)
    assert case.named and case.name_enc and "Hoa" not in case.name_enc
    assert case.phone_enc and "0912" not in case.phone_enc and case.phone_hash


async def test_photos_during_the_form_are_attached_and_copied_to_the_group(make_app) -> None:
    channel = CaptureChannel("telegram")
    app = await relay_app(make_app, channel)
    chat = Chat(app, channel)
    await chat.send("/start")
    await chat.deliver(chat._inbound(Kind.BUTTON, payload="case:new"))
    await chat.press("Đồng ý")
    await chat.send("Công ty trừ lương vì đi muộn 5 phút, có đúng không?")
    photo = await chat.send_media(Kind.MEDIA)
    assert "relay.media.got" in chat.keys
    assert "relay.form.workplace.prompt" in chat.keys  # the form carries on where it was
    await chat.press("Bỏ qua")
    await chat.press("Ẩn danh")
    await chat.press("Gửi")
    await app.flush_outbox()
    copies = [o for o in group_posts(channel) if isinstance(o.content, RelayCopy)]
    assert len(copies) == 1 and copies[0].content.from_chat_id == chat.user_id
    assert photo  # the photo got an answer
    async with app.db.session() as session:
        stored = (await session.scalars(select(CaseMessage))).all()
        assert len(stored) == 1 and stored[0].media == ["file-1"]


async def test_outside_office_hours_the_worker_learns_when_the_centre_opens(
    make_app, clock
) -> None:
    clock.now = datetime(2026, 11, 28, 13, 0, tzinfo=UTC)  # Saturday 20:00 in Hai Phong
    channel = CaptureChannel("telegram")
    app = await relay_app(make_app, channel)
    chat = Chat(app, channel)
    await submit_question(chat)
    assert "relay.submitted.closed" in chat.keys
    assert "07:30" in chat.text and "30/11/2026" in chat.text  # Monday morning
    assert "11:30" in chat.text  # four working hours after opening
    assert "1800.888864" in chat.text


async def test_the_form_checks_what_the_worker_types(make_app) -> None:
    channel = CaptureChannel("telegram")
    app = await relay_app(make_app, channel)
    chat = Chat(app, channel)
    await chat.send("/start")
    await chat.deliver(chat._inbound(Kind.BUTTON, payload="case:new"))
    await chat.press("Đồng ý")
    await chat.send("lương")
    assert "relay.form.question.too_short" in chat.keys
    await chat.send("Công ty không trả lương tháng 10 cho cả xưởng")
    await chat.press("Bỏ qua")
    await chat.press("Cho biết tên")
    await chat.send("Hoa")
    assert "relay.form.name.too_short" in chat.keys
    await chat.send("Trần Văn Nam")
    await chat.send("0225 384 1234")
    assert "relay.form.phone.landline" in chat.keys
    await chat.send("+84 912345678")
    assert "relay.form.confirm" in chat.keys and "0912 345 678" in chat.text


# -- staff replies -------------------------------------------------------------------------


async def test_staff_reply_to_the_card_reaches_the_worker_and_follow_ups_return(
    make_app,
) -> None:
    channel = CaptureChannel("telegram")
    app = await relay_app(make_app, channel)
    chat = Chat(app, channel)
    group = Group(app, channel)
    number = await submit_question(chat)
    await app.flush_outbox()
    card_id = message_id_of(channel, card_of(channel, number))

    acks = await group.send("Bạn gửi giúp bảng lương tháng gần nhất nhé.", reply_to=card_id)
    assert acks and "Đã chuyển" in acks[0].text and acks[0].reply_to is not None
    await app.flush_outbox()
    to_worker = channel.to(chat.user_id)[-1]
    assert isinstance(to_worker.content, Choices)
    assert f"Tư vấn viên trả lời ({number})" in to_worker.text
    assert "bảng lương tháng gần nhất" in to_worker.text

    # The lawyer waits for the worker: the worker's next text returns to the same case.
    await chat.send("Dạ em chỉ có tin nhắn Zalo của tổ trưởng thôi")
    assert "relay.more.sent" in chat.keys
    await chat.send("Và bảng chấm công em tự ghi")
    assert "relay.more.sent" in chat.keys
    await app.flush_outbox()
    followups = [o for o in group_posts(channel) if "hỏi thêm" in o.text]
    assert len(followups) == 2 and all(number in o.text for o in followups)
    # A second lawyer reply, this time to the relayed follow-up, is relayed without a group ack.
    acks = await group.send(
        "Tin nhắn đó dùng làm chứng cứ được.", reply_to=message_id_of(channel, followups[-1])
    )
    assert acks == []
    await app.flush_outbox()
    assert "chứng cứ" in channel.to(chat.user_id)[-1].text

    # "Xong": the worker leaves the conversation; texts go to the FAQ again.
    await chat.send("Em cảm ơn")
    await chat.press("Xong")
    await chat.send("cty no luong 2 thang thi lam sao")
    assert "relay.more.sent" not in chat.keys and "ask.answer" in chat.keys
    async with app.db.session() as session:
        case = await cases_repo.case_by_number(session, number)
        assert case is not None and case.status == cases_repo.ANSWERED
        assert case.first_response_at is not None and case.assignee_id == LAWYER
        messages = await cases_repo.messages_of(session, case.id)
        directions = [m.direction for m in messages]
        assert directions == ["staff", "worker", "worker", "staff", "worker"]
        assert case.awaiting_worker is False


async def test_non_staff_messages_are_never_relayed(make_app) -> None:
    channel = CaptureChannel("telegram")
    app = await relay_app(make_app, channel)
    chat = Chat(app, channel)
    group = Group(app, channel)
    number = await submit_question(chat)
    await app.flush_outbox()
    card_id = message_id_of(channel, card_of(channel, number))
    before = len(channel.to(chat.user_id))

    note = await group.send("Tôi nghĩ công ty sai rồi", user=OTHER, reply_to=card_id)
    assert len(note) == 1 and "Chỉ tư vấn viên" in note[0].text
    assert await group.send("/dong", user=OTHER, reply_to=card_id)  # commands are refused too
    assert await group.send("Chào cả nhóm", user=OTHER) == []  # chatter: silence
    assert await group.send("Họp lúc 2h nhé") == []  # a lawyer's chatter, no case: silence
    await app.flush_outbox()
    assert len(channel.to(chat.user_id)) == before
    case = await load_case(app, number)
    assert case.status == cases_repo.OPEN and case.first_response_at is None


async def test_other_groups_are_ignored(make_app) -> None:
    channel = CaptureChannel("telegram")
    app = await relay_app(make_app, channel)
    other = Group(app, channel, chat_id="-100999")
    assert await other.send("/cho") == []
    assert await other.send("xin chào") == []


async def test_closing_asks_for_a_rating_and_a_reply_to_a_closed_case_is_refused(
    make_app,
) -> None:
    channel = CaptureChannel("telegram")
    app = await relay_app(make_app, channel)
    chat = Chat(app, channel)
    group = Group(app, channel)
    number = await submit_question(chat)
    await app.flush_outbox()
    card_id = message_id_of(channel, card_of(channel, number))
    await group.send("Công ty phải trả lương đúng hạn (Điều 97).", reply_to=card_id)

    closed = await group.send("/dong", reply_to=card_id)
    assert "Đã đóng" in closed[0].text and number in closed[0].text
    await app.flush_outbox()
    rating = channel.to(chat.user_id)[-1]
    assert number in rating.text and isinstance(rating.content, Choices)
    chat.replies = [rating]
    await chat.press("5 ⭐")
    assert "relay.rate.thanks" in chat.keys
    async with app.db.session() as session:
        case = await cases_repo.case_by_number(session, number)
        assert case is not None and case.status == cases_repo.CLOSED
        assert await cases_repo.rating_of(session, case.id) == 5

    before = len(channel.to(chat.user_id))
    refused = await group.send("Bổ sung: bạn nhớ giữ phiếu lương.", reply_to=card_id)
    assert len(refused) == 1 and "đã đóng" in refused[0].text and "KHÔNG" in refused[0].text
    await app.flush_outbox()
    assert len(channel.to(chat.user_id)) == before
    # Texts from the worker no longer go to the closed case.
    await chat.send("cty no luong 2 thang thi lam sao")
    assert "relay.more.sent" not in chat.keys
    # /mo reopens it, and then the reply goes through.
    assert "mở lại" in (await group.send("/mo", reply_to=card_id))[0].text
    await group.send("Bổ sung: bạn nhớ giữ phiếu lương.", reply_to=card_id)
    await app.flush_outbox()
    assert "giữ phiếu lương" in channel.to(chat.user_id)[-1].text


async def test_take_hand_over_and_waiting_list(make_app, clock) -> None:
    channel = CaptureChannel("telegram")
    app = await relay_app(make_app, channel)
    chat = Chat(app, channel)
    group = Group(app, channel)
    first = await submit_question(chat)
    clock.advance(hours=2)
    second = await submit_question(
        chat, "Công ty bắt tăng ca 4 tiếng mỗi ngày, có đúng luật không?"
    )
    await app.flush_outbox()
    card_id = message_id_of(channel, card_of(channel, first))

    taken = await group.send("/nhan", reply_to=card_id)
    assert "Luật sư Minh nhận hồ sơ" in taken[0].text
    await app.flush_outbox()
    assert "đã nhận câu hỏi" in channel.to(chat.user_id)[-1].text
    handed = await group.send(f"/chuyen @luatsu_lan {first}")
    assert "@luatsu_lan" in handed[0].text
    assert "Cách dùng" in (await group.send("/chuyen", reply_to=card_id))[0].text
    assert "Không rõ hồ sơ" in (await group.send("/dong"))[0].text

    clock.advance(minutes=30)
    waiting = (await group.send("/cho"))[0].text
    assert waiting.index(first) < waiting.index(second)  # oldest first
    assert "2 giờ" in waiting and "30 phút" in waiting and "@luatsu_lan" in waiting


async def test_worker_reply_goes_to_the_right_case_with_several_workers(make_app) -> None:
    channel = CaptureChannel("telegram")
    app = await relay_app(make_app, channel)
    ann, binh = Chat(app, channel, user_id="2001"), Chat(app, channel, user_id="2002")
    group = Group(app, channel)
    a = await submit_question(ann, "Em bị trừ lương vì nghỉ ốm có giấy bác sĩ")
    b = await submit_question(binh, "Công ty không đóng bảo hiểm xã hội cho em")
    await app.flush_outbox()
    await group.send("Trả lời cho B", reply_to=message_id_of(channel, card_of(channel, b)))
    await group.send("Trả lời cho A", reply_to=message_id_of(channel, card_of(channel, a)))
    await app.flush_outbox()
    assert "Trả lời cho A" in channel.to("2001")[-1].text and a in channel.to("2001")[-1].text
    assert "Trả lời cho B" in channel.to("2002")[-1].text and b in channel.to("2002")[-1].text


# -- forum topics --------------------------------------------------------------------------


async def test_with_topics_each_case_gets_a_topic_and_replies_in_it_reach_the_worker(
    make_app,
) -> None:
    channel = ForumChannel()
    app = await relay_app(make_app, channel, topics=True)
    chat = Chat(app, channel)
    group = Group(app, channel)
    number = await submit_question(chat)
    await app.flush_outbox()  # the topic is created...
    assert channel.topics and channel.topics[0].startswith(number)
    await app.flush_outbox()  # ...then the card follows into it
    card = card_of(channel, number)
    assert card.address.thread_id == "901" and "chủ đề" in card.text

    # A lawyer types in the topic (no reply needed).
    await group.send("Bạn làm ở công ty này bao lâu rồi?", thread="901")
    await app.flush_outbox()
    assert "bao lâu rồi" in channel.to(chat.user_id)[-1].text
    await chat.send("Dạ 3 năm ạ")
    await app.flush_outbox()
    followup = group_posts(channel)[-1]
    assert followup.address.thread_id == "901" and "3 năm" in followup.text
    # Commands work in the topic too.
    closed = await group.send("/dong", thread="901")
    assert closed[0].address.thread_id == "901" and "Đã đóng" in closed[0].text
    # Messages in another topic are not this case's.
    assert await group.send("ghi chú", thread="999") == []


async def test_a_failed_topic_falls_back_to_a_plain_card(make_app) -> None:
    class NoForum(CaptureChannel):
        async def send(self, out: Outgoing) -> Receipt:
            if isinstance(out.content, CreateTopic):
                self.sent.append(out)
                self._n += 1
                return Receipt(ok=False, error="TelegramBadRequest: the chat is not a forum")
            return await super().send(out)

    channel = NoForum("telegram")
    app = await relay_app(make_app, channel, topics=True)
    chat = Chat(app, channel)
    number = await submit_question(chat)
    await app.flush_outbox()
    await app.flush_outbox()
    card = card_of(channel, number)
    assert card.address.thread_id is None and "reply" in card.text


# -- clocks --------------------------------------------------------------------------------


async def test_clocks_repost_then_tell_the_duty_lead_each_once(make_app, clock) -> None:
    channel = CaptureChannel("telegram")
    app = await relay_app(make_app, channel)
    chat = Chat(app, channel)
    number = await submit_question(chat)  # Tuesday 09:00
    await app.flush_outbox()
    job = clock_job(app)
    posted = len(group_posts(channel))

    clock.advance(hours=3, minutes=59)
    await job(clock.now)
    await app.flush_outbox()
    assert len(group_posts(channel)) == posted

    clock.advance(minutes=2)  # 13:01: past 4 working hours
    await job(clock.now)
    await app.flush_outbox()
    reposts = group_posts(channel)[posted:]
    assert len(reposts) == 1 and "⏰" in reposts[0].text and number in reposts[0].text
    await job(clock.now)
    clock.advance(hours=2)
    await job(clock.now)
    await app.flush_outbox()
    assert len(group_posts(channel)) == posted + 1  # only once
    assert channel.to(DUTY) == []

    # The evening and night are not working time: Wednesday 08:59 is 9h29 of working time.
    clock.now = datetime(2026, 11, 25, 1, 59, tzinfo=UTC)
    await job(clock.now)
    await app.flush_outbox()
    assert channel.to(DUTY) == []
    clock.now = datetime(2026, 11, 25, 2, 1, tzinfo=UTC)  # 09:01: past one working day (9.5 h)
    await job(clock.now)
    await job(clock.now)
    await app.flush_outbox()
    told = channel.to(DUTY)
    assert len(told) == 1 and number in told[0].text
    # A repost of the card is linked too: a reply to it reaches the worker.
    repost_id = message_id_of(channel, reposts[0])
    await Group(app, channel).send("Xin lỗi bạn vì chậm trả lời.", reply_to=repost_id)
    await app.flush_outbox()
    assert "chậm trả lời" in channel.to(chat.user_id)[-1].text


async def test_an_answered_case_does_not_trigger_the_clocks(make_app, clock) -> None:
    channel = CaptureChannel("telegram")
    app = await relay_app(make_app, channel)
    chat = Chat(app, channel)
    number = await submit_question(chat)
    await app.flush_outbox()
    await Group(app, channel).send(
        "Chào bạn, mình đang xem.", reply_to=message_id_of(channel, card_of(channel, number))
    )
    await app.flush_outbox()
    posted = len(group_posts(channel))
    clock.advance(days=3)
    await clock_job(app)(clock.now)
    await app.flush_outbox()
    assert len(group_posts(channel)) == posted and channel.to(DUTY) == []


# -- staff media, edits, the worker's buttons ------------------------------------------------


async def test_staff_photo_is_copied_to_a_worker_on_the_same_platform(make_app) -> None:
    channel = CaptureChannel("telegram")
    app = await relay_app(make_app, channel)
    chat = Chat(app, channel)
    group = Group(app, channel)
    number = await submit_question(chat)
    await app.flush_outbox()
    card_id = message_id_of(channel, card_of(channel, number))
    await group.send("mẫu đơn", media=True, reply_to=card_id)
    edited = await group.send("sửa lại", reply_to=card_id, edited=True)
    assert "không gửi lại tin đã sửa" in edited[0].text
    await app.flush_outbox()
    copy = channel.to(chat.user_id)[-1]
    assert isinstance(copy.content, RelayCopy) and copy.content.from_chat_id == GROUP
    assert number in copy.content.caption and "mẫu đơn" in copy.content.caption


async def test_a_worker_on_another_channel_gets_text_and_staff_learn_photos_cannot_go(
    make_app,
) -> None:
    telegram, console = CaptureChannel("telegram"), CaptureChannel("zalo_bot", buttons=False)
    app = await make_app(telegram, console, features=RELAY_FEATURES, extra=legal_extra())
    chat = Chat(app, console, user_id="zalo-9")
    group = Group(app, telegram)
    number = await submit_question(chat)
    await app.flush_outbox()
    card_id = message_id_of(telegram, card_of(telegram, number))
    note = await group.send("", media=True, reply_to=card_id)
    assert "không chuyển ảnh" in note[0].text
    await group.send("Bạn mang hợp đồng đến Trung tâm nhé.", reply_to=card_id)
    await app.flush_outbox()
    reply = console.to("zalo-9")[-1]
    assert "Tư vấn viên trả lời" in reply.text and "hợp đồng" in reply.text


async def test_worker_buttons_check_ownership(make_app) -> None:
    channel = CaptureChannel("telegram")
    app = await relay_app(make_app, channel)
    owner, stranger = Chat(app, channel, user_id="3001"), Chat(app, channel, user_id="3002")
    number = await submit_question(owner)
    case = await load_case(app, number)
    await stranger.send("/start")
    await stranger.deliver(stranger._inbound(Kind.BUTTON, payload=f"case:more:{case.id}"))
    assert "relay.case_gone" in stranger.keys
    await stranger.deliver(stranger._inbound(Kind.BUTTON, payload=f"case:rate:{case.id}:1"))
    assert "relay.case_gone" in stranger.keys
    await owner.deliver(owner._inbound(Kind.BUTTON, payload=f"case:rate:{case.id}:4"))
    assert "relay.rate.not_closed" in owner.keys  # no rating before the case is closed
    async with app.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(CaseRating)) == 0

    # "Gửi thêm thông tin" right after sending: text and photos go to the case.
    await owner.deliver(owner._inbound(Kind.BUTTON, payload=f"case:more:{case.id}"))
    assert "relay.more.prompt" in owner.keys
    await owner.send_media(Kind.MEDIA, caption="hợp đồng trang 2")
    assert "relay.more.sent" in owner.keys
    await owner.press("Xong")
    assert "relay.more.done" in owner.keys
    await app.flush_outbox()
    copy = [o for o in group_posts(channel) if isinstance(o.content, RelayCopy)][-1]
    assert "hợp đồng trang 2" in copy.content.caption


# -- personal data, storage ------------------------------------------------------------------


async def test_data_rights_commands_show_and_erase_the_workers_cases(make_app) -> None:
    channel = CaptureChannel("telegram")
    features = FEATURES
    app = await make_app(channel, features=features, extra=legal_extra())
    chat = Chat(app, channel)
    number = await submit_question(chat, named=True)
    await chat.send("/dulieucuatoi")
    assert number in chat.text and "đang chờ trả lời" in chat.text
    assert "Nguyễn Thị Hoa" not in chat.text  # the line says what is held, not the value
    await chat.send("/xoadulieu")
    await chat.press(chat.options()[0][1])  # "Xóa"
    async with app.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(LegalCase)) == 0
        assert await session.scalar(select(func.count()).select_from(CaseLink)) == 0


async def test_faq_misses_are_counted_normalised(make_app) -> None:
    channel = CaptureChannel("telegram")
    app = await relay_app(make_app, channel)
    chat = Chat(app, channel)
    await chat.send("/start")
    await chat.send("Vượt đèn đỏ bị phạt bao nhiêu tiền?")
    await chat.send("vuot den do bi phat bao nhieu tien")
    await chat.send("cty no luong 2 thang thi lam sao")  # answered: not a miss
    async with app.db.session() as session:
        misses = (await session.scalars(select(FaqMiss))).all()
    assert len(misses) == 1 and misses[0].count == 2 and misses[0].action == "out_of_scope"
    assert misses[0].question == misses[0].question.lower()


@pytest.mark.parametrize("topics", [False, True])
async def test_migration_creates_the_tables_and_the_relay_runs_on_it(
    make_app, db_url: str, topics: bool
) -> None:
    await upgrade_async(db_url)
    channel = ForumChannel() if topics else CaptureChannel("telegram")
    app = await make_app(
        channel,
        features=RELAY_FEATURES,
        extra=legal_extra(topics=topics),
        url=db_url,
        create_schema=False,
    )
    chat = Chat(app, channel)
    group = Group(app, channel)
    number = await submit_question(chat, named=True)
    await app.flush_outbox()
    await app.flush_outbox()
    card = card_of(channel, number)
    if topics:
        await group.send("Trả lời trong chủ đề", thread=card.address.thread_id)
    else:
        await group.send("Trả lời vào thẻ", reply_to=message_id_of(channel, card))
    await group.send(
        "/dong",
        thread=card.address.thread_id,
        reply_to=None if topics else message_id_of(channel, card),
    )
    await app.flush_outbox()
    assert "Trả lời" in channel.to(chat.user_id)[-2].text
    chat.replies = [channel.to(chat.user_id)[-1]]
    await chat.press("3 ⭐")
    await clock_job(app)(datetime.now(UTC))
    async with app.db.session() as session:
        case = await cases_repo.case_by_number(session, number)
        assert case is not None and case.status == cases_repo.CLOSED
        assert await cases_repo.rating_of(session, case.id) == 3
        await cases_repo.record_miss(session, "x y z", "escalate", None, datetime.now(UTC))


# -- working hours -------------------------------------------------------------------------


def legal_from(extra: dict[str, Any]) -> LegalConfig:
    """``[legal]`` read as at start-up, from these settings and no environment."""
    return LegalConfig.from_config(ConfigReader("legal", Settings(extra=extra), env={}))


def office(**kw: Any) -> OfficeHours:
    return legal_from({"legal": kw}).office


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)  # type: ignore[misc]


def test_working_time_skips_nights_weekends_and_holidays() -> None:
    hours = office(holidays=["2026-12-01"])
    friday_4pm = local(2026, 11, 27, 16, 0)
    assert hours.is_open(friday_4pm) and not hours.is_open(local(2026, 11, 28, 10, 0))
    # One hour left on Friday, three more on Monday from 07:30.
    assert hours.add_working(friday_4pm, 4) == local(2026, 11, 30, 10, 30)
    assert hours.next_open(local(2026, 11, 28, 10, 0)) == local(2026, 11, 30, 7, 30)
    # Monday evening -> Tuesday is a holiday -> Wednesday 07:30.
    assert hours.next_open(local(2026, 11, 30, 18, 0)) == local(2026, 12, 2, 7, 30)
    assert hours.working_between(friday_4pm, local(2026, 11, 30, 8, 30)) == timedelta(hours=2)
    assert hours.working_between(local(2026, 11, 30, 8), local(2026, 11, 29)) == timedelta()


def test_legal_config_reads_env_overrides() -> None:
    cfg = legal_from(
        {
            "legal": {"group_chat_id": "-1", "topics": False, "office_opens": "08:00"},
            "congdoan_legal_group": "-42",
            "congdoan_legal_topics": "true",
        }
    )
    assert cfg.group_chat_id == "-42" and cfg.topics is True
    assert cfg.office.opens.hour == 8 and cfg.channel == "telegram"
    assert legal_from({}).group_chat_id is None


def test_question_flow_file_is_loaded(tmp_path: Path) -> None:
    from bot.config import ROOT
    from bot.core.forms import load_form

    spec = load_form(ROOT / "content" / "flows" / "question.toml")
    assert [s.name for s in spec.slots] == ["question", "workplace", "share", "name", "phone"]
    assert all(s.personal for s in spec.slots if s.name in ("name", "phone"))


def test_case_number_format() -> None:
    assert cases_repo.case_number(2026, 42) == "TV-2026-000042"
