"""An event's short transactions on the loop's own SQLite connection (issue #16, item 1).

The statements of one event run on the event loop's thread (no aiosqlite hop); reports and
pages keep aiosqlite's thread. Another process holding the writer makes the event fail as
"database unavailable" after a short wait, with nothing half-written, and the same event
succeeds once the writer is free.
"""

from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from bot.core.events import Address, Inbound, Kind
from storage.db import Database, sqlite_path
from storage.migrate import upgrade_async
from storage.models import ProcessedEvent
from tests.driver import CaptureChannel


def _record_threads(db: Database) -> None:
    """Give every SQLite connection a ``tid()`` SQL function: the thread that runs SQLite."""
    from sqlalchemy import event

    for engine in (db.engine, db.loop_engine):
        assert engine is not None

        @event.listens_for(engine.sync_engine, "connect")
        def _tid(dbapi_conn, _record) -> None:
            dbapi_conn.create_function("tid", 0, threading.get_ident)


async def test_an_events_statements_run_on_the_loops_thread_and_reports_do_not(tmp_path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'threads.db'}")
    _record_threads(db)
    try:
        async with db.short_transaction() as session:
            on_loop = await session.scalar(text("SELECT tid()"))
        async with db.short_session() as session:
            read_on_loop = await session.scalar(text("SELECT tid()"))
        async with db.transaction() as session:
            elsewhere = await session.scalar(text("SELECT tid()"))
        async with db.session() as session:
            read_elsewhere = await session.scalar(text("SELECT tid()"))
    finally:
        await db.dispose()
    me = threading.get_ident()
    assert on_loop == me and read_on_loop == me
    assert elsewhere != me and read_elsewhere != me


async def test_both_connections_see_one_database_and_take_turns(tmp_path) -> None:
    """A write on one is seen by the other at once; two Database handles on one file share
    the writer's turns (one process, several apps), so neither waits in SQLite's busy handler."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}"
    await upgrade_async(url)
    first, second = Database(url), Database(url)
    try:
        async with first.short_transaction() as session:
            session.add(ProcessedEvent(key="k1"))
        async with second.session() as session:
            assert await session.scalar(select(func.count()).select_from(ProcessedEvent)) == 1
        assert first._write_lock is second._write_lock
    finally:
        await first.dispose()
        await second.dispose()


async def test_another_process_holding_the_writer_fails_the_event_cleanly(
    make_app, tmp_path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'busy.db'}"
    await upgrade_async(url)
    channel = CaptureChannel()
    app = await make_app(channel, url=url, create_schema=False)
    start = Inbound(Address("test", "81"), "81", Kind.COMMAND, "test:81:1", command="start")
    await app.engine.handle(start)  # known person: the next event only takes the writer once
    event = Inbound(Address("test", "81"), "81", Kind.COMMAND, "test:81:2", command="start")
    path = sqlite_path(url)
    assert path is not None
    other = sqlite3.connect(path, isolation_level=None)  # another process's writer
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError, match="locked"):
            await app.engine.handle(event)
    finally:
        other.execute("ROLLBACK")
        other.close()
    async with app.db.session() as session:
        assert await session.get(ProcessedEvent, "test:81:2") is None  # nothing half-written
    replies = await app.engine.handle(event)  # the caller's retry, once the writer is free
    assert replies and "Liên đoàn Lao động" in replies[0].content.text
    async with app.db.session() as session:
        assert await session.get(ProcessedEvent, "test:81:2") is not None


async def test_workers_chats_run_on_the_loop_and_staff_groups_do_not(make_app, tmp_path) -> None:
    """A staff group's command may count the whole city (/baocao): it runs on the database's
    worker thread; a worker's private step runs on the loop's."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'where.db'}"
    await upgrade_async(url)
    app = await make_app(CaptureChannel(), url=url, create_schema=False)
    _record_threads(app.db)
    await app.db.engine.dispose()  # reconnect, so the connections get tid()
    await app.db.loop_engine.dispose()
    seen: dict[str, int] = {}

    async def where(ctx):
        seen[ctx.inbound.chat_type] = await ctx.session.scalar(text("SELECT tid()"))
        return [ctx.text("ok")]

    app.engine.text_handlers[:0] = [where]
    app.engine.group_handlers[:0] = [where]
    person = Address("test", "83")
    await app.engine.handle(Inbound(person, "83", Kind.COMMAND, "t:83:1", command="start"))
    await app.engine.handle(Inbound(person, "83", Kind.TEXT, "t:83:2", text="xin chào"))
    group = Address("test", "-1001")
    await app.engine.handle(
        Inbound(group, "83", Kind.TEXT, "t:83:3", text="/baocao", chat_type="group")
    )
    assert seen["private"] == threading.get_ident()
    assert seen["group"] != threading.get_ident()
