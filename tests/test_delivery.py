"""The delivery pipeline under crashes, outages and several processes (issue #10, #16 4-6).

Apps built on one database file (or one PostgreSQL) stand in for processes; a "crash" is work
committed and then never continued, which is what SIGKILL leaves behind (the SIGKILL test with
real processes is tests/test_crash.py).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import OperationalError

from bot.core.events import Address, Inbound, Kind, Outgoing, Receipt, inbound_to_json
from storage import events as events_repo
from storage import outbox as outbox_repo
from storage.migrate import upgrade_async
from storage.models import InboxEvent, OutboxMessage, ProcessedEvent
from tests.driver import CaptureChannel


def _text(user: str, text: str, seq: int, key: str | None = None) -> Inbound:
    return Inbound(
        Address("test", user), user, Kind.TEXT, key or f"test:{user}:{seq}", text=text,
        sequence=seq,
    )  # fmt: skip


def _echo_feature(app: Any) -> None:
    """A feature answering every text with itself: order and duplicates become visible."""

    async def echo(ctx: Any) -> list[Outgoing]:
        return [ctx.text(f"echo {ctx.inbound.text}")]

    app.engine.text_handlers[:0] = [echo]
    app.engine.first_contact_handler = echo  # no welcome: the first message is echoed too


def _echoes(channel: CaptureChannel, user: str) -> list[str]:
    return [o.text for o in channel.to(user) if o.text.startswith("echo ")]


async def _settle(*apps: Any, rounds: int = 400) -> None:
    """Wait until no app has an event in hand and nothing is pending in the inbox."""
    for _ in range(rounds):
        await asyncio.sleep(0.02)
        if any(a._draining for a in apps):
            continue
        async with apps[0].db.session() as session:
            left = await session.scalar(
                select(func.count()).select_from(InboxEvent).where(InboxEvent.status == "pending")
            )
        if not left:
            return
    raise AssertionError("the inbox did not settle")


# ----------------------------------------------------------------------- replies survive


async def test_replies_committed_but_never_sent_go_out_on_redelivery(make_app) -> None:
    """Polling path: killed between the commit and the send, the update comes back from
    Telegram and its replies are sent then — once, not silenced by the dedupe key."""
    channel = CaptureChannel()
    app = await make_app(channel)
    app.engine.reply_lease = timedelta(0)
    event = Inbound(Address("test", "71"), "71", Kind.COMMAND, "test:500", command="start")
    committed = await app.engine.handle(event)  # the process dies here: nothing was sent
    assert committed and channel.sent == []
    restarted = CaptureChannel()
    again = await make_app(restarted, url=app.settings.database_url, create_schema=False)
    again.engine.reply_lease = timedelta(0)
    await again.process(event)
    assert [o.text for o in restarted.sent] == [o.text for o in committed]
    await again.process(event)  # a further redelivery: already sent, so silence
    assert len(restarted.sent) == len(committed)
    async with again.db.session() as session:
        assert await session.scalar(select(ProcessedEvent.replies)) is None


async def test_a_duplicate_racing_the_original_waits_instead_of_sending_twice(make_app) -> None:
    channel = CaptureChannel()
    app = await make_app(channel)
    event = Inbound(Address("test", "72"), "72", Kind.COMMAND, "test:501", command="help")
    outs = await app.engine.handle(event)
    duplicate = asyncio.create_task(app.engine.handle(event))
    await asyncio.sleep(0.3)
    assert not duplicate.done()  # the original's replies are young: it waits for them
    await app.send(outs)
    await app.engine.replies_sent(event)
    assert await asyncio.wait_for(duplicate, 5) == []


async def test_stored_replies_and_inbox_payloads_are_sealed(make_app) -> None:
    app = await make_app(CaptureChannel())
    event = _text("73", "Tôi là Nguyễn Thị Hoa, số 0912345678", 1)
    async with app.db.transaction() as session:
        await events_repo.record_inbox(session, event.dedupe_key, "test", inbound_to_json(event))
    await app.engine.handle(event)
    async with app.db.session() as session:
        payload = await session.scalar(select(InboxEvent.payload))
        replies = await session.scalar(select(ProcessedEvent.replies))
    assert "0912345678" not in str(payload) and "Hoa" not in str(payload)
    assert replies and "Hoa" not in replies and "0912345678" not in replies


class _Killed(BaseException):
    """SIGKILL, in process: nothing after it runs (no ``except Exception`` catches it)."""


class _DyingChannel(CaptureChannel):
    """Paces each send, marks it under way, then reaches the platform (like Telegram's
    adapter); the process dies at a chosen send, either while waiting for the pace (nothing
    sent) or just after the platform took the message (before anything is written)."""

    def __init__(self, die_at: str | None = None, when: str = "after") -> None:
        super().__init__()
        self.die_at, self.when = die_at, when

    async def send_marked(self, out: Outgoing, mark: Any) -> Receipt:
        text = getattr(out.content, "text", "")
        if text == self.die_at and self.when == "pacing":
            raise _Killed
        await mark.starting()
        receipt = await self.send(out)
        mark.delivered()
        if text == self.die_at and self.when == "after":
            raise _Killed
        return receipt


def _three_replies(app: Any) -> None:
    async def three(ctx: Any) -> list[Outgoing]:
        return [ctx.text(f"{ctx.inbound.text} {n}") for n in ("a", "b", "c")]

    app.engine.text_handlers[:0] = [three]
    app.engine.first_contact_handler = three


async def _killed_then_redelivered(make_app: Any, when: str) -> tuple[list[str], Any]:
    first = _DyingChannel("hỏi b", when)
    app = await make_app(first)
    _three_replies(app)
    event = _text("74", "hỏi", 1)
    try:
        await app.process(event)
    except _Killed:
        pass
    else:
        raise AssertionError("the process was meant to die mid-send")
    restarted = _DyingChannel()
    again = await make_app(restarted, url=app.settings.database_url, create_schema=False)
    _three_replies(again)
    again.engine.reply_lease = timedelta(0)  # the first process is long dead
    await again.process(event)  # Telegram delivers the unconfirmed update once more
    await again.process(event)  # and once more: nothing left to send
    async with again.db.session() as session:
        assert await session.scalar(select(ProcessedEvent.replies)) is None
    return [o.text for o in first.sent + restarted.sent], again


async def test_killed_just_after_a_reply_left_nothing_is_sent_twice(make_app) -> None:
    """#10/#16: the reply the platform took just before the kill is not sent again on
    takeover (Telegram has no idempotency key: it is logged as unknown); the rest are."""
    texts, again = await _killed_then_redelivered(make_app, "after")
    assert texts == ["hỏi a", "hỏi b", "hỏi c"]
    assert again.engine.unknown_replies == 1


async def test_killed_just_after_the_last_reply_left_nothing_is_sent_again(make_app) -> None:
    """The mark of the last reply holds no words (stored unsealed): read back as "a send was
    under way, nothing left", it sends nothing twice; while words are left they are sealed."""
    seen: list[str | None] = []

    class Watching(_DyingChannel):
        async def send_marked(self, out: Outgoing, mark: Any) -> Receipt:
            receipt = await super().send_marked(out, mark)
            async with app.db.session() as session:
                seen.append(await session.scalar(select(ProcessedEvent.replies)))
            return receipt

    first = Watching("hỏi c", "after")
    app = await make_app(first)
    _three_replies(app)
    event = _text("75", "hỏi", 1)
    with pytest.raises(_Killed):
        await app.process(event)
    assert len(seen) == 2 and all(stored and "hỏi" not in stored for stored in seen)
    async with app.db.session() as session:
        assert await session.scalar(select(ProcessedEvent.replies)) == (
            '{"replies":[],"in_flight":true}'
        )
    restarted = _DyingChannel()
    again = await make_app(restarted, url=app.settings.database_url, create_schema=False)
    _three_replies(again)
    again.engine.reply_lease = timedelta(0)
    await again.process(event)
    assert [o.text for o in first.sent + restarted.sent] == ["hỏi a", "hỏi b", "hỏi c"]
    assert again.engine.unknown_replies == 1


async def test_killed_while_a_reply_waited_for_the_pace_nothing_is_lost(make_app) -> None:
    texts, _again = await _killed_then_redelivered(make_app, "pacing")
    assert texts == ["hỏi a", "hỏi b", "hỏi c"]


async def test_a_reply_refused_with_429_before_a_kill_is_sent_after_it(make_app) -> None:
    class Refused(_DyingChannel):
        async def send_marked(self, out: Outgoing, mark: Any) -> Receipt:
            if getattr(out.content, "text", "") == "hỏi b":
                await mark.starting()
                await mark.refused()  # Telegram said 429: nothing delivered
                raise _Killed  # and the process died waiting to try again
            return await super().send_marked(out, mark)

    first = Refused()
    app = await make_app(first)
    _three_replies(app)
    event = _text("76", "hỏi", 1)
    try:
        await app.process(event)
    except _Killed:
        pass
    again_channel = CaptureChannel()
    again = await make_app(again_channel, url=app.settings.database_url, create_schema=False)
    again.engine.reply_lease = timedelta(0)
    await again.process(event)
    assert [o.text for o in first.sent + again_channel.sent] == ["hỏi a", "hỏi b", "hỏi c"]


async def test_outbox_row_being_sent_at_a_kill_is_unknown_never_sent_twice(make_app, clock) -> None:
    first = _DyingChannel("notice 1", "after")
    app = await make_app(first)
    await _queue(app, 3)
    try:
        await app.flush_outbox()
    except _Killed:
        pass
    second_channel = CaptureChannel()
    second = await make_app(second_channel, url=app.settings.database_url, create_schema=False)
    assert await second.flush_outbox() == 0  # the dead process's lease still runs
    clock.advance(seconds=61)
    assert await second.flush_outbox() == 1
    assert [o.text for o in first.sent + second_channel.sent] == [
        "notice 0", "notice 1", "notice 2"
    ]  # fmt: skip
    async with second.db.session() as session:
        rows = (await session.execute(select(OutboxMessage.status, OutboxMessage.content)
                                      .order_by(OutboxMessage.id))).all()  # fmt: skip
    assert [r.status for r in rows] == ["sent", "unknown", "sent"]
    assert "notice 1" not in str(rows[1].content)  # its words are dropped like a sent one's


async def test_an_idle_outbox_sender_only_reads_and_still_settles_a_lapsed_send(
    make_app, clock
) -> None:
    """#16: with nothing due the sender looks with a read, not an UPDATE that holds SQLite's
    one writer; a row whose send was under way at a kill is still settled when it is alone."""
    first = _DyingChannel("notice 0", "after")
    app = await make_app(first)
    statements: list[str] = []

    def spy(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement.split()[0].upper())

    event.listen(app.db.engine.sync_engine, "before_cursor_execute", spy)
    try:
        assert await app.flush_outbox() == 0
    finally:
        event.remove(app.db.engine.sync_engine, "before_cursor_execute", spy)
    assert statements == ["SELECT"]
    await _queue(app, 1)
    with pytest.raises(_Killed):
        await app.flush_outbox()
    second = await make_app(CaptureChannel(), url=app.settings.database_url, create_schema=False)
    clock.advance(seconds=61)
    assert await second.flush_outbox() == 0
    async with second.db.session() as session:
        assert await session.scalar(select(OutboxMessage.status)) == "unknown"


# ----------------------------------------------------------------------- the inbox loop


async def test_inbox_recovery_has_no_cap_and_takes_over_expired_leases(make_app, clock) -> None:
    channel = CaptureChannel()
    app = await make_app(channel)
    _echo_feature(app)
    people = [str(9000 + i) for i in range(230)]  # more than one sweep's page of people
    async with app.db.transaction() as session:
        for seq, user in enumerate(people):
            event = _text(user, f"m{seq}", seq)
            await events_repo.record_inbox(
                session, event.dedupe_key, "test", inbound_to_json(event),
                user_key=f"test:{user}", sequence=seq,
            )  # fmt: skip
        # A process that died while holding one of them: its lease is still running.
        await session.execute(
            update(InboxEvent)
            .where(InboxEvent.user_key == "test:9000")
            .values(lease_owner="dead:1:x", lease_until=clock() + timedelta(seconds=30))
        )
    assert await app.recover_inbox() == len(people) - 1
    assert _echoes(channel, "9000") == []
    clock.advance(seconds=31)
    assert await app.recover_inbox() == 1
    assert all(len(_echoes(channel, u)) == 1 for u in people)


async def test_an_event_that_fails_on_a_database_outage_is_retried_not_lost(
    make_app, clock
) -> None:
    channel = CaptureChannel()
    app = await make_app(channel)
    _echo_feature(app)
    real = app.engine._handle_locked
    outage = {"on": True}

    async def flaky(inbound: Inbound) -> list[Outgoing]:
        if outage["on"]:
            raise OperationalError("INSERT", {}, Exception("database or disk is full"))
        return await real(inbound)

    app.engine._handle_locked = flaky  # type: ignore[method-assign]
    await app.ingest(_text("74", "first", 1))
    await app.ingest(_text("74", "second", 2))
    await _settle_drains(app)
    assert _echoes(channel, "74") == []  # no "error" reply either: the event is kept
    async with app.db.session() as session:
        row = await session.scalar(select(InboxEvent).order_by(InboxEvent.id))
    assert (row.status, row.attempts) == ("pending", 1) and "disk is full" in row.error
    outage["on"] = False
    assert await app.recover_inbox() == 0  # waiting for its back-off
    clock.advance(seconds=3)
    assert await app.recover_inbox() == 2
    assert _echoes(channel, "74") == ["echo first", "echo second"]


async def _settle_drains(app: Any) -> None:
    for _ in range(200):
        await asyncio.sleep(0.01)
        if not app._draining:
            return


async def test_one_persons_events_keep_their_order_across_processes(make_app, db_url) -> None:
    """Three processes take one person's updates in turn, as a load balancer would: each
    person is answered in the order they wrote."""
    url = db_url
    await upgrade_async(url)
    channel = CaptureChannel()
    apps = [await make_app(channel, url=url, create_schema=False) for _ in range(3)]
    for app in apps:
        _echo_feature(app)
    people = [str(7000 + i) for i in range(12)]
    words = ["M", "H", "C", "M2", "H2", "C2"]
    seq = 0
    for round_no, word in enumerate(words):
        sends = []
        for p_no, user in enumerate(people):
            seq += 1
            target = apps[(round_no + p_no) % len(apps)]
            sends.append(target.ingest(_text(user, word, seq)))
        await asyncio.gather(*sends)
    await _settle(*apps)
    for user in people:
        assert _echoes(channel, user) == [f"echo {w}" for w in words], user


async def test_recovered_old_events_are_answered_before_new_ones(make_app, clock) -> None:
    channel = CaptureChannel()
    app = await make_app(channel)
    _echo_feature(app)
    async with app.db.transaction() as session:
        for seq in (1, 2):
            event = _text("75", f"old{seq}", seq)
            await events_repo.record_inbox(
                session, event.dedupe_key, "test", inbound_to_json(event),
                user_key="test:75", sequence=seq,
            )  # fmt: skip
        await session.execute(
            update(InboxEvent).values(lease_owner="dead:2:y", lease_until=clock() + timedelta(10))
        )
    await app.ingest(_text("75", "new", 3))
    await _settle_drains(app)
    assert _echoes(channel, "75") == []  # behind the dead process's events
    clock.advance(days=11)
    await app.recover_inbox()
    assert _echoes(channel, "75") == ["echo old1", "echo old2", "echo new"]


# ----------------------------------------------------------------------- the outbox lease


async def _queue(app: Any, n: int, chat: str = "88") -> None:
    async with app.db.transaction() as session:
        for i in range(n):
            outbox_repo.enqueue(
                session, channel="test", chat_id=chat,
                content={"type": "Text", "text": f"notice {i}"}, due_at=app.engine.clock(),
            )  # fmt: skip


class _SlowChannel(CaptureChannel):
    async def send(self, out: Outgoing) -> Receipt:
        await asyncio.sleep(0.002)
        return await super().send(out)


async def test_a_restart_while_another_process_sends_sends_nothing_twice(make_app, db_url) -> None:
    """#16: two processes, one restarted while the other is sending notifications."""
    url = db_url
    await upgrade_async(url)
    sender_channel, restarted_channel = _SlowChannel(), _SlowChannel()
    sender = await make_app(sender_channel, url=url, create_schema=False)
    await _queue(sender, 300)
    sending = asyncio.create_task(sender._outbox_loop())
    for _ in range(3):  # the other process restarts three times while notifications go out
        await asyncio.sleep(0.05)
        other = await make_app(restarted_channel, url=url, create_schema=False, http_port=0)
        await other.start()
        await asyncio.sleep(0.1)
        await other.stop()
    for _ in range(500):
        async with sender.db.session() as session:
            left = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status != "sent")
            )
        if not left:
            break
        await asyncio.sleep(0.02)
    sending.cancel()
    texts = [o.text for o in sender_channel.sent + restarted_channel.sent]
    assert sorted(texts) == sorted(f"notice {i}" for i in range(300))  # each exactly once


async def test_a_crashed_senders_rows_are_taken_over_after_its_lease(make_app, clock) -> None:
    first_channel, second_channel = CaptureChannel(), CaptureChannel()
    first = await make_app(first_channel)
    await _queue(first, 3)
    async with first.db.transaction() as session:  # claimed, then the process died
        await outbox_repo.claim_due(session, clock(), owner=first.owner)
    second = await make_app(second_channel, url=first.settings.database_url, create_schema=False)
    assert await second.flush_outbox() == 0
    clock.advance(seconds=61)
    assert await second.flush_outbox() == 3
    assert [o.text for o in second_channel.sent] == ["notice 0", "notice 1", "notice 2"]


async def test_the_outbox_drains_continuously_while_rows_are_due(make_app, monkeypatch) -> None:
    """900 rows with nothing waking the sender: it must not sleep between batches, nor look
    with a read before a batch that follows a full one."""
    import bot.app

    monkeypatch.setattr(bot.app, "OUTBOX_IDLE_SECONDS", 3600)
    looks: list[int] = []
    real_look = outbox_repo.anything_to_do

    async def look(session: Any, now: Any) -> bool:
        looks.append(1)
        return await real_look(session, now)

    monkeypatch.setattr(outbox_repo, "anything_to_do", look)
    channel = CaptureChannel()
    app = await make_app(channel)
    await _queue(app, 900)
    loop = asyncio.create_task(app._outbox_loop())
    try:
        for _ in range(6000):  # a minute at most, well short of the hour it must not sleep
            if len(channel.sent) == 900:
                break
            await asyncio.sleep(0.01)
    finally:
        # Stop it the way App.stop does and wait for it: a bare cancel() left the loop to
        # pytest-asyncio's teardown, which hung when the cancel was swallowed (3.11 wait_for).
        app._stopping.set()
        app._outbox_kick.set()
        await asyncio.wait_for(loop, timeout=30)
    assert len(channel.sent) == 900
    assert len(looks) <= 2  # the first batch, and after the last (short) one at the stop


async def test_case_cards_in_the_outbox_are_sealed_and_a_failed_send_is_redacted(
    make_app,
) -> None:
    class Broken(CaptureChannel):
        async def send(self, out: Outgoing) -> Receipt:
            return Receipt(ok=False, error="no channel")

    app = await make_app(Broken())
    async with app.db.transaction() as session:
        outbox_repo.enqueue(
            session, channel="test", chat_id="-100", due_at=app.engine.clock(),
            content={"type": "Text", "text": "Nguyễn Văn Nam 0987654321 hỏi về lương"},
        )  # fmt: skip
    async with app.db.session() as session:
        stored = await session.scalar(select(OutboxMessage.content))
    assert "0987654321" not in str(stored)
    await app.flush_outbox()
    async with app.db.session() as session:
        row = await session.scalar(select(OutboxMessage))
    assert row.status == "failed" and row.content == {"type": "Text", "redacted": True}


# ----------------------------------------------------------------------- jobs and health


async def test_a_periodic_job_runs_once_across_processes(make_app, clock) -> None:
    from bot.core.feature import Job

    apps = [await make_app(CaptureChannel())]
    url = apps[0].settings.database_url
    apps += [await make_app(CaptureChannel(), url=url, create_schema=False) for _ in range(2)]
    runs: list[str] = []

    async def job(ctx: Any) -> None:
        runs.append(ctx.now.isoformat())

    for app in apps:
        app.engine.jobs.append(Job("count", 60, job))

    async def tick() -> list[bool]:
        return list(await asyncio.gather(*(a.run_job_if_due("count", 60) for a in apps)))

    assert await tick() == [False, False, False]  # the first run is one period away
    clock.advance(seconds=60)
    assert sorted(await tick()) == [False, False, True]
    assert sorted(await tick()) == [False, False, False]
    clock.advance(seconds=60)
    assert sorted(await tick()) == [False, False, True]
    assert len(runs) == 2


async def test_not_ready_when_the_database_takes_no_writes(make_app) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from bot.app import build_web_app

    app = await make_app(CaptureChannel())
    client = TestClient(TestServer(build_web_app(app)))
    await client.start_server()
    try:
        assert (await client.get("/readyz")).status == 200
        await app.db.engine.dispose()

        @event.listens_for(app.db.engine.sync_engine, "connect")
        def _read_only(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute("PRAGMA query_only = ON")

        answer = await client.get("/readyz")
        assert answer.status == 503
        assert (await answer.json())["writes"] == "unreachable"
        assert (await client.get("/healthz")).status == 200  # alive: no restart for this
        event.remove(app.db.engine.sync_engine, "connect", _read_only)
        await app.db.engine.dispose()
        assert (await client.get("/readyz")).status == 200
    finally:
        await client.close()


async def test_sent_text_is_not_kept(make_app) -> None:
    channel = CaptureChannel()
    app = await make_app(channel)
    await app.process(_text("76", "Số của tôi 0901234567", 1))
    async with app.db.session() as session:
        assert await session.scalar(select(ProcessedEvent.replies)) is None
    assert channel.sent and "0901234567" not in str(channel.sent)


async def test_a_burst_never_takes_more_connections_than_turns(make_app, pg_url) -> None:
    """Sixty people writing at once: every drain leases and finishes its event inside one of
    the process's turns (MAX_CONCURRENT), so PostgreSQL's pool (10 kept) never has to open
    and close overflow connections, which cost more CPU than anything else under load."""
    from bot.app import MAX_CONCURRENT

    await upgrade_async(pg_url)
    channel = CaptureChannel()
    app = await make_app(channel, url=pg_url, create_schema=False)
    _echo_feature(app)
    pool = app.db.engine.sync_engine.pool
    most = 0

    @event.listens_for(pool, "checkout")
    def _count(*_args: Any) -> None:
        nonlocal most
        most = max(most, pool.checkedout())

    people = [str(8100 + i) for i in range(60)]
    await asyncio.gather(*(app.ingest(_text(user, "hi", 1)) for user in people))
    await _settle(app)
    assert all(_echoes(channel, user) == ["echo hi"] for user in people)
    assert most <= MAX_CONCURRENT + 2, most  # the turns, the inbox writer, one loop or job


async def test_a_new_persons_first_messages_racing_make_one_contact(make_app, db_url) -> None:
    """Two processes get a new worker's first two messages at the same moment: one contact
    and one identity come of it (the loser of the race removes the contact it made), and
    both messages are answered."""
    from storage.models import ChannelIdentity, Contact

    await upgrade_async(db_url)
    channel = CaptureChannel()
    apps = [await make_app(channel, url=db_url, create_schema=False) for _ in range(2)]
    for app in apps:
        _echo_feature(app)
    replies = await asyncio.gather(
        *(app.engine.handle(_text("8200", f"m{n}", n)) for n, app in enumerate(apps, 1))
    )
    assert all(replies), replies
    async with apps[0].db.session() as session:
        contacts = await session.scalar(select(func.count()).select_from(Contact))
        identities = await session.scalar(select(func.count()).select_from(ChannelIdentity))
    assert (contacts, identities) == (1, 1)
