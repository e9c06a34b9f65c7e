"""Webhook events arriving together share one commit (storage/inbox_writer.py), on SQLite and
PostgreSQL: each caller gets its own row, a repeated delivery gets None, and one event that
cannot be stored fails only its own webhook."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from storage import events
from storage.crypto import DataCipher
from storage.db import Database, WriterTurns
from storage.inbox_writer import InboxWriter
from storage.migrate import upgrade_async
from storage.models import InboxEvent


async def _writer(url: str) -> tuple[Database, InboxWriter]:
    await upgrade_async(url)
    db = Database(url, cipher=DataCipher.ephemeral())
    return db, InboxWriter(db)


async def test_a_burst_is_recorded_in_few_commits_each_event_once_in_order(db_url: str) -> None:
    db, writer = await _writer(db_url)
    try:
        ids = await asyncio.gather(
            *(
                writer.record(
                    f"zalo_oa:m{n}", "zalo_oa", {"text": f"tin {n}"}, user_key=f"u{n % 7}"
                )
                for n in range(300)
            )
        )
        again = await asyncio.gather(
            writer.record("zalo_oa:m5", "zalo_oa", {"text": "tin 5"}, user_key="u5"),
            writer.record("zalo_oa:new", "zalo_oa", {"text": "mới"}, user_key="u1"),
        )
        async with db.session() as session:
            rows = (await session.execute(select(InboxEvent).order_by(InboxEvent.id))).scalars()
            keys = [row.dedupe_key for row in rows]
    finally:
        await db.dispose()
    assert all(isinstance(i, int) for i in ids) and len(set(ids)) == 300
    assert ids == sorted(ids)  # arrival order is id order: one person's events keep theirs
    assert writer.batches <= 4  # 300 events, a batch is at most 200: not one commit each
    assert again[0] is None and isinstance(again[1], int)
    assert keys == [f"zalo_oa:m{n}" for n in range(300)] + ["zalo_oa:new"]


async def test_one_event_that_cannot_be_stored_fails_only_its_own_webhook(
    db_url: str, monkeypatch: object
) -> None:
    db, writer = await _writer(db_url)
    real = events.record_inbox

    async def record(session, key, *args, **kwargs):  # type: ignore[no-untyped-def]
        if key == "zalo_oa:bad":
            raise ValueError("cannot store this one")
        return await real(session, key, *args, **kwargs)

    monkeypatch.setattr(events, "record_inbox", record)  # type: ignore[attr-defined]
    try:
        keys = [f"zalo_oa:ok{n}" for n in range(5)] + ["zalo_oa:bad"]
        results = await asyncio.gather(
            *(writer.record(k, "zalo_oa", {"n": k}) for k in keys), return_exceptions=True
        )
        async with db.session() as session:
            stored = set((await session.execute(select(InboxEvent.dedupe_key))).scalars())
    finally:
        await db.dispose()
    assert isinstance(results[-1], ValueError)
    assert all(isinstance(r, int) for r in results[:-1])
    assert stored == set(keys[:-1])


async def test_a_database_that_cannot_be_opened_fails_every_waiting_webhook(tmp_path) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "no-such-folder" / "congdoan.db"
    db = Database(f"sqlite+aiosqlite:///{missing}")
    writer = InboxWriter(db)
    try:
        results = await asyncio.wait_for(
            asyncio.gather(
                *(writer.record(f"k{n}", "zalo_oa", {}) for n in range(3)),
                return_exceptions=True,
            ),
            10,
        )
    finally:
        await db.dispose()
    assert all(isinstance(r, Exception) for r in results)
    # and the writer is not stuck: a later event is tried again
    assert writer._flushing is None


async def test_an_urgent_writer_goes_before_waiting_ones_and_a_cancelled_waiter_passes() -> None:
    turns = WriterTurns()
    order: list[str] = []

    async def write(name: str, urgent: bool = False) -> None:
        await turns.acquire(urgent=urgent)
        try:
            order.append(name)
            await asyncio.sleep(0.01)
        finally:
            turns.release()

    await turns.acquire()  # a write under way
    waiting = [asyncio.create_task(write(f"event {n}")) for n in range(3)]
    gone = asyncio.create_task(write("cancelled", urgent=True))
    await asyncio.sleep(0)
    ack = asyncio.create_task(write("acknowledgement", urgent=True))
    await asyncio.sleep(0)
    gone.cancel()
    turns.release()
    await asyncio.gather(*waiting, ack, return_exceptions=True)
    assert order == ["acknowledgement", "event 0", "event 1", "event 2"]
    await asyncio.wait_for(turns.acquire(), 1)  # free again


async def test_on_sqlite_a_webhook_is_recorded_before_the_processing_that_waits(
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    db, writer = await _writer(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    inbox_seen: dict[str, int] = {}
    release = asyncio.Event()

    async def processing(name: str, hold: asyncio.Event | None = None) -> None:
        async with db.transaction() as session:
            if hold is not None:
                await hold.wait()
            count = select(func.count()).select_from(InboxEvent)
            inbox_seen[name] = await session.scalar(count)

    try:
        busy = asyncio.create_task(processing("event under way", release))
        await asyncio.sleep(0.05)
        queued = asyncio.create_task(processing("next event"))
        await asyncio.sleep(0.05)
        ack = asyncio.create_task(writer.record("zalo_oa:w", "zalo_oa", {"text": "xin chào"}))
        await asyncio.sleep(0.05)
        release.set()
        await asyncio.gather(busy, queued, ack)
    finally:
        await db.dispose()
    # The webhook came after both, and was committed between them.
    assert inbox_seen == {"event under way": 0, "next event": 1}


async def test_processing_waits_while_webhooks_are_recorded_but_never_for_long(
    tmp_path,  # type: ignore[no-untyped-def]
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    import storage.inbox_writer as inbox_writer

    db, writer = await _writer(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    release = asyncio.Event()

    async def busy() -> None:  # an event's transaction holds the writer meanwhile
        async with db.transaction():
            await release.wait()

    try:
        await writer.calm()  # nothing being recorded: at once
        holder = asyncio.create_task(busy())
        await asyncio.sleep(0.05)
        ack = asyncio.create_task(writer.record("zalo_oa:c", "zalo_oa", {"text": "chào"}))
        await asyncio.sleep(0.05)
        calm = asyncio.create_task(writer.calm())
        await asyncio.sleep(0.2)
        assert not calm.done()  # the acknowledgement is still being recorded
        release.set()
        await asyncio.wait_for(asyncio.gather(holder, ack, calm), 5)

        monkeypatch.setattr(inbox_writer, "YIELD_SECONDS", 0.1)
        release.clear()
        holder = asyncio.create_task(busy())
        await asyncio.sleep(0.05)
        ack = asyncio.create_task(writer.record("zalo_oa:d", "zalo_oa", {"text": "chào"}))
        await asyncio.sleep(0.05)
        await asyncio.wait_for(writer.calm(), 2)  # gives up waiting after YIELD_SECONDS
        assert not ack.done()
        release.set()
        await asyncio.wait_for(asyncio.gather(holder, ack), 5)
    finally:
        await db.dispose()
