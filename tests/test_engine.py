"""The engine's contract: dedupe, order, resume, and never crashing on bad input."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select

from bot.core.context import Ctx
from bot.core.events import Address, Choices, Inbound, Kind, Outgoing
from bot.core.forms import FormSpec, Slot, SlotChoice
from storage.models import ChannelIdentity, Contact, ConversationState, ProcessedEvent
from tests.driver import CaptureChannel, Chat


def _inbound(text: str, key: str, user: str = "42", **kw: object) -> Inbound:
    return Inbound(Address("test", user), user, Kind.TEXT, dedupe_key=key, text=text, **kw)


async def test_same_update_twice_is_processed_once(make_app) -> None:
    channel = CaptureChannel()
    app = await make_app(channel)
    first = await app.process(_inbound("xin chào", "test:1"))
    second = await app.process(_inbound("xin chào", "test:1"))
    assert first and second == []
    assert len(channel.sent) == len(first)
    async with app.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedEvent)) == 1


async def test_fifty_messages_at_once_are_answered_in_order(make_app) -> None:
    channel = CaptureChannel()
    app = await make_app(channel)
    await app.process(_inbound("/start", "warm", command=None))
    channel.sent.clear()
    # Each message is a button press for a different rights topic, so replies are distinguishable.
    topics = ["role", "who", "dues", "fund", "protect", "no_union", "legal", "support"]
    payloads = [f"rights:{topics[i % len(topics)]}" for i in range(50)]
    events = [
        Inbound(Address("test", "42"), "42", Kind.BUTTON, dedupe_key=f"b{i}", payload=p)
        for i, p in enumerate(payloads)
    ]
    await asyncio.gather(*(app.process(e) for e in events))
    bodies = [o.text for o in channel.sent]
    expected = [app.texts.raw(f"rights.body.{p.split(':')[1]}") for p in payloads]
    expected = [e.replace("{hotline}", app.settings.hotline) for e in expected]
    assert bodies == expected


async def test_one_person_many_first_messages_is_one_contact(make_app) -> None:
    app = await make_app(CaptureChannel())
    await asyncio.gather(*(app.process(_inbound("hi", f"k{i}", user="7")) for i in range(10)))
    async with app.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Contact)) == 1
        assert await session.scalar(select(func.count()).select_from(ChannelIdentity)) == 1


DEMO = FormSpec(
    name="demo",
    version=1,
    slots=(
        Slot("company", "form.need_text", "menu.lead"),
        Slot("size", "form.use_buttons", "menu.join", choices=(SlotChoice("big", "menu.ask"),)),
    ),
    confirm="join.confirm",
    submit="demo",
)


def _install_demo(app, submitted: list[dict]) -> None:
    runner = app.engine.services.forms
    runner.forms["demo"] = DEMO
    app.engine.flows["demo"] = runner.handle

    async def start(ctx: Ctx) -> list[Outgoing]:
        return await runner.start(ctx, "demo")

    async def submit(ctx: Ctx, values: dict) -> list[Outgoing]:
        submitted.append(values)
        return [ctx.text("submitted")]

    app.engine.payloads["demo"] = start
    runner.submitters["demo"] = submit


async def test_a_worker_mid_form_resumes_after_restart(make_app, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'resume.db'}"
    submitted: list[dict] = []
    channel = CaptureChannel()
    app = await make_app(channel, url=url)
    _install_demo(app, submitted)
    chat = Chat(app, channel)
    await chat.send("/start")
    await chat.deliver(chat._inbound(Kind.BUTTON, payload="demo:go"))
    await chat.send("Công ty May Hải Phòng")
    assert "size" in str(await _state(app))
    await app.stop()

    channel2 = CaptureChannel()
    app2 = await make_app(channel2, url=url)
    _install_demo(app2, submitted)
    chat2 = Chat(app2, channel2, user_id=chat.user_id)
    await chat2.send("1")  # picks the first choice of the pending question
    assert "join.confirm" in chat2.keys  # the confirmation screen
    await chat2.press("Gửi")
    assert submitted == [{"company": "Công ty May Hải Phòng", "size": "big"}]
    # "Gửi" pressed again on the old message: no second submission.
    await chat2.deliver(chat2._inbound(Kind.BUTTON, payload="form:submit"))
    assert len(submitted) == 1
    assert "form.stale" in chat2.keys


async def _state(app) -> dict:
    async with app.db.session() as session:
        row = (await session.scalars(select(ConversationState))).one()
        return {"flow": row.flow, "step": row.step, "data": row.data}


async def test_bad_input_never_crashes_and_always_answers(chat: Chat) -> None:
    await chat.send("/start")
    cases = [
        lambda: chat.send("a" * 5000),
        lambda: chat.send("😀🎉🙏"),
        lambda: chat.send_media(Kind.UNSUPPORTED),
        lambda: chat.send_media(Kind.MEDIA, caption="ảnh hợp đồng"),
        lambda: chat.deliver(chat._inbound(Kind.TEXT, text="sửa", edited=True)),
        lambda: chat.deliver(chat._inbound(Kind.BUTTON, payload="xx:unknown-data")),
        lambda: chat.deliver(chat._inbound(Kind.BUTTON, payload="")),
        lambda: chat.send("/lenhkhongco"),
        lambda: chat.send("   "),
    ]
    for make in cases:
        replies = await make()
        assert replies, "every input gets an answer"
        assert isinstance(replies[-1].content, Choices)  # the menu, so there is a next step
    await chat.deliver(chat._inbound(Kind.TEXT, text="sửa", edited=True))
    assert "common.edited" in chat.keys


async def test_group_messages_are_ignored(make_app) -> None:
    channel = CaptureChannel()
    app = await make_app(channel)
    event = Inbound(
        Address("test", "-100123"), "5", Kind.TEXT, "g1", text="hello", chat_type="supergroup"
    )
    assert await app.process(event) == []
    assert channel.sent == []


async def test_handler_exception_gets_a_polite_reply(make_app) -> None:
    app = await make_app(CaptureChannel())

    async def broken(ctx: Ctx) -> list[Outgoing]:
        raise RuntimeError("boom")

    app.engine.payloads["boom"] = broken
    replies = await app.process(
        Inbound(Address("test", "9"), "9", Kind.BUTTON, dedupe_key="x", payload="boom:1")
    )
    assert [r.text for r in replies] == [app.texts("common.error")]


async def test_numbers_pick_choices_only_on_buttonless_channels(make_app) -> None:
    console = CaptureChannel("console", buttons=False)
    app = await make_app(console)
    chat = Chat(app, console)
    await chat.send("/start")
    await chat.send("1")
    assert "rights.index" in chat.keys
    await chat.send(" số 2 ")
    assert "rights.body.who" in chat.keys


async def test_skipping_an_optional_personal_slot_shows_the_confirmation(make_app) -> None:
    submitted: list[dict] = []
    channel = CaptureChannel()
    app = await make_app(channel)
    spec = FormSpec(
        name="demo",
        version=1,
        slots=(Slot("job", "form.need_text", "menu.ask", optional=True, personal=True),),
        confirm="join.confirm",
        submit="demo",
    )
    _install_demo(app, submitted)
    app.engine.services.forms.forms["demo"] = spec
    chat = Chat(app, channel)
    await chat.send("/start")
    await chat.deliver(chat._inbound(Kind.BUTTON, payload="demo:go"))
    await chat.press("Bỏ qua")
    assert "join.confirm" in chat.keys
    assert app.texts("form.skipped") in chat.text
    await chat.press("Gửi")
    assert submitted == [{"job": None}]


def test_typed_numbers_are_read_the_way_workers_type_them() -> None:
    from bot.core.textnorm import typed_number

    assert [typed_number(t) for t in ("2", " số 2 ", "So 3.", "1)", "12")] == [2, 2, 3, 1, 12]
    assert [typed_number(t) for t in ("", "hai", "0912345678", "2 người")] == [None] * 4
