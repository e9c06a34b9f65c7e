"""Membership cards (thẻ đoàn viên điện tử): one per admitted application.

A card holds no personal data itself: the name shown on it is decrypted from the application
when the image is drawn, and the public verification page shows initials only. ``token_id`` is
the random part of the token in the card's QR code (the signature is made by the caller with the
data key); it is unique and never reused. A card stops being valid when it is revoked (consent
withdrawn, data erased) or its application is no longer admitted; erasure deletes the row, so a
token of an erased card finds nothing and reads "không còn hiệu lực".

Repositories only: no messages, no images.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Integer, String, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.membership import ADMITTED, MemberApplication
from storage.models import Base


class MemberCard(Base):
    __tablename__ = "member_cards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str | None] = mapped_column(String(20), unique=True, default=None)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("member_applications.id", ondelete="CASCADE"), unique=True
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    token_id: Mapped[str] = mapped_column(String(32), unique=True)
    union_body: Mapped[str] = mapped_column(String(200))
    member_since: Mapped[date]
    issued_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


def card_number(year: int, card_id: int) -> str:
    """``DV-2026-000123``: the year of admission and the row id."""
    return f"DV-{year}-{card_id:06d}"


async def issue_card(
    session: AsyncSession,
    app: MemberApplication,
    *,
    token_id: str,
    member_since: date,
    now: datetime,
) -> MemberCard:
    """The card of an admitted application (the existing one if it was issued already)."""
    existing = await session.scalar(select(MemberCard).where(MemberCard.application_id == app.id))
    if existing is not None:
        return existing
    card = MemberCard(
        application_id=app.id,
        contact_id=app.contact_id,
        token_id=token_id,
        union_body=app.union_body,
        member_since=member_since,
        issued_at=now,
    )
    session.add(card)
    await session.flush()
    card.number = card_number(member_since.year, card.id)
    await session.flush()
    return card


async def current_card(session: AsyncSession, contact_id: int) -> MemberCard | None:
    """The contact's newest card that is not revoked."""
    return await session.scalar(
        select(MemberCard)
        .where(MemberCard.contact_id == contact_id, MemberCard.revoked_at.is_(None))
        .order_by(MemberCard.id.desc())
        .limit(1)
    )


async def card_by_token(
    session: AsyncSession, token_id: str
) -> tuple[MemberCard, MemberApplication | None] | None:
    """The card with this token and its application (None when the application is gone)."""
    row = (
        await session.execute(
            select(MemberCard, MemberApplication)
            .outerjoin(MemberApplication, MemberApplication.id == MemberCard.application_id)
            .where(MemberCard.token_id == token_id)
        )
    ).first()
    return (row[0], row[1]) if row else None


def is_valid(card: MemberCard, app: MemberApplication | None) -> bool:
    """Valid while not revoked and the membership stands (admitted, data not erased)."""
    return (
        card.revoked_at is None
        and app is not None
        and app.status == ADMITTED
        and app.name_enc is not None
    )


async def revoke_cards(session: AsyncSession, contact_id: int, now: datetime) -> int:
    result = await session.execute(
        update(MemberCard)
        .where(MemberCard.contact_id == contact_id, MemberCard.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


async def cards_of(session: AsyncSession, contact_id: int) -> list[MemberCard]:
    rows = await session.scalars(
        select(MemberCard).where(MemberCard.contact_id == contact_id).order_by(MemberCard.id)
    )
    return list(rows)


async def delete_cards(session: AsyncSession, contact_id: int) -> int:
    result = await session.execute(delete(MemberCard).where(MemberCard.contact_id == contact_id))
    return int(result.rowcount or 0)
