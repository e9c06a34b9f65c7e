"""Employers' requests for help founding a grassroots union (CĐCS).

The request belongs to the enterprise's lead (storage/enterprises.py), which a worker's report
about the same company shares: for staff it is one enterprise. What the employer gave about
themself (the contact person's name and phone) is personal data, stored only as ciphertext made
by the caller; the company, tax code, commune and size are about the business and live on the
enterprise. Nothing here links the employer to the workers' reports, and no function returns
anything about them.

Repositories only: no messages, no handlers.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.enterprises import Lead
from storage.models import Base


class EmployerRequest(Base):
    """One request "Tôi muốn được hỗ trợ thành lập công đoàn cơ sở" from an employer's chat."""

    __tablename__ = "employer_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(20), unique=True, default=None)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    lead_id: Mapped[int | None] = mapped_column(
        ForeignKey("leads.id", ondelete="SET NULL"), default=None, index=True
    )
    channel: Mapped[str] = mapped_column(String(32))
    company: Mapped[str] = mapped_column(String(300))
    workers: Mapped[int] = mapped_column(Integer)
    person_enc: Mapped[str] = mapped_column(Text)
    phone_enc: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


def request_reference(year: int, request_id: int) -> str:
    """``DN-2026-000012``: the year of the request and the row id (never reused)."""
    return f"DN-{year}-{request_id:06d}"


async def create_request(
    session: AsyncSession,
    *,
    contact_id: int,
    lead: Lead,
    channel: str,
    company: str,
    workers: int,
    person_enc: str,
    phone_enc: str,
    year: int,
    now: datetime,
) -> EmployerRequest:
    request = EmployerRequest(
        contact_id=contact_id,
        lead_id=lead.id,
        channel=channel,
        company=company[:300],
        workers=workers,
        person_enc=person_enc,
        phone_enc=phone_enc,
        created_at=now,
    )
    session.add(request)
    await session.flush()
    request.reference = request_reference(year, request.id)
    return request


async def requests_of(session: AsyncSession, contact_id: int) -> list[EmployerRequest]:
    """The employer's own requests, newest first (for /dulieucuatoi)."""
    rows = await session.scalars(
        select(EmployerRequest)
        .where(EmployerRequest.contact_id == contact_id)
        .order_by(EmployerRequest.id.desc())
    )
    return list(rows)


async def requests_for_lead(session: AsyncSession, lead_id: int) -> list[EmployerRequest]:
    """The employer contacts a volunteer working on the lead may call (they asked to be)."""
    rows = await session.scalars(
        select(EmployerRequest)
        .where(EmployerRequest.lead_id == lead_id)
        .order_by(EmployerRequest.id.desc())
    )
    return list(rows)


async def erase_requests(session: AsyncSession, contact_id: int) -> int:
    """The employer's requests go; the lead stays marked (the enterprise did ask)."""
    result = await session.execute(
        delete(EmployerRequest).where(EmployerRequest.contact_id == contact_id)
    )
    return int(result.rowcount or 0)
