"""The outbox: messages to people other than the sender, sent after the work is committed."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OutboxMessage, utcnow


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
        content=content,
        tag=tag,
        due_at=due_at or utcnow(),
    )
    session.add(row)
    return row


async def claim_due(session: AsyncSession, now: datetime, limit: int = 50) -> list[OutboxMessage]:
    """Mark due messages "sending" and return them, so two workers never send the same one.

    One UPDATE does the claim: PostgreSQL skips rows another worker has locked (SKIP LOCKED);
    SQLite serialises writers, so the second worker finds the rows already claimed.
    """
    due = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status == "pending", OutboxMessage.due_at <= now)
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = await session.scalars(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(due.scalar_subquery()))
        .values(status="sending")
        .returning(OutboxMessage)
        .execution_options(synchronize_session=False)
    )
    return sorted(rows, key=lambda row: row.id)


def mark_sent(row: OutboxMessage, now: datetime) -> None:
    """Sent messages keep only their envelope: the words (a lawyer's answer, a worker's
    name in a notification) are not kept once delivered."""
    row.status = "sent"
    row.sent_at = now
    row.attempts += 1
    row.content = {"type": row.content.get("type", ""), "redacted": True}


def mark_failed(row: OutboxMessage, now: datetime, error: str, *, final: bool) -> None:
    row.attempts += 1
    row.error = error[:2000]
    if final or row.attempts >= 8:
        row.status = "failed"
    else:
        row.due_at = now + timedelta(seconds=min(3600, 5 * 2**row.attempts))
