"""Membership applications, consent records, data-rights requests and the audit log.

A worker's application to join the union is high-risk data (an employer must never learn who is
joining, LCĐ Điều 10), so names, phone numbers, the company and the job are stored only as
ciphertext made by the caller (storage/crypto.py); the phone's keyed hash finds a second
application with the same number without decrypting anything. Every status change is kept as
history; consent is kept per purpose with the notice version the worker saw; every data-rights
request and every staff look at personal data lands in an audit log that holds no personal data.

Repositories only: no messages, no handlers. Callers pass the clock (``now``) and ciphertext.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    Row,
    String,
    Text,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, ChannelIdentity, flush_pending
from storage.people import Person

PENDING = "pending"
ADMITTED = "admitted"
RETURNED = "returned"
WITHDRAWN = "withdrawn"
STATUSES = (PENDING, ADMITTED, RETURNED, WITHDRAWN)
ACTIVE = (PENDING, ADMITTED)
"""An application in one of these states blocks a second one with the same phone."""


class MemberApplication(Base):
    """One application to join, routed to the union body responsible for the workplace."""

    __tablename__ = "member_applications"
    __table_args__ = (
        Index("ix_member_app_body_status", "union_body", "status", "id"),
        Index("ix_member_app_status", "status", "id"),
        # The campaign leaderboard counts applications per invited contact and status.
        Index("ix_member_app_contact_status", "contact_id", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(32))
    name_enc: Mapped[str | None] = mapped_column(Text, default=None)
    phone_enc: Mapped[str | None] = mapped_column(Text, default=None)
    phone_hash: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    company_enc: Mapped[str | None] = mapped_column(Text, default=None)
    job_enc: Mapped[str | None] = mapped_column(Text, default=None)
    area_code: Mapped[str | None] = mapped_column(String(16), default=None)
    union_body: Mapped[str] = mapped_column(String(200))
    union_status: Mapped[str] = mapped_column(String(16))
    size_band: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    return_reason_enc: Mapped[str | None] = mapped_column(Text, default=None)
    lead_id: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    personal_data_erased_at: Mapped[datetime | None] = mapped_column(default=None)


class ApplicationEvent(Base):
    """The status history of an application (who acted is a role, never a name)."""

    __tablename__ = "member_application_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("member_applications.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]


class ReferenceCounter(Base):
    """The last reference number issued per year, so a number is never reused after a delete."""

    __tablename__ = "member_reference_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)


class ConsentRecord(Base):
    """Consent given for one purpose, with the notice version shown (Law 91/2025 Điều 9)."""

    __tablename__ = "consent_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(32))
    notice_version: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32))
    given_at: Mapped[datetime]
    withdrawn_at: Mapped[datetime | None] = mapped_column(default=None)


class DataRightsRequest(Base):
    """A worker's request to see, withdraw or erase; holds no personal data itself."""

    __tablename__ = "data_rights_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # access | withdraw | erase
    status: Mapped[str] = mapped_column(String(24))  # awaiting_confirmation | done | cancelled
    channel: Mapped[str] = mapped_column(String(32))
    requested_at: Mapped[datetime]
    completed_at: Mapped[datetime | None] = mapped_column(default=None)


class AuditEntry(Base):
    """Who did what to which record, without personal data: ids, references, counts."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    action: Mapped[str] = mapped_column(String(48), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(32), default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# -- applications ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NewApplication:
    """What the join form collected; personal fields are ciphertext already."""

    contact_id: int
    channel: str
    name_enc: str
    phone_enc: str
    phone_hash: str
    company_enc: str
    job_enc: str | None
    area_code: str | None
    union_body: str
    union_status: str
    size_band: str
    lead_id: int | None = None  # the enterprise's lead, when the workplace has no union


# The join form's "Gửi" runs these on the event loop's thread: plain statements, built once.
_APPLICATIONS = MemberApplication.__table__
_A = _APPLICATIONS.c
_COUNTERS = ReferenceCounter.__table__
_NEXT_NUMBER = (
    update(_COUNTERS)
    .where(_COUNTERS.c.year == bindparam("b_year"))
    .values(last=_COUNTERS.c.last + 1)
    .returning(_COUNTERS.c.last)
)
_FIRST_NUMBER = insert(_COUNTERS).values(year=bindparam("b_year"), last=1)
_ADD_APPLICATION = insert(_APPLICATIONS).returning(_A.id)
_ADD_EVENT = insert(ApplicationEvent.__table__)
_ADD_AUDIT = insert(AuditEntry.__table__)
_ADD_CONSENT = insert(ConsentRecord.__table__)


def _newest_active(column: ColumnElement[Any]) -> Any:
    """The id of the newest pending or admitted application whose ``column`` is the bound
    ``b_value``."""
    return (
        select(_A.id)
        .where(column == bindparam("b_value"), _A.status.in_(ACTIVE))
        .order_by(_A.id.desc())
        .limit(1)
    )


_ACTIVE_BY_PHONE = _newest_active(_A.phone_hash)
_ACTIVE_OF_CONTACT = _newest_active(_A.contact_id)


async def next_reference(session: AsyncSession, now: datetime) -> str:
    """KN-<year>-<6 digits>, numbered per year; the counter row serialises concurrent joins."""
    year = now.year
    number = (await session.execute(_NEXT_NUMBER, {"b_year": year})).scalar_one_or_none()
    if number is None:
        try:
            async with session.begin_nested():
                await session.execute(_FIRST_NUMBER, {"b_year": year})
            number = 1
        except IntegrityError:  # another process created this year's counter first
            return await next_reference(session, now)
    return f"KN-{year}-{number:06d}"


@dataclass(frozen=True)
class Submitted:
    """An application as ``add_application`` recorded it."""

    id: int
    reference: str


async def add_application(
    session: AsyncSession, new: NewApplication, *, now: datetime
) -> Submitted:
    """Record a new, pending application and the first step of its history."""
    reference = await next_reference(session, now)
    row = {**vars(new), "reference": reference, "status": PENDING, "created_at": now,
           "updated_at": now}  # fmt: skip
    application_id = (await session.execute(_ADD_APPLICATION, row)).scalar_one()
    event = {"application_id": application_id, "status": PENDING, "actor": "worker", "at": now}
    await session.execute(_ADD_EVENT, event)
    return Submitted(application_id, reference)


async def create_application(
    session: AsyncSession, new: NewApplication, *, now: datetime
) -> MemberApplication:
    """``add_application`` for callers that want the application as an object."""
    submitted = await add_application(session, new, now=now)
    app = await session.get(MemberApplication, submitted.id)
    assert app is not None
    return app


async def _latest_active(
    session: AsyncSession, query: Any, value: object
) -> MemberApplication | None:
    """The newest pending or admitted application ``query`` (``_newest_active``) finds."""
    await flush_pending(session)
    found = (await session.execute(query, {"b_value": value})).scalar_one_or_none()
    return None if found is None else await session.get(MemberApplication, found)


async def active_by_phone(session: AsyncSession, phone_hash: str) -> MemberApplication | None:
    """The pending or admitted application for this phone, if any."""
    return await _latest_active(session, _ACTIVE_BY_PHONE, phone_hash)


async def applications_of(session: AsyncSession, contact_id: int) -> list[MemberApplication]:
    """A contact's applications, newest first."""
    rows = await session.scalars(
        select(MemberApplication)
        .where(MemberApplication.contact_id == contact_id)
        .order_by(MemberApplication.id.desc())
    )
    return list(rows)


async def latest_active_of(session: AsyncSession, contact_id: int) -> MemberApplication | None:
    return await _latest_active(session, _ACTIVE_OF_CONTACT, contact_id)


async def history(session: AsyncSession, application_id: int) -> list[ApplicationEvent]:
    rows = await session.scalars(
        select(ApplicationEvent)
        .where(ApplicationEvent.application_id == application_id)
        .order_by(ApplicationEvent.id)
    )
    return list(rows)


async def pending_for(
    session: AsyncSession, union_bodies: set[str] | None, *, limit: int = 10
) -> tuple[list[MemberApplication], int]:
    """Oldest pending applications of some union bodies (all when None), and their total."""
    where = [MemberApplication.status == PENDING]
    if union_bodies is not None:
        where.append(MemberApplication.union_body.in_(sorted(union_bodies)))
    rows = await session.scalars(
        select(MemberApplication).where(*where).order_by(MemberApplication.id).limit(limit)
    )
    total = await session.scalar(select(func.count(MemberApplication.id)).where(*where))
    return list(rows), int(total or 0)


async def get_for_update(session: AsyncSession, application_id: int) -> MemberApplication | None:
    """Load one application locked, so two staff members cannot decide it at once."""
    return await session.scalar(
        select(MemberApplication).where(MemberApplication.id == application_id).with_for_update()
    )


def set_status(
    session: AsyncSession,
    app: MemberApplication,
    status: str,
    *,
    actor: str,
    now: datetime,
    reason_enc: str | None = None,
) -> None:
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    app.status = status
    app.updated_at = now
    if status in (ADMITTED, RETURNED):
        app.decided_at = now
    if reason_enc is not None:
        app.return_reason_enc = reason_enc
    session.add(ApplicationEvent(application_id=app.id, status=status, actor=actor, at=now))


def wipe_personal_data(app: MemberApplication, now: datetime) -> None:
    """Drop every personal field; the reference, status and routing stay (no personal data)."""
    app.name_enc = None
    app.phone_enc = None
    app.phone_hash = None
    app.company_enc = None
    app.job_enc = None
    app.return_reason_enc = None
    app.personal_data_erased_at = now
    app.updated_at = now


async def withdraw_applications(
    session: AsyncSession, contact_id: int, *, now: datetime
) -> list[str]:
    """Consent withdrawn: pending applications stop, personal fields go. Returns references."""
    refs = []
    for app in await applications_of(session, contact_id):
        if app.status == PENDING:
            set_status(session, app, WITHDRAWN, actor="worker", now=now)
        if app.personal_data_erased_at is None:
            wipe_personal_data(app, now)
        refs.append(app.reference)
    return refs


async def delete_applications(session: AsyncSession, contact_id: int) -> list[str]:
    """Erasure: the rows go (their history with them). Returns the references deleted."""
    apps = await applications_of(session, contact_id)
    ids = [a.id for a in apps]
    if ids:
        await session.execute(
            delete(ApplicationEvent).where(ApplicationEvent.application_id.in_(ids))
        )
        await session.execute(delete(MemberApplication).where(MemberApplication.id.in_(ids)))
    return [a.reference for a in apps]


async def expire_returned(session: AsyncSession, *, before: datetime, now: datetime) -> int:
    """Retention: personal data of applications returned before ``before`` is wiped."""
    rows = await session.scalars(
        select(MemberApplication).where(
            MemberApplication.status == RETURNED,
            MemberApplication.decided_at < before,
            MemberApplication.personal_data_erased_at.is_(None),
        )
    )
    count = 0
    for app in rows:
        wipe_personal_data(app, now)
        count += 1
    return count


# -- consent ---------------------------------------------------------------------------------


async def record_consent(
    session: AsyncSession,
    *,
    contact_id: int,
    purpose: str,
    notice_version: str,
    channel: str,
    now: datetime,
) -> None:
    """The worker agreed to this notice: one plain INSERT (every join passes here)."""
    params = {"contact_id": contact_id, "purpose": purpose, "notice_version": notice_version,
              "channel": channel, "given_at": now}  # fmt: skip
    await session.execute(_ADD_CONSENT, params)


async def consents_of(session: AsyncSession, contact_id: int) -> list[ConsentRecord]:
    rows = await session.scalars(
        select(ConsentRecord)
        .where(ConsentRecord.contact_id == contact_id)
        .order_by(ConsentRecord.id)
    )
    return list(rows)


async def has_consent(session: AsyncSession, contact_id: int, purpose: str) -> bool:
    found = await session.scalar(
        select(ConsentRecord.id)
        .where(
            ConsentRecord.contact_id == contact_id,
            ConsentRecord.purpose == purpose,
            ConsentRecord.withdrawn_at.is_(None),
        )
        .limit(1)
    )
    return found is not None


async def has_consent_version(
    session: AsyncSession, contact_id: int, purpose: str, notice_version: str
) -> bool:
    """An active (not withdrawn) consent to exactly this notice version and fingerprint."""
    found = await session.scalar(
        select(ConsentRecord.id)
        .where(
            ConsentRecord.contact_id == contact_id,
            ConsentRecord.purpose == purpose,
            ConsentRecord.notice_version == notice_version,
            ConsentRecord.withdrawn_at.is_(None),
        )
        .limit(1)
    )
    return found is not None


async def withdraw_consents(session: AsyncSession, contact_id: int, *, now: datetime) -> int:
    result = await session.execute(
        update(ConsentRecord)
        .where(ConsentRecord.contact_id == contact_id, ConsentRecord.withdrawn_at.is_(None))
        .values(withdrawn_at=now)
    )
    return result.rowcount or 0


async def delete_consents(session: AsyncSession, contact_id: int) -> int:
    result = await session.execute(
        delete(ConsentRecord).where(ConsentRecord.contact_id == contact_id)
    )
    return result.rowcount or 0


# -- data-rights requests and the audit log --------------------------------------------------


async def open_request(
    session: AsyncSession,
    *,
    contact_id: int,
    kind: str,
    channel: str,
    now: datetime,
    done: bool = True,
) -> DataRightsRequest:
    request = DataRightsRequest(
        contact_id=contact_id,
        kind=kind,
        status="done" if done else "awaiting_confirmation",
        channel=channel,
        requested_at=now,
        completed_at=now if done else None,
    )
    session.add(request)
    await session.flush()
    return request


async def get_request(
    session: AsyncSession, request_id: int, contact_id: int
) -> DataRightsRequest | None:
    return await session.scalar(
        select(DataRightsRequest).where(
            DataRightsRequest.id == request_id, DataRightsRequest.contact_id == contact_id
        )
    )


def close_request(request: DataRightsRequest, status: str, now: datetime) -> None:
    request.status = status
    request.completed_at = now


async def requests_of(session: AsyncSession, contact_id: int) -> list[DataRightsRequest]:
    rows = await session.scalars(
        select(DataRightsRequest)
        .where(DataRightsRequest.contact_id == contact_id)
        .order_by(DataRightsRequest.id)
    )
    return list(rows)


def _audit_row(
    *,
    action: str,
    actor: str,
    subject: str,
    now: datetime,
    channel: str | None = None,
    **detail: Any,
) -> dict[str, Any]:
    """One audit entry's columns. Never pass names, phones or free text in ``detail``."""
    return {"at": now, "action": action, "actor": actor, "subject": subject, "channel": channel,
            "detail": detail}  # fmt: skip


def audit(session: AsyncSession, **entry: Any) -> AuditEntry:
    """Append one audit entry (``_audit_row``'s arguments) to the session."""
    added = AuditEntry(**_audit_row(**entry))
    session.add(added)
    return added


async def record_audit(session: AsyncSession, **entry: Any) -> None:
    """``audit`` in one plain INSERT, for hot paths that add no ORM objects."""
    await session.execute(_ADD_AUDIT, _audit_row(**entry))


async def audit_entries(
    session: AsyncSession, *, subject: str | None = None, action: str | None = None
) -> list[AuditEntry]:
    query = select(AuditEntry)
    if subject is not None:
        query = query.where(AuditEntry.subject == subject)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    return list(await session.scalars(query.order_by(AuditEntry.id)))


# -- staff scope -----------------------------------------------------------------------------


async def staff_union_bodies(session: AsyncSession, channel: str, external_id: str) -> set[str]:
    """Union bodies a membership officer is registered for; empty means no restriction."""
    rows = await session.scalars(
        select(Person.union_body).where(
            Person.channel == channel,
            Person.external_id == str(external_id),
            Person.role == "membership",
            Person.active,
            Person.union_body.is_not(None),
        )
    )
    return {body for body in rows if body}


_P = Person.__table__.c
_OFFICERS = (
    select(_P.channel, _P.external_id)
    .where(
        _P.role == "membership",
        _P.active,
        or_(_P.union_body == bindparam("b_body"), _P.union_body.is_(None)),
    )
    .order_by(_P.id)
)


async def membership_officers(session: AsyncSession, union_body: str) -> list[Row[Any]]:
    """Registered membership officers who see this body's applications (theirs or all): their
    ``channel`` and ``external_id``."""
    await flush_pending(session)
    return list(await session.execute(_OFFICERS, {"b_body": union_body}))


async def is_own_application(
    session: AsyncSession, app: MemberApplication, channel: str, external_id: str
) -> bool:
    """True when the account ``channel``/``external_id`` belongs to the applicant: it is the
    application's contact (or linked to it), or that contact applied with the same phone."""
    contact_id = await session.scalar(
        select(ChannelIdentity.contact_id).where(
            ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
        )
    )
    if contact_id is None:
        return False
    if contact_id == app.contact_id:
        return True
    if app.phone_hash is None:
        return False
    same_phone = await session.scalar(
        select(MemberApplication.id)
        .where(
            MemberApplication.contact_id == contact_id,
            MemberApplication.phone_hash == app.phone_hash,
        )
        .limit(1)
    )
    return same_phone is not None
