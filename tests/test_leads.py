"""The "Công ty chưa có công đoàn" report, as a worker and the area's volunteers see it."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from bot.app import FEATURES
from bot.core.events import Choices, Kind, Outgoing
from storage.enterprises import Enterprise, Lead, LeadReport
from storage.people import add_person
from tests.driver import CaptureChannel, Chat

RECRUIT = ("handlers.leads", "handlers.volunteers", "handlers.referral")
ALL_FEATURES = FEATURES
LE_CHAN, AN_BIEN, CAT_HAI = "11383", "11407", "11914"
SECRET_NAME = "Trần Thị Bí Mật"


async def recruit_app(make_app: Any, channel: CaptureChannel | None = None, **overrides: Any):  # type: ignore[no-untyped-def]
    channel = channel or CaptureChannel("telegram")  # volunteers and staff use Telegram
    app = await make_app(channel, features=ALL_FEATURES, **overrides)
    return app, channel


async def register(
    app: Any, user_id: str, role: str, areas: tuple[str, ...] = (), **kw: Any
) -> int:  # type: ignore[no-untyped-def]
    """A person in a role on the capture channel ("telegram"), with a name stored encrypted."""
    crypto = app.engine.services.crypto
    async with app.db.transaction() as session:
        person = await add_person(
            session,
            role=role,
            channel=kw.get("channel", "telegram"),
            external_id=user_id,
            name_enc=crypto.encrypt(kw.get("name", f"Người {user_id}")),
            area_codes=areas,
        )
        return int(person.id)


def person_chat(app: Any, channel: CaptureChannel, user_id: str, name: str = "") -> Chat:
    return Chat(app, channel, user_id=user_id, name=name or f"Người {user_id}")


async def press_payload(chat: Chat, payload: str) -> list[Outgoing]:
    """Press a button from a message that came through the outbox (not the last reply)."""
    return await chat.deliver(chat._inbound(Kind.BUTTON, payload=payload))


async def flush(app: Any) -> None:
    await app.flush_outbox()


def sent_to(channel: CaptureChannel, chat_id: str) -> list[Outgoing]:
    return channel.to(chat_id)


def payloads(out: Outgoing) -> list[str]:
    return [c.payload for c in out.content.options] if isinstance(out.content, Choices) else []


async def report(
    chat: Chat,
    company: str = "Công ty TNHH May Mặc Hải Phòng",
    area: str = "Lê Chân",
    size: str = "25–99",
    park: str | None = None,
    tax: str | None = None,
    contact: bool = False,
    phone: str | None = None,
) -> None:
    """Fill the lead form the way a worker does, ending with "Gửi"."""
    await chat.send("/menu")
    await chat.press("Công ty chưa có công đoàn")
    if any(payload.startswith("consent_") for _, payload in chat.options()):
        await chat.press("Đồng ý")  # the report's data notice, once per notice version
    assert "leads.ask.company" in chat.keys, chat.keys
    await chat.send(company)
    assert "leads.ask.area" in chat.keys, chat.text
    await chat.send(area)
    if "form.pick" in chat.keys or "leads.area.pick" in chat.keys:
        await chat.press(chat.options()[0][1])
    assert "leads.ask.size_band" in chat.keys, chat.text
    await chat.press(size)
    await (chat.send(park) if park else chat.press("Bỏ qua"))
    assert "leads.ask.tax_code" in chat.keys, chat.text
    await (chat.send(tax) if tax else chat.press("Bỏ qua"))
    assert "leads.ask.contact_ok" in chat.keys, chat.text
    if not contact:
        await chat.press("Không, tôi muốn ẩn danh")
    elif phone is None:
        await chat.press("Nhắn qua bot")
    else:
        await chat.press("Gọi điện")
        assert "leads.ask.phone" in chat.keys, chat.text
        await chat.send(phone)
    assert "leads.form.confirm" in chat.keys, chat.text
    await chat.press("Gửi")


def worker(app: Any, channel: CaptureChannel, user_id: str | None = None) -> Chat:
    return Chat(app, channel, user_id=user_id or uuid.uuid4().hex[:8], name=SECRET_NAME)


# -- tests ----------------------------------------------------------------------------------------


async def test_anonymous_report_reaches_the_area_volunteer_without_the_reporter(make_app) -> None:
    app, channel = await recruit_app(make_app)
    await register(app, "9001", "volunteer", (LE_CHAN,))
    await register(app, "9002", "volunteer", (AN_BIEN,))
    w = worker(app, channel, "4242")
    await report(w, park="KCN Tràng Duệ", tax="0201234567")
    assert "leads.done.text" in w.keys and "leads.done.anonymous" in w.keys
    assert "Phường Lê Chân" in w.text and "Điều 20" in w.text
    assert any(p == "join:start" for _, p in w.options())  # the next step: join now

    async with app.db.session() as session:
        ent = (await session.scalars(select(Enterprise))).one()
        lead = (await session.scalars(select(Lead))).one()
        rep = (await session.scalars(select(LeadReport))).one()
    assert (ent.name, ent.area_code, ent.size_band, ent.tax_code, ent.industrial_park) == (
        "Công ty TNHH May Mặc Hải Phòng", LE_CHAN, "25_99", "0201234567", "KCN Tràng Duệ",
    )  # fmt: skip
    assert (lead.reporter_contact_id, lead.contact_ok, lead.source) == (None, False, "report")
    assert (rep.reporter_contact_id, rep.contact_enc) == (None, None)
    assert lead.announced_at is not None

    await flush(app)
    (note,) = sent_to(channel, "9001")
    assert "Công ty TNHH May Mặc Hải Phòng" in note.text and "25–99" in note.text
    assert SECRET_NAME not in note.text and "4242" not in note.text
    assert payloads(note) == [f"vol:show:{lead.id}"]
    assert sent_to(channel, "9002") == []  # another area's volunteer hears nothing

    volunteer = person_chat(app, channel, "9001")
    await press_payload(volunteer, f"vol:show:{lead.id}")
    await volunteer.press("Nhận hỗ trợ")
    assert "leads.vol.claimed" in volunteer.keys
    assert "leads.vol.reporters_anonymous" in volunteer.keys
    assert SECRET_NAME not in volunteer.text and "4242" not in volunteer.text


async def test_phone_is_shown_only_to_the_volunteer_who_claims(make_app) -> None:
    app, channel = await recruit_app(make_app)
    await register(app, "9001", "volunteer", (LE_CHAN,))
    await register(app, "9003", "volunteer", (LE_CHAN,))
    w = worker(app, channel)
    await report(w, company="Cty TNHH Giày Sao Mai", contact=True, phone="0912.345.678")
    assert "leads.done.by_phone" in w.keys and "0912 345 678" in w.text
    async with app.db.session() as session:
        rep = (await session.scalars(select(LeadReport))).one()
        lead_id = rep.lead_id
    assert rep.contact_ok and rep.contact_enc and "912" not in rep.contact_enc
    assert rep.reporter_contact_id is not None

    other = person_chat(app, channel, "9003")
    await press_payload(other, f"vol:show:{lead_id}")
    assert "leads.vol.reporters_after_claim" in other.keys
    assert "912" not in other.text

    claimer = person_chat(app, channel, "9001")
    await press_payload(claimer, f"vol:claim:{lead_id}")
    assert "0912 345 678" in claimer.text
    assert SECRET_NAME not in claimer.text

    await press_payload(other, f"vol:show:{lead_id}")  # still hidden from the other volunteer
    assert "912" not in other.text
    await press_payload(other, f"vol:claim:{lead_id}")
    assert "leads.vol.taken" in other.keys


async def test_form_validates_tax_code_area_and_company(make_app) -> None:
    app, channel = await recruit_app(make_app)
    w = worker(app, channel)
    await w.send("/menu")
    await w.press("Công ty chưa có công đoàn")
    assert w.keys[0] == "privacy.lead.summary"
    await w.press("Đồng ý")
    assert "leads.intro" in w.keys
    await w.send("x")
    assert "leads.error.company_short" in w.keys
    await w.send("Công ty TNHH Thép Việt")
    await w.send("zzqqxx")
    assert "leads.error.area_not_found" in w.keys
    await w.send("an duong")  # an old district name: several units to pick from
    assert "leads.area.pick" in w.keys
    labels = [label for label, _ in w.options()]
    assert any("An Dương" in label or "An Hải" in label for label in labels), labels
    await w.press(w.options()[0][1])
    await w.press("Từ 500")
    await w.press("Bỏ qua")
    await w.send("12345")
    assert "leads.error.tax_code" in w.keys
    await w.send("0201234567-001")
    await w.press("Gọi điện")
    await w.send("12 ab")
    assert "leads.error.phone" in w.keys
    await w.press("Quay lại")  # changed their mind: messages through the bot only
    await w.press("Nhắn qua bot")
    assert "leads.form.confirm" in w.keys
    assert "0201234567-001" in w.text
    await w.press("Gửi")
    assert "leads.done.by_chat" in w.keys
    async with app.db.session() as session:
        ent = (await session.scalars(select(Enterprise))).one()
    assert (ent.tax_code, ent.size_band) == ("0201234567001", "500plus")


async def test_the_same_company_reported_again_is_counted_and_its_volunteer_told(
    make_app,
) -> None:
    app, channel = await recruit_app(make_app)
    await register(app, "9001", "volunteer", (LE_CHAN,))
    await report(worker(app, channel), company="Công ty TNHH Dệt Kim Phương Đông")
    async with app.db.session() as session:
        lead_id = (await session.scalars(select(Lead.id))).one()
    await press_payload(person_chat(app, channel, "9001"), f"vol:claim:{lead_id}")
    await flush(app)
    before = len(sent_to(channel, "9001"))

    second = worker(app, channel)
    await report(second, company="cty tnhh det kim phuong dong")
    assert "leads.done.again" in second.keys and "2 người lao động" in second.text
    third = worker(app, channel)
    await report(third, company="CT TNHH Dệt-Kim  Phương Đông", size="Từ 500")
    async with app.db.session() as session:
        lead = await session.get(Lead, lead_id)
        ent = await session.get(Enterprise, lead.enterprise_id)  # type: ignore[union-attr]
    assert lead is not None and ent is not None
    assert (lead.report_count, ent.report_count, ent.size_band) == (3, 3, "500plus")
    await flush(app)
    notes = sent_to(channel, "9001")[before:]
    assert [n.text.split("(")[1][:11] for n in notes] == ["tổng 2 lượt", "tổng 3 lượt"]


async def test_volunteer_and_reporter_talk_through_the_bot(make_app) -> None:
    app, channel = await recruit_app(make_app)
    await register(app, "9001", "volunteer", (LE_CHAN,))
    w = worker(app, channel, "5151")
    await report(w, company="Cty TNHH Nhựa Tiền Phong", contact=True)  # no phone: bot only
    async with app.db.session() as session:
        lead_id = (await session.scalars(select(Lead.id))).one()
    volunteer = person_chat(app, channel, "9001")
    await press_payload(volunteer, f"vol:claim:{lead_id}")
    assert "leads.vol.reporter_chat" in volunteer.keys
    await volunteer.press("Nhắn người báo")
    await volunteer.send("Chào bạn, mình là tình nguyện viên, hẹn gặp ở cổng KCN được không?")
    assert "leads.vol.message_sent" in volunteer.keys
    await flush(app)
    (to_worker,) = [o for o in sent_to(channel, "5151") if "hẹn gặp" in o.text]
    assert "hẹn gặp ở cổng KCN" in to_worker.text
    assert payloads(to_worker) == [f"leadmsg:{lead_id}"]

    # Somebody else cannot use the reply button of that lead.
    stranger = worker(app, channel, "6262")
    await press_payload(stranger, f"leadmsg:{lead_id}")
    assert "leads.relay.closed" in stranger.keys

    await press_payload(w, f"leadmsg:{lead_id}")
    await w.send("Được ạ, 17h thứ Sáu nhé")
    assert "leads.relay.reply_sent" in w.keys
    await flush(app)
    reply = sent_to(channel, "9001")[-1]
    assert "17h thứ Sáu" in reply.text
    assert SECRET_NAME not in reply.text and "5151" not in reply.text


async def test_start_report_is_what_the_menu_and_matcher_call(make_app) -> None:
    from handlers import leads

    app, channel = await recruit_app(make_app)
    assert app.engine.services.hooks.start_report is leads.start_report
    w = worker(app, channel)
    await w.send("/menu")
    await w.press("lead:start")
    await w.press("Đồng ý")
    assert "leads.intro" in w.keys and "leads.ask.company" in w.keys
    await w.press("Hủy")
    assert "leads.form.cancelled" in w.keys


async def test_the_reporter_sees_and_erases_their_contact_permission(make_app) -> None:
    app, channel = await recruit_app(make_app)
    w = worker(app, channel, "7373")
    await report(w, company="Cty TNHH Kính Nổi", contact=True, phone="0987654321")
    async with app.db.session() as session:
        rep = (await session.scalars(select(LeadReport))).one()
    assert rep.reporter_contact_id is not None
    await w.send("/dulieucuatoi")
    assert "Cty TNHH Kính Nổi" in w.text
    await w.send("/xoadulieu")
    await w.press("Xóa dữ liệu")
    await w.send("/dulieucuatoi")
    assert "Cty TNHH Kính Nổi" not in w.text
    async with app.db.session() as session:
        rep = (await session.scalars(select(LeadReport))).one()
    assert (rep.reporter_contact_id, rep.contact_ok, rep.contact_enc) == (None, False, None)
