"""Core tables: people and their channel identities, conversation state, dedupe, inbox, outbox.

Feature tables live in their own modules under storage/ on the same ``Base``; bot/tables.py
imports them all so Alembic, ``create_all`` and erasure see one metadata. Timestamps are
timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


async def flush_pending(session: AsyncSession) -> None:
    """Write the session's pending ORM changes before plain statements on the same tables: a
    plain statement does not autoflush, and would otherwise miss them. Nothing when clean."""
    if session.new or session.dirty or session.deleted:
        await session.flush()


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware UTC datetimes; SQLite hands back naive ones, which are re-tagged as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; use aware UTC datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON}


_complete = False


def mark_complete() -> None:
    """Every storage module is imported (``bot.tables.load_models``)."""
    global _complete
    _complete = True


def complete_metadata() -> MetaData:
    """All tables, for work that must see every one (create them, erase a person from them):
    refuses until ``bot.tables.load_models()`` ran, so no feature's table is missed silently."""
    if not _complete:
        raise RuntimeError("call bot.tables.load_models() before using every table")
    return Base.metadata


class Contact(Base):
    """One person, whatever channels they use. Holds no personal data itself."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChannelIdentity(Base):
    """A contact's account on one channel, and where to reach it."""

    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_identity_channel_ext"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(128))
    chat_id: Mapped[str] = mapped_column(String(128))
    last_message_id: Mapped[str | None] = mapped_column(String(128), default=None)
    last_inbound_at: Mapped[datetime | None] = mapped_column(default=None)
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConversationState(Base):
    """Where a contact is in a conversation; survives restarts."""

    __tablename__ = "conversation_states"

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    flow: Mapped[str | None] = mapped_column(String(64), default=None)
    step: Mapped[str | None] = mapped_column(String(64), default=None)
    flow_version: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ProcessedEvent(Base):
    """Dedupe keys of events already handled (Telegram update_id, Zalo message id)."""

    __tablename__ = "processed_events"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # The replies of the event, sealed, committed with the key and cleared once sent: a crash
    # between the commit and the send re-sends them when the event is delivered again. Each is
    # struck off right before its platform call, so none is re-sent after it may have left.
    replies: Mapped[str | None] = mapped_column(Text, default=None)


class InboxEvent(Base):
    """An inbound event recorded before a webhook is acknowledged, processed afterwards.

    A process works on a row while it holds the lease (``lease_owner`` until ``lease_until``);
    a crashed process's rows are taken over when the lease runs out. One person's rows are
    handled in the platform's order (``sequence``: Telegram update id, Zalo timestamp)."""

    __tablename__ = "inbox_events"
    __table_args__ = (
        Index("ix_inbox_status_id", "status", "id"),
        Index("ix_inbox_user_order", "user_key", "status", "sequence", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(32))
    user_key: Mapped[str] = mapped_column(String(200), default="")
    sequence: Mapped[int] = mapped_column(BigInteger, default=0)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    lease_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(default=None)


class OutboxMessage(Base):
    """A message that must survive a crash: notifications, relayed replies, reminders."""

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_status_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[str] = mapped_column(String(128))
    thread_id: Mapped[str | None] = mapped_column(String(64), default=None)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    tag: Mapped[str | None] = mapped_column(String(128), default=None)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When sent; while ``sending``, when its platform call began (never re-sent after a crash).
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    # Who is sending it and until when; after the lease another process may take it over.
    claimed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)


class JobRun(Base):
    """One row per periodic job: the process that holds its lease runs it, the others skip."""

    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_run_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    last_run_at: Mapped[datetime | None] = mapped_column(default=None)


class HealthProbe(Base):
    """A row each process rewrites for /healthz: readiness means the database takes writes."""

    __tablename__ = "health_probes"

    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
