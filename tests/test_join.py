"""Joining the union in chat: consent first, the form, one application, routed and encrypted.

Conversations run through the chat driver on the real engine; the assertions look at what the
worker is told (text keys and values) and at what is stored (rows, ciphertext, the SQLite file).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import FEATURES, features_upto
from bot.core.areas import DEFAULT_UNION_BODY, Area, AreaIndex
from bot.core.events import Kind
from handlers.join import is_join_request
from storage import membership as repo
from storage.migrate import upgrade_async
from tests.driver import CaptureChannel, Chat

MINE = ("handlers.join", "handlers.data_rights", "handlers.membership_staff")
FEATS = FEATURES
NAME = "Nguyễn Thị Hoa"
PHONE = "0912 345 678"
E164 = "+84912345678"
COMPANY = "Công ty TNHH May Sông Hồng"
LE_CHAN_UNION = "Công đoàn phường Lê Chân"


async def new_chat(make_app: Any, user_id: str = "1001", **kwargs: Any) -> Chat:
    channel = CaptureChannel()
    app = await make_app(channel, features=FEATS, **kwargs)
    return Chat(app, channel, user_id=user_id)


def other_chat(chat: Chat, user_id: str) -> Chat:
    """A second worker on the same app (and capture channel)."""
    return Chat(chat.app, chat.channel, user_id=user_id)


async def press_payload(chat: Chat, payload: str) -> None:
    """A button pressed on an older message (e.g. "Gửi" a second time)."""
    await chat.deliver(chat._inbound(Kind.BUTTON, payload=payload))


async def start_and_consent(chat: Chat) -> None:
    await chat.send("/menu")
    await chat.press("Gia nhập công đoàn")
    assert "join.intro" in chat.keys
    assert "privacy.join.summary" in chat.keys
    await chat.press("Đồng ý")
    assert "join.ask.full_name" in chat.keys


async def fill_form(
    chat: Chat,
    *,
    name: str = NAME,
    phone: str = PHONE,
    company: str = COMPANY,
    area: str = "le chan",
    pick: str | None = "Phường Lê Chân",
    union: str = "Chưa",
    size: str = "100–499",
    contact: str | None = "Không, giữ",
    job: str | None = "công nhân may",
) -> None:
    """From the first question to the confirmation screen."""
    await chat.send(name)
    assert "join.ask.phone" in chat.keys, chat.text
    await chat.send(phone)
    assert "join.ask.company" in chat.keys, chat.text
    await chat.send(company)
    await chat.send(area)
    await chat.press(pick or "Không rõ xã/phường")
    await chat.press(union)
    await chat.press(size)
    if contact is not None:
        assert "join.ask.contact_ok" in chat.keys
        await chat.press(contact)
    if job is None:
        await chat.press("Bỏ qua")
    else:
        await chat.send(job)
    assert "join.confirm" in chat.keys, chat.text


async def join(chat: Chat, **values: Any) -> str:
    """A whole join; returns the reference the worker was given."""
    await start_and_consent(chat)
    await fill_form(chat, **values)
    await chat.press("Gửi")
    assert "join.done" in chat.keys, chat.text
    match = re.search(r"KN-\d{4}-\d{6}", chat.text)
    assert match, chat.text
    return match.group(0)


async def applications(chat: Chat) -> list[repo.MemberApplication]:
    async with chat.app.db.session() as session:
        return list(await session.scalars(select(repo.MemberApplication)))


def database_bytes(db_file: Path) -> bytes:
    """The SQLite file and its write-ahead log, as they are on disk."""
    files = [p for p in (db_file, db_file.with_name(db_file.name + "-wal")) if p.exists()]
    return b"".join(p.read_bytes() for p in files)


def crypto(chat: Chat) -> Any:
    return chat.app.engine.services.crypto


# -- the happy path ---------------------------------------------------------------------------


async def test_happy_path_stores_one_encrypted_application(make_app) -> None:
    chat = await new_chat(make_app)
    reference = await join(chat)

    assert reference == "KN-2026-000001"
    assert DEFAULT_UNION_BODY in chat.text
    assert "/trangthai" in chat.text
    assert "7 ngày làm việc" in chat.text
    [app] = await applications(chat)
    c = crypto(chat)
    assert app.reference == reference
    assert app.status == repo.PENDING
    assert c.decrypt(app.name_enc) == NAME
    assert c.decrypt(app.phone_enc) == E164
    assert c.decrypt(app.company_enc) == COMPANY
    assert c.decrypt(app.job_enc) == "công nhân may"
    assert app.phone_hash == c.lookup_hash(E164)
    assert (app.area_code, app.union_status, app.size_band) == ("11383", "no", "100_499")
    assert app.union_body == DEFAULT_UNION_BODY
    async with chat.app.db.session() as session:
        history = await repo.history(session, app.id)
        [consent] = await repo.consents_of(session, app.contact_id)
        actions = [e.action for e in await repo.audit_entries(session)]
    assert [h.status for h in history] == [repo.PENDING]
    assert consent.purpose == "join"
    assert consent.notice_version.startswith("2026-12-2+")
    assert consent.channel == "test"
    assert consent.withdrawn_at is None
    assert actions[:2] == ["consent.given", "application.submitted"]


async def test_confirmation_lists_every_answer_with_edit_buttons(make_app) -> None:
    chat = await new_chat(make_app)
    await start_and_consent(chat)
    await fill_form(chat)
    for shown in (NAME, PHONE, COMPANY, "Phường Lê Chân", "Chưa", "100–499", "công nhân may"):
        assert shown in chat.text
    labels = [label for label, _ in chat.options()]
    assert labels[0] == "✅ Gửi"
    assert "Sửa: Họ tên" in labels
    assert "Sửa: Số điện thoại" in labels
    assert "Sửa: Xã/phường" in labels


async def test_routed_to_the_union_body_of_the_area(make_app) -> None:
    chat = await new_chat(make_app)
    chat.app.engine.services.areas = AreaIndex(
        [
            Area("11383", "Phường Lê Chân", "phường", ("quận Lê Chân",), LE_CHAN_UNION),
            Area("11407", "Phường An Biên", "phường", ("quận Lê Chân",), ""),
        ]
    )
    await join(chat)
    assert LE_CHAN_UNION in chat.text
    [app] = await applications(chat)
    assert app.union_body == LE_CHAN_UNION

    second = other_chat(chat, "1002")
    await join(second, phone="0987 654 321", pick="Phường An Biên")
    assert DEFAULT_UNION_BODY in second.text  # no body set yet: the city federation


async def test_area_unknown_goes_to_the_federation(make_app) -> None:
    chat = await new_chat(make_app)
    await start_and_consent(chat)
    await chat.send(NAME)
    await chat.send(PHONE)
    await chat.send(COMPANY)
    await chat.send("xyzzy qwerty")
    assert "join.area.not_found" in chat.keys
    assert next(label for label, _ in chat.options()) == "Không rõ xã/phường"
    await chat.press("Không rõ xã/phường")
    assert "join.ask.union_status" in chat.keys
    await chat.press("Có")
    await chat.press("Dưới 20")
    assert "join.ask.contact_ok" not in chat.keys  # a union exists: no lead question
    await chat.press("Bỏ qua")
    await chat.press("Gửi")
    [app] = await applications(chat)
    assert app.area_code is None
    assert app.union_body == DEFAULT_UNION_BODY


async def test_area_search_offers_every_unit_of_an_old_district_with_its_name(make_app) -> None:
    chat = await new_chat(make_app)
    await start_and_consent(chat)
    await chat.send(NAME)
    await chat.send(PHONE)
    await chat.send(COMPANY)
    await chat.send("Hai Duong")  # the old city of Hải Dương: nine units now
    units = [(lbl, p) for lbl, p in chat.options() if p.startswith("form:pick:")]
    assert len(units) == 10 and units[-1][1] == "form:pick:none"  # nine, and "Không rõ"
    assert all(lbl.endswith("(TP Hải Dương cũ)") for lbl, _ in units[:-1]), units
    await chat.send("thuy nguyen")  # typed again: a new search, all eight units
    labels = [label for label, p in chat.options() if p.startswith("form:pick:1")]
    assert len(labels) == 8 and "Phường Thủy Nguyên (TP Thủy Nguyên cũ)" in labels
    await chat.send("phuong nguyen trai")  # two units: the old district tells them apart
    assert [label for label, _ in chat.options()][:2] == [
        "Phường Nguyễn Trãi (TP Chí Linh cũ)",
        "Phường Thành Đông (phường Nguyễn Trãi cũ, TP Hải Dương)",
    ]
    await chat.press("Thành Đông")
    assert "join.ask.union_status" in chat.keys, chat.keys  # the form goes on


async def test_send_pressed_twice_makes_one_application(make_app) -> None:
    chat = await new_chat(make_app)
    await join(chat)
    await press_payload(chat, "form:submit")
    assert "form.stale" in chat.keys
    assert len(await applications(chat)) == 1


# -- what the form checks ---------------------------------------------------------------------


async def test_invalid_phone_is_asked_again_with_the_reason(make_app) -> None:
    chat = await new_chat(make_app)
    await start_and_consent(chat)
    await chat.send(NAME)
    await chat.send("0912 345 67")
    assert "join.error.phone.wrong_length" in chat.keys
    assert "9 chữ số" in chat.text
    assert "join.ask.phone" in chat.keys
    await chat.send("0225 3842 123")
    assert "join.error.phone.landline" in chat.keys
    await chat.send("+84 912.345.678")
    assert "join.ask.company" in chat.keys


async def test_phone_from_the_contact_button(make_app) -> None:
    chat = await new_chat(make_app)
    await start_and_consent(chat)
    await chat.send(NAME)
    await chat.share_contact("84912345678")
    assert "join.ask.company" in chat.keys
    assert "form.got_phone" in chat.keys


async def test_bad_name_is_asked_again(make_app) -> None:
    chat = await new_chat(make_app)
    await start_and_consent(chat)
    await chat.send("Hoa")
    assert "join.error.name.too_short" in chat.keys
    assert "join.ask.full_name" in chat.keys
    await chat.send("Hoa 123")
    assert "join.error.name.has_digits" in chat.keys
    await chat.send("trần thị hoa")
    assert "join.ask.phone" in chat.keys


async def test_back_and_edit(make_app) -> None:
    chat = await new_chat(make_app)
    await start_and_consent(chat)
    await chat.send(NAME)
    await chat.send(PHONE)
    await chat.press("Quay lại")
    assert "join.ask.phone" in chat.keys
    await chat.send("0987 654 321")
    await chat.send(COMPANY)
    await chat.send("le chan")
    await chat.press("Phường Lê Chân")
    await chat.press("Có")
    await chat.press("25–99")
    await chat.press("Bỏ qua")
    assert "join.confirm" in chat.keys
    await chat.press("Sửa: Họ tên")
    assert "join.ask.full_name" in chat.keys
    await chat.send("Lê Văn Nam")
    assert "join.confirm" in chat.keys  # straight back to the confirmation
    assert "Lê Văn Nam" in chat.text
    await chat.press("Gửi")
    [app] = await applications(chat)
    assert crypto(chat).decrypt(app.name_enc) == "Lê Văn Nam"
    assert crypto(chat).decrypt(app.phone_enc) == "+84987654321"
    assert app.job_enc is None


async def test_cancel_keeps_nothing(make_app) -> None:
    chat = await new_chat(make_app)
    await start_and_consent(chat)
    await chat.send(NAME)
    await chat.press("Hủy")
    assert "join.cancelled" in chat.keys
    assert await applications(chat) == []
    async with chat.app.db.session() as session:
        from storage.contacts import load_state

        state = await load_state(session, 1)
    assert state.flow is None
    assert "form" not in (state.data or {})


async def test_restart_mid_form_resumes(make_app, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'restart.db'}"
    chat = await new_chat(make_app, url=url)
    await start_and_consent(chat)
    await chat.send(NAME)
    await chat.send(PHONE)
    await chat.app.stop()

    again = await new_chat(make_app, url=url)
    await again.send(COMPANY)  # the answer to the question asked before the restart
    assert "join.ask.area" in again.keys
    await again.send("le chan")
    await again.press("Phường Lê Chân")
    await again.press("Không biết")
    await again.press("Không rõ")
    await again.press("Không, giữ")
    await again.press("Bỏ qua")
    assert NAME in again.text and PHONE in again.text
    await again.press("Gửi")
    [app] = await applications(again)
    assert crypto(again).decrypt(app.name_enc) == NAME


async def test_menu_button_during_the_form_resumes_it(make_app) -> None:
    chat = await new_chat(make_app)
    await start_and_consent(chat)
    await chat.send(NAME)
    await press_payload(chat, "join:start")
    assert "join.resume" in chat.keys
    assert "join.ask.phone" in chat.keys
    assert "privacy.join.summary" not in chat.keys


# -- consent ---------------------------------------------------------------------------------


async def test_consent_declined_ends_politely_with_the_menu(make_app) -> None:
    chat = await new_chat(make_app)
    await chat.send("/menu")
    await chat.press("Gia nhập công đoàn")
    assert [label for label, _ in chat.options()] == ["Đồng ý", "Xem đầy đủ", "Không đồng ý"]
    await chat.press("Không đồng ý")
    assert "join.declined" in chat.keys
    assert "Gia nhập công đoàn" in [label for label, _ in chat.options()]
    async with chat.app.db.session() as session:
        assert await repo.consents_of(session, 1) == []
        actions = [e.action for e in await repo.audit_entries(session)]
    assert actions == ["consent.declined"]


async def test_nothing_but_an_explicit_yes_is_consent(make_app) -> None:
    chat = await new_chat(make_app)
    await chat.send("/menu")
    await chat.press("Gia nhập công đoàn")
    await chat.send("Nguyễn Thị Hoa")  # an answer before agreeing is not agreement
    assert "privacy.notice.use_buttons" in chat.keys
    assert "privacy.join.summary" in chat.keys
    await chat.send("dong y")
    assert "join.ask.full_name" in chat.keys
    async with chat.app.db.session() as session:
        assert len(await repo.consents_of(session, 1)) == 1


async def test_the_notice_names_the_law_controller_and_commands(make_app) -> None:
    chat = await new_chat(make_app)
    await chat.send("/menu")
    await chat.press("Gia nhập công đoàn")
    text = chat.text
    await chat.press("Xem đầy đủ")
    text += chat.text
    for words in (
        "91/2025/QH15",
        "356/2025/NĐ-CP",
        "Liên đoàn Lao động thành phố Hải Phòng",
        "/dulieucuatoi",
        "/rutdongy",
        "/xoadulieu",
        "1800.888864",
        "0,5%",
        "253.000 đ",
    ):
        assert words in text, words


# -- entry by free text ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("muốn vào công đoàn", True),
        ("lam sao de vao cong doan", True),
        ("Làm thế nào để gia nhập công đoàn?", True),
        ("dang ky doan vien", True),
        ("gia nhập", True),
        ("công ty cấm vào công đoàn có đúng không", False),
        ("tôi bị đuổi việc vì vào công đoàn", False),
        ("không muốn vào công đoàn", False),
        ("đoàn phí bao nhiêu", False),
        ("lương tháng này chậm", False),
    ],
)
def test_join_phrases(text: str, expected: bool) -> None:
    assert is_join_request(text) is expected


async def test_free_text_starts_joining_without_the_faq_matcher(make_app) -> None:
    channel = CaptureChannel()
    features = features_upto("handlers.start", "handlers.rights", *MINE)
    app = await make_app(channel, features=features)
    chat = Chat(app, channel)
    await chat.send("/menu")
    await chat.send("lam sao de vao cong doan")
    assert "join.intro" in chat.keys
    assert "privacy.join.summary" in chat.keys


async def test_the_faq_matcher_routes_join_phrases_when_installed(make_app) -> None:
    chat = await new_chat(make_app)
    assert chat.app.engine.services.hooks.faq is not None  # the FAQ feature owns free text
    await chat.send("/menu")
    await chat.send("lam sao de vao cong doan")
    assert "join.intro" not in chat.keys


# -- the same phone twice --------------------------------------------------------------------


async def test_same_chat_applying_again_is_told_its_reference(make_app) -> None:
    chat = await new_chat(make_app)
    reference = await join(chat)
    await chat.send("/menu")
    await chat.press("Gia nhập công đoàn")
    assert "join.already" in chat.keys
    assert reference in chat.text
    assert "privacy.join.summary" not in chat.keys
    assert len(await applications(chat)) == 1


async def test_same_phone_from_another_chat_is_recognised(make_app) -> None:
    chat = await new_chat(make_app)
    reference = await join(chat)
    intruder = other_chat(chat, "2002")
    await start_and_consent(intruder)
    await fill_form(intruder, name="Trần Văn Bình", phone="+84 912.345.678")
    await intruder.press("Gửi")

    assert "join.duplicate.other" in intruder.keys
    assert reference not in intruder.text  # the reference goes to the chat that applied
    assert len(await applications(chat)) == 1
    before = len(chat.channel.to("1001"))
    await chat.app.flush_outbox()
    [notice] = chat.channel.to("1001")[before:]
    assert reference in notice.text
    async with chat.app.db.session() as session:
        dupes = await repo.audit_entries(session, action="application.duplicate")
    assert [d.subject for d in dupes] == [reference]


async def test_a_returned_application_does_not_block_a_new_one(make_app) -> None:
    chat = await new_chat(make_app)
    await join(chat)
    async with chat.app.db.transaction() as session:
        [app] = list(await session.scalars(select(repo.MemberApplication)))
        repo.set_status(session, app, repo.RETURNED, actor="staff:x", now=app.created_at)
    await join(chat)
    assert len(await applications(chat)) == 2


# -- status ----------------------------------------------------------------------------------


async def test_status_any_time(make_app) -> None:
    chat = await new_chat(make_app)
    await chat.send("/trangthai")
    assert "join.status.none" in chat.keys
    reference = await join(chat)
    await chat.send("/trangthai")
    assert "join.status.show" in chat.keys
    assert reference in chat.text
    assert "đang chờ xét" in chat.text


# -- the enterprise without a union becomes a lead ---------------------------------------------


async def test_no_union_records_an_anonymous_lead(make_app) -> None:
    enterprises = pytest.importorskip("storage.enterprises")
    chat = await new_chat(make_app)
    await join(chat, union="Chưa", contact="Không, giữ")
    assert "join.lead.anonymous" in chat.keys
    async with chat.app.db.session() as session:
        [lead] = list(await session.scalars(select(enterprises.Lead)))
        [ent] = list(await session.scalars(select(enterprises.Enterprise)))
        [report] = list(await session.scalars(select(enterprises.LeadReport)))
    assert ent.name == COMPANY
    assert ent.area_code == "11383"
    assert lead.source == "join"
    assert lead.reporter_contact_id is None and lead.contact_ok is False
    assert report.contact_enc is None
    [app] = await applications(chat)
    assert app.lead_id == lead.id


async def test_lead_names_the_worker_only_with_their_agreement(make_app) -> None:
    enterprises = pytest.importorskip("storage.enterprises")
    chat = await new_chat(make_app)
    await join(chat, union="Không biết", contact="Có, được liên hệ")
    assert "join.lead.contact" in chat.keys
    async with chat.app.db.session() as session:
        [report] = list(await session.scalars(select(enterprises.LeadReport)))
    assert report.contact_ok is True
    assert report.reporter_contact_id == 1
    assert crypto(chat).decrypt(report.contact_enc) == E164


async def test_no_lead_when_a_union_exists_or_is_recorded(make_app) -> None:
    enterprises = pytest.importorskip("storage.enterprises")
    chat = await new_chat(make_app)
    await join(chat, union="Có", contact=None)
    async with chat.app.db.transaction() as session:
        assert await session.scalar(select(func.count(enterprises.Lead.id))) == 0
        await enterprises.report_enterprise(
            session,
            name="Công ty Điện tử Bắc Hải",
            area_code="11383",
            size_band="500plus",
            union_status="yes",
            reporter_contact_id=None,
            contact_ok=False,
            source="report",
            now=chat.app.engine.clock(),
        )
        leads_before = await session.scalar(select(func.count(enterprises.Lead.id)))
    second = other_chat(chat, "3003")
    await join(second, phone="0987 111 222", company="Công ty Điện tử Bắc Hải", union="Không biết")
    assert "join.lead.anonymous" not in second.keys
    async with chat.app.db.session() as session:
        assert await session.scalar(select(func.count(enterprises.Lead.id))) == leads_before


# -- no plain text at rest -------------------------------------------------------------------


async def test_sqlite_file_holds_no_name_or_phone_in_plain_text(make_app, tmp_path: Path) -> None:
    db_file = tmp_path / "atrest.db"
    chat = await new_chat(make_app, url=f"sqlite+aiosqlite:///{db_file}")
    reference = await join(chat, name="Phạm Thị Hương", phone="0987 654 321")
    await chat.app.flush_outbox()

    data = database_bytes(db_file)
    assert reference.encode() in data  # we are reading the right file
    for plain in ("Phạm Thị Hương", "Pham Thi Huong", "0987654321", "987654321", "0987 654 321"):
        for encoding in ("utf-8", "utf-16-le"):
            assert plain.encode(encoding) not in data, plain


# -- PostgreSQL and migrations ---------------------------------------------------------------


async def test_join_on_migrated_database(make_app, db_url: str) -> None:
    await upgrade_async(db_url)
    chat = await new_chat(make_app, url=db_url, create_schema=False)
    first = await join(chat)
    second = await join(other_chat(chat, "1002"), phone="0987 654 321")
    assert (first, second) == ("KN-2026-000001", "KN-2026-000002")
    async with chat.app.db.session() as session:
        found = await repo.active_by_phone(session, crypto(chat).lookup_hash(E164))
    assert found is not None and found.reference == first


async def test_reference_numbers_restart_each_year(make_app, db_url: str, clock) -> None:
    await upgrade_async(db_url)
    chat = await new_chat(make_app, url=db_url, create_schema=False)
    async with chat.app.db.transaction() as session:
        a = await repo.next_reference(session, clock.now)
        b = await repo.next_reference(session, clock.now)
        clock.advance(days=60)
        c = await repo.next_reference(session, clock.now)
    assert (a, b, c) == ("KN-2026-000001", "KN-2026-000002", "KN-2027-000001")


async def test_concurrent_submissions_get_distinct_references(make_app, db_url: str, clock) -> None:
    await upgrade_async(db_url)
    chat = await new_chat(make_app, url=db_url, create_schema=False)

    async def one() -> str:
        async with chat.app.db.transaction() as session:
            return await repo.next_reference(session, clock.now)

    refs = await asyncio.gather(*(one() for _ in range(12)))
    assert sorted(refs) == [f"KN-2026-{n:06d}" for n in range(1, 13)]


# -- the same transcripts over Telegram (fake Bot API server) --------------------------------

TG_USER = 4343
TRANSCRIPTS = sorted((Path(__file__).parent / "conversations").glob("join_*.txt"))


class TelegramChat:
    """Drives a transcript through the real Telegram adapter against the fake server."""

    def __init__(self, fake: Any, make_app: Any, url: str) -> None:
        self.fake, self.make_app, self.url = fake, make_app, url
        self.app: Any = None
        self.keys: list[str] = []
        self.text = ""

    async def start(self) -> None:
        from bot.channels.telegram import TelegramChannel
        from bot.channels.throttle import unlimited

        channel = TelegramChannel(
            self.fake.token, api_base=self.fake.base_url, poll_timeout=1, throttle=unlimited()
        )
        self.app = await self.make_app(channel, features=FEATS, url=self.url)
        await self.app.start(background=False)

    async def restart(self) -> None:
        await self.app.stop()
        await self.start()

    async def _idle(self) -> None:
        await self.fake.wait_until(
            lambda: self.fake.pending_updates == 0 and not self.app._tasks, timeout=10
        )

    async def act(self, body: str) -> None:
        self.app.texts.rendered.clear()
        before = len(self.fake.sent_to(TG_USER))
        if body.startswith("[") and body.endswith("]"):
            self.fake.press_button(TG_USER, *self._button(body[1:-1]))
        elif body.startswith("(phone ") and body.endswith(")"):
            self.fake.send_contact(TG_USER, body[7:-1])
        else:
            self.fake.send_text(TG_USER, body)
        await asyncio.sleep(0)
        await self._idle()
        self.keys = list(self.app.texts.rendered)
        self.text = "\n".join(s.text for s in self.fake.sent_to(TG_USER)[before:])

    def _button(self, label: str) -> tuple[Any, str]:
        wanted = label.casefold()
        for sent in reversed(self.fake.sent_to(TG_USER)):
            for text, data in sent.buttons:
                if wanted in text.casefold():
                    return sent, data
        raise AssertionError(f"no inline button {label!r} in the chat")


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=[p.stem for p in TRANSCRIPTS])
async def test_transcript_over_telegram(path: Path, make_app, tmp_path: Path) -> None:
    from tests.fakes.telegram import FakeTelegram, skip_without_spec
    from tests.transcripts import parse

    skip_without_spec()
    async with FakeTelegram() as fake:
        chat = TelegramChat(fake, make_app, f"sqlite+aiosqlite:///{tmp_path / 'tg.db'}")
        await chat.start()
        pending: list[str] = []
        for step in parse(path):
            where = f"{path.name}:{step.line}"
            if step.who == ">":
                await chat.act(step.body)
                pending = list(chat.keys)
            elif step.who == "<" and step.body.startswith('"'):
                assert step.body.strip('"') in chat.text, f"{where}: not in\n{chat.text}"
            elif step.who == "<":
                assert step.body in pending, f"{where}: {step.body} not in {chat.keys}"
                pending = pending[pending.index(step.body) + 1 :]
            else:
                await chat.restart()
        fake.assert_clean()  # every request matched the Bot API spec
        await chat.app.stop()


async def test_the_join_benchmark_walks_a_whole_join(tmp_path: Path) -> None:
    """bench/join.py times a scripted conversation: it must still end in an application (it
    once kept pressing a consent button that no longer existed and timed nothing real)."""
    from bench import join as bench_join

    app = await bench_join.build_app(
        bench_join.Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'bench.db'}",
            data_key=bench_join.new_key(),
        ),
        channels=[bench_join.NullChannel()],
        create_schema=True,
        features=bench_join.JOIN_FEATURES,
    )
    try:
        last = []
        for seq, (kind, value) in enumerate(bench_join._steps(7)):
            last = await app.process(bench_join._inbound("7", seq, kind, value))
        async with app.db.session() as session:
            made = await session.scalar(select(func.count(repo.MemberApplication.id)))
    finally:
        await app.stop()
    assert made == 1
    assert re.search(r"KN-\d{4}-\d{6}", last[0].content.text)
