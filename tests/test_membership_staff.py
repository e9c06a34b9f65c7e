"""Membership officers list, admit and return applications; the worker hears on their channel."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot.core.areas import Area, AreaIndex
from bot.core.events import Photo
from storage import membership as repo
from storage.migrate import upgrade_async
from storage.people import add_person
from tests.driver import CaptureChannel, Chat
from tests.test_join import (
    FEATS,
    LE_CHAN_UNION,
    NAME,
    PHONE,
    applications,
    join,
    other_chat,
    press_payload,
)

OFFICER = "9001"
BOSS = "9002"
OTHER_OFFICER = "9003"
STAFF = {"membership": [OFFICER], "staff": [BOSS]}


async def setup(make_app: Any, **kwargs: Any) -> tuple[Chat, Chat]:
    """A worker and an officer (configured in [staff], so on Telegram) on one app."""
    channel = CaptureChannel("telegram")
    settings_extra = {"staff": STAFF}
    app = await make_app(channel, features=FEATS, extra=settings_extra, **kwargs)
    worker = Chat(app, channel, user_id="1001")
    officer = Chat(app, channel, user_id=OFFICER)
    return worker, officer


async def audit_actions(chat: Chat) -> list[repo.AuditEntry]:
    async with chat.app.db.session() as session:
        return await repo.audit_entries(session)


async def test_non_staff_is_refused(make_app) -> None:
    worker, _ = await setup(make_app)
    await join(worker)
    await worker.send("/donmoi")
    assert "join.staff.refused" in worker.keys
    assert NAME not in worker.text
    [app] = await applications(worker)
    await press_payload(worker, f"mship:admit:{app.id}")
    assert "join.staff.refused" in worker.keys
    [app] = await applications(worker)
    assert app.status == repo.PENDING
    assert (await audit_actions(worker))[-1].action == "staff.refused"


async def test_officer_admits_and_the_worker_is_told(make_app) -> None:
    worker, officer = await setup(make_app)
    reference = await join(worker)
    await worker.app.flush_outbox()
    assert any(reference in o.text for o in worker.channel.to(OFFICER))  # new-application note
    assert not any(NAME in o.text for o in worker.channel.to(OFFICER))  # ...without the name

    await officer.send("/donmoi")
    assert "join.staff.header" in officer.keys
    assert NAME in officer.text and PHONE in officer.text and reference in officer.text
    entries = await audit_actions(officer)
    viewed = [e for e in entries if e.action == "staff.viewed_pending"]
    assert viewed and viewed[-1].detail["references"] == [reference]
    assert viewed[-1].actor.startswith("staff:") and OFFICER not in viewed[-1].actor

    await officer.press("Duyệt")
    assert "join.staff.admitted" in officer.keys
    [app] = await applications(worker)
    assert app.status == repo.ADMITTED
    async with worker.app.db.session() as session:
        statuses = [h.status for h in await repo.history(session, app.id)]
    assert statuses == [repo.PENDING, repo.ADMITTED]

    before = len(worker.channel.to("1001"))
    await worker.app.flush_outbox()
    told, card = worker.channel.to("1001")[before:]  # the decision, then the card image
    assert isinstance(card.content, Photo) and "/thedoanvien" in card.content.caption
    assert reference in told.text
    assert "đã được" in told.text and "duyệt" in told.text
    assert told.address.channel == "telegram"

    await worker.send("/trangthai")
    assert "join.status.detail.admitted" in worker.keys

    await officer.send("/donmoi")
    assert "join.staff.none" in officer.keys


async def test_officer_returns_with_a_reason(make_app) -> None:
    worker, officer = await setup(make_app)
    reference = await join(worker)
    await officer.send("/donmoi")
    await officer.press("Trả lại")
    assert "join.staff.ask_reason" in officer.keys
    await officer.send("ngắn")
    assert "join.staff.reason_short" in officer.keys
    reason = "Bạn ghi sai tên công ty, vui lòng làm lại đơn với tên đầy đủ."
    await officer.send(reason)
    assert "join.staff.returned" in officer.keys
    [app] = await applications(worker)
    assert app.status == repo.RETURNED
    assert app.return_reason_enc and reason not in app.return_reason_enc

    before = len(worker.channel.to("1001"))
    await worker.app.flush_outbox()
    [told] = worker.channel.to("1001")[before:]
    assert reference in told.text and reason in told.text
    await worker.send("/trangthai")
    assert reason in worker.text


async def test_return_can_be_called_off(make_app) -> None:
    worker, officer = await setup(make_app)
    await join(worker)
    await officer.send("/donmoi")
    await officer.press("Trả lại")
    await officer.press("Thôi")
    assert "join.staff.return_cancelled" in officer.keys
    [app] = await applications(worker)
    assert app.status == repo.PENDING


async def test_a_decided_application_cannot_be_decided_again(make_app) -> None:
    worker, officer = await setup(make_app)
    await join(worker)
    await officer.send("/donmoi")
    admit = officer.find_payload("Duyệt")
    await officer.press("Duyệt")
    boss = other_chat(officer, BOSS)
    await press_payload(boss, admit)
    assert "join.staff.already_decided" in boss.keys
    async with worker.app.db.session() as session:
        [app] = list(await session.scalars(select(repo.MemberApplication)))
        assert len(await repo.history(session, app.id)) == 2


async def test_officers_see_only_their_union_body(make_app) -> None:
    worker, officer = await setup(make_app)
    worker.app.engine.services.areas = AreaIndex(
        [
            Area("11383", "Phường Lê Chân", "phường", (), LE_CHAN_UNION),
            Area("11407", "Phường An Biên", "phường", (), ""),
        ]
    )
    async with worker.app.db.transaction() as session:
        await add_person(
            session,
            role="membership",
            external_id=OTHER_OFFICER,
            channel="telegram",
            union_body=LE_CHAN_UNION,
        )
    le_chan = await join(worker, pick="Phường Lê Chân")
    city = await join(
        other_chat(worker, "1002"), phone="0987 654 321", area="an bien", pick="Phường An Biên"
    )

    scoped = other_chat(worker, OTHER_OFFICER)
    await scoped.send("/donmoi")
    assert le_chan in scoped.text and city not in scoped.text
    [app_city] = [a for a in await applications(worker) if a.reference == city]
    await press_payload(scoped, f"mship:admit:{app_city.id}")
    assert "join.staff.not_found" in scoped.keys  # another body's application

    await officer.send("/donmoi")  # configured without a body: sees all
    assert le_chan in officer.text and city in officer.text
    boss = other_chat(worker, BOSS)
    await boss.send("/donmoi")  # role "staff": sees all
    assert le_chan in boss.text and city in boss.text


async def test_withdrawn_or_erased_applications_disappear_for_officers(make_app) -> None:
    worker, officer = await setup(make_app)
    await join(worker)
    await officer.send("/donmoi")
    admit = officer.find_payload("Duyệt")
    await worker.send("/rutdongy")
    await worker.press("Rút đồng ý")
    await press_payload(officer, admit)
    assert "join.staff.not_found" in officer.keys
    await officer.send("/donmoi")
    assert "join.staff.none" in officer.keys


async def test_returned_personal_data_expires(make_app, clock) -> None:
    worker, officer = await setup(make_app)
    await join(worker)
    await officer.send("/donmoi")
    await officer.press("Trả lại")
    await officer.send("Thiếu thông tin nơi làm việc, bạn làm lại đơn nhé.")

    async def job(now: Any) -> None:
        await worker.app.run_job("join.retention", now)

    clock.advance(days=89)
    await job(clock.now)
    [app] = await applications(worker)
    assert app.name_enc is not None
    clock.advance(days=2)
    await job(clock.now)
    [app] = await applications(worker)
    assert (app.name_enc, app.phone_enc, app.return_reason_enc) == (None, None, None)
    assert app.personal_data_erased_at == clock.now
    assert (await audit_actions(worker))[-1].action == "retention.wiped"
    await worker.send("/trangthai")
    assert "join.status.detail.reason_erased" in worker.keys
    assert app.decided_at is not None and clock.now - app.decided_at > timedelta(days=90)


async def test_staff_flow_on_migrated_database(make_app, db_url: str) -> None:
    await upgrade_async(db_url)
    worker, officer = await setup(make_app, url=db_url, create_schema=False)
    reference = await join(worker)
    await officer.send("/donmoi")
    await officer.press("Duyệt")
    await worker.app.flush_outbox()
    assert any(reference in o.text and "duyệt" in o.text for o in worker.channel.to("1001"))
