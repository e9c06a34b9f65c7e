"""Dedupe keys and the durable inbox of webhook events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import InboxEvent, ProcessedEvent, utcnow


async def claim_event(session: AsyncSession, key: str) -> bool:
    """Record a dedupe key; False when it was already processed.

    The key is inserted first and committed together with the work it guards; a duplicate
    fails on the primary key at once. After a False the transaction must be rolled back.
    """
    session.add(ProcessedEvent(key=key))
    try:
        await session.flush()
    except IntegrityError:
        return False
    return True


async def prune_events(session: AsyncSession, older_than: datetime) -> int:
    """Forget dedupe keys and finished inbox rows older than the redelivery horizon."""
    result = await session.execute(
        delete(ProcessedEvent).where(ProcessedEvent.created_at < older_than)
    )
    inbox = await session.execute(
        delete(InboxEvent).where(InboxEvent.status == "done", InboxEvent.created_at < older_than)
    )
    return (result.rowcount or 0) + (inbox.rowcount or 0)


async def record_inbox(
    session: AsyncSession, key: str, channel: str, payload: dict[str, Any]
) -> int | None:
    """Store an inbound event durably; None when the same delivery was already recorded.

    INSERT … ON CONFLICT DO NOTHING, so a duplicate costs no savepoint or failed statement.
    """
    insert = _insert_for(session)
    result = await session.execute(
        insert(InboxEvent)
        .values(
            dedupe_key=key,
            channel=channel,
            payload=payload,
            status="pending",
            attempts=0,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(InboxEvent.id)
    )
    return result.scalar_one_or_none()


def _insert_for(session: AsyncSession) -> Any:
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


async def pending_inbox(session: AsyncSession, limit: int = 100) -> list[InboxEvent]:
    rows = await session.scalars(
        select(InboxEvent)
        .where(InboxEvent.status == "pending")
        .order_by(InboxEvent.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(rows)


async def finish_inbox(
    session: AsyncSession, event_id: int, *, error: str | None = None, give_up: bool = False
) -> None:
    values: dict[str, Any] = {"attempts": InboxEvent.attempts + 1}
    if error is None:
        # The raw event may hold a name or phone number a worker typed: once processed, only
        # the dedupe key is needed, so the payload is dropped.
        values.update(status="done", processed_at=utcnow(), error=None, payload={})
    else:
        values.update(error=error[:2000], status="failed" if give_up else "pending")
    await session.execute(update(InboxEvent).where(InboxEvent.id == event_id).values(**values))
