"""Dedupe keys with the replies they guard, and the durable inbox of inbound events.

Two promises live here. An acknowledged event is never lost: it is stored (sealed) before the
platform hears "ok", and any process may take it over once the lease of the one working on it
runs out. A processed event's replies are never lost either: they are committed with its dedupe
key and cleared only once sent, so a redelivery after a crash re-sends them instead of silence.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from storage.crypto import DataCipher, open_json, seal_json, session_cipher
from storage.models import InboxEvent, ProcessedEvent, utcnow

INBOX_ATTEMPTS = 50  # about a day of retries with the back-off below, then an operator looks
MAX_BACKOFF = timedelta(minutes=30)


_PROCESSED = ProcessedEvent.__table__
_INBOX = InboxEvent.__table__  # plain statements: the inbox is on every event's path

# The statements of every event, built once (building one costs about as much as running it
# on the loop's thread); the dialect's INSERT … ON CONFLICT is built per dialect.
_P = _PROCESSED.c
_WRITE_REPLIES = (
    update(_PROCESSED)
    .where(_P.key == bindparam("b_key"))
    .values(replies=bindparam("b_replies", type_=_P.replies.type))
)
_REPLIES_SENT = (
    update(_PROCESSED).where(_P.key == bindparam("b_key"), _P.replies.is_not(None))
    .values(replies=None)
)  # fmt: skip
_B = _INBOX.c
# What a reply's mark holds once no reply is left to send: nobody's words, so not sealed (a
# Fernet token begins "gAAAA", never "{"), and one encryption less for most events.
_NOTHING_LEFT_IN_FLIGHT = '{"replies":[],"in_flight":true}'


def _claimable(now: Any) -> Any:
    """Nobody holds the row's lease at ``now`` (a time, or a bound parameter for one)."""
    return or_(_B.lease_until.is_(None), _B.lease_until < now)


_NEXT_PENDING = (
    select(_B.id, _B.lease_until, _B.payload)
    .where(_B.user_key == bindparam("b_user"), _B.status == "pending")
    .order_by(_B.sequence, _B.id)
    .limit(1)
)
_LEASE_TYPE = _B.lease_until.type
_LEASE = (
    update(_INBOX)
    .where(
        _B.id == bindparam("b_id"),
        _B.status == "pending",
        _claimable(bindparam("b_now", type_=_LEASE_TYPE)),
    )
    .values(lease_owner=bindparam("b_owner"), lease_until=bindparam("b_until", type_=_LEASE_TYPE))
)
_FINISHED = (
    update(_INBOX)
    .where(_B.id == bindparam("b_id"))
    .values(attempts=_B.attempts + 1, lease_owner=None, lease_until=None, status="done",
            processed_at=bindparam("b_now", type_=_B.processed_at.type), error=None, payload={})
)  # fmt: skip


@cache
def _record_processed_statement(insert: Any) -> Any:
    """Built once per dialect's INSERT (``insert_for``)."""
    return (
        insert(_PROCESSED)
        .values(
            key=bindparam("b_key"),
            created_at=bindparam("b_now", type_=_P.created_at.type),
            replies=bindparam("b_replies", type_=_P.replies.type),
        )
        .on_conflict_do_nothing(index_elements=["key"])
    )  # its rowcount tells (1 or 0): a RETURNING row would cost a result to build


async def record_processed(
    session: AsyncSession | AsyncConnection,
    cipher: DataCipher | None,
    key: str,
    replies: list[dict[str, Any]],
) -> bool:
    """Record a processed event's dedupe key with its replies (sealed), as the last statement
    of the event's transaction; False when the key was there already: a redelivery, or
    another process that committed the same event first (PostgreSQL waits for that commit).
    The work done meanwhile must then be rolled back: exactly once, at one statement. The
    step's connection knows no cipher: it is given, as to ``reply_starting``."""
    sealed = _sealed(cipher, replies, in_flight=False) if replies else None
    result = await session.execute(
        _record_processed_statement(insert_for(session)),
        {"b_key": key, "b_now": utcnow(), "b_replies": sealed},
    )
    return result.rowcount == 1


async def reply_starting(
    conn: AsyncConnection,
    cipher: DataCipher | None,
    key: str,
    left: list[dict[str, Any]],
    *,
    in_flight: bool,
) -> None:
    """Record, before a reply goes to the platform, that it has left the list of unsent
    replies: ``left`` are the ones after it. ``in_flight`` says a send is under way, whose
    outcome a process taking the event over cannot know (Telegram has no idempotency key), so
    it is never sent again: at most once for that one reply, at least once for the rest.
    With ``in_flight`` False (the platform refused, 429) ``left`` holds the refused reply
    again. A plain statement on a connection (``Database.short_statements``): it runs before
    every reply."""
    sealed = _sealed(cipher, left, in_flight=in_flight)
    await conn.execute(_WRITE_REPLIES, {"b_key": key, "b_replies": sealed})


def _sealed(cipher: DataCipher | None, replies: list[dict[str, Any]], *, in_flight: bool) -> str:
    if in_flight and not replies:
        return _NOTHING_LEFT_IN_FLIGHT
    # A plain list, or {"replies": [...], "in_flight": true} while one is being sent.
    value: Any = {"replies": replies, "in_flight": True} if in_flight else replies
    blob = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return cipher.encrypt(blob) if cipher is not None else blob


async def unsent_replies(
    session: AsyncSession, key: str
) -> tuple[list[dict[str, Any]], datetime | None, bool]:
    """The replies of an already processed event never sent, when the event was made, and
    whether a send was under way when its process stopped (that reply may not have arrived)."""
    row = (
        await session.execute(
            select(ProcessedEvent.replies, ProcessedEvent.created_at).where(
                ProcessedEvent.key == key
            )
        )
    ).first()
    if row is None or not row.replies:
        return [], None, False
    cipher = session_cipher(session)
    blob = row.replies
    if cipher is not None and blob != _NOTHING_LEFT_IN_FLIGHT:
        blob = cipher.decrypt(blob)
    value = json.loads(blob)
    if isinstance(value, dict):
        return list(value.get("replies") or []), row.created_at, bool(value.get("in_flight"))
    return list(value), row.created_at, False


async def replies_sent(conn: AsyncSession | AsyncConnection, key: str) -> None:
    await conn.execute(_REPLIES_SENT, {"b_key": key})


async def prune_events(session: AsyncSession, older_than: datetime) -> int:
    """Forget dedupe keys and finished inbox rows older than the redelivery horizon."""
    result = await session.execute(
        delete(ProcessedEvent).where(ProcessedEvent.created_at < older_than)
    )
    inbox = await session.execute(
        delete(_INBOX).where(_INBOX.c.status == "done", _INBOX.c.created_at < older_than)
    )
    return (result.rowcount or 0) + (inbox.rowcount or 0)


async def record_inbox(
    session: AsyncSession,
    key: str,
    channel: str,
    payload: dict[str, Any],
    *,
    user_key: str = "",
    sequence: int = 0,
) -> int | None:
    """Store an inbound event durably (its payload sealed); None for a repeated delivery.

    INSERT … ON CONFLICT DO NOTHING, so a duplicate costs no savepoint or failed statement.
    """
    insert = insert_for(session)
    result = await session.execute(
        insert(_INBOX)
        .values(
            dedupe_key=key,
            channel=channel,
            user_key=user_key,
            sequence=sequence,
            payload=seal_json(session_cipher(session), payload),
            status="pending",
            attempts=0,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(_INBOX.c.id)
    )
    return result.scalar_one_or_none()


def dialect_name(executor: Any) -> str:
    """ "sqlite" or "postgresql", for a session or a connection."""
    return str(getattr(executor, "bind", executor).dialect.name)


def insert_for(session: Any) -> Any:
    """The dialect's INSERT, which has ON CONFLICT (SQLite and PostgreSQL spell it alike)."""
    if dialect_name(session) == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


async def claim_next(
    session: AsyncSession, user_key: str, owner: str, now: datetime, lease: timedelta
) -> tuple[int, dict[str, Any] | None] | None:
    """Lease the person's earliest pending event, if nobody holds it; None otherwise.

    Only the earliest is ever taken, so one person's events are handled in the platform's
    order by whichever process gets there. The UPDATE re-checks the lease, so two processes
    racing for the same row cannot both win. The payload is None when it cannot be opened
    (a row sealed with a key that is gone)."""
    first = (await session.execute(_NEXT_PENDING, {"b_user": user_key})).first()
    if first is None or (first.lease_until is not None and first.lease_until >= now):
        return None
    params = {"b_id": first.id, "b_now": now, "b_owner": owner, "b_until": now + lease}
    won = await session.execute(_LEASE, params)
    if won.rowcount != 1:
        return None
    try:
        payload = open_json(session_cipher(session), first.payload)
    except ValueError:
        payload = None
    return first.id, payload


async def people_waiting(
    session: AsyncSession, now: datetime, recorded_before: datetime, limit: int = 200
) -> list[str]:
    """People with an event nobody is working on: left by a crashed process, due for a retry,
    or recorded and not yet picked up."""
    rows = await session.scalars(
        select(_INBOX.c.user_key)
        .where(
            _INBOX.c.status == "pending",
            _claimable(now),
            or_(_INBOX.c.lease_until.is_not(None), _INBOX.c.created_at < recorded_before),
        )
        .group_by(_INBOX.c.user_key)
        .order_by(func.min(_INBOX.c.id))
        .limit(limit)
    )
    return list(rows)


async def finish_inbox(
    session: AsyncSession, event_id: int, *, error: str | None = None, give_up: bool = False
) -> None:
    if error is None:
        # Once processed only the dedupe key is needed, so the payload is dropped.
        await session.execute(_FINISHED, {"b_id": event_id, "b_now": utcnow()})
        return
    values: dict[str, Any] = {
        "attempts": _INBOX.c.attempts + 1,
        "lease_owner": None,
        "lease_until": None,
        "error": error[:2000],
        "status": "failed" if give_up else "pending",
    }
    await session.execute(update(_INBOX).where(_INBOX.c.id == event_id).values(**values))


async def retry_inbox(session: AsyncSession, event_id: int, error: str, now: datetime) -> bool:
    """Put an event back after a failure (the database was down, the disk full); it is tried
    again after a growing pause. False when it has failed too often and is set aside."""
    attempts = await session.scalar(select(_INBOX.c.attempts).where(_INBOX.c.id == event_id))
    attempts = (attempts or 0) + 1
    give_up = attempts >= INBOX_ATTEMPTS
    pause = min(MAX_BACKOFF, timedelta(seconds=2 ** min(attempts, 11)))
    await session.execute(
        update(_INBOX)
        .where(_INBOX.c.id == event_id)
        .values(
            attempts=attempts,
            error=error[:2000],
            status="failed" if give_up else "pending",
            lease_owner=None,
            lease_until=now + pause,
        )
    )
    return not give_up
