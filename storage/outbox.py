"""The outbox: messages to people other than the sender, sent after the work is committed.

A message's words are sealed before the first write (a case card carries a worker's name and
question) and dropped once it is sent or given up. A process claims due rows with a lease; rows
of a process that died are taken over when its lease runs out, so a restart never re-sends what
another live process is sending.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import open_json, seal_json, session_cipher
from storage.models import OutboxMessage, utcnow

LEASE = timedelta(seconds=60)


def enqueue(
    session: AsyncSession,
    *,
    channel: str,
    chat_id: str,
    content: dict[str, Any],
    thread_id: str | None = None,
    tag: str | None = None,
    due_at: datetime | None = None,
) -> OutboxMessage:
    row = OutboxMessage(
        channel=channel,
        chat_id=chat_id,
        thread_id=thread_id,
        content=seal_json(session_cipher(session), content),
        tag=tag,
        due_at=due_at or utcnow(),
    )
    session.add(row)
    return row


def content_of(session: AsyncSession, row: OutboxMessage) -> dict[str, Any]:
    """The message's content, unsealed."""
    return dict(open_json(session_cipher(session), row.content))


def _lapsed(now: datetime) -> Any:
    """Claimed by a process that died (or hung): its lease ran out. Rows from before leases
    existed have none and were left by a stopped process."""
    return and_(
        OutboxMessage.status == "sending",
        or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
    )


def _due(now: datetime) -> Any:
    return or_(
        and_(OutboxMessage.status == "pending", OutboxMessage.due_at <= now),
        # Taken over only if its send had not begun (``sending_started``).
        and_(_lapsed(now), OutboxMessage.sent_at.is_(None)),
    )


async def anything_to_do(session: AsyncSession, now: datetime) -> bool:
    """A row to claim or to settle (``claim_due`` would write): a read, so an idle sender
    looks without taking SQLite's one writer from the events (it looked several times a
    second under load, each time an UPDATE matching nothing)."""
    found = await session.scalar(
        select(OutboxMessage.id).where(or_(_due(now), _lapsed(now))).limit(1)
    )
    return found is not None


async def settle_unknown(session: AsyncSession, now: datetime) -> int:
    """Rows whose send was under way when their process died: the message may or may not
    have arrived (Telegram has no idempotency key), so they are never sent again; they are
    counted ``unknown`` and their words dropped."""
    result = await session.execute(
        update(OutboxMessage)
        .where(_lapsed(now), OutboxMessage.sent_at.is_not(None))
        .values(
            status="unknown",
            claimed_by=None,
            lease_until=None,
            error="process stopped while sending",
            content={"redacted": True},
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


async def sending_started(
    session: AsyncSession, row_id: int, owner: str, at: datetime | None
) -> None:
    """Right before the platform call: the row's send is under way (``sent_at`` set while
    the row is ``sending``); ``at`` None puts it back (the platform refused it, 429)."""
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == row_id,
            OutboxMessage.status == "sending",
            OutboxMessage.claimed_by == owner,
        )
        .values(sent_at=at)
        .execution_options(synchronize_session=False)
    )


async def claim_due(
    session: AsyncSession,
    now: datetime,
    limit: int = 50,
    *,
    owner: str = "",
    lease: timedelta = LEASE,
) -> list[OutboxMessage]:
    """Lease due messages to ``owner`` and return them, so two workers never send the same one.

    One UPDATE does the claim: PostgreSQL skips rows another worker has locked (SKIP LOCKED);
    SQLite serialises writers, so the second worker finds the rows already claimed. Rows a
    dead process was in the middle of sending are set aside first (``settle_unknown``).
    """
    await settle_unknown(session, now)
    due = (
        select(OutboxMessage.id)
        .where(_due(now))
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = await session.scalars(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(due.scalar_subquery()), _due(now))
        .values(status="sending", claimed_by=owner, lease_until=now + lease)
        .returning(OutboxMessage)
        .execution_options(synchronize_session=False)
    )
    return sorted(rows, key=lambda row: row.id)


def _held_by(ids: list[int], owner: str) -> Any:
    return update(OutboxMessage).where(
        OutboxMessage.id.in_(ids),
        OutboxMessage.status == "sending",
        OutboxMessage.claimed_by == owner,
    )


async def extend_lease(session: AsyncSession, ids: list[int], owner: str, until: datetime) -> None:
    """Keep rows still waiting in a long batch (a slow group chat) from being taken over."""
    await session.execute(_held_by(ids, owner).values(lease_until=until))


async def release(session: AsyncSession, ids: list[int], owner: str) -> None:
    """Hand back rows this process claimed but will not send (it is stopping)."""
    await session.execute(
        _held_by(ids, owner).values(status="pending", claimed_by=None, lease_until=None)
    )


def still_mine(row: OutboxMessage, owner: str) -> bool:
    """False when the lease ran out and another process took the row over meanwhile."""
    return row.status == "sending" and (row.claimed_by or "") == owner


def mark_sent(row: OutboxMessage, now: datetime, kind: str = "") -> None:
    """Sent messages keep only their envelope: the words (a lawyer's answer, a worker's
    name in a notification) are not kept once delivered."""
    row.status = "sent"
    row.sent_at = now  # while ``sending``: when the send began (``sending_started``)
    row.attempts += 1
    _redact(row, kind)
    row.claimed_by = row.lease_until = None


def mark_failed(
    row: OutboxMessage, now: datetime, error: str, *, final: bool, kind: str = ""
) -> None:
    """A failed send waits and is tried again; given up, its words are dropped like a sent
    one's (a case card that never reached the group must not stay readable for good)."""
    row.attempts += 1
    row.error = error[:2000]
    row.claimed_by = row.lease_until = row.sent_at = None
    if final or row.attempts >= 8:
        row.status = "failed"
        _redact(row, kind)
    else:
        row.status = "pending"
        row.due_at = now + timedelta(seconds=min(3600, 5 * 2**row.attempts))


def _redact(row: OutboxMessage, kind: str) -> None:
    row.content = {"type": kind, "redacted": True}
