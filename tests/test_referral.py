"""Invitations: links, Zalo codes and QR posters; first-touch credit; campaigns; leaderboard;
one-time role invites from the staff chat."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, insert, select

from bot.app import features_upto
from bot.core.events import Address, Inbound, Kind, Photo
from handlers.referral import typed_code
from storage import recruitment as repo
from storage.enterprises import LeadReport
from storage.people import Person, areas_of
from storage.recruitment import Attribution, PersonInvite
from tests.driver import CaptureChannel, Chat
from tests.test_leads import (
    CAT_HAI,
    LE_CHAN,
    person_chat,
    recruit_app,
    register,
    report,
    worker,
)

BOT = "congdoan_hp_bot"
CAMPAIGNS = [
    {"code": "T5-2027", "name": "Tháng Công nhân 2027", "start": date(2027, 5, 1),
     "end": date(2027, 5, 31)},
    {"code": "T7-2027", "name": "Tháng thành lập Công đoàn 2027", "start": "2027-07-01",
     "end": "2027-07-31"},
]  # fmt: skip
IN_MAY = datetime(2027, 5, 10, 3, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_env_username(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_USERNAME", raising=False)


def _extra(**more: Any) -> dict[str, Any]:
    return {"telegram": {"bot_username": BOT}, "campaigns": CAMPAIGNS,
            "staff": {"staff": ["8000"]}, **more}  # fmt: skip


async def _app(make_app: Any, clock: Any, when: datetime = IN_MAY, **extra: Any):  # type: ignore[no-untyped-def]
    clock.now = when
    return await recruit_app(make_app, extra=_extra(**extra))


async def _code_of(app: Any, channel: CaptureChannel, user_id: str, args: str = "") -> str:
    chat = person_chat(app, channel, user_id)
    await chat.send(f"/moiban {args}".strip())
    assert "recruit.invite.text" in chat.keys, chat.keys
    async with app.db.session() as session:
        person = await repo.person_for(session, "telegram", user_id, repo_roles())
        assert person is not None
        purpose = "lead" if args else "join"
        code = await repo.code_for(session, person.id, purpose, datetime.now(UTC))
        return code.code


def repo_roles() -> tuple[str, ...]:
    return ("collaborator", "volunteer", "staff")


async def _attribution(app: Any, user_id: str, channel: str = "telegram") -> Attribution | None:
    from storage.models import ChannelIdentity

    async with app.db.session() as session:
        contact_id = await session.scalar(
            select(ChannelIdentity.contact_id).where(
                ChannelIdentity.external_id == user_id, ChannelIdentity.channel == channel
            )
        )
        return await repo.attribution_of(session, contact_id) if contact_id else None


# -- /moiban --------------------------------------------------------------------------------------


async def test_invite_link_code_and_a_qr_that_decodes_back_to_the_link(make_app, clock) -> None:
    import zxingcpp
    from PIL import Image

    app, channel = await _app(make_app, clock)
    await register(app, "2001", "collaborator", name="Phạm Văn Cộng")
    chat = person_chat(app, channel, "2001")
    await chat.send("/moiban")
    text, photo = chat.replies
    code = text.text.split("MA ")[1].split()[0]
    link = f"https://t.me/{BOT}?start={code}"
    assert len(code) == 6 and link in text.text
    assert "Tháng Công nhân 2027" in text.text and "/moiban baocao" in text.text
    assert isinstance(photo.content, Photo) and photo.content.data.startswith(b"\x89PNG")
    (found,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(photo.content.data)))
    assert found.text == link
    # The same person always gets the same code; a report invitation has its own.
    await chat.send("/moiban")
    assert f"MA {code}" in chat.text
    await chat.send("/moiban bao cao")
    assert "recruit.invite.purpose_lead" in chat.keys and f"MA {code}" not in chat.text


async def test_without_a_bot_username_the_qr_holds_the_zalo_code(make_app, clock) -> None:
    import zxingcpp
    from PIL import Image

    clock.now = IN_MAY
    app, channel = await recruit_app(make_app, extra={"campaigns": CAMPAIGNS})
    await register(app, "2001", "collaborator")
    chat = person_chat(app, channel, "2001")
    await chat.send("/moiban")
    assert "recruit.invite.no_link" in chat.keys
    code = chat.replies[0].text.split("MA ")[1].split()[0]
    (found,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(chat.replies[1].content.data)))
    assert found.text == f"MA {code}"


async def test_env_username_wins(make_app, clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "@other_bot")
    app, channel = await _app(make_app, clock)
    await register(app, "2001", "collaborator")
    chat = person_chat(app, channel, "2001")
    await chat.send("/moiban")
    assert "https://t.me/other_bot?start=" in chat.text


async def test_workers_cannot_make_invitations(make_app, clock) -> None:
    app, channel = await _app(make_app, clock)
    w = worker(app, channel)
    await w.send("/moiban")
    assert w.keys == ["recruit.invite.not_allowed"]
    await w.send("/bangxephang")
    assert w.keys == ["recruit.board.not_allowed"]


# -- arriving and first touch ---------------------------------------------------------------------


async def test_deep_link_credits_the_first_invitation_only(make_app, clock) -> None:
    app, channel = await _app(make_app, clock)
    first = await register(app, "2001", "collaborator")
    await register(app, "2002", "collaborator")
    code_a = await _code_of(app, channel, "2001")
    code_b = await _code_of(app, channel, "2002")
    w = worker(app, channel, "4001")
    await w.send(f"/start {code_a}")
    assert "welcome.text" in w.keys
    assert {"recruit.arrive.join", "recruit.arrive.menu"} & set(w.keys)  # join wired or not
    got = await _attribution(app, "4001")
    assert got is not None and got.referrer_id == first and got.channel == "telegram"
    async with app.db.session() as session:
        may = await repo.campaign_by_code(session, "T5-2027")
    assert may is not None and got.campaign_id == may.id
    # A second invitation later, and the same one again: the first still stands, once.
    clock.advance(days=1)
    await w.send(f"/start {code_b}")
    await w.send(f"/start {code_a}")
    again = await _attribution(app, "4001")
    assert again is not None and (again.id, again.referrer_id) == (got.id, first)
    async with app.db.session() as session:
        assert len((await session.scalars(select(Attribution))).all()) == 1
    # Unknown codes are ignored quietly.
    other = worker(app, channel, "4002")
    await other.send("/start ZZZZ99")
    assert await _attribution(app, "4002") is None


async def test_following_your_own_link_earns_nothing(make_app, clock) -> None:
    app, channel = await _app(make_app, clock)
    await register(app, "2001", "collaborator")
    code = await _code_of(app, channel, "2001")
    me = person_chat(app, channel, "2001")
    await me.send(f"/start {code}")
    assert await _attribution(app, "2001") is None


async def test_join_invitation_opens_the_join_flow(make_app, clock) -> None:
    pytest.importorskip("handlers.join")
    from tests.test_leads import ALL_FEATURES

    clock.now = IN_MAY
    channel = CaptureChannel("telegram")
    features = ALL_FEATURES
    app = await make_app(channel, features=features, extra=_extra())
    await register(app, "2001", "collaborator")
    code = await _code_of(app, channel, "2001")
    w = worker(app, channel, "4001")
    await w.send(f"/start {code}")
    assert "recruit.arrive.join" in w.keys and "join.intro" in w.keys


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("MA K7M2QX", ("K7M2QX", True)),
        ("mã: k7m2qx", ("K7M2QX", True)),
        ("Mã mời K7M-2QX", ("K7M2QX", True)),
        ("k7m2qx", ("K7M2QX", False)),
        ("xin chao", None),
        ("cảm ơn", None),
        ("luong 2 thang", None),
        ("ABCDEF", None),  # letters only: a word, never a code
        ("ma so thue la gi", None),
    ],
)
def test_typed_codes(typed: str, expected: tuple[str, bool] | None) -> None:
    assert typed_code(typed) == expected


async def test_zalo_worker_types_the_code(make_app, clock) -> None:
    clock.now = IN_MAY
    telegram, zalo = CaptureChannel("telegram"), CaptureChannel("zalo", buttons=False)
    from tests.test_leads import ALL_FEATURES

    app = await make_app(telegram, zalo, features=ALL_FEATURES, extra=_extra())
    collaborator = await register(app, "2001", "collaborator")
    code = await _code_of(app, telegram, "2001")
    first = Chat(app, zalo, user_id="z-1")
    await first.send(f"Ma {code.lower()}")  # the very first message
    assert first.keys[0] == "welcome.text"
    assert {"recruit.arrive.join", "recruit.arrive.menu"} & set(first.keys)
    got = await _attribution(app, "z-1", "zalo")
    assert got is not None and got.referrer_id == collaborator and got.channel == "zalo"

    later = Chat(app, zalo, user_id="z-2")
    await later.send("xin chào")
    await later.send(code)  # just the code, later in the conversation
    assert {"recruit.arrive.join", "recruit.arrive.menu"} & set(later.keys)
    assert await _attribution(app, "z-2", "zalo") is not None

    wrong = Chat(app, zalo, user_id="z-3")
    await wrong.send("xin chào")
    await wrong.send("MA 7Q7Q7Q")
    assert "recruit.arrive.bad_code" in wrong.keys
    assert await _attribution(app, "z-3", "zalo") is None


async def test_report_invitation_credits_an_anonymous_lead_without_naming_the_worker(
    make_app, clock
) -> None:
    app, channel = await _app(make_app, clock)
    collaborator = await register(app, "2001", "collaborator")
    code = await _code_of(app, channel, "2001", "baocao")
    w = worker(app, channel, "4001")
    await w.send(f"/start {code}")
    assert "recruit.arrive.lead" in w.keys and "privacy.lead.summary" in w.keys
    await w.send("/huy")
    await report(w, company="Công ty TNHH Mời Báo")
    async with app.db.session() as session:
        rep = (await session.scalars(select(LeadReport))).one()
        may = await repo.campaign_by_code(session, "T5-2027")
    assert may is not None
    assert (rep.reporter_contact_id, rep.referrer_id, rep.campaign_id) == (
        None, collaborator, may.id,
    )  # fmt: skip
    staff = person_chat(app, channel, "8000")
    await staff.send("/bangxephang")
    assert "0 đoàn viên mới, 0 đơn, 1 công ty được báo" in staff.text


# -- campaigns ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (datetime(2027, 4, 30, 16, 59, tzinfo=UTC), None),  # 23:59 on 30/04 in Hải Phòng
        (datetime(2027, 4, 30, 17, 0, tzinfo=UTC), "T5-2027"),  # 00:00 on 01/05
        (datetime(2027, 5, 31, 16, 59, tzinfo=UTC), "T5-2027"),
        (datetime(2027, 5, 31, 17, 0, tzinfo=UTC), None),  # 01/06
        (datetime(2027, 7, 15, 3, 0, tzinfo=UTC), "T7-2027"),
    ],
)
async def test_campaign_windows_follow_local_days(make_app, clock, when, expected) -> None:
    app, channel = await _app(make_app, clock, when=when)
    await register(app, "2001", "collaborator")
    code = await _code_of(app, channel, "2001")
    w = worker(app, channel, "4001")
    await w.send(f"/start {code}")
    got = await _attribution(app, "4001")
    assert got is not None
    async with app.db.session() as session:
        campaign = await session.get(repo.Campaign, got.campaign_id) if got.campaign_id else None
    assert (campaign.code if campaign else None) == expected


async def test_staff_manage_campaigns(make_app, clock) -> None:
    app, channel = await _app(make_app, clock)
    await register(app, "2001", "collaborator")
    collab = person_chat(app, channel, "2001")
    await collab.send("/chiendich")
    assert "T5-2027" in collab.text and "T7-2027" in collab.text
    await collab.send("/chiendich X 01/01/2027 31/01/2027 Không được")
    assert collab.keys == ["recruit.campaign.not_staff"]
    staff = person_chat(app, channel, "8000")
    await staff.send("/chiendich T9-2027 31/09/2027 30/10/2027 Sai ngày")
    assert staff.keys == ["recruit.campaign.bad_dates"]
    await staff.send("/chiendich T9-2027 10/05/2027 20/05/2027 Tuần lễ KCN Đại An")
    assert "recruit.campaign.saved" in staff.keys
    # Overlapping May: the campaign that started last is the one running.
    w = worker(app, channel, "4001")
    await w.send(f"/start {await _code_of(app, channel, '2001')}")
    got = await _attribution(app, "4001")
    async with app.db.session() as session:
        campaign = await session.get(repo.Campaign, got.campaign_id)  # type: ignore[union-attr]
    assert campaign is not None and campaign.name == "Tuần lễ KCN Đại An"


# -- the leaderboard ------------------------------------------------------------------------------


def _stand_in_applications() -> tuple[MetaData, Table]:
    meta = MetaData()
    table = Table(
        "stand_in_applications", meta,
        Column("id", Integer, primary_key=True),
        Column("contact_id", Integer, index=True),
        Column("status", String(16)),
        Column("created_at", DateTime(timezone=True)),
    )  # fmt: skip
    return meta, table


async def test_leaderboard_orders_admitted_then_applications_then_leads(make_app, clock) -> None:
    from storage.models import Contact

    app, _ = await _app(make_app, clock)
    meta, apps = _stand_in_applications()
    async with app.db.engine.begin() as conn:
        await conn.run_sync(meta.create_all)
    t0 = IN_MAY
    async with app.db.transaction() as session:
        may = await repo.save_campaign(
            session, code="M", name="M", starts_on=date(2027, 5, 1), ends_on=date(2027, 5, 31)
        )
        july = await repo.save_campaign(
            session, code="J", name="J", starts_on=date(2027, 7, 1), ends_on=date(2027, 7, 31)
        )
        people = []
        for i in range(4):
            person = Person(role="collaborator", channel="telegram", external_id=f"c{i}")
            session.add(person)
            await session.flush()
            people.append(person)
        codes = [await repo.code_for(session, p.id, "join", t0) for p in people]
        from storage.enterprises import report_enterprise

        lead = await report_enterprise(
            session, name="Cty Bất Kỳ", area_code=LE_CHAN, size_band="lt20", union_status="no",
            reporter_contact_id=None, contact_ok=False, source="report", now=t0,
        )  # fmt: skip

        async def arrival(code: Any, campaign: Any, apps_rows: list[tuple[str, int]],
                          leads: int = 0) -> None:  # fmt: skip
            contact = Contact()
            session.add(contact)
            await session.flush()
            await repo.attribute(session, contact_id=contact.id, code=code, channel="zalo",
                                 now=t0, campaign_id=campaign.id)  # fmt: skip
            for status, minutes in apps_rows:
                await session.execute(insert(apps).values(
                    contact_id=contact.id, status=status,
                    created_at=t0 + timedelta(minutes=minutes)))  # fmt: skip
            for _ in range(leads):
                session.add(LeadReport(lead_id=lead.id, referrer_id=code.person_id,
                                       campaign_id=campaign.id, created_at=t0))  # fmt: skip

        # c0: 1 admitted; c1: 3 applications, none admitted, 5 leads; c2: 1 admitted, 2 apps;
        # c3: an application made BEFORE the arrival (not credited) and July arrivals only.
        await arrival(codes[0], may, [("admitted", 5)])
        for _ in range(3):
            await arrival(codes[1], may, [("pending", 5)])
        await arrival(codes[1], may, [], leads=5)
        await arrival(codes[2], may, [("admitted", 5)])
        await arrival(codes[2], may, [("returned", 5)])
        await arrival(codes[3], may, [("admitted", -60)])
        await arrival(codes[3], july, [("admitted", 5)])
        # A worker admitted after two applications counts once in each column.
        await arrival(codes[0], july, [("returned", 1), ("admitted", 9)])
    async with app.db.session() as session:
        board = await repo.leaderboard(session, may.id, applications=apps)
        july_board = await repo.leaderboard(session, july.id, applications=apps)
    assert [(s.rank, s.person_id, s.admitted, s.applications, s.leads) for s in board] == [
        (1, people[2].id, 1, 2, 0),
        (2, people[0].id, 1, 1, 0),
        (3, people[1].id, 0, 3, 5),
        (4, people[3].id, 0, 0, 0),
    ]
    assert [(s.person_id, s.admitted, s.applications) for s in july_board] == [
        (people[0].id, 1, 1), (people[3].id, 1, 1),
    ]  # fmt: skip


async def test_bangxephang_with_real_applications(make_app, clock) -> None:
    membership = pytest.importorskip("storage.membership")
    app, channel = await _app(make_app, clock)
    ids = {}
    for uid, name in (("2001", "Nguyễn Văn An"), ("2002", "Lê Thị Bình"), ("2003", "Vũ Cường")):
        ids[uid] = await register(app, uid, "collaborator", name=name)
    codes = {uid: await _code_of(app, channel, uid) for uid in ids}
    crypto = app.engine.services.crypto

    async def joins(uid: str, worker_id: str, admitted: bool) -> None:
        w = worker(app, channel, worker_id)
        await w.send(f"/start {codes[uid]}")
        got = await _attribution(app, worker_id)
        assert got is not None
        async with app.db.transaction() as session:
            application = await membership.create_application(
                session,
                membership.NewApplication(
                    contact_id=got.contact_id, channel="telegram",
                    name_enc=crypto.encrypt("x"), phone_enc=crypto.encrypt("x"),
                    phone_hash=f"h{worker_id}", company_enc=crypto.encrypt("x"), job_enc=None,
                    area_code=LE_CHAN, union_body="LĐLĐ", union_status="no", size_band="25_99",
                ),
                now=clock.now + timedelta(minutes=1),
            )  # fmt: skip
            if admitted:
                membership.set_status(session, application, membership.ADMITTED,
                                      actor="membership", now=clock.now)  # fmt: skip

    await joins("2001", "5001", admitted=True)
    await joins("2002", "5002", admitted=True)
    await joins("2002", "5003", admitted=False)
    await joins("2003", "5004", admitted=False)
    viewer = person_chat(app, channel, "2003")
    await viewer.send("/bangxephang")
    lines = [line for line in viewer.text.splitlines() if line[:2] in ("1.", "2.", "3.")]
    assert lines == [
        "1. Lê Thị Bình: 1 đoàn viên mới, 2 đơn, 0 công ty được báo",
        "2. Nguyễn Văn An: 1 đoàn viên mới, 1 đơn, 0 công ty được báo",
        "3. Vũ Cường: 0 đoàn viên mới, 1 đơn, 0 công ty được báo",
    ]
    assert "Tháng Công nhân 2027 (01/05/2027–31/05/2027)" in viewer.text
    await viewer.send("/bangxephang T7-2027")
    assert "recruit.board.empty" in viewer.keys
    await viewer.send("/bangxephang NOPE")
    assert "recruit.board.unknown_campaign" in viewer.keys
    clock.now = datetime(2027, 6, 10, tzinfo=UTC)
    await viewer.send("/bangxephang")
    assert "recruit.board.no_campaign" in viewer.keys


# -- one-time role invites ------------------------------------------------------------------------


async def test_staff_invite_a_volunteer_who_registers_with_the_code(make_app, clock) -> None:
    app, channel = await _app(make_app, clock)
    staff = person_chat(app, channel, "8000")
    await staff.send("/moithanhvien tinhnguyenvien phuong le chan; Xã Cát Hải")
    assert "recruit.people.code" in staff.keys
    assert "Phường Lê Chân; Đặc khu Cát Hải" in staff.text
    code = staff.text.split("/thamgia ")[1].split()[0]
    newcomer = Chat(app, channel, user_id="3100", name="Đỗ Thị Tình Nguyện")
    await newcomer.send(f"/thamgia {code.lower()}")
    assert "recruit.people.joined" in newcomer.keys and "/leads" in newcomer.text
    async with app.db.session() as session:
        person = await repo.person_for(session, "telegram", "3100", ("volunteer",))
        assert person is not None and person.name_enc
        assert app.engine.services.crypto.decrypt(person.name_enc) == "Đỗ Thị Tình Nguyện"
        assert sorted(await areas_of(session, person.id)) == sorted([LE_CHAN, CAT_HAI])
    again = Chat(app, channel, user_id="3101")
    await again.send(f"/thamgia {code}")
    assert again.keys == ["recruit.people.bad_code"]
    await newcomer.send("/leads")
    assert "leads.vol.empty" in newcomer.keys


async def test_invite_codes_expire_and_need_staff_and_real_areas(make_app, clock) -> None:
    app, channel = await _app(make_app, clock)
    someone = worker(app, channel, "3300")
    await someone.send("/moithanhvien tinhnguyenvien Lê Chân")
    assert someone.keys == ["recruit.people.not_staff"]
    staff = person_chat(app, channel, "8000")
    await staff.send("/moithanhvien phitruong")
    assert staff.keys == ["recruit.people.usage"]
    await staff.send("/moithanhvien ctv Phường Không Có Thật")
    assert "recruit.people.bad_area" in staff.keys
    await staff.send("/moithanhvien ctv")
    code = staff.text.split("/thamgia ")[1].split()[0]
    clock.advance(days=7, minutes=1)
    late = Chat(app, channel, user_id="3200")
    await late.send(f"/thamgia {code}")
    assert late.keys == ["recruit.people.bad_code"]
    async with app.db.session() as session:
        invite = (await session.scalars(select(PersonInvite))).one()
        assert invite.used_at is None and invite.role == "collaborator"


async def test_staff_group_commands(make_app, clock) -> None:
    app, _ = await _app(make_app, clock)

    async def in_group(user_id: str, text: str) -> list[Any]:
        command, _, args = text[1:].partition(" ")
        inbound = Inbound(
            Address("telegram", "-100500"), user_id, Kind.COMMAND, dedupe_key=f"g{user_id}{text}",
            text=text, command=command, args=args, chat_type="supergroup",
        )  # fmt: skip
        return await app.engine.handle(inbound)

    assert await in_group("3300", "/moithanhvien ctv") == []  # not staff: silence in the group
    (reply,) = await in_group("8000", "/moithanhvien ctv")
    assert reply.address.chat_id == "-100500" and "/thamgia" in reply.text


async def test_without_the_join_feature_the_invitation_shows_the_menu(make_app, clock) -> None:
    from tests.test_leads import RECRUIT

    clock.now = IN_MAY
    channel = CaptureChannel("telegram")
    features = features_upto("handlers.start", *RECRUIT)
    app = await make_app(channel, features=features, extra=_extra())
    await register(app, "2001", "collaborator")
    code = await _code_of(app, channel, "2001")
    w = worker(app, channel, "4001")
    await w.send(f"/start {code}")
    assert "recruit.arrive.menu" in w.keys and "join.intro" not in w.keys
    assert await _attribution(app, "4001") is not None


async def test_leaderboard_is_a_snapshot_refreshed_by_the_job(make_app, clock) -> None:
    app, channel = await _app(make_app, clock)
    await register(app, "2001", "collaborator", name="Nguyễn Văn An")
    code = await _code_of(app, channel, "2001", "baocao")
    viewer = person_chat(app, channel, "2001")

    async def arrive_and_report(worker_id: str, company: str) -> None:
        w = worker(app, channel, worker_id)
        await w.send(f"/start {code}")
        await w.send("/huy")
        await report(w, company=company)

    await arrive_and_report("4001", "Công ty TNHH Một")
    await viewer.send("/bangxephang")
    assert "1 công ty được báo" in viewer.text and "cập nhật lúc 10:00 10/05/2027" in viewer.text
    clock.advance(minutes=3)
    await arrive_and_report("4002", "Công ty TNHH Hai")
    await viewer.send("/bangxephang")
    assert "1 công ty được báo" in viewer.text  # a few minutes old, as it says
    await app.run_job("recruit.standings", clock())
    await viewer.send("/bangxephang")
    assert "2 công ty được báo" in viewer.text and "cập nhật lúc 10:03" in viewer.text
    await arrive_and_report("4003", "Công ty TNHH Ba")
    clock.advance(minutes=11)  # the job did not run (console): the command recounts itself
    await viewer.send("/bangxephang")
    assert "3 công ty được báo" in viewer.text


async def test_bot_username_from_the_recruitment_section(make_app, clock) -> None:
    clock.now = IN_MAY
    app, channel = await recruit_app(
        make_app, extra={"recruitment": {"bot_username": "@hp_congdoan_bot"}}
    )
    await register(app, "2001", "collaborator")
    chat = person_chat(app, channel, "2001")
    await chat.send("/moiban")
    assert "https://t.me/hp_congdoan_bot?start=" in chat.text
    assert "recruit.invite.no_campaign" in chat.keys


async def test_the_leaderboard_job_counts_without_holding_the_writer(
    make_app, clock, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the job counts (a long read at the federation's scale), workers are still answered;
    the count it stores is the one it made."""
    import asyncio

    clock.now = IN_MAY
    url = f"sqlite+aiosqlite:///{tmp_path / 'board.db'}"
    app, channel = await recruit_app(make_app, extra=_extra(), url=url)
    await register(app, "2001", "collaborator", name="Nguyễn Văn An")
    code = await _code_of(app, channel, "2001", "baocao")
    w = worker(app, channel, "4001")
    await w.send(f"/start {code}")
    await w.send("/huy")
    await report(w, company="Công ty TNHH Một")

    counting, go_on = asyncio.Event(), asyncio.Event()
    count = repo.leaderboard

    async def slow_count(*args: Any, **kwargs: Any) -> list[repo.Standing]:
        standings = await count(*args, **kwargs)
        counting.set()
        await go_on.wait()  # the count is still "running"
        return standings

    monkeypatch.setattr(repo, "leaderboard", slow_count)
    job = asyncio.create_task(app.run_job("recruit.standings", clock()))
    await asyncio.wait_for(counting.wait(), 5)
    other = worker(app, channel, "4999")
    await asyncio.wait_for(other.send("/start"), 5)  # a first contact: it writes
    assert "welcome.text" in other.keys
    go_on.set()
    await asyncio.wait_for(job, 5)
    async with app.db.session() as session:
        rows = (await session.scalars(select(repo.CampaignStanding))).all()
        campaign = await session.get(repo.Campaign, rows[0].campaign_id)
    assert campaign is not None and campaign.standings_at == clock()
    assert [(r.rank, r.leads) for r in rows] == [(1, 1)]
