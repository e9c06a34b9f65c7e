"""Collaborators' invite codes, who came through which invitation, campaigns, one-time role invites.

A worker is credited to the first invitation they followed, and only once: ``attributions`` has one
row per contact. The campaign running on the day they arrived is stored with the credit, so a
May campaign keeps its count after July's starts. Joins and leads are counted at query time from
the member applications and lead reports made after the arrival, so an admission recorded later
by the membership staff moves the leaderboard without any hook.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.orm.attributes import set_committed_value

from storage import codes
from storage.enterprises import Credit, LeadReport
from storage.membership import MemberApplication
from storage.models import Base, ChannelIdentity, flush_pending, utcnow
from storage.people import Person, PersonArea

PURPOSES = ("join", "lead")
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off a poster
CODE_LENGTH = 6


class Campaign(Base):
    """A recruitment drive (Tháng Công nhân in May, the union's founding month in July...)."""

    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_dates", "starts_on", "ends_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(16), default="staff")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    standings_at: Mapped[datetime | None] = mapped_column(default=None)


class CampaignStanding(Base):
    """A snapshot of one campaign's leaderboard, refreshed by the scheduler.

    Counting a campaign's arrivals against half a million applications takes a second or two
    at the federation's scale; /bangxephang reads this instead, a few minutes old at most.
    """

    __tablename__ = "campaign_standings"
    __table_args__ = (Index("ix_campaign_standings_rank", "campaign_id", "rank"),)

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    rank: Mapped[int] = mapped_column(Integer)
    admitted: Mapped[int] = mapped_column(Integer, default=0)
    applications: Mapped[int] = mapped_column(Integer, default=0)
    leads: Mapped[int] = mapped_column(Integer, default=0)


class ReferralCode(Base):
    """A collaborator's personal code: in a Telegram deep link, typed on Zalo, on a QR poster."""

    __tablename__ = "referral_codes"
    __table_args__ = (Index("ix_referral_codes_person", "person_id", "purpose"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(8), default="join")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attribution(Base):
    """Which invitation brought a worker in: first touch wins, one per contact."""

    __tablename__ = "attributions"
    __table_args__ = (Index("ix_attributions_campaign", "campaign_id", "referrer_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), unique=True
    )
    code_id: Mapped[int] = mapped_column(ForeignKey("referral_codes.id", ondelete="CASCADE"))
    referrer_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), index=True
    )
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL"), default=None
    )
    channel: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PersonInvite(Base):
    """A one-time code staff hand out so a volunteer or collaborator registers from chat.

    Only a keyed hash of the code is kept (``code_hash``; the code itself is shown once, to the
    staff who asked). With a ``recipient`` (keyed hash of the account it is meant for) only that
    account can use it."""

    __tablename__ = "person_invites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    recipient: Mapped[str | None] = mapped_column(String(64), default=None)
    role: Mapped[str] = mapped_column(String(16))
    area_codes: Mapped[str] = mapped_column(String(2000), default="")
    created_by: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    used_by_person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), default=None
    )

    @property
    def areas(self) -> list[str]:
        return [c for c in self.area_codes.split(";") if c]


# -- codes ----------------------------------------------------------------------------------------


def new_code(length: int = CODE_LENGTH) -> str:
    """Six capitals and digits with at least one of each, so a typed word is never a code."""
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))
        if any(c.isdigit() for c in code) and any(c.isalpha() for c in code):
            return code


def clean_code(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch.isalnum())


async def _unique_code(session: AsyncSession, model: Any) -> str:
    while True:
        code = new_code()
        if await session.scalar(select(model.id).where(model.code == code)) is None:
            return code


async def code_for(
    session: AsyncSession, person_id: int, purpose: str, now: datetime
) -> ReferralCode:
    """The person's code for a purpose ("join" or "lead"); made once, then always the same."""
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}")
    found = await session.scalar(
        select(ReferralCode)
        .where(
            ReferralCode.person_id == person_id,
            ReferralCode.purpose == purpose,
            ReferralCode.active,
        )
        .order_by(ReferralCode.id)
        .limit(1)
    )
    if found is not None:
        return found
    code = ReferralCode(
        code=await _unique_code(session, ReferralCode),
        person_id=person_id,
        purpose=purpose,
        created_at=now,
    )
    session.add(code)
    await session.flush()
    return code


async def find_code(session: AsyncSession, text: str) -> ReferralCode | None:
    """An active code as typed ("abc123", "ABC-123"), whose owner is still active."""
    code = clean_code(text)
    if not 4 <= len(code) <= 16:
        return None
    return await session.scalar(
        select(ReferralCode)
        .join(Person, Person.id == ReferralCode.person_id)
        .where(ReferralCode.code == code, ReferralCode.active, Person.active)
    )


async def _is_owner(session: AsyncSession, contact_id: int, person_id: int) -> bool:
    """True when the contact is the code's owner (following one's own link earns nothing)."""
    found = await session.scalar(
        select(ChannelIdentity.id)
        .join(
            Person,
            (Person.channel == ChannelIdentity.channel)
            & (Person.external_id == ChannelIdentity.external_id),
        )
        .where(ChannelIdentity.contact_id == contact_id, Person.id == person_id)
        .limit(1)
    )
    return found is not None


async def attribute(
    session: AsyncSession,
    *,
    contact_id: int,
    code: ReferralCode,
    channel: str,
    now: datetime,
    campaign_id: int | None,
) -> Attribution | None:
    """Credit the worker to this invitation unless an earlier one (or their own) already counts."""
    if await attribution_of(session, contact_id) is not None:
        return None
    if await _is_owner(session, contact_id, code.person_id):
        return None
    row = Attribution(
        contact_id=contact_id,
        code_id=code.id,
        referrer_id=code.person_id,
        campaign_id=campaign_id,
        channel=channel,
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:  # a second tap raced the first; the first one stands
        return None
    return row


async def attribution_of(session: AsyncSession, contact_id: int) -> Attribution | None:
    return await session.scalar(select(Attribution).where(Attribution.contact_id == contact_id))


_AT = Attribution.__table__.c
_CREDIT = select(_AT.referrer_id, _AT.campaign_id).where(_AT.contact_id == bindparam("b_contact"))


async def credit_of(session: AsyncSession, contact_id: int) -> Credit:
    """The invitation credit of a worker's report (storage.enterprises.record_report): one
    plain statement, as the join form's "Gửi" asks it on the event loop's thread."""
    await flush_pending(session)
    found = (await session.execute(_CREDIT, {"b_contact": contact_id})).first()
    if found is None:
        return Credit()
    return Credit(found.referrer_id, found.campaign_id)


# -- campaigns ------------------------------------------------------------------------------------


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


CAMPAIGN_CODE_MAX = 32  # campaigns.code
_CAMPAIGN_CODE = re.compile(r"[A-Z0-9][A-Z0-9_\-]{0,31}")


def campaign_code(text: str) -> str | None:
    """A campaign code as stored ("T5-2027" from " t5-2027"); None unless it is 1 to 32 ASCII
    letters, digits, "-" or "_" (upper-casing "ß" gives "SS": the length is checked after)."""
    code = text.strip().upper()
    if not code.isascii() or len(code) > CAMPAIGN_CODE_MAX or not _CAMPAIGN_CODE.fullmatch(code):
        return None
    return code


async def save_campaign(
    session: AsyncSession,
    *,
    code: str,
    name: str,
    starts_on: date,
    ends_on: date,
    source: str = "staff",
) -> Campaign:
    """Create or update a campaign by its code."""
    if ends_on < starts_on:
        raise ValueError("a campaign cannot end before it starts")
    checked = campaign_code(code)
    if checked is None:
        raise ValueError(f"campaign code {code[:40]!r}: 1 to 32 letters, digits, - _")
    code = checked
    campaign = await session.scalar(select(Campaign).where(Campaign.code == code))
    if campaign is None:
        campaign = Campaign(code=code, name=name, starts_on=starts_on, ends_on=ends_on)
        session.add(campaign)
    campaign.name, campaign.starts_on, campaign.ends_on = name, starts_on, ends_on
    campaign.source = source
    await session.flush()
    return campaign


async def sync_campaigns(session: AsyncSession, configured: Iterable[Mapping[str, Any]]) -> None:
    """Make the [[campaigns]] of config.toml exist in the database (they may be edited there)."""
    wanted = {code: c for c in configured if (code := campaign_code(str(c["code"])))}
    if not wanted:
        return
    have = {
        c.code: c
        for c in await session.scalars(select(Campaign).where(Campaign.code.in_(list(wanted))))
    }
    for code, raw in wanted.items():
        start, end = _as_date(raw["start"]), _as_date(raw["end"])
        current = have.get(code)
        if current and (current.name, current.starts_on, current.ends_on) == (
            raw["name"], start, end,
        ):  # fmt: skip
            continue
        await save_campaign(
            session, code=code, name=str(raw["name"]), starts_on=start, ends_on=end,
            source="config",
        )  # fmt: skip


async def campaign_on(session: AsyncSession, day: date) -> Campaign | None:
    """The campaign running on a (local) day; with overlaps, the one that started last."""
    return await session.scalar(
        select(Campaign)
        .where(Campaign.starts_on <= day, Campaign.ends_on >= day)
        .order_by(Campaign.starts_on.desc(), Campaign.ends_on, Campaign.id.desc())
        .limit(1)
    )


async def campaign_by_code(session: AsyncSession, code: str) -> Campaign | None:
    checked = campaign_code(code)
    if checked is None:
        return None
    return await session.scalar(select(Campaign).where(Campaign.code == checked))


async def list_campaigns(session: AsyncSession) -> list[Campaign]:
    return list(await session.scalars(select(Campaign).order_by(Campaign.starts_on.desc())))


# -- the leaderboard ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    rank: int
    person_id: int
    admitted: int
    applications: int
    leads: int


def _applications_table() -> Table | None:
    """The join feature's member applications (contact_id, status, created_at)."""
    return MemberApplication.__table__  # type: ignore[no-any-return]


async def leaderboard(
    session: AsyncSession, campaign_id: int | None, applications: Table | None = None
) -> list[Standing]:
    """Every credited person of a campaign (``None``: of every invitation, campaign or not),
    counted now: admitted members, then applications, then leads.

    Only applications made after the worker arrived through the invitation count, each worker
    once however many applications they made. One index look-up per arrival (applications by
    contact), so the cost grows with the campaign's arrivals, not with the whole membership;
    /bangxephang still reads a snapshot (``standings``) because a big campaign has tens of
    thousands of arrivals.
    """
    a = Attribution
    apps = applications if applications is not None else _applications_table()
    if apps is not None:
        admitted = func.count(func.distinct(case((apps.c.status == "admitted", apps.c.contact_id))))
        applied = func.count(func.distinct(apps.c.contact_id))
        source = a.__table__.outerjoin(
            apps, (apps.c.contact_id == a.contact_id) & (apps.c.created_at >= a.created_at)
        )
    else:
        admitted = applied = func.sum(literal(0))
        source = a.__table__
    if session.bind.dialect.name == "postgresql":
        # The planner's cost estimate triggers JIT compilation, which costs more than it saves.
        await session.execute(text("SET LOCAL jit = off"))
    rows = await session.execute(
        select(a.referrer_id, admitted, applied)
        .select_from(source)
        .where(*((a.campaign_id == campaign_id,) if campaign_id is not None else ()))
        .group_by(a.referrer_id)
    )
    totals = {int(p): [int(m or 0), int(ap or 0), 0] for p, m, ap in rows}
    leads = await session.execute(
        select(LeadReport.referrer_id, func.count())
        .where(
            *((LeadReport.campaign_id == campaign_id,) if campaign_id is not None else ()),
            LeadReport.referrer_id.is_not(None),
        )
        .group_by(LeadReport.referrer_id)
    )
    for person_id, count in leads:
        totals.setdefault(int(person_id), [0, 0, 0])[2] = int(count)
    ordered = sorted(
        ((p, m, ap, ld) for p, (m, ap, ld) in totals.items()),
        key=lambda r: (-r[1], -r[2], -r[3], r[0]),
    )
    return [Standing(i + 1, *row) for i, row in enumerate(ordered)]


async def refresh_standings(
    session: AsyncSession, campaign: Campaign, now: datetime, applications: Table | None = None
) -> list[Standing]:
    """Recount a campaign and store the snapshot /bangxephang reads, in one session.

    For the command's own recount (no scheduler). The scheduler counts on a read connection
    and only then stores, so the count never holds the writer (``store_standings``)."""
    fresh = await leaderboard(session, campaign.id, applications)
    await store_standings(session, campaign.id, fresh, now)
    set_committed_value(campaign, "standings_at", now)  # already written by store_standings
    return fresh


async def store_standings(
    session: AsyncSession, campaign_id: int, fresh: list[Standing], now: datetime
) -> None:
    """Replace a campaign's snapshot with standings counted earlier: a short write."""
    await session.execute(
        delete(CampaignStanding).where(CampaignStanding.campaign_id == campaign_id)
    )
    if fresh:
        await session.execute(
            insert(CampaignStanding),
            [
                {"campaign_id": campaign_id, "person_id": s.person_id, "rank": s.rank,
                 "admitted": s.admitted, "applications": s.applications, "leads": s.leads}
                for s in fresh
            ],
        )  # fmt: skip
    await session.execute(
        update(Campaign).where(Campaign.id == campaign_id).values(standings_at=now)
    )


async def standings(
    session: AsyncSession,
    campaign: Campaign,
    now: datetime,
    max_age: timedelta,
    applications: Table | None = None,
) -> list[Standing]:
    """The campaign's snapshot, recounted first if it is missing or ``max_age`` old (0: always)."""
    if campaign.standings_at is None or now - campaign.standings_at >= max_age:
        return await refresh_standings(session, campaign, now, applications)
    rows = await session.scalars(
        select(CampaignStanding)
        .where(CampaignStanding.campaign_id == campaign.id)
        .order_by(CampaignStanding.rank)
    )
    return [Standing(r.rank, r.person_id, r.admitted, r.applications, r.leads) for r in rows]


async def people_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Person]:
    if not ids:
        return {}
    rows = await session.scalars(select(Person).where(Person.id.in_(list(ids))))
    return {p.id: p for p in rows}


async def person_for(
    session: AsyncSession, channel: str, external_id: str, roles: Sequence[str]
) -> Person | None:
    """The active registration of a platform account in the first of ``roles`` it holds."""
    rows = await session.scalars(
        select(Person).where(
            Person.channel == channel,
            Person.external_id == external_id,
            Person.role.in_(list(roles)),
            Person.active,
        )
    )
    found = {p.role: p for p in rows}
    return next((found[r] for r in roles if r in found), None)


async def people_of(session: AsyncSession, channel: str, external_id: str) -> list[Person]:
    """Every active registration of a platform account (one per role)."""
    rows = await session.scalars(
        select(Person).where(
            Person.channel == channel, Person.external_id == external_id, Person.active
        )
    )
    return list(rows)


async def registered_people(
    session: AsyncSession, role: str | None = None
) -> list[tuple[Person, list[str]]]:
    """Everyone registered (optionally in one role), with their area codes, for `people list`."""
    query = select(Person).order_by(Person.role, Person.id)
    if role is not None:
        query = query.where(Person.role == role)
    people = list(await session.scalars(query))
    areas: dict[int, list[str]] = {p.id: [] for p in people}
    if people:
        rows = await session.execute(
            select(PersonArea.person_id, PersonArea.area_code)
            .where(PersonArea.person_id.in_(list(areas)))
            .order_by(PersonArea.area_code)
        )
        for person_id, code in rows:
            areas[int(person_id)].append(str(code))
    return [(p, areas[p.id]) for p in people]


async def deactivate_person(
    session: AsyncSession, channel: str, external_id: str, role: str
) -> bool:
    """Take a role away; claims and history keep pointing at the (inactive) person."""
    result = await session.execute(
        update(Person)
        .where(Person.channel == channel, Person.external_id == external_id, Person.role == role)
        .values(active=False)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


# -- one-time role invites ------------------------------------------------------------------------


INVITE_PURPOSE = "invite"


async def create_invite(
    session: AsyncSession,
    *,
    role: str,
    area_codes: Sequence[str],
    created_by: str,
    now: datetime,
    hash_code: Callable[[str], str],
    valid_for: timedelta = timedelta(days=1),
    recipient: str | None = None,
) -> tuple[PersonInvite, str]:
    """A new invite and its code (shown once; only ``hash_code(code)`` is stored)."""
    while True:
        code = codes.new_code()
        digest = hash_code(code)
        if await session.scalar(select(PersonInvite.id).where(PersonInvite.code_hash == digest)):
            continue
        break
    invite = PersonInvite(
        code_hash=digest,
        recipient=recipient,
        role=role,
        area_codes=";".join(dict.fromkeys(area_codes)),
        created_by=created_by,
        created_at=now,
        expires_at=now + valid_for,
    )
    session.add(invite)
    await session.flush()
    return invite, code


async def redeem_invite(
    session: AsyncSession, code_hash: str, now: datetime, recipient: str
) -> PersonInvite | None:
    """Use a one-time code: valid once, before it expires, and only by its recipient when it
    has one (one UPDATE, so never twice)."""
    result = await session.execute(
        update(PersonInvite)
        .where(
            PersonInvite.code_hash == code_hash,
            PersonInvite.used_at.is_(None),
            PersonInvite.expires_at > now,
            or_(PersonInvite.recipient.is_(None), PersonInvite.recipient == recipient),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    invite = await session.scalar(select(PersonInvite).where(PersonInvite.code_hash == code_hash))
    if invite is not None:
        await session.refresh(invite)
    return invite
