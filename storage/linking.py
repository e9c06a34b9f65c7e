"""Linking a worker's accounts on two channels into one contact.

A worker asks for a one-time code on one channel (``link_codes`` keeps only its keyed hash, and
the account that asked) and types it on the other; the two contacts are then merged
(``merge_contacts``). The code links only to the account that asked for it: once that account
belongs to another contact (it was linked elsewhere meanwhile) or is gone, the code is void.
Codes are those of storage/codes.py (10 characters, 31^10 of them); wrong tries are limited
there too, per account and per channel.

The merge keeps the older contact. Every table with a ``contact_id`` column (or any foreign key
to ``contacts.id``) is found through ``Base.metadata``, so tables added by later features are
covered without touching this module: their rows move to the kept contact. Where a row cannot
move because the kept contact already has one with the same key (its conversation state, an
application that may exist once per person), the kept contact's row wins and the other is
deleted. Channel identities move, so both accounts now reach the same person.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
    and_,
    delete,
    inspect,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage import codes
from storage.models import Base, ChannelIdentity, Contact, complete_metadata, utcnow

CODE_TTL = timedelta(minutes=10)


class LinkCode(Base):
    __tablename__ = "link_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), index=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(32))
    # the account that asked: the code links to it only while it belongs to ``contact_id``
    identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("channel_identities.id", ondelete="CASCADE"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)


@dataclass(frozen=True)
class Redeemed:
    """The outcome of typing a code: ``status`` "ok" with the two contacts, or why not.

    Status: "ok", "invalid" (unknown, used, or its account is no longer the one that asked),
    "expired", "same_contact" (already one person), "same_channel" (the code must be typed on
    the other channel).
    """

    status: str
    issuer_contact: int | None = None
    issuer_channel: str | None = None


async def issue_code(
    session: AsyncSession,
    contact_id: int,
    channel: str,
    now: datetime,
    hash_code: Callable[[str], str],
    identity_id: int | None = None,
) -> str:
    """A fresh code for this contact's account ``identity_id`` on ``channel``; earlier unused
    codes of the contact stop working."""
    await session.execute(
        delete(LinkCode).where(LinkCode.contact_id == contact_id, LinkCode.used_at.is_(None))
    )
    for _ in range(20):
        code = codes.new_code()
        digest = hash_code(code)
        clash = await session.scalar(
            select(LinkCode.id).where(
                LinkCode.code_hash == digest, LinkCode.used_at.is_(None), LinkCode.expires_at > now
            )
        )
        if clash is None:
            session.add(
                LinkCode(
                    code_hash=digest,
                    contact_id=contact_id,
                    channel=channel,
                    identity_id=identity_id,
                    created_at=now,
                    expires_at=now + CODE_TTL,
                )
            )
            await session.flush()
            return code
    raise RuntimeError("no free link code")  # 20 clashes among 31^10 codes: never


async def redeem_code(
    session: AsyncSession, code_hash: str, contact_id: int, channel: str, now: datetime
) -> Redeemed:
    """Check and spend a code typed by ``contact_id`` on ``channel``."""
    row = await session.scalar(
        select(LinkCode)
        .where(LinkCode.code_hash == code_hash, LinkCode.used_at.is_(None))
        .order_by(LinkCode.id.desc())
        .limit(1)
        .with_for_update()
    )
    if row is None:
        return Redeemed("invalid")
    if row.expires_at <= now:
        return Redeemed("expired")
    if row.identity_id is not None:
        issuer = await session.get(ChannelIdentity, row.identity_id)
        if issuer is None or issuer.contact_id != row.contact_id:
            row.used_at = now  # the account that asked is someone else's now: void for good
            return Redeemed("invalid")
    if row.contact_id == contact_id:
        return Redeemed("same_contact")
    if row.channel == channel:
        return Redeemed("same_channel")
    row.used_at = now
    return Redeemed("ok", row.contact_id, row.channel)


async def void_codes(session: AsyncSession, contact_ids: tuple[int, ...]) -> None:
    """Unused codes of these contacts stop working (after a link: a code asked for before it
    must not link a third account)."""
    await session.execute(
        delete(LinkCode).where(LinkCode.contact_id.in_(contact_ids), LinkCode.used_at.is_(None))
    )


def contact_tables() -> list[tuple[Table, list[Column[int]]]]:
    """Every table (but contacts) with a contact_id column or a foreign key to contacts.id."""
    found = []
    for table in complete_metadata().sorted_tables:
        if table.name == Contact.__tablename__:
            continue
        columns = [column for column in table.columns if _is_contact_column(column)]
        if columns:
            found.append((table, columns))
    return found


def _unique_sets(table: Table, column: Column[int]) -> list[list[Column[object]]]:
    """Column sets that must stay unique and include ``column`` (primary key, constraints)."""
    sets: list[list[Column[object]]] = []
    if column.primary_key:
        sets.append(list(table.primary_key.columns))
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint) and column.name in constraint.columns:
            sets.append(list(constraint.columns))
    for index in table.indexes:
        if index.unique and column.name in index.columns:
            sets.append(list(index.columns))
    if column.unique:
        sets.append([column])
    return sets


async def merge_contacts(session: AsyncSession, keep: int, drop: int) -> dict[str, int]:
    """Move everything of contact ``drop`` to ``keep`` and delete ``drop``.

    Returns the number of rows moved per table. Runs inside the caller's transaction: the
    engine's, so a failure leaves both contacts as they were. ORM objects of the dropped
    contact that the session holds are detached, so the caller's later flush cannot write
    them back.
    """
    if keep == drop:
        return {}
    await session.flush()
    moved: dict[str, int] = {}
    deleted_keys: set[tuple[str, tuple[object, ...]]] = set()
    for table, columns in contact_tables():
        for column in columns:
            sets = _unique_sets(table, column)
            if not sets:
                result = await session.execute(
                    update(table).where(column == drop).values({column.name: keep})
                )
                moved[table.name] = moved.get(table.name, 0) + (result.rowcount or 0)
                continue
            rows = (await session.execute(select(table).where(column == drop))).mappings().all()
            pk = list(table.primary_key.columns)
            for row in rows:
                where_pk = and_(*(c == row[c.name] for c in pk))
                if await _conflicts(session, table, column, row, sets, keep):
                    await session.execute(delete(table).where(where_pk))
                    deleted_keys.add((table.name, tuple(row[c.name] for c in pk)))
                else:
                    await session.execute(update(table).where(where_pk).values({column.name: keep}))
                    moved[table.name] = moved.get(table.name, 0) + 1
    _detach(session, drop, deleted_keys)
    await session.execute(delete(Contact.__table__).where(Contact.__table__.c.id == drop))
    kept = await session.get(Contact, keep)
    if kept is not None:
        kept.last_seen_at = utcnow()
    return moved


async def _conflicts(
    session: AsyncSession,
    table: Table,
    column: Column[int],
    row: dict[str, object],
    sets: list[list[Column[object]]],
    keep: int,
) -> bool:
    for columns in sets:
        condition = and_(*((c == keep) if c is column else (c == row[c.name]) for c in columns))
        if await session.scalar(select(1).select_from(table).where(condition).limit(1)):
            return True
    return False


def _detach(session: AsyncSession, drop: int, deleted: set[tuple[str, tuple[object, ...]]]) -> None:
    """Keep the session's objects consistent with the rows changed behind its back.

    Objects whose row was deleted, or whose primary key changed, are detached (a later
    flush would otherwise update a row that is gone); others get the moved column expired.
    Attribute values are read from the loaded state, never lazily from the database.
    """
    for obj in list(session.identity_map.values()):
        state = inspect(obj)
        mapper = state.mapper
        table = mapper.local_table
        key = tuple(state.identity or ())
        if table.name == Contact.__tablename__:
            if key == (drop,):
                session.expunge(obj)
            continue
        if (table.name, key) in deleted:
            session.expunge(obj)
            continue
        moved = [
            prop
            for prop in mapper.column_attrs
            if any(_is_contact_column(c) for c in prop.columns) and state.dict.get(prop.key) == drop
        ]
        if not moved:
            continue
        if any(c.primary_key for prop in moved for c in prop.columns):
            session.expunge(obj)
        else:
            session.expire(obj, [prop.key for prop in moved])


def _is_contact_column(column: Column[Any]) -> bool:
    """A ``contact_id`` column, or any column with a foreign key to contacts.id."""
    return column.name == "contact_id" or any(
        fk.column.table.name == Contact.__tablename__ for fk in column.foreign_keys
    )


async def identity_on(
    session: AsyncSession, contact_id: int, channel: str
) -> ChannelIdentity | None:
    """The contact's identity on a channel (the most recently used), to tell them about a link."""
    return await session.scalar(
        select(ChannelIdentity)
        .where(ChannelIdentity.contact_id == contact_id, ChannelIdentity.channel == channel)
        .order_by(ChannelIdentity.last_inbound_at.desc().nulls_last(), ChannelIdentity.id.desc())
        .limit(1)
    )


async def older_contact(session: AsyncSession, a: int, b: int) -> tuple[int, int]:
    """(keep, drop): the contact created first is kept; ties go to the lower id."""
    rows = (
        await session.execute(select(Contact.id, Contact.created_at).where(Contact.id.in_((a, b))))
    ).all()
    ordered = sorted(rows, key=lambda r: (r.created_at, r.id))
    if len(ordered) != 2:
        raise LookupError("a contact to link no longer exists")
    return ordered[0].id, ordered[1].id
