"""Storage on a migrated SQLite file and on PostgreSQL (when reachable): same behaviour."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import inspect, select

from bot.core.events import Address, Inbound, Kind, Outgoing, Receipt, Text
from storage import contacts, events, outbox
from storage.db import Database
from storage.migrate import upgrade_async
from storage.models import ChannelIdentity, InboxEvent, OutboxMessage
from tests.driver import CaptureChannel


async def _migrated(url: str) -> Database:
    await upgrade_async(url)
    return Database(url)


async def test_migrations_create_every_model_table(db_url: str) -> None:
    from bot.tables import load_models
    from storage.models import Base

    load_models()
    db = await _migrated(db_url)
    async with db.engine.connect() as conn:
        tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    await db.dispose()
    assert set(Base.metadata.tables) <= tables
    # Running the upgrade again is a no-op, not an error.
    await upgrade_async(db_url)


async def test_identity_state_and_dedupe_round_trip(db_url: str) -> None:
    db = await _migrated(db_url)
    async with db.transaction() as session:
        identity = await contacts.resolve_identity(session, "telegram", "777", "777")
        state = await contacts.state_of(session, identity.contact_id)
        data = {"a": {"b": 1}}
        await contacts.write_state(session, state, flow="join", step="phone", data=data,
                                   flow_version=2)  # fmt: skip
        assert await events.record_processed(session, None, "telegram:1", [])
    async with db.transaction() as session:
        state = await contacts.state_of(session, identity.contact_id)
        state.data["a"]["b"] = 2  # a nested change in place is still a change
        await contacts.write_state(session, state, flow="join", step="phone", data=state.data,
                                   flow_version=2)  # fmt: skip
    async with db.session() as session:
        assert not await events.record_processed(session, None, "telegram:1", [])
        await session.rollback()
    async with db.session() as session:
        again = await contacts.resolve_identity(session, "telegram", "777", "777")
        state = await contacts.load_state(session, again.contact_id)
        assert (again.contact_id, state.flow, state.step, state.data) == (
            identity.contact_id, "join", "phone", {"a": {"b": 2}},
        )  # fmt: skip
        assert state.updated_at.tzinfo is not None
    await db.dispose()


async def test_outbox_rows_are_claimed_by_one_worker_only(db_url: str) -> None:
    db = await _migrated(db_url)
    now = datetime.now(UTC)
    async with db.transaction() as session:
        for i in range(20):
            outbox.enqueue(session, channel="telegram", chat_id=str(i), content={"type": "Text"})

    async def claim() -> list[int]:
        async with db.transaction() as session:
            rows = await outbox.claim_due(session, now + timedelta(seconds=1), limit=20)
            ids = [r.id for r in rows]
            await asyncio.sleep(0.05)
            return ids

    first, second = await asyncio.gather(claim(), claim())
    await db.dispose()
    assert len(first) + len(second) == 20
    assert not set(first) & set(second)


async def test_webhook_event_recorded_before_processing_survives_a_crash(make_app, tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'inbox.db'}"
    channel = CaptureChannel()
    app = await make_app(channel, url=url)
    event = Inbound(Address("test", "55"), "55", Kind.COMMAND, "test:900", command="start")
    # The process crashed right after recording: the row is there, nothing was sent.
    async with app.db.transaction() as session:
        from bot.core.events import inbound_to_json

        await events.record_inbox(session, event.dedupe_key, "test", inbound_to_json(event))
    assert channel.sent == []
    restarted_channel = CaptureChannel()
    restarted = await make_app(restarted_channel, url=url)
    assert await restarted.recover_inbox() == 1
    assert "welcome.text" in restarted.texts.rendered
    async with restarted.db.session() as session:
        row = await session.scalar(select(InboxEvent))
    assert (row.status, row.payload) == ("done", {})  # nothing a worker typed is kept
    # The same delivery again is acknowledged but not processed twice.
    await restarted.ingest(event)
    await asyncio.sleep(0.05)
    assert len(restarted_channel.sent) == 1


class _BlockedChannel(CaptureChannel):
    async def send(self, out: Outgoing) -> Receipt:
        return Receipt(ok=False, error="blocked")


async def test_blocked_user_is_marked_unreachable_and_not_retried(make_app) -> None:
    app = await make_app(_BlockedChannel("test"))
    await app.process(Inbound(Address("test", "66"), "66", Kind.TEXT, "k1", text="hi"))
    async with app.db.transaction() as session:
        identity = await session.scalar(select(ChannelIdentity))
        assert identity.unreachable
        outbox.enqueue(
            session,
            channel="test",
            chat_id="66",
            content={"type": "Text", "text": "x"},
            due_at=app.engine.clock(),
        )
    await app.flush_outbox()
    await app.flush_outbox(app.engine.clock() + timedelta(hours=2))
    async with app.db.session() as session:
        row = await session.scalar(select(OutboxMessage))
        assert (row.status, row.attempts) == ("failed", 1)


async def test_outbox_retries_a_failed_send_later(make_app, clock) -> None:
    attempts: list[str] = []

    class Flaky(CaptureChannel):
        async def send(self, out: Outgoing) -> Receipt:
            attempts.append(out.text)
            if len(attempts) == 1:
                return Receipt(ok=False, error="timeout")
            return await super().send(out)

    channel = Flaky("test")
    app = await make_app(channel)
    async with app.db.transaction() as session:
        outbox.enqueue(
            session,
            channel="test",
            chat_id="1",
            content={"type": "Text", "text": "Chào bạn"},
            due_at=clock.now,
        )
    assert await app.flush_outbox() == 0
    assert await app.flush_outbox() == 0  # not due yet
    clock.advance(minutes=5)
    assert await app.flush_outbox() == 1
    assert [o.content for o in channel.sent] == [Text("Chào bạn")]
    async with app.db.session() as session:
        row = await session.scalar(select(OutboxMessage))
        assert (row.status, row.attempts) == ("sent", 2)
        assert "Chào bạn" not in str(row.content)


def test_migrations_have_one_head() -> None:
    """Features branch in parallel, but main always has one head for `upgrade head`."""
    from alembic.script import ScriptDirectory

    from storage.migrate import alembic_config

    assert len(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()) == 1


async def test_migrations_match_the_models(db_url: str) -> None:
    """Autogenerate finds nothing to add: the migrations create exactly what the models say."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from bot.tables import load_models
    from storage.models import Base

    load_models()
    db = await _migrated(db_url)

    def diff(conn):
        return compare_metadata(MigrationContext.configure(conn), Base.metadata)

    async with db.engine.connect() as conn:
        changes = await conn.run_sync(diff)
    await db.dispose()
    significant = [c for c in changes if not (isinstance(c, tuple) and c[0] == "modify_type")]
    assert significant == []


async def test_a_step_opens_its_orm_session_only_when_used_and_commits_both(db_url: str) -> None:
    """#16: the step's plain statements run on a connection; a handler's ORM session joins
    the same transaction when first used: both commit together, or neither does."""
    from bot.tables import load_models
    from storage.membership import AuditEntry

    load_models()
    db = await _migrated(db_url)
    now = datetime.now(UTC)
    async with db.step() as (conn, session):
        await events.record_processed(conn, db.cipher, "step:1", [])
        assert session.opened is None and not session.new  # nothing asked for it yet
    async with db.step() as (conn, session):
        await events.record_processed(conn, db.cipher, "step:2", [])
        session.add(AuditEntry(at=now, action="t", actor="t", subject="kept"))
        assert session.opened is not None
        await session.flush()
    try:
        async with db.step() as (conn, session):
            await events.record_processed(conn, db.cipher, "step:3", [])
            session.add(AuditEntry(at=now, action="t", actor="t", subject="rolled back"))
            await session.flush()
            raise RuntimeError("the handler failed")
    except RuntimeError:
        pass
    async with db.session() as session:
        keys = set(await session.scalars(select(events.ProcessedEvent.key)))
        subjects = set(await session.scalars(select(AuditEntry.subject)))
    await db.dispose()
    assert keys == {"step:1", "step:2"} and subjects == {"kept"}


async def test_a_menu_press_opens_no_orm_session(make_app, monkeypatch) -> None:
    """A step that only reads and writes state and the dedupe key runs without a session."""
    from storage.db import StepSession

    opened: list[str] = []
    real = StepSession.__getattr__

    def spy(self: StepSession, name: str) -> object:
        was_closed = self.opened is None
        found = real(self, name)
        if was_closed and self.opened is not None:
            opened.append(name)
        return found

    monkeypatch.setattr(StepSession, "__getattr__", spy)
    app = await make_app(CaptureChannel())
    start = Inbound(Address("test", "90"), "90", Kind.COMMAND, "test:900", command="start")
    await app.process(start)
    opened.clear()
    menu = Inbound(Address("test", "90"), "90", Kind.COMMAND, "test:901", command="menu")
    assert await app.process(menu)
    assert opened == []
