"""Authorization edges (#10 points 3 and 8): role invites that cannot be guessed or passed on,
staff ids that hold on their own channel only, nobody deciding their own application, and a
short reply in the staff group when a handler fails, with the case left as it was."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import FEATURES, build_web_app
from bot.config import ConfigError, Settings, staff_ids
from bot.core.events import Address, Inbound, Kind, Outgoing
from bot.core.roles import Roles, Who
from storage import membership as repo
from storage.codes import CodeAttempt, new_code, shown
from storage.recruitment import PersonInvite
from tests import dashboard_seed as seed
from tests.driver import CaptureChannel, Chat
from tests.test_join import applications, join

STAFF = "8000"
CODE = re.compile(r"/thamgia ([2-9A-HJKMNP-Z]{5}-[2-9A-HJKMNP-Z]{5})\b")


async def two_channels(make_app: Any, staff: dict[str, Any] | None = None) -> Any:
    telegram = CaptureChannel("telegram")
    zalo = CaptureChannel("zalo_bot", buttons=False, max_text=2000)
    app = await make_app(telegram, zalo, features=FEATURES, extra={"staff": staff or {}})
    return app, telegram, zalo


def invite_code(chat: Chat) -> str:
    match = CODE.search(chat.text)
    assert match, chat.text
    return match.group(1)


# -- role invites -----------------------------------------------------------------------------


async def test_an_invite_for_a_cannot_be_used_by_b(make_app: Any) -> None:
    app, telegram, zalo = await two_channels(make_app, {"staff": [STAFF]})
    staff = Chat(app, telegram, user_id=STAFF)
    await staff.send("/moithanhvien ctv cho 5555")
    assert "recruit.people.code" in staff.keys and "Telegram 5555" in staff.text
    code = invite_code(staff)
    b = Chat(app, telegram, user_id="5556")
    await b.send(f"/thamgia {code}")
    assert b.keys == ["recruit.people.bad_code"]
    same_id_on_zalo = Chat(app, zalo, user_id="5555")  # the id, but on another channel
    await same_id_on_zalo.send(f"/thamgia {code}")
    assert same_id_on_zalo.keys == ["recruit.people.bad_code"]
    a = Chat(app, telegram, user_id="5555")
    await a.send(f"/thamgia {code}")
    assert "recruit.people.joined" in a.keys
    await b.send(f"/thamgia {code}")  # used now
    assert b.keys == ["recruit.people.bad_code"]

    await staff.send("/moithanhvien tnv cho zalo zl-42")
    zalo_code = invite_code(staff)
    await b.send(f"/thamgia {zalo_code}")
    assert b.keys == ["recruit.people.bad_code"]
    zalo_a = Chat(app, zalo, user_id="zl-42")
    await zalo_a.send(f"/thamgia {zalo_code}")
    assert "recruit.people.joined" in zalo_a.keys

    async with app.db.session() as session:
        invites = list(await session.scalars(select(PersonInvite)))
        roles = await app.engine.services.roles.roles_of(session, Who("telegram", "5555"))
    assert roles >= {"collaborator"}
    stored = " ".join(f"{i.code_hash} {i.recipient}" for i in invites)
    for shown_code in (code, zalo_code):
        assert shown_code.replace("-", "") not in stored  # only keyed hashes are kept
    assert "5555" not in stored and "zl-42" not in stored


async def test_expired_invite_is_refused(make_app: Any, clock: Any) -> None:
    app, telegram, _ = await two_channels(make_app, {"staff": [STAFF]})
    staff = Chat(app, telegram, user_id=STAFF)
    await staff.send("/moithanhvien ctv")
    assert "24 giờ" in staff.text
    code = invite_code(staff)
    assert len(code.replace("-", "")) == 10 and not set(code) & set("01OIL")
    clock.advance(hours=24, minutes=1)
    late = Chat(app, telegram, user_id="3200")
    await late.send(f"/thamgia {code}")
    assert late.keys == ["recruit.people.bad_code"]
    async with app.db.session() as session:
        assert await app.engine.services.roles.roles_of(session, Who("telegram", "3200")) == set()


async def test_thamgia_brute_force_is_blocked_and_staff_told(make_app: Any) -> None:
    app, telegram, zalo = await two_channels(make_app, {"staff": [STAFF]})
    staff = Chat(app, telegram, user_id=STAFF)
    await staff.send("/moithanhvien canbo")
    real = invite_code(staff)
    guesser = Chat(app, zalo, user_id="zl-guesser")
    await guesser.send("chao")
    tried = 0
    while tried < 5:
        guess = shown(new_code())
        if guess == real:
            continue
        await guesser.send(f"/thamgia {guess}")
        assert guesser.keys[-1] == "recruit.people.bad_code"
        tried += 1
        if tried == 3:  # erasing one's data does not reset the count
            await guesser.send("/xoadulieu")
            await guesser.press("Xóa dữ liệu")
            assert "privacy.erase.done" in guesser.keys
    await guesser.send(f"/thamgia {real}")
    assert guesser.keys == ["recruit.people.too_many_account"]
    assert "mình" in guesser.text and "mã mới" in guesser.text  # warm, with a next step
    async with app.db.session() as session:
        roles = app.engine.services.roles
        assert await roles.roles_of(session, Who("zalo_bot", "zl-guesser")) == set()
        attempts = list(await session.scalars(select(CodeAttempt)))
    assert len(attempts) == 5 and {a.purpose for a in attempts} == {"invite"}
    await app.flush_outbox()
    alerts = [o.text for o in telegram.to(STAFF) if "Cảnh báo" in o.text]
    assert len(alerts) == 1 and "/thamgia" in alerts[0] and "zl-guesser" not in alerts[0]
    # the code still works for someone who was really given it
    invited = Chat(app, telegram, user_id="3300")
    await invited.send(f"/thamgia {real}")
    assert "recruit.people.joined" in invited.keys


# -- staff ids per channel ----------------------------------------------------------------------


async def test_zalo_id_equal_to_a_telegram_staff_id_gets_nothing(make_app: Any) -> None:
    app, _telegram, zalo = await two_channels(
        make_app, {"staff": [STAFF], "membership": [STAFF], "zalo_bot": {"staff": ["zl-boss"]}}
    )
    impostor = Chat(app, zalo, user_id=STAFF)
    await impostor.send("/moithanhvien canbo")
    assert impostor.keys == ["recruit.people.not_staff"]
    await impostor.send("/donmoi")
    assert "join.staff.refused" in impostor.keys
    async with app.db.session() as session:
        roles = app.engine.services.roles
        assert await roles.roles_of(session, Who("zalo_bot", STAFF)) == set()
        assert await roles.roles_of(session, Who("telegram", STAFF)) == {"staff", "membership"}
        assert await roles.roles_of(session, Who("zalo_bot", "zl-boss")) == {"staff"}
        assert await roles.roles_of(session, Who("telegram", "zl-boss")) == set()
    # staff configured on Zalo act there
    boss = Chat(app, zalo, user_id="zl-boss")
    await boss.send("/moithanhvien ctv")
    assert "recruit.people.code" in boss.keys


def test_staff_config_shapes(tmp_path: Any) -> None:
    def parsed(staff: Any) -> Any:
        return staff_ids(Settings(extra={"staff": staff}))

    # the original shape: Telegram ids
    assert parsed({"staff": [1, "2"]}) == {"staff": ["1", "2"]}
    both = parsed({"staff": [1], "zalo_oa": {"membership": ["z9"]}})
    assert both == {"staff": ["1"], "zalo_oa": {"membership": ["z9"]}}
    roles = Roles(both)
    assert roles.configured_accounts("membership") == [Who("zalo_oa", "z9")]
    assert roles.configured_accounts("staff") == [Who("telegram", "1")]
    with pytest.raises(ConfigError):
        parsed({"facebook": {"staff": ["1"]}})
    with pytest.raises(ConfigError):
        parsed({"zalo_bot": {"staff": "1"}})


# -- nobody decides their own application ---------------------------------------------------------


async def test_an_officer_cannot_admit_their_own_application(make_app: Any) -> None:
    from tests.test_join import FEATS

    channel = CaptureChannel("telegram")
    app = await make_app(channel, features=FEATS, extra={"staff": {"membership": ["9001", "9003"]}})
    officer = Chat(app, channel, user_id="9001")
    reference = await join(officer)
    [own] = await applications(officer)
    for payload in (f"mship:admit:{own.id}", f"mship:return:{own.id}"):
        await officer.deliver(officer._inbound(Kind.BUTTON, payload=payload))
        assert officer.keys == ["join.staff.own_application"], officer.keys
        assert reference in officer.text and "cán bộ khác" in officer.text
    [own] = await applications(officer)
    assert own.status == repo.PENDING
    colleague = Chat(app, channel, user_id="9003")
    await colleague.deliver(colleague._inbound(Kind.BUTTON, payload=f"mship:admit:{own.id}"))
    assert "join.staff.admitted" in colleague.keys
    [own] = await applications(officer)
    assert own.status == repo.ADMITTED


async def test_the_dashboard_refuses_self_admission(make_app: Any, clock: Any) -> None:
    channel = CaptureChannel("telegram")
    app = await make_app(channel, extra={"staff": {}})
    crypto = app.engine.services.crypto
    body = "Công đoàn phường Lê Chân"
    async with app.db.transaction() as session:
        await seed.officer(session, crypto, "7002", body, "membership")
        contact = await seed.worker(session, "7002")  # the officer's own chat account
        own = await seed.application(session, crypto, contact_id=contact, union_body=body,
                                     at=clock())  # fmt: skip
        own_id = own.id
    client = TestClient(TestServer(build_web_app(app)))
    await client.start_server()
    try:
        chat = Chat(app, channel, user_id="7002")
        await chat.send("/dangnhap")
        token = re.search(r"/dangnhap/(\S+)", chat.text).group(1)
        await client.post(f"/dangnhap/{token}", allow_redirects=False)
        page = await (await client.get("/tongquan")).text()
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
        admit = await client.post(f"/don/{own_id}/duyet", data={"csrf": csrf})
        assert admit.status == 403 and "đơn của chính bạn" in await admit.text()
        back = await client.post(
            f"/don/{own_id}/tralai", data={"csrf": csrf, "ly_do": "Thiếu thông tin công ty"}
        )
        assert back.status == 403
    finally:
        await client.close()
    async with app.db.session() as session:
        assert (await session.get(repo.MemberApplication, own_id)).status == repo.PENDING


# -- errors in the staff group ------------------------------------------------------------------


async def test_an_error_in_the_staff_group_gets_a_short_reply_and_changes_nothing(
    make_app: Any,
) -> None:
    from tests.test_join import FEATS

    channel = CaptureChannel("telegram")
    app = await make_app(channel, features=FEATS, extra={"staff": {"membership": ["9001"]}})
    worker = Chat(app, channel, user_id="1001")
    await join(worker)
    [before] = await applications(worker)

    async def breaks(ctx: Any) -> list[Outgoing] | None:
        if ctx.inbound.command != "hong":
            return None
        app_row = await repo.get_for_update(ctx.session, before.id)
        app_row.status = repo.ADMITTED  # half done when it fails
        raise RuntimeError("bug in a staff handler")

    app.engine.group_handlers.insert(0, breaks)

    def in_group(kind: Kind, **values: Any) -> Inbound:
        return Inbound(Address("telegram", "-100500"), "9001", kind,
                       dedupe_key=f"g{values}", chat_type="supergroup", **values)  # fmt: skip

    replies = await app.engine.handle(in_group(Kind.COMMAND, text="/hong", command="hong"))
    assert len(replies) == 1 and replies[0].address.chat_id == "-100500"
    assert "Lỗi" in replies[0].text and "giữ nguyên" in replies[0].text
    assert len(replies[0].text) < 200
    [after] = await applications(worker)
    assert after.status == repo.PENDING  # the case stays intact
    # chatter in the group that was not for the bot gets no reply, even when a handler fails
    app.engine.group_handlers.insert(0, _always_breaks)
    assert await app.engine.handle(in_group(Kind.TEXT, text="chào cả nhà")) == []


async def _always_breaks(ctx: Any) -> list[Outgoing] | None:
    raise RuntimeError("bug")
