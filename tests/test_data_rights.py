"""The worker's data rights: see what is held, withdraw consent, erase — each logged, no PII."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.core.context import Ctx
from storage import membership as repo
from storage.contacts import load_state
from storage.migrate import upgrade_async
from tests.test_join import (
    COMPANY,
    E164,
    NAME,
    PHONE,
    applications,
    crypto,
    database_bytes,
    fill_form,
    join,
    new_chat,
    press_payload,
    start_and_consent,
)


async def audit(chat: Any) -> list[repo.AuditEntry]:
    async with chat.app.db.session() as session:
        return await repo.audit_entries(session)


async def requests(chat: Any) -> list[repo.DataRightsRequest]:
    async with chat.app.db.session() as session:
        return await repo.requests_of(session, 1)


def assert_no_personal_data(entries: list[repo.AuditEntry]) -> None:
    dumped = json.dumps(
        [(e.action, e.actor, e.subject, e.channel, e.detail) for e in entries], ensure_ascii=False
    )
    for plain in (NAME, "0912345678", E164, "912345678", COMPANY, "1001"):
        assert plain not in dumped, plain


# -- /dulieucuatoi ---------------------------------------------------------------------------


async def test_my_data_shows_everything_decrypted(make_app) -> None:
    chat = await new_chat(make_app)
    reference = await join(chat)
    await chat.send("/dulieucuatoi")
    assert "privacy.mydata.header" in chat.keys
    for shown in (reference, NAME, PHONE, COMPANY, "Phường Lê Chân", "công nhân may"):
        assert shown in chat.text, shown
    assert "/rutdongy" in chat.text and "/xoadulieu" in chat.text
    [request] = await requests(chat)
    assert (request.kind, request.status) == ("access", "done")
    entries = await audit(chat)
    assert entries[-1].action == "data.viewed"
    assert_no_personal_data(entries)


async def test_my_data_when_nothing_is_held(make_app) -> None:
    chat = await new_chat(make_app)
    await chat.send("/dulieucuatoi")
    assert "privacy.mydata.none" in chat.keys


async def test_my_data_mentions_a_half_filled_form(make_app) -> None:
    chat = await new_chat(make_app)
    await start_and_consent(chat)
    await chat.send(NAME)
    await chat.send("/dulieucuatoi")
    assert "privacy.mydata.in_form" in chat.keys


class FakeProvider:
    """Another feature's data: the commands must reach it through the extension point."""

    def __init__(self) -> None:
        self.erased: list[int] = []

    async def describe(self, ctx: Ctx) -> list[str]:
        return [] if ctx.contact_id in self.erased else ["• Câu hỏi gửi trung tâm tư vấn: 1"]

    async def withdraw(self, ctx: Ctx) -> bool:
        return False

    async def erase(self, ctx: Ctx) -> None:
        self.erased.append(ctx.contact_id)


async def test_other_features_data_is_described_and_erased(make_app) -> None:
    chat = await new_chat(make_app)
    fake = FakeProvider()
    chat.app.engine.services.personal_data.append(fake)
    await chat.send("/dulieucuatoi")
    assert "Câu hỏi gửi trung tâm tư vấn: 1" in chat.text
    await chat.send("/xoadulieu")
    await chat.press("Xóa dữ liệu")
    assert fake.erased == [1]


# -- /rutdongy -------------------------------------------------------------------------------


async def test_withdrawing_consent_stops_processing(make_app) -> None:
    chat = await new_chat(make_app)
    reference = await join(chat)
    await chat.send("/rutdongy")
    await chat.press("Rút đồng ý")
    assert "privacy.withdraw.done" in chat.keys
    assert "mã đơn" in chat.text  # says what is kept

    [app] = await applications(chat)
    assert app.status == repo.WITHDRAWN
    assert (app.name_enc, app.phone_enc, app.phone_hash, app.company_enc, app.job_enc) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert app.reference == reference
    async with chat.app.db.session() as session:
        [consent] = await repo.consents_of(session, 1)
        pending, _ = await repo.pending_for(session, None)
    assert consent.withdrawn_at is not None
    assert pending == []  # officers no longer see it
    [request] = await requests(chat)
    assert (request.kind, request.status) == ("withdraw", "done")
    entries = await audit(chat)
    assert entries[-1].action == "consent.withdrawn"
    assert_no_personal_data(entries)

    await chat.send("/trangthai")
    assert "join.status.detail.withdrawn" in chat.keys
    await chat.send("/dulieucuatoi")
    assert "privacy.mydata.consent_withdrawn" in chat.keys
    assert NAME not in chat.text


async def test_withdrawing_mid_form_drops_the_form(make_app) -> None:
    chat = await new_chat(make_app)
    await start_and_consent(chat)
    await chat.send(NAME)
    await chat.send("/rutdongy")
    await chat.press("Rút đồng ý")
    assert "privacy.withdraw.done" in chat.keys
    async with chat.app.db.session() as session:
        state = await load_state(session, 1)
    assert state.flow is None and "form" not in state.data


async def test_withdrawing_with_nothing_held(make_app) -> None:
    chat = await new_chat(make_app)
    await chat.send("/rutdongy")
    await chat.press("Rút đồng ý")
    assert "privacy.withdraw.nothing" in chat.keys
    [request] = await requests(chat)
    assert request.kind == "withdraw"


async def test_withdrawal_unlinks_the_worker_from_a_lead(make_app) -> None:
    enterprises = pytest.importorskip("storage.enterprises")
    chat = await new_chat(make_app)
    await join(chat, union="Chưa", contact="Có, được liên hệ")
    await chat.send("/rutdongy")
    await chat.press("Rút đồng ý")
    async with chat.app.db.session() as session:
        [report] = list(await session.scalars(select(enterprises.LeadReport)))
    assert report.reporter_contact_id is None
    assert report.contact_ok is False
    assert report.contact_enc is None


# -- /xoadulieu ------------------------------------------------------------------------------


async def test_erasure_after_confirmation(make_app, tmp_path: Path) -> None:
    db_file = tmp_path / "erase.db"
    chat = await new_chat(make_app, url=f"sqlite+aiosqlite:///{db_file}")
    reference = await join(chat, contact="Có, được liên hệ")
    [app] = await applications(chat)
    ciphertexts = [app.name_enc, app.phone_enc, app.company_enc]

    await chat.send("/xoadulieu")
    assert "privacy.erase.confirm" in chat.keys
    assert await applications(chat)  # nothing deleted before the confirmation
    [request] = await requests(chat)
    assert request.status == "awaiting_confirmation"

    await chat.press("Xóa dữ liệu")
    assert "privacy.erase.done" in chat.keys
    assert "đã xóa" in chat.text

    assert await applications(chat) == []
    async with chat.app.db.session() as session:
        assert await session.scalar(select(func.count(repo.ApplicationEvent.id))) == 0
        assert await repo.consents_of(session, 1) == []
        state = await load_state(session, 1)
    assert state.flow is None and state.data == {}
    [request] = await requests(chat)
    assert (request.kind, request.status) == ("erase", "done")
    entries = await audit(chat)
    assert [e.action for e in entries][-2:] == ["data.erase_requested", "data.erased"]
    assert any(e.subject == reference for e in entries)  # the history of the reference stays
    assert_no_personal_data(entries)

    await chat.app.stop()  # checkpoint: deleted pages are overwritten (secure_delete)
    data = database_bytes(db_file)
    for token in ciphertexts:
        assert token.encode() not in data

    again = await new_chat(make_app, url=f"sqlite+aiosqlite:///{db_file}")
    await again.send("/dulieucuatoi")
    assert "privacy.mydata.none" in again.keys


async def test_erasure_can_be_declined_and_buttons_go_stale(make_app) -> None:
    chat = await new_chat(make_app)
    await join(chat)
    await chat.send("/xoadulieu")
    erase_payload = chat.find_payload("Xóa dữ liệu")
    await chat.press("Không xóa")
    assert "privacy.erase.kept" in chat.keys
    assert len(await applications(chat)) == 1
    await press_payload(chat, erase_payload)  # the old button does nothing now
    assert "privacy.erase.stale" in chat.keys
    assert len(await applications(chat)) == 1
    await press_payload(chat, "data:erase:999")
    assert "privacy.erase.stale" in chat.keys


async def test_another_workers_erase_button_is_refused(make_app) -> None:
    chat = await new_chat(make_app)
    await join(chat)
    await chat.send("/xoadulieu")
    payload = chat.find_payload("Xóa dữ liệu")
    from tests.test_join import other_chat

    stranger = other_chat(chat, "6666")
    await press_payload(stranger, payload)
    assert "privacy.erase.stale" in stranger.keys
    assert len(await applications(chat)) == 1


async def test_erasure_mid_form_and_a_new_join_after(make_app) -> None:
    chat = await new_chat(make_app)
    await start_and_consent(chat)
    await fill_form(chat)
    await chat.send("/xoadulieu")
    await chat.press("Xóa dữ liệu")
    assert "privacy.erase.done" in chat.keys
    await press_payload(chat, "form:submit")
    assert await applications(chat) == []
    await join(chat)  # the worker may join again later
    assert len(await applications(chat)) == 1


async def test_data_rights_on_migrated_database(make_app, db_url: str) -> None:
    await upgrade_async(db_url)
    chat = await new_chat(make_app, url=db_url, create_schema=False)
    await join(chat)
    await chat.send("/rutdongy")
    await chat.press("Rút đồng ý")
    await chat.send("/xoadulieu")
    await chat.press("Xóa dữ liệu")
    assert "privacy.erase.done" in chat.keys
    assert await applications(chat) == []
    assert [r.kind for r in await requests(chat)] == ["withdraw", "erase"]
    assert_no_personal_data(await audit(chat))
    assert crypto(chat) is not None
