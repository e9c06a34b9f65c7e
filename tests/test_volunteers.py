"""Volunteers: area-scoped visibility by every route, claim and progress, reminders, re-offers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from storage import enterprises as repo
from storage.enterprises import Enterprise, Lead
from tests.driver import CaptureChannel
from tests.test_leads import (
    AN_BIEN,
    CAT_HAI,
    LE_CHAN,
    flush,
    payloads,
    person_chat,
    press_payload,
    recruit_app,
    register,
    report,
    sent_to,
    worker,
)


async def _lead(app: Any, name: str, area: str | None, size: str = "25_99", now: Any = None) -> int:
    """A lead recorded the way the join form records one (not announced yet)."""
    async with app.db.transaction() as session:
        lead = await repo.report_enterprise(
            session, name=name, area_code=area, size_band=size, union_status="unknown",
            reporter_contact_id=None, contact_ok=False, source="join",
            now=now or app.engine.clock(),
        )  # fmt: skip
        return int(lead.id)


async def _status(app: Any, lead_id: int) -> tuple[str, int | None]:
    async with app.db.session() as session:
        lead = await session.get(Lead, lead_id)
        assert lead is not None
        return lead.status, lead.claimed_by


async def test_a_volunteer_never_sees_a_lead_outside_their_areas(make_app) -> None:
    app, channel = await recruit_app(make_app)
    await register(app, "9001", "volunteer", (LE_CHAN,))
    await register(app, "9002", "volunteer", (AN_BIEN,))
    mine = await _lead(app, "Công ty TNHH Ở Lê Chân", LE_CHAN)
    theirs = await _lead(app, "Công ty TNHH Ở An Biên", AN_BIEN)
    nowhere = await _lead(app, "Công ty TNHH Không Rõ Chỗ", None)
    a = person_chat(app, channel, "9001")

    await a.send("/leads")
    assert "leads.vol.list" in a.keys
    assert "Ở Lê Chân" in a.text and "Ở An Biên" not in a.text and "Không Rõ Chỗ" not in a.text
    assert [p for _, p in a.options() if p.startswith("vol:show")] == [f"vol:show:{mine}"]
    await a.send("/leads 2")
    assert "Ở An Biên" not in a.text

    # Forged payloads with another area's lead id (and ids that do not exist) all fail alike.
    for lead_id in (theirs, nowhere, 999999):
        for payload in (
            f"vol:show:{lead_id}", f"vol:claim:{lead_id}", f"vol:hist:{lead_id}",
            f"vol:prog:{lead_id}:contacted", f"vol:prog:{lead_id}:founded",
            f"vol:rel:{lead_id}", f"vol:msg:{lead_id}",
        ):  # fmt: skip
            await press_payload(a, payload)
            assert a.keys == ["leads.vol.not_found"], (payload, a.keys)
            assert "An Biên" not in a.text and "Không Rõ" not in a.text
    assert await _status(app, theirs) == ("new", None)
    assert await _status(app, nowhere) == ("new", None)
    await press_payload(a, "vol:show:abc")
    assert a.keys == ["leads.vol.not_found"]

    # Claiming their own, then "my leads" lists only that.
    await press_payload(a, f"vol:claim:{mine}")
    assert "leads.vol.claimed" in a.keys
    await press_payload(a, "vol:mine")
    assert "leads.vol.list_mine" in a.keys and "Ở Lê Chân" in a.text

    # The other volunteer cannot act on a lead of their own area claimed by someone else
    # either (same area needed): register a second Lê Chân volunteer.
    await register(app, "9003", "volunteer", (LE_CHAN,))
    c = person_chat(app, channel, "9003")
    await press_payload(c, f"vol:prog:{mine}:contacted")
    assert "leads.vol.not_yours" in c.keys
    await press_payload(c, f"vol:rel:{mine}")
    assert "leads.vol.not_yours" in c.keys
    assert await _status(app, mine) == ("claimed", await _person_id(app, "9001"))


async def _person_id(app: Any, external_id: str) -> int:
    from storage.people import Person

    async with app.db.session() as session:
        return int(
            (
                await session.scalars(select(Person.id).where(Person.external_id == external_id))
            ).first()
        )


async def test_workers_and_unregistered_people_see_no_leads(make_app) -> None:
    app, channel = await recruit_app(make_app)
    lead_id = await _lead(app, "Công ty TNHH Bí Mật", LE_CHAN)
    stranger = worker(app, channel, "3003")
    await stranger.send("/leads")
    assert stranger.keys == ["leads.vol.not_volunteer"]
    await press_payload(stranger, f"vol:show:{lead_id}")
    assert stranger.keys == ["leads.vol.not_volunteer"] and "Bí Mật" not in stranger.text
    await press_payload(stranger, f"vol:claim:{lead_id}")
    assert await _status(app, lead_id) == ("new", None)
    # A volunteer registered without areas sees nothing yet.
    await register(app, "9009", "volunteer", ())
    empty = person_chat(app, channel, "9009")
    await empty.send("/leads")
    assert empty.keys == ["leads.vol.no_areas"]


async def test_staff_see_every_area(make_app) -> None:
    app, channel = await recruit_app(make_app, extra={"staff": {"staff": ["8000"]}})
    await _lead(app, "Cty Một", LE_CHAN)
    await _lead(app, "Cty Hai", AN_BIEN)
    other = await _lead(app, "Cty Ba", None)
    staff = person_chat(app, channel, "8000")
    await staff.send("/leads")
    assert all(name in staff.text for name in ("Cty Một", "Cty Hai", "Cty Ba"))
    await press_payload(staff, f"vol:claim:{other}")
    assert "leads.vol.claimed" in staff.keys
    status, claimed_by = await _status(app, other)
    assert status == "claimed" and claimed_by is not None


async def test_list_is_ranked_and_paged(make_app) -> None:
    app, channel = await recruit_app(make_app)
    await register(app, "9001", "volunteer", (LE_CHAN, CAT_HAI))
    for i in range(9):
        await _lead(app, f"Cty Nhỏ {i}", LE_CHAN, size="lt20")
    big = await _lead(app, "Cty Lớn Cát Hải", CAT_HAI, size="100_499")
    twenty = await _lead(app, "Cty Hai Mươi", LE_CHAN, size="20_24")
    v = person_chat(app, channel, "9001")
    await v.send("/leads")
    shows = [p for _, p in v.options() if p.startswith("vol:show")]
    assert shows[:2] == [f"vol:show:{big}", f"vol:show:{twenty}"]
    assert "trang 1/2, 11 công ty" in v.text
    await v.press("Trang sau")
    assert "trang 2/2" in v.text and len([p for _, p in v.options() if "show" in p]) == 3


async def test_claim_progress_with_notes_and_founding(make_app) -> None:
    app, channel = await recruit_app(make_app)
    await register(app, "9001", "volunteer", (LE_CHAN,))
    lead_id = await _lead(app, "Công ty TNHH Hợp Lực", LE_CHAN)
    v = person_chat(app, channel, "9001")
    await press_payload(v, f"vol:show:{lead_id}")
    await v.press("Nhận hỗ trợ")
    assert "leads.vol.claimed" in v.keys
    await v.press("Đã liên hệ")
    assert "leads.vol.ask_note" in v.keys
    await v.send("Đã gặp 3 anh chị ở tổ may, hẹn tuần sau")
    assert "leads.vol.saved" in v.keys
    # Going back a step is not offered and not accepted.
    assert f"vol:prog:{lead_id}:contacted" not in [p for _, p in v.options()]
    await press_payload(v, f"vol:prog:{lead_id}:contacted")
    assert "leads.vol.detail" in v.keys and "leads.vol.ask_note" not in v.keys
    await v.press("nhóm nòng cốt")
    await v.press("Bỏ qua")
    assert await _status(app, lead_id) == ("core_group", await _person_id(app, "9001"))
    await v.press("ban vận động")  # the organising committee, a step of its own
    await v.press("Bỏ qua")
    assert await _status(app, lead_id) == ("committee", await _person_id(app, "9001"))
    assert f"vol:prog:{lead_id}:core_group" not in [p for _, p in v.options()]
    await v.press("Đã thành lập CĐCS")
    await v.send("Đại hội thành lập ngày 20/12")
    assert "leads.vol.founded" in v.keys
    await press_payload(v, f"vol:hist:{lead_id}")
    assert "Đã gặp 3 anh chị" in v.text and "Đại hội thành lập" in v.text
    assert "đã thành lập CĐCS" in v.text
    async with app.db.session() as session:
        assert await repo.union_recorded(session, "cty tnhh hop luc", LE_CHAN)
        lead = await session.get(Lead, lead_id)
        assert lead is not None
        changes = await repo.history_of(session, lead_id)
        # Notes are stored encrypted.
        assert all("Đã gặp" not in (c.note_enc or "") for c in changes)
    await v.send("/leads")
    assert "leads.vol.empty" in v.keys  # a founded union leaves the list


async def test_release_and_reoffer_to_the_others_and_staff_once(make_app, clock) -> None:
    app, channel = await recruit_app(make_app, extra={"staff": {"staff": ["8000"]}})
    await register(app, "9001", "volunteer", (LE_CHAN,))
    await register(app, "9003", "volunteer", (LE_CHAN,))
    await register(app, "9002", "volunteer", (AN_BIEN,))
    job = followup_job(app)
    w = worker(app, channel)
    await report(w, company="Công ty TNHH Ánh Sao")  # announced at once by the form
    async with app.db.session() as session:
        lead_id = (await session.scalars(select(Lead.id))).one()
    await flush(app)
    assert len(sent_to(channel, "9001")) == len(sent_to(channel, "9003")) == 1
    counts = {who: len(sent_to(channel, who)) for who in ("9001", "9002", "9003", "8000")}

    clock.advance(days=6, hours=23)
    await job(clock())
    await flush(app)
    assert {who: len(sent_to(channel, who)) for who in counts} == counts  # not yet

    clock.advance(hours=2)
    await job(clock())
    await flush(app)
    offers = {who: sent_to(channel, who)[counts[who] :] for who in counts}
    assert [o.text[:1] for o in offers["9001"]] == ["🔁"]
    assert [o.text[:1] for o in offers["9003"]] == ["🔁"]
    assert offers["9002"] == []  # another area
    assert len(offers["8000"]) == 1 and "2 tình nguyện viên" in offers["8000"][0].text
    assert payloads(offers["8000"][0]) == [f"vol:show:{lead_id}"]

    counts = {who: len(sent_to(channel, who)) for who in counts}
    for _ in range(3):  # once, not on every tick
        clock.advance(hours=1)
        await job(clock())
    await flush(app)
    assert {who: len(sent_to(channel, who)) for who in counts} == counts

    # 9001 claims, then gives it back: after 7 more days only 9003 (and staff) are asked.
    v = person_chat(app, channel, "9001")
    await press_payload(v, f"vol:claim:{lead_id}")
    await v.press("Trả lại")
    assert "leads.vol.released" in v.keys
    counts = {who: len(sent_to(channel, who)) for who in counts}
    clock.advance(days=7, minutes=1)
    await job(clock())
    await flush(app)
    new = {who: len(sent_to(channel, who)) - counts[who] for who in counts}
    assert new == {"9001": 0, "9002": 0, "9003": 1, "8000": 1}


async def test_reminder_after_14_days_without_progress(make_app, clock) -> None:
    app, channel = await recruit_app(make_app)
    await register(app, "9001", "volunteer", (LE_CHAN,))
    lead_id = await _lead(app, "Công ty TNHH Chậm Chạp", LE_CHAN)
    job = followup_job(app)
    await job(clock())  # announces the lead recorded by the join form
    await flush(app)
    (announce,) = sent_to(channel, "9001")
    assert "Chậm Chạp" in announce.text and payloads(announce) == [f"vol:show:{lead_id}"]
    await job(clock())
    await flush(app)
    assert len(sent_to(channel, "9001")) == 1  # announced once

    v = person_chat(app, channel, "9001")
    await press_payload(v, f"vol:claim:{lead_id}")
    before = len(sent_to(channel, "9001"))
    clock.advance(days=13, hours=23)
    await job(clock())
    await flush(app)
    assert len(sent_to(channel, "9001")) == before

    clock.advance(hours=2)
    await job(clock())
    await job(clock())
    await flush(app)
    reminders = sent_to(channel, "9001")[before:]
    assert len(reminders) == 1 and reminders[0].text.startswith("⏰")
    assert "14 ngày" in reminders[0].text
    assert f"vol:prog:{lead_id}:contacted" in payloads(reminders[0])
    assert f"vol:rel:{lead_id}" in payloads(reminders[0])

    # Progress resets the clock; another 14 quiet days bring the next reminder.
    await press_payload(v, f"vol:prog:{lead_id}:contacted")
    await v.press("Bỏ qua")
    before = len(sent_to(channel, "9001"))
    clock.advance(days=10)
    await job(clock())
    clock.advance(days=4, minutes=1)
    await job(clock())
    await flush(app)
    assert len(sent_to(channel, "9001")) == before + 1
    assert "đã liên hệ" in sent_to(channel, "9001")[-1].text


async def test_leads_without_area_volunteers_go_to_staff(make_app) -> None:
    app, channel = await recruit_app(make_app, extra={"staff": {"staff": ["8000"]}})
    w = worker(app, channel)
    await report(w, company="Công ty TNHH Đảo Xa", area="Cát Hải")
    await flush(app)
    (note,) = sent_to(channel, "8000")
    assert "Đảo Xa" in note.text


async def test_zalo_volunteer_channel_is_respected(make_app) -> None:
    telegram = CaptureChannel("telegram")
    app = await make_app(telegram, CaptureChannel("zalo", buttons=False),
                         features=recruit_features())  # fmt: skip
    await register(app, "777", "volunteer", (LE_CHAN,), channel="telegram")
    await _lead(app, "Công ty TNHH Bên Kia", LE_CHAN)
    await app.run_job("leads.followup")
    await flush(app)
    assert [o.address.channel for o in telegram.to("777")] == ["telegram"]
    async with app.db.session() as session:
        assert (await session.scalars(select(Enterprise.name))).one() == "Công ty TNHH Bên Kia"


def recruit_features() -> tuple[str, ...]:
    from tests.test_leads import ALL_FEATURES

    return ALL_FEATURES


def followup_job(app: Any) -> Any:
    """The lead follow-up job of this app, run at a chosen time."""

    async def run(now: Any) -> None:
        await app.run_job("leads.followup", now)

    return run
