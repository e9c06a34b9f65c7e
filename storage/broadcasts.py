"""Announcements: subscriptions (consent per topic), announcements, one row per recipient, poll
answers, button clicks and the Zalo OA promotion slots.

Exactly once per person rests on ``broadcast_recipients``: one row per (announcement, contact),
unique, written before anything is sent; a row is *claimed* (status ``sending``, committed) before
its message goes out, and finished after. A row found ``sending`` by a later run was claimed by
a process that died: the message may or may not have left, so it is counted ``unknown`` and never
sent again. A subscription row is the consent record itself (topic, notice version, channel,
when); stopping keeps the row with ``withdrawn_at`` as proof, erasing deletes it.

Repositories only: no messages, no handlers. Callers pass the clock (``now``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.membership import ADMITTED, PENDING, MemberApplication
from storage.models import Base, ChannelIdentity, ConversationState
from storage.people import Person

TOPICS = ("campaign", "rights", "activities")
"""tin chiến dịch; quyền lợi và luật mới; hoạt động, phúc lợi."""

# Recipient statuses. "queued" and "sending" are in progress; the rest are final.
QUEUED, SENDING, SENT = "queued", "sending", "sent"
FAILED, BLOCKED, HELD, SKIPPED, OPTED_OUT, UNKNOWN = (
    "failed", "blocked", "held", "skipped", "opted_out", "unknown",
)  # fmt: skip
RECIPIENT_STATUSES = (QUEUED, SENDING, SENT, FAILED, BLOCKED, HELD, SKIPPED, OPTED_OUT, UNKNOWN)

# Announcement statuses.
DRAFT, SCHEDULED, AWAITING_APPROVAL, RUNNING, DONE, CANCELLED = (
    "draft", "scheduled", "awaiting_approval", "running", "done", "cancelled",
)  # fmt: skip


class Subscription(Base):
    """A worker's consent to receive one topic of announcements."""

    __tablename__ = "broadcast_subscriptions"
    __table_args__ = (Index("ix_bsub_topic_active", "topic", "withdrawn_at", "contact_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    topic: Mapped[str] = mapped_column(String(16))
    notice_version: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32))
    given_at: Mapped[datetime]
    withdrawn_at: Mapped[datetime | None] = mapped_column(default=None)


class Broadcast(Base):
    """One announcement or quick poll, as composed by staff."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    photo: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    photo_name: Mapped[str | None] = mapped_column(String(128), default=None)
    button: Mapped[str | None] = mapped_column(String(512), default=None)
    poll_question: Mapped[str | None] = mapped_column(Text, default=None)
    poll_options: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    audience: Mapped[str] = mapped_column(String(200))
    exclude: Mapped[str | None] = mapped_column(String(200), default=None)
    scheduled_at: Mapped[datetime | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(24), default=DRAFT, index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime]
    queued_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class Recipient(Base):
    """One person's copy of one announcement: claimed before sending, so never sent twice."""

    __tablename__ = "broadcast_recipients"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "contact_id", name="uq_brecipient_once"),
        Index("ix_brecipient_claim", "broadcast_id", "status", "due_at", "id"),
        Index("ix_brecipient_contact", "contact_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(300), default=None)
    kind: Mapped[str | None] = mapped_column(String(16), default=None)  # Zalo OA: cs | promotion
    due_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)


class PollAnswer(Base):
    """A person's one answer to a quick poll; a second press changes it."""

    __tablename__ = "broadcast_poll_answers"

    broadcast_id: Mapped[int] = mapped_column(
        ForeignKey("broadcasts.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    option: Mapped[int] = mapped_column(Integer)
    changes: Mapped[int] = mapped_column(Integer, default=0)
    answered_at: Mapped[datetime]


class Click(Base):
    """Someone pressed the announcement's button (counted once per person)."""

    __tablename__ = "broadcast_clicks"

    broadcast_id: Mapped[int] = mapped_column(
        ForeignKey("broadcasts.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    presses: Mapped[int] = mapped_column(Integer, default=1)
    first_at: Mapped[datetime]


class PromotionSlot(Base):
    """One Zalo OA promotional message to one follower: the unique keys make the monthly quota
    (slot numbers 1..quota) and the one-a-day rule hold across processes."""

    __tablename__ = "zalo_promotion_slots"
    __table_args__ = (
        UniqueConstraint("chat_id", "month", "slot", name="uq_zpromo_month_slot"),
        UniqueConstraint("chat_id", "day", name="uq_zpromo_day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(128))
    month: Mapped[str] = mapped_column(String(7))  # 2027-05 (Asia/Ho_Chi_Minh)
    day: Mapped[str] = mapped_column(String(10))  # 2027-05-01
    slot: Mapped[int] = mapped_column(Integer)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    taken_at: Mapped[datetime]


# -- subscriptions ---------------------------------------------------------------------------


async def active_topics(session: AsyncSession, contact_id: int) -> dict[str, Subscription]:
    rows = await session.scalars(
        select(Subscription).where(
            Subscription.contact_id == contact_id, Subscription.withdrawn_at.is_(None)
        )
    )
    return {row.topic: row for row in rows}


async def subscribe(
    session: AsyncSession,
    *,
    contact_id: int,
    topic: str,
    notice_version: str,
    channel: str,
    now: datetime,
) -> bool:
    """Record consent for one topic; False when it was already given."""
    if topic not in TOPICS:
        raise ValueError(f"unknown topic {topic!r}")
    if topic in await active_topics(session, contact_id):
        return False
    session.add(
        Subscription(
            contact_id=contact_id,
            topic=topic,
            notice_version=notice_version,
            channel=channel,
            given_at=now,
        )
    )
    await session.flush()
    return True


async def unsubscribe(
    session: AsyncSession, contact_id: int, now: datetime, topic: str | None = None
) -> int:
    """Withdraw consent (one topic or all) and stop every copy not yet sent, at once."""
    query = update(Subscription).where(
        Subscription.contact_id == contact_id, Subscription.withdrawn_at.is_(None)
    )
    if topic is not None:
        query = query.where(Subscription.topic == topic)
    withdrawn = (await session.execute(query.values(withdrawn_at=now))).rowcount or 0
    if topic is None or not await active_topics(session, contact_id):
        await session.execute(
            update(Recipient)
            .where(Recipient.contact_id == contact_id, Recipient.status == QUEUED)
            .values(status=OPTED_OUT)
        )
    return withdrawn


async def subscriptions_of(session: AsyncSession, contact_id: int) -> list[Subscription]:
    rows = await session.scalars(
        select(Subscription)
        .where(Subscription.contact_id == contact_id)
        .order_by(Subscription.given_at, Subscription.id)
    )
    return list(rows)


async def poll_answers_of(session: AsyncSession, contact_id: int) -> list[PollAnswer]:
    rows = await session.scalars(select(PollAnswer).where(PollAnswer.contact_id == contact_id))
    return list(rows)


async def erase_contact(session: AsyncSession, contact_id: int) -> None:
    """/xoadulieu: subscriptions, poll answers and clicks go; recipient rows keep only the
    count (the contact link is what made them personal, and it is cut by deleting them)."""
    for model in (Subscription, PollAnswer, Click):
        await session.execute(delete(model).where(model.contact_id == contact_id))
    await session.execute(
        update(Recipient)
        .where(Recipient.contact_id == contact_id, Recipient.status == QUEUED)
        .values(status=OPTED_OUT)
    )


# -- announcements ---------------------------------------------------------------------------


async def create(session: AsyncSession, **values: Any) -> Broadcast:
    broadcast = Broadcast(**values)
    session.add(broadcast)
    await session.flush()
    return broadcast


async def get(session: AsyncSession, broadcast_id: int) -> Broadcast | None:
    return await session.get(Broadcast, broadcast_id)


async def get_for_update(session: AsyncSession, broadcast_id: int) -> Broadcast | None:
    """The row locked for a decision (two presses of one button decide once)."""
    return await session.get(Broadcast, broadcast_id, with_for_update=True, populate_existing=True)


async def listing(session: AsyncSession, limit: int = 50) -> list[Broadcast]:
    rows = await session.scalars(select(Broadcast).order_by(Broadcast.id.desc()).limit(limit))
    return list(rows)


async def start_due(session: AsyncSession, now: datetime) -> list[int]:
    """Scheduled announcements whose time has come, moved to running by one atomic UPDATE so
    only one process (the one whose UPDATE matched) starts each."""
    rows = await session.scalars(
        update(Broadcast)
        .where(Broadcast.status == SCHEDULED, Broadcast.scheduled_at <= now)
        .values(status=RUNNING)
        .returning(Broadcast.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(rows)


async def take_over_stalled(session: AsyncSession, before: datetime) -> list[int]:
    """Running announcements not queued yet (the starting process stopped first: queueing is
    idempotent, so taking over is safe), or with rows still queued that nobody claimed since
    ``before``: the process sending them stopped. (In quiet hours nothing is claimed either;
    a second process joining then is harmless: claims never overlap, the pace is shared.)"""
    last_claim = (
        select(func.max(Recipient.claimed_at))
        .where(Recipient.broadcast_id == Broadcast.id)
        .scalar_subquery()
    )
    queued = (
        select(Recipient.id)
        .where(Recipient.broadcast_id == Broadcast.id, Recipient.status == QUEUED)
        .exists()
    )
    rows = await session.scalars(
        select(Broadcast.id).where(
            Broadcast.status == RUNNING,
            Broadcast.queued_at.is_(None)
            | (queued & (last_claim.is_(None) | (last_claim < before))),
        )
    )
    return sorted(rows)


# -- audiences ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Audience:
    """A parsed ``--audience`` / ``--exclude`` value."""

    kind: str  # all | topic | area | union-body | members | non-members | applicants | ...
    value: str = ""

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}" if self.value else self.kind


AUDIENCE_KINDS = (
    "all", "topic", "area", "union-body", "members", "non-members", "applicants",
    "collaborators", "volunteers",
)  # fmt: skip
_NEEDS_VALUE = {"topic", "area", "union-body"}


def parse_audience(text: str) -> Audience:
    kind, _, value = text.strip().partition(":")
    kind = kind.strip().lower()
    value = value.strip()
    if kind not in AUDIENCE_KINDS:
        raise ValueError(f"unknown audience {kind!r}; one of {', '.join(AUDIENCE_KINDS)}")
    if (kind in _NEEDS_VALUE) != bool(value):
        raise ValueError(f"audience {kind} {'needs' if kind in _NEEDS_VALUE else 'takes no'} value")
    if kind == "topic" and value not in TOPICS:
        raise ValueError(f"unknown topic {value!r}; one of {', '.join(TOPICS)}")
    return Audience(kind, value)


def _group(audience: Audience) -> Any:
    """The contacts an audience names, as a subquery of contact ids (None = everyone).
    An area's value is its unit code here (the caller resolves the name)."""
    apps = MemberApplication
    if audience.kind == "area":
        return select(apps.contact_id).where(apps.area_code == audience.value)
    if audience.kind == "union-body":
        return select(apps.contact_id).where(
            func.lower(apps.union_body) == audience.value.casefold()
        )
    if audience.kind in ("members", "non-members"):
        return select(apps.contact_id).where(apps.status == ADMITTED)
    if audience.kind == "applicants":
        return select(apps.contact_id).where(apps.status == PENDING)
    if audience.kind in ("collaborators", "volunteers"):
        role = audience.kind[:-1]
        return (
            select(ChannelIdentity.contact_id)
            .join(
                Person,
                (Person.channel == ChannelIdentity.channel)
                & (Person.external_id == ChannelIdentity.external_id),
            )
            .where(Person.role == role, Person.active)
        )
    return None


def _matching(audience: Audience) -> Any:
    """A WHERE clause on Subscription.contact_id for one audience."""
    group = _group(audience)
    if audience.kind == "topic":
        return Subscription.topic == audience.value
    if group is None:
        return None
    if audience.kind == "non-members":
        return Subscription.contact_id.not_in(group)
    return Subscription.contact_id.in_(group)


def audience_query(audience: Audience, exclude: Audience | None = None) -> Any:
    """Distinct contact ids with at least one active subscription in the audience: nobody
    without consent is ever selected, whatever the audience says."""
    query = select(Subscription.contact_id).where(Subscription.withdrawn_at.is_(None)).distinct()
    clause = _matching(audience)
    if clause is not None:
        query = query.where(clause)
    if exclude is not None:
        excluded = _matching(exclude)
        if excluded is not None:
            sub = select(Subscription.contact_id).where(Subscription.withdrawn_at.is_(None))
            query = query.where(Subscription.contact_id.not_in(sub.where(excluded)))
    return query


async def reachable_addresses(
    session: AsyncSession, contact_ids: list[int]
) -> dict[int, tuple[str, str]]:
    """Each contact's channel used last that still works: a person on two linked channels
    gets one copy, where they are."""
    best: dict[int, tuple[Any, int, str, str]] = {}
    for start in range(0, len(contact_ids), 5000):
        chunk = contact_ids[start : start + 5000]
        rows = await session.execute(
            select(
                ChannelIdentity.contact_id,
                ChannelIdentity.last_inbound_at,
                ChannelIdentity.id,
                ChannelIdentity.channel,
                ChannelIdentity.chat_id,
            ).where(ChannelIdentity.contact_id.in_(chunk), ChannelIdentity.unreachable.is_(False))
        )
        for contact_id, seen, identity_id, channel, chat_id in rows:
            key = (seen.timestamp() if seen else 0.0, identity_id)
            current = best.get(contact_id)
            if current is None or key > current[:2]:
                best[contact_id] = (*key, channel, chat_id)  # type: ignore[assignment]
    return {cid: (v[2], v[3]) for cid, v in best.items()}


async def audience_contacts(session: AsyncSession, query: Any) -> list[int]:
    return sorted(await session.scalars(query))


async def queue_recipients(
    session: AsyncSession,
    broadcast: Broadcast,
    addresses: dict[int, tuple[str, str]],
    now: datetime,
) -> int:
    """One row per recipient, written once (a second call adds nobody)."""
    if broadcast.queued_at is not None:
        return 0
    rows = [
        {
            "broadcast_id": broadcast.id,
            "contact_id": contact_id,
            "channel": channel,
            "chat_id": chat_id,
            "status": QUEUED,
            "attempts": 0,
            "due_at": now,
        }
        for contact_id, (channel, chat_id) in sorted(addresses.items())
    ]
    for start in range(0, len(rows), 2000):
        await session.execute(insert(Recipient), rows[start : start + 2000])
    broadcast.queued_at = now
    broadcast.status = RUNNING
    return len(rows)


async def mark_crashed_unknown(session: AsyncSession, broadcast_id: int, before: datetime) -> int:
    """Rows a dead process claimed: the message may have left, so never send them again."""
    result = await session.execute(
        update(Recipient)
        .where(
            Recipient.broadcast_id == broadcast_id,
            Recipient.status == SENDING,
            Recipient.claimed_at < before,
        )
        .values(status=UNKNOWN, error="claimed by a process that stopped")
    )
    return result.rowcount or 0


async def claim(
    session: AsyncSession, broadcast_id: int, now: datetime, limit: int
) -> list[Recipient]:
    """Mark up to ``limit`` due rows ``sending`` and return them; two processes never claim the
    same row (SKIP LOCKED on PostgreSQL; SQLite serialises writers)."""
    due = (
        select(Recipient.id)
        .where(
            Recipient.broadcast_id == broadcast_id,
            Recipient.status == QUEUED,
            Recipient.due_at <= now,
        )
        .order_by(Recipient.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = await session.scalars(
        update(Recipient)
        .where(Recipient.id.in_(due.scalar_subquery()))
        .values(status=SENDING, claimed_at=now, attempts=Recipient.attempts + 1)
        .returning(Recipient)
        .execution_options(synchronize_session=False)
    )
    return sorted(rows, key=lambda row: row.id)


async def still_subscribed(
    session: AsyncSession, contact_ids: list[int], topic: str | None
) -> set[int]:
    if not contact_ids:
        return set()
    query = select(Subscription.contact_id).where(
        Subscription.contact_id.in_(contact_ids), Subscription.withdrawn_at.is_(None)
    )
    if topic is not None:
        query = query.where(Subscription.topic == topic)
    return set(await session.scalars(query))


async def finish(session: AsyncSession, results: list[dict[str, Any]]) -> None:
    """Write the outcome of sent rows (id, status, error, due_at, sent_at, kind) in one go.
    Only rows still ``sending`` change: an opt-out that landed meanwhile stays."""
    for result in results:
        values = {k: v for k, v in result.items() if k != "id"}
        await session.execute(
            update(Recipient)
            .where(Recipient.id == result["id"], Recipient.status == SENDING)
            .values(**values)
        )


async def remaining(session: AsyncSession, broadcast_id: int) -> tuple[int, datetime | None]:
    """How many rows are still queued, and when the next one is due."""
    count, due = (
        await session.execute(
            select(func.count(), func.min(Recipient.due_at)).where(
                Recipient.broadcast_id == broadcast_id, Recipient.status == QUEUED
            )
        )
    ).one()
    return int(count), due


async def counts(session: AsyncSession, broadcast_id: int) -> dict[str, int]:
    rows = await session.execute(
        select(Recipient.status, func.count())
        .where(Recipient.broadcast_id == broadcast_id)
        .group_by(Recipient.status)
    )
    found = {status: int(n) for status, n in rows}
    result = {status: found.get(status, 0) for status in RECIPIENT_STATUSES}
    result["total"] = sum(found.values())
    result["clicks"] = int(
        await session.scalar(
            select(func.count()).select_from(Click).where(Click.broadcast_id == broadcast_id)
        )
        or 0
    )
    return result


async def poll_counts(session: AsyncSession, broadcast_id: int) -> dict[int, int]:
    rows = await session.execute(
        select(PollAnswer.option, func.count())
        .where(PollAnswer.broadcast_id == broadcast_id)
        .group_by(PollAnswer.option)
    )
    return {int(option): int(n) for option, n in rows}


async def received(session: AsyncSession, broadcast_id: int, contact_id: int) -> bool:
    found = await session.scalar(
        select(Recipient.id).where(
            Recipient.broadcast_id == broadcast_id,
            Recipient.contact_id == contact_id,
            Recipient.status.in_((SENT, UNKNOWN, SENDING)),
        )
    )
    return found is not None


async def latest_poll_for(session: AsyncSession, contact_id: int) -> Broadcast | None:
    """The most recent quick poll this person was sent (for typed answers on Zalo)."""
    return await session.scalar(
        select(Broadcast)
        .join(Recipient, Recipient.broadcast_id == Broadcast.id)
        .where(
            Recipient.contact_id == contact_id,
            Recipient.status == SENT,
            Broadcast.poll_question.is_not(None),
        )
        .order_by(Recipient.sent_at.desc())
        .limit(1)
    )


async def answer_poll(
    session: AsyncSession, broadcast_id: int, contact_id: int, option: int, now: datetime
) -> tuple[str, int | None]:
    """("new"|"changed"|"same", previous option). One answer per person."""
    row = await session.get(PollAnswer, (broadcast_id, contact_id), with_for_update=True)
    if row is None:
        try:
            async with session.begin_nested():
                session.add(
                    PollAnswer(
                        broadcast_id=broadcast_id,
                        contact_id=contact_id,
                        option=option,
                        answered_at=now,
                    )
                )
            return "new", None
        except IntegrityError:
            row = await session.get(PollAnswer, (broadcast_id, contact_id), populate_existing=True)
            assert row is not None
    if row.option == option:
        return "same", option
    previous = row.option
    row.option, row.changes, row.answered_at = option, row.changes + 1, now
    return "changed", previous


async def record_click(
    session: AsyncSession, broadcast_id: int, contact_id: int, now: datetime
) -> None:
    row = await session.get(Click, (broadcast_id, contact_id))
    if row is None:
        session.add(Click(broadcast_id=broadcast_id, contact_id=contact_id, first_at=now))
    else:
        row.presses += 1


async def set_typed_choices(session: AsyncSession, contact_id: int, payloads: list[str]) -> None:
    """On channels without buttons a typed number picks from the last list shown: after an
    announcement that list is the announcement's (poll answers, stop)."""
    state = await session.get(ConversationState, contact_id)
    if state is None:
        session.add(ConversationState(contact_id=contact_id, data={"_choices": payloads}))
        return
    state.data = {**(state.data or {}), "_choices": payloads}


async def take_promotion_slot(
    session: AsyncSession,
    *,
    chat_id: str,
    month: str,
    day: str,
    quota: int,
    broadcast_id: int,
    now: datetime,
) -> bool:
    """One of the follower's ``quota`` promotional messages this month (and the only one
    today), or False: the unique keys refuse a slot another process took."""
    used = await promotions_in(session, chat_id, month)
    if used >= quota:
        return False
    try:
        async with session.begin_nested():
            session.add(
                PromotionSlot(
                    chat_id=chat_id,
                    month=month,
                    day=day,
                    slot=used + 1,
                    broadcast_id=broadcast_id,
                    taken_at=now,
                )
            )
    except IntegrityError:
        return False
    return True


async def promotions_in(session: AsyncSession, chat_id: str, month: str) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(PromotionSlot)
            .where(PromotionSlot.chat_id == chat_id, PromotionSlot.month == month)
        )
        or 0
    )
