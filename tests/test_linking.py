"""Linking a worker's Telegram and Zalo accounts with a one-time code: one person afterwards."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, ForeignKey, Integer, String, Table, UniqueConstraint, inspect, select

from bot.app import FEATURES
from storage import contacts as contacts_repo
from storage.codes import CodeAttempt, Limits, new_code, shown
from storage.linking import LinkCode, merge_contacts
from storage.migrate import upgrade_async
from storage.models import Base, ChannelIdentity, Contact, ConversationState
from tests.conftest import FakeClock
from tests.driver import CaptureChannel, Chat

LINK_FEATURES = FEATURES


@pytest.fixture
async def two(make_app: Any) -> tuple[Chat, Chat]:
    """One worker: on Telegram (buttons) and on the Zalo Bot Platform (numbered text)."""
    telegram = CaptureChannel("telegram")
    zalo = CaptureChannel("zalo_bot", buttons=False, max_text=2000)
    app = await make_app(telegram, zalo, features=LINK_FEATURES)
    return Chat(app, telegram, user_id="5001"), Chat(app, zalo, user_id="zl-7f3a")


CODE = re.compile(r"/lienket ([2-9A-HJKMNP-Z]{5}-[2-9A-HJKMNP-Z]{5})\b")


def code_in(chat: Chat) -> str:
    """The code shown after "/lienket" (10 characters of the unambiguous alphabet)."""
    match = CODE.search(chat.text)
    assert match, chat.text
    return match.group(1)


async def contact_of(chat: Chat) -> int:
    async with chat.app.db.session() as session:
        identity = await session.scalar(
            select(ChannelIdentity).where(
                ChannelIdentity.channel == chat.channel.name,
                ChannelIdentity.external_id == chat.user_id,
            )
        )
    assert identity is not None
    return identity.contact_id


async def test_code_on_telegram_typed_on_zalo_makes_one_contact(two: tuple[Chat, Chat]) -> None:
    tg, zl = two
    await tg.send("xin chao")
    await tg.press("Quyền lợi")  # Telegram has state: the rights index
    await zl.send("chao ban")
    older, newer = await contact_of(tg), await contact_of(zl)
    assert older != newer

    await tg.send("/lienket")
    assert tg.keys == ["link.code"]
    assert "/lienket " + code_in(tg) in tg.text
    await zl.send(f"lien ket {code_in(tg)}")
    assert zl.keys == ["link.notice", "link.done"]
    assert "Telegram" in zl.text and "Zalo" in zl.text

    assert await contact_of(zl) == older == await contact_of(tg)
    async with tg.app.db.session() as session:
        identities = await contacts_repo.identities_of(session, older)
        assert {(i.channel, i.external_id) for i in identities} == {
            ("telegram", "5001"),
            ("zalo_bot", "zl-7f3a"),
        }
        assert await session.get(Contact, newer) is None
        assert await session.get(ConversationState, newer) is None

    # The Telegram account is told, in case someone else used the code.
    assert await tg.app.flush_outbox() == 1
    notice = tg.channel.sent[-1]
    assert notice.address.chat_id == "5001" and "Zalo" in notice.text
    assert "1800.888864" in notice.text

    # One person now: the same conversation state answers on either channel.
    await zl.send("/menu")
    await zl.send("1")  # typed number on Zalo picks from the menu just shown there
    assert zl.keys[-1] == "rights.index"


async def test_older_contact_wins_whichever_side_types_the_code(two: tuple[Chat, Chat]) -> None:
    tg, zl = two
    await zl.send("chao")  # Zalo first: the Zalo contact is the older one
    await zl.send("/menu")
    await tg.send("/start")
    zalo_contact = await contact_of(zl)
    await zl.send("/lienket")
    await tg.send(f"/lienket {code_in(zl)}")
    assert tg.keys == ["link.notice", "link.done"]
    assert await contact_of(tg) == zalo_contact
    async with tg.app.db.session() as session:
        states = list(await session.scalars(select(ConversationState.contact_id)))
    assert states == [zalo_contact]
    # One conversation: the menu shown on Telegram, a number typed on Zalo picks from it.
    await tg.send("/menu")
    await zl.send("1")
    assert zl.keys[-1] == "rights.index"


async def test_codes_are_single_use_short_lived_and_for_the_other_channel(
    two: tuple[Chat, Chat], clock: FakeClock
) -> None:
    tg, zl = two
    await tg.send("chao")
    await zl.send("chao")
    await tg.send("/lienket")
    code = code_in(tg)

    await tg.send(f"/lienket {code}")  # on the channel that issued it
    assert tg.keys == ["link.already"]
    other_tg = Chat(tg.app, tg.channel, user_id="5002")
    await other_tg.send(f"/lienket {code}")
    assert other_tg.keys == ["link.same_channel"]

    clock.advance(minutes=11)
    await zl.send(f"/lienket {code}")
    assert zl.keys == ["link.expired"]

    await tg.send("/lienket")
    fresh = code_in(tg)
    await zl.send(f"Liên kết: {fresh[:3]} {fresh[3:].lower()}")
    assert zl.keys == ["link.notice", "link.done"]
    third = Chat(tg.app, CaptureChannel("zalo_oa"), user_id="zoa-1")
    tg.app.channels["zalo_oa"] = third.channel
    await third.send(f"/lienket {fresh}")
    assert third.keys == ["link.invalid"]


async def test_wrong_codes_are_limited(two: tuple[Chat, Chat], clock: FakeClock) -> None:
    tg, zl = two
    await tg.send("chao")
    await tg.send("/lienket")
    real = code_in(tg)
    for wrong in wrong_codes(real, 5):
        await zl.send(f"/lienket {wrong}")
        assert zl.keys == ["link.invalid"]
    await zl.send(f"/lienket {real}")
    assert zl.keys == ["link.too_many_account"]
    assert "60 phút" in zl.text and "/lienket" in zl.text
    clock.advance(minutes=61)
    await tg.send("/lienket")
    await zl.send(f"/lienket {code_in(tg)}")
    assert zl.keys == ["link.notice", "link.done"]


def wrong_codes(real: str, n: int) -> list[str]:
    """``n`` well-formed codes that are not ``real``."""
    found = []
    while len(found) < n:
        code = shown(new_code())
        if code != real:
            found.append(code)
    return found


async def test_lienket_text_is_not_taken_by_other_text_handlers(two: tuple[Chat, Chat]) -> None:
    _tg, zl = two
    await zl.send("chao")
    await zl.send("lienket")
    assert zl.keys == ["link.code"]
    await zl.send("toi muon lien ket tai khoan")  # not the command: other handlers answer
    assert "link.code" not in zl.keys


# ----------------------------------------------------------------------------- the merge itself


@pytest.fixture
def feature_tables() -> Any:
    """Two tables a future feature might add: one row per person, and many rows per person."""
    applications = Table(
        "test_link_applications",
        Base.metadata,
        Column("id", Integer, primary_key=True),
        Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE")),
        Column("what", String(32)),
        UniqueConstraint("contact_id", name="uq_test_link_app_contact"),
    )
    cases = Table(
        "test_link_cases",
        Base.metadata,
        Column("id", Integer, primary_key=True),
        Column("contact_id", Integer, index=True),  # no foreign key: found by its name
        Column("what", String(32)),
    )
    yield applications, cases
    Base.metadata.remove(applications)
    Base.metadata.remove(cases)


async def test_merge_moves_rows_of_every_contact_table_and_keeps_the_older_ones(
    make_app: Any, feature_tables: Any
) -> None:
    applications, cases = feature_tables
    app = await make_app(CaptureChannel("telegram"), features=LINK_FEATURES)
    async with app.db.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    async with app.db.transaction() as session:
        old = await contacts_repo.resolve_identity(session, "telegram", "1", "1")
        new = await contacts_repo.resolve_identity(session, "zalo_oa", "z1", "z1")
        keep, drop = old.contact_id, new.contact_id
        await contacts_repo.load_state(session, keep)
        await contacts_repo.load_state(session, drop)
        await session.execute(
            applications.insert(),
            [{"contact_id": keep, "what": "tg-app"}, {"contact_id": drop, "what": "zalo-app"}],
        )
        await session.execute(
            cases.insert(),
            [{"contact_id": keep, "what": "case-1"}, {"contact_id": drop, "what": "case-2"}],
        )
    async with app.db.transaction() as session:
        moved = await merge_contacts(session, keep, drop)
    assert moved["channel_identities"] == 1 and moved["test_link_cases"] == 1
    async with app.db.session() as session:
        apps = (await session.execute(select(applications.c.contact_id, applications.c.what))).all()
        all_cases = (await session.execute(select(cases.c.contact_id, cases.c.what))).all()
        states = list(await session.scalars(select(ConversationState.contact_id)))
    assert apps == [(keep, "tg-app")]  # one application: the older contact's
    assert sorted(all_cases) == [(keep, "case-1"), (keep, "case-2")]  # one case history
    assert states == [keep]


async def test_link_tables_are_migrated(db_url: str) -> None:
    await upgrade_async(db_url)
    from storage.db import Database

    db = Database(db_url)
    try:
        async with db.engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await db.dispose()
    assert {"link_codes", "zalo_oa_tokens", "zalo_oa_windows", "zalo_oa_undelivered"} <= tables


def test_link_texts_exist(tmp_path: Path) -> None:
    from bot.config import ROOT
    from bot.core.texts import load_text_files

    keys = load_text_files(ROOT / "content" / "vi")
    for key in ("code", "done", "notice", "invalid", "expired", "already", "same_channel"):
        assert f"link.{key}" in keys


async def test_telegram_application_and_zalo_case_belong_to_one_person_after_linking(
    make_app: Any, tmp_path: Path
) -> None:
    """Joined on Telegram, asked the legal centre on the Zalo Bot, linked: one contact holds
    one application and the case history, and Zalo shows the Telegram application."""
    from bot.channels.zalo_bot import ZaloBotChannel
    from storage import cases as cases_repo
    from storage import membership
    from tests.fakes.zalo import (
        BotWorker,
        ChatWorker,
        FakeZaloBot,
        free_port,
        join_on_zalo,
        question_on_zalo,
    )

    features = FEATURES
    fake = FakeZaloBot()
    await fake.start()
    try:
        telegram = CaptureChannel("telegram")
        zalo = ZaloBotChannel(fake.token, api_base=fake.api_base, secret="linking-secret-123")
        port = free_port()
        app = await make_app(
            telegram,
            zalo,
            features=features,
            url=f"sqlite+aiosqlite:///{tmp_path / 'link.db'}",
            http_port=port,
            extra={"legal": {"group_chat_id": "-100200300"}, "staff": {"legal": ["555"]}},
        )
        await app.start(background=False)
        tg = Chat(app, telegram, user_id="5001")
        zl = BotWorker(
            fake, app, f"http://127.0.0.1:{port}/webhooks/zalo-bot", "linking-secret-123", "zl-1"
        )

        reference = await join_on_zalo(ChatWorker(tg), app.texts)
        await zl.say("chào")
        number = await question_on_zalo(zl, app.texts, "cty no luong 2 thang thi lam sao")

        await tg.send("/lienket")
        done = await zl.say(f"lienket {code_in(tg)}")
        assert "Telegram" in done[0] and "Zalo" in done[0]

        contact = await contact_of(tg)
        async with app.db.session() as session:
            applications = await membership.applications_of(session, contact)
            cases = await cases_repo.cases_of_contact(session, contact)
            contacts = list(await session.scalars(select(Contact.id)))
        assert [a.reference for a in applications] == [reference]
        assert [c.number for c in cases] == [number]
        assert contacts == [contact]
        status = await zl.say("/trangthai")  # asked on Zalo, about the Telegram application
        assert reference in status[0]
    finally:
        await fake.close()


# ------------------------------------------------------------------- guessing codes (#10 point 3)

STAFF_ID = "8000"


@pytest.fixture
async def guarded(make_app: Any) -> tuple[Chat, Chat, Chat]:
    """A victim on Telegram, an attacker on Zalo, and a staff member who hears of guessing."""
    telegram = CaptureChannel("telegram")
    zalo = CaptureChannel("zalo_bot", buttons=False, max_text=2000)
    app = await make_app(
        telegram, zalo, features=LINK_FEATURES, extra={"staff": {"staff": [STAFF_ID]}}
    )
    return (
        Chat(app, telegram, user_id="5001", name="Nguyễn Thị Nạn Nhân"),
        Chat(app, zalo, user_id="zl-attacker"),
        Chat(app, telegram, user_id=STAFF_ID),
    )


async def erase(chat: Chat) -> None:
    await chat.send("/xoadulieu")
    await chat.press("Xóa dữ liệu")
    assert "privacy.erase.done" in chat.keys, chat.keys


async def test_brute_force_of_lienket_stays_blocked_across_erasure(
    guarded: tuple[Chat, Chat, Chat],
) -> None:
    victim, attacker, staff = guarded
    await victim.send("xin chao")
    await victim.send("/lienket")
    real = code_in(victim)
    await attacker.send("chao")
    guesses = iter(wrong_codes(real, 5))
    for cycle in (2, 2, 1):  # wrong guesses, then /xoadulieu, as the attack in the issue did
        for _ in range(cycle):
            await attacker.send(f"/lienket {next(guesses)}")
            assert attacker.keys[-1] == "link.invalid"
        await erase(attacker)
    # Five wrong in the hour: the right code is refused too, after every erasure.
    await attacker.send(f"/lienket {real}")
    assert attacker.keys == ["link.too_many_account"]
    await erase(attacker)
    await attacker.send(f"lien ket {real}")
    assert attacker.keys == ["link.too_many_account"]
    assert "bạn" in attacker.text and "/lienket" in attacker.text  # warm, with a next step
    assert await contact_of(attacker) != await contact_of(victim)
    await attacker.send("/dulieucuatoi")
    assert "Nạn Nhân" not in attacker.text

    # The staff heard once, without the account's id or anyone's name.
    assert await victim.app.flush_outbox() >= 1
    alerts = [o for o in staff.channel.to(STAFF_ID) if "Cảnh báo" in o.text]
    assert len(alerts) == 1
    assert "5 lần" in alerts[0].text and "Zalo" in alerts[0].text
    assert "zl-attacker" not in alerts[0].text and "Nạn Nhân" not in alerts[0].text
    async with victim.app.db.session() as session:
        rows = (await session.execute(select(CodeAttempt))).scalars().all()
    assert len(rows) == 5 and all("zl-attacker" not in r.account for r in rows)


async def test_guessing_from_many_accounts_is_limited_per_channel(
    guarded: tuple[Chat, Chat, Chat], monkeypatch: pytest.MonkeyPatch
) -> None:
    from handlers import link

    monkeypatch.setattr(link, "LIMITS", Limits(per_account=5, per_channel=6))
    victim, attacker, staff = guarded
    await victim.send("/lienket")
    real = code_in(victim)
    guesses = iter(wrong_codes(real, 6))
    for n in range(3):  # three fresh accounts, two guesses each
        bot = Chat(attacker.app, attacker.channel, user_id=f"zl-bot-{n}")
        for _ in range(2):
            await bot.send(f"/lienket {next(guesses)}")
            assert bot.keys[-1] == "link.invalid"
    newcomer = Chat(attacker.app, attacker.channel, user_id="zl-bot-new")
    await newcomer.send(f"/lienket {real}")
    assert newcomer.keys == ["link.too_many_channel"]
    # Telegram is another channel: its own count.
    other = Chat(victim.app, victim.channel, user_id="5999")
    await other.send(f"/lienket {wrong_codes(real, 1)[0]}")
    assert other.keys == ["link.invalid"]
    await victim.app.flush_outbox()
    alerts = [o.text for o in staff.channel.to(STAFF_ID) if "Cảnh báo" in o.text]
    assert len(alerts) == 1 and "nhiều tài khoản" in alerts[0]


async def test_a_code_links_only_the_account_that_asked(two: tuple[Chat, Chat]) -> None:
    """A's code stops working once A's account is another person's (linked elsewhere)."""
    tg, zl = two
    await tg.send("chao")
    await tg.send("/lienket")
    stale = code_in(tg)
    # A links their Telegram to another Zalo account first, with a code issued there.
    other_zalo = Chat(zl.app, zl.channel, user_id="zl-other")
    await other_zalo.send("chao")
    await other_zalo.send("/lienket")
    await tg.send(f"/lienket {code_in(other_zalo)}")
    assert tg.keys == ["link.notice", "link.done"]
    # The code Telegram asked for before that link is void: it links nobody to A now.
    await zl.send(f"/lienket {stale}")
    assert zl.keys == ["link.invalid"]
    assert await contact_of(zl) != await contact_of(tg)


async def test_a_used_code_is_refused(two: tuple[Chat, Chat]) -> None:
    tg, zl = two
    await tg.send("/lienket")
    code = code_in(tg)
    await zl.send(f"/lienket {code}")
    assert zl.keys == ["link.notice", "link.done"]
    late = Chat(zl.app, zl.channel, user_id="zl-late")
    await late.send(f"/lienket {code}")
    assert late.keys == ["link.invalid"]
    assert await contact_of(late) != await contact_of(tg)


async def test_codes_are_ten_unambiguous_characters_stored_hashed(two: tuple[Chat, Chat]) -> None:
    tg, _ = two
    await tg.send("/lienket")
    code = code_in(tg).replace("-", "")
    assert len(code) == 10 and not set(code) & set("01OIL")
    async with tg.app.db.session() as session:
        rows = (await session.execute(select(LinkCode))).scalars().all()
    assert len(rows) == 1 and code not in rows[0].code_hash and len(rows[0].code_hash) == 64
    await tg.send("/lienket K7M2Q")  # too short: told the format, not counted as a guess
    assert tg.keys == ["link.bad_format"]
    async with tg.app.db.session() as session:
        assert (await session.execute(select(CodeAttempt))).scalars().all() == []
