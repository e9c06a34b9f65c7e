"""Staff, volunteers, collaborators and lawyers: who may do what, and in which areas.

Roles come from two places: the database (registered with `congdoan-bot people add` or an
invite code) and the configuration (`[staff]` in config.toml, for the first administrators).
Names are personal data and stored encrypted by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, utcnow

ROLES = ("volunteer", "collaborator", "staff", "legal", "membership")


class Person(Base):
    __tablename__ = "people"
    __table_args__ = (UniqueConstraint("channel", "external_id", "role", name="uq_person_role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(16), index=True)
    channel: Mapped[str] = mapped_column(String(32), default="telegram")
    external_id: Mapped[str] = mapped_column(String(128))
    name_enc: Mapped[str | None] = mapped_column(Text, default=None)
    union_body: Mapped[str | None] = mapped_column(String(200), default=None)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PersonArea(Base):
    """The commune-level units (content/areas.csv codes) a volunteer or officer covers."""

    __tablename__ = "person_areas"

    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    area_code: Mapped[str] = mapped_column(String(16), primary_key=True, index=True)


async def find_person(
    session: AsyncSession, channel: str, external_id: str, role: str
) -> Person | None:
    """The registration of one account in one role, active or not."""
    return await session.scalar(
        select(Person).where(
            Person.channel == channel, Person.external_id == external_id, Person.role == role
        )
    )


async def add_person(
    session: AsyncSession,
    *,
    role: str,
    external_id: str,
    channel: str = "telegram",
    name_enc: str | None = None,
    union_body: str | None = None,
    area_codes: Iterable[str] = (),
) -> Person:
    """Register (or re-activate) a person in a role; areas are replaced by the given ones."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    person = await session.scalar(
        select(Person).where(
            Person.channel == channel, Person.external_id == external_id, Person.role == role
        )
    )
    if person is None:
        person = Person(role=role, channel=channel, external_id=external_id)
        session.add(person)
    person.active = True
    if name_enc is not None:
        person.name_enc = name_enc
    if union_body is not None:
        person.union_body = union_body
    await session.flush()
    codes = list(dict.fromkeys(area_codes))
    if codes:
        for old in await session.scalars(
            select(PersonArea).where(PersonArea.person_id == person.id)
        ):
            await session.delete(old)
        await session.flush()
        session.add_all(PersonArea(person_id=person.id, area_code=c) for c in codes)
    return person


async def roles_of(
    session: AsyncSession,
    channel: str,
    external_id: str,
    configured: Mapping[str, Iterable[str]] | None = None,
) -> set[str]:
    """Every role a platform account holds (database and configuration)."""
    roles = {
        role
        for role in await session.scalars(
            select(Person.role).where(
                Person.channel == channel, Person.external_id == external_id, Person.active
            )
        )
    }
    for role, ids in (configured or {}).items():
        if str(external_id) in {str(i) for i in ids}:
            roles.add(role)
    return roles


async def has_role(
    session: AsyncSession,
    channel: str,
    external_id: str,
    role: str,
    configured: Mapping[str, Iterable[str]] | None = None,
) -> bool:
    return role in await roles_of(session, channel, external_id, configured)


async def people_with_role(
    session: AsyncSession, role: str, area_code: str | None = None
) -> list[Person]:
    query = select(Person).where(Person.role == role, Person.active)
    if area_code is not None:
        query = query.join(PersonArea, PersonArea.person_id == Person.id).where(
            PersonArea.area_code == area_code
        )
    return list(await session.scalars(query.order_by(Person.id)))


async def areas_of(session: AsyncSession, person_id: int) -> list[str]:
    rows = await session.scalars(
        select(PersonArea.area_code).where(PersonArea.person_id == person_id)
    )
    return list(rows)
