"""Legal-centre cases: the worker's question, the conversation, the staff-group links, ratings,
and the questions the FAQ missed.

A case (``TV-<year>-<6 digits>``) holds the question a worker sent to the legal-advice centre.
Its messages (both directions) are kept so a lawyer taking over sees the history; its links map
a staff-group message id or forum thread id back to the case, which is how a staff reply finds
the worker. Question texts, messages and the worker's name and phone are personal and sensitive
(a complaint about an employer), so they are stored only as ciphertext made by the caller; the
repository never sees plain text and never builds messages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, utcnow
from storage.redaction import redact

OPEN = "open"  # waiting for the first staff answer
ANSWERED = "answered"  # staff answered at least once; the worker may follow up
CLOSED = "closed"
STATUSES = (OPEN, ANSWERED, CLOSED)
# Whose question it is. Employers' questions (handlers/employer.py) are kept apart from workers':
# their own number series (TVDN-…), their own staff group when one is set, and a header.
WORKER = "worker"
EMPLOYER = "employer"
AUDIENCES = (WORKER, EMPLOYER)
NUMBER_PREFIX = {WORKER: "TV", EMPLOYER: "TVDN"}


class LegalCase(Base):
    __tablename__ = "legal_cases"
    __table_args__ = (
        Index("ix_legal_cases_status_created", "status", "created_at"),
        Index("ix_legal_cases_created", "created_at"),  # the figures of a period (reports)
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str | None] = mapped_column(String(20), unique=True, default=None)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(32))  # where the worker asked
    chat_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    audience: Mapped[str] = mapped_column(String(8), default=WORKER, server_default=WORKER)
    question_enc: Mapped[str] = mapped_column(Text)
    # What the question is about: the FAQ topic it matches ("wages", "dismissal"…), set when the
    # case opens (handlers/relay.py); None when no topic fits. A label, not the worker's words.
    topic: Mapped[str | None] = mapped_column(String(32), default=None)
    workplace_enc: Mapped[str | None] = mapped_column(Text, default=None)
    named: Mapped[bool] = mapped_column(Boolean, default=False)
    name_enc: Mapped[str | None] = mapped_column(Text, default=None)
    phone_enc: Mapped[str | None] = mapped_column(Text, default=None)
    phone_hash: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    staff_channel: Mapped[str | None] = mapped_column(String(32), default=None)
    staff_chat_id: Mapped[str | None] = mapped_column(String(128), default=None)
    thread_id: Mapped[str | None] = mapped_column(String(64), default=None)
    card_posted: Mapped[bool] = mapped_column(Boolean, default=False)
    assignee_id: Mapped[str | None] = mapped_column(String(128), default=None)
    assignee_label: Mapped[str | None] = mapped_column(String(128), default=None)
    awaiting_worker: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    first_response_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    reposted_at: Mapped[datetime | None] = mapped_column(default=None)
    escalated_at: Mapped[datetime | None] = mapped_column(default=None)


class CaseMessage(Base):
    """One message in a case: the question's attachments, follow-ups, staff answers."""

    __tablename__ = "legal_case_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("legal_cases.id", ondelete="CASCADE"), index=True
    )
    direction: Mapped[str] = mapped_column(String(8))  # worker | staff
    author_id: Mapped[str | None] = mapped_column(String(128), default=None)
    body_enc: Mapped[str | None] = mapped_column(Text, default=None)
    media: Mapped[list[str]] = mapped_column(JSON, default=list)
    source_channel: Mapped[str | None] = mapped_column(String(32), default=None)
    source_chat_id: Mapped[str | None] = mapped_column(String(128), default=None)
    source_message_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseLink(Base):
    """A staff-group message or forum thread that belongs to a case."""

    __tablename__ = "legal_case_links"
    __table_args__ = (
        Index("ix_legal_links_message", "channel", "chat_id", "message_id"),
        Index("ix_legal_links_thread", "channel", "chat_id", "thread_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("legal_cases.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # card | message | thread
    channel: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[str] = mapped_column(String(128))
    message_id: Mapped[str | None] = mapped_column(String(64), default=None)
    thread_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseRating(Base):
    __tablename__ = "legal_case_ratings"

    case_id: Mapped[int] = mapped_column(
        ForeignKey("legal_cases.id", ondelete="CASCADE"), primary_key=True
    )
    score: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FaqMiss(Base):
    """A normalised question the FAQ could not answer with confidence, counted for the editors."""

    __tablename__ = "faq_misses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question: Mapped[str] = mapped_column(String(300), unique=True)
    action: Mapped[str] = mapped_column(String(16))
    faq_id: Mapped[str | None] = mapped_column(String(80), default=None)
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)


# -- cases ---------------------------------------------------------------------------------


def case_number(year: int, case_id: int, audience: str = WORKER) -> str:
    """``TV-2026-000123`` (``TVDN-…`` for an employer): the year the question arrived (local
    time) and the row id."""
    return f"{NUMBER_PREFIX[audience]}-{year}-{case_id:06d}"


async def create_case(
    session: AsyncSession,
    *,
    contact_id: int,
    channel: str,
    chat_id: str,
    question_enc: str,
    year: int,
    now: datetime,
    workplace_enc: str | None = None,
    name_enc: str | None = None,
    phone_enc: str | None = None,
    phone_hash: str | None = None,
    staff_channel: str | None = None,
    staff_chat_id: str | None = None,
    audience: str = WORKER,
    topic: str | None = None,
) -> LegalCase:
    """A new open case; the number comes from the row id, so two workers never share one."""
    if audience not in AUDIENCES:
        raise ValueError(f"audience must be one of {AUDIENCES}")
    case = LegalCase(
        audience=audience,
        contact_id=contact_id,
        channel=channel,
        chat_id=chat_id,
        question_enc=question_enc,
        topic=topic,
        workplace_enc=workplace_enc,
        named=name_enc is not None or phone_enc is not None,
        name_enc=name_enc,
        phone_enc=phone_enc,
        phone_hash=phone_hash,
        staff_channel=staff_channel,
        staff_chat_id=staff_chat_id,
        status=OPEN,
        created_at=now,
    )
    session.add(case)
    await session.flush()
    case.number = case_number(year, case.id, audience)
    await session.flush()
    return case


async def get_case(session: AsyncSession, case_id: int) -> LegalCase | None:
    return await session.get(LegalCase, case_id)


async def case_by_number(session: AsyncSession, number: str) -> LegalCase | None:
    return await session.scalar(select(LegalCase).where(LegalCase.number == number.upper()))


async def cases_of_contact(session: AsyncSession, contact_id: int) -> list[LegalCase]:
    rows = await session.scalars(
        select(LegalCase).where(LegalCase.contact_id == contact_id).order_by(LegalCase.id)
    )
    return list(rows)


async def awaiting_case_of(session: AsyncSession, contact_id: int) -> LegalCase | None:
    """The worker's case whose lawyer is waiting for the worker's reply, if any."""
    return await session.scalar(
        select(LegalCase)
        .where(
            LegalCase.contact_id == contact_id,
            LegalCase.awaiting_worker.is_(True),
            LegalCase.status != CLOSED,
        )
        .order_by(LegalCase.id.desc())
        .limit(1)
    )


async def open_cases(session: AsyncSession, limit: int = 30) -> list[LegalCase]:
    """Cases not closed, oldest first (the staff's /cho list)."""
    rows = await session.scalars(
        select(LegalCase)
        .where(LegalCase.status != CLOSED)
        .order_by(LegalCase.created_at, LegalCase.id)
        .limit(limit)
    )
    return list(rows)


async def count_open(session: AsyncSession) -> int:
    return int(
        await session.scalar(
            select(func.count()).select_from(LegalCase).where(LegalCase.status != CLOSED)
        )
        or 0
    )


async def unanswered_cases(session: AsyncSession) -> list[LegalCase]:
    """Open cases no lawyer has answered yet and whose clocks have not both fired."""
    rows = await session.scalars(
        select(LegalCase)
        .where(
            LegalCase.status == OPEN,
            LegalCase.first_response_at.is_(None),
            (LegalCase.reposted_at.is_(None)) | (LegalCase.escalated_at.is_(None)),
        )
        .order_by(LegalCase.created_at)
        .with_for_update(skip_locked=True)
    )
    return list(rows)


# -- messages and links -------------------------------------------------------------------


def add_message(
    session: AsyncSession,
    case: LegalCase,
    *,
    direction: str,
    now: datetime,
    body_enc: str | None = None,
    author_id: str | None = None,
    media: list[str] | None = None,
    source_channel: str | None = None,
    source_chat_id: str | None = None,
    source_message_id: str | None = None,
) -> CaseMessage:
    message = CaseMessage(
        case_id=case.id,
        direction=direction,
        author_id=author_id,
        body_enc=body_enc,
        media=list(media or []),
        source_channel=source_channel,
        source_chat_id=source_chat_id,
        source_message_id=source_message_id,
        created_at=now,
    )
    session.add(message)
    return message


async def messages_of(session: AsyncSession, case_id: int) -> list[CaseMessage]:
    rows = await session.scalars(
        select(CaseMessage).where(CaseMessage.case_id == case_id).order_by(CaseMessage.id)
    )
    return list(rows)


def add_link(
    session: AsyncSession,
    case_id: int,
    *,
    kind: str,
    channel: str,
    chat_id: str,
    message_id: str | None = None,
    thread_id: str | None = None,
) -> CaseLink:
    link = CaseLink(
        case_id=case_id,
        kind=kind,
        channel=channel,
        chat_id=chat_id,
        message_id=message_id,
        thread_id=thread_id,
    )
    session.add(link)
    return link


async def case_for_message(
    session: AsyncSession, channel: str, chat_id: str, message_id: str
) -> LegalCase | None:
    """The case a staff-group message (a card or a relayed message) belongs to."""
    return await session.scalar(
        select(LegalCase)
        .join(CaseLink, CaseLink.case_id == LegalCase.id)
        .where(
            CaseLink.channel == channel,
            CaseLink.chat_id == chat_id,
            CaseLink.message_id == message_id,
        )
        .limit(1)
    )


async def case_for_thread(
    session: AsyncSession, channel: str, chat_id: str, thread_id: str
) -> LegalCase | None:
    """The case whose forum topic this is."""
    return await session.scalar(
        select(LegalCase)
        .join(CaseLink, CaseLink.case_id == LegalCase.id)
        .where(
            CaseLink.channel == channel,
            CaseLink.chat_id == chat_id,
            CaseLink.thread_id == thread_id,
            CaseLink.kind == "thread",
        )
        .limit(1)
    )


# -- ratings -------------------------------------------------------------------------------


async def rate_case(session: AsyncSession, case_id: int, score: int, now: datetime) -> CaseRating:
    """Store (or change) the worker's 1–5 rating of a closed case."""
    if not 1 <= score <= 5:
        raise ValueError("a rating is 1 to 5")
    rating = await session.get(CaseRating, case_id)
    if rating is None:
        rating = CaseRating(case_id=case_id, score=score, created_at=now)
        session.add(rating)
    else:
        rating.score = score
        rating.created_at = now
    await session.flush()
    return rating


async def rating_of(session: AsyncSession, case_id: int) -> int | None:
    rating = await session.get(CaseRating, case_id)
    return rating.score if rating else None


# -- FAQ misses ----------------------------------------------------------------------------


async def record_miss(
    session: AsyncSession, question: str, action: str, faq_id: str | None, now: datetime
) -> FaqMiss:
    """Count one more occurrence of a normalised question; safe when two workers race.

    Whatever the caller did, the stored text is redacted (phones, e-mails, ID numbers, a bare
    name) and short: misses are kept without the worker's consent and tied to nobody."""
    question = redact(question)
    query = select(FaqMiss).where(FaqMiss.question == question)
    miss = await session.scalar(query)
    if miss is None:
        try:
            async with session.begin_nested():
                miss = FaqMiss(
                    question=question,
                    action=action,
                    faq_id=faq_id,
                    count=1,
                    first_seen=now,
                    last_seen=now,
                )
                session.add(miss)
                await session.flush()
                return miss
        except IntegrityError:
            miss = await session.scalar(query)
            assert miss is not None
    miss.count += 1
    miss.action = action
    miss.faq_id = faq_id
    miss.last_seen = now
    return miss


async def forget_misses(session: AsyncSession, ids: list[int]) -> int:
    """A worker erases their data: each miss they added counts one less, and goes at zero."""
    if not ids:
        return 0
    await session.execute(
        update(FaqMiss).where(FaqMiss.id.in_(ids)).values(count=FaqMiss.count - 1)
    )
    await session.execute(delete(FaqMiss).where(FaqMiss.id.in_(ids), FaqMiss.count <= 0))
    return len(ids)


async def expire_misses(session: AsyncSession, before: datetime) -> int:
    """Misses not seen since ``before`` are deleted (``[privacy] faq_miss_days``)."""
    result = await session.execute(delete(FaqMiss).where(FaqMiss.last_seen < before))
    return result.rowcount or 0


async def top_misses(session: AsyncSession, limit: int = 50) -> list[FaqMiss]:
    rows = await session.scalars(
        select(FaqMiss).order_by(FaqMiss.count.desc(), FaqMiss.last_seen.desc()).limit(limit)
    )
    return list(rows)


# -- personal data -------------------------------------------------------------------------


async def _wipe(session: AsyncSession, where: Any) -> list[int]:
    """Remove the words of the cases ``where`` selects: question, workplace, name, phone and
    every message body and media id. The case row (number, status, dates) remains."""
    ids = list(await session.scalars(select(LegalCase.id).where(where)))
    if not ids:
        return []
    await session.execute(
        update(LegalCase)
        .where(LegalCase.id.in_(ids))
        .values(question_enc="", workplace_enc=None, name_enc=None, phone_enc=None, phone_hash=None)
    )
    await session.execute(
        update(CaseMessage).where(CaseMessage.case_id.in_(ids)).values(body_enc=None, media=[])
    )
    return ids


async def wipe_contact(session: AsyncSession, contact_id: int, *, now: datetime) -> int:
    """Consent withdrawn: the worker's open cases close and all their cases lose their words."""
    await session.execute(
        update(LegalCase)
        .where(LegalCase.contact_id == contact_id, LegalCase.status != CLOSED)
        .values(status=CLOSED, closed_at=now, awaiting_worker=False)
    )
    unwiped = (LegalCase.contact_id == contact_id) & (LegalCase.question_enc != "")
    return len(await _wipe(session, unwiped))


async def wipe_closed_before(session: AsyncSession, before: datetime) -> int:
    """Retention: cases closed before ``before`` lose their words."""
    due = (LegalCase.status == CLOSED) & (LegalCase.closed_at < before)
    return len(await _wipe(session, due & (LegalCase.question_enc != "")))


async def erase_contact(session: AsyncSession, contact_id: int) -> int:
    """Delete every case of a worker with its messages, links and rating; returns how many."""
    ids = [c.id for c in await cases_of_contact(session, contact_id)]
    if not ids:
        return 0
    for model in (CaseMessage, CaseLink, CaseRating):
        await session.execute(delete(model).where(model.case_id.in_(ids)))
    await session.execute(delete(LegalCase).where(LegalCase.id.in_(ids)))
    return len(ids)
