"""The federation's figures: the queries behind the dashboard, the quarterly workbook and /baocao.

Every number a staff page shows and every cell of the workbook comes from a function here, so
the two never disagree. Each function takes the period as UTC bounds and the caller's scope (the
union bodies an officer covers; None for city staff) and returns plain values, no text.

Counting is done in SQL as counts over index ranges, several in one statement (one scalar count
per period, per week, per union body), each index built so that its query reads the index alone
(bench/report.py: the overview page and the workbook at 500,000 members). Targets and the
commune → union body mapping live in tables here, edited by staff.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Index,
    Integer,
    String,
    and_,
    case,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.cases import CaseRating, FaqMiss, LegalCase
from storage.enterprises import (
    EMPLOYER_REQUEST,
    FUNNEL_STAGES,
    STATUSES,
    Enterprise,
    Lead,
    LeadStatusChange,
)
from storage.membership import ADMITTED, PENDING, MemberApplication
from storage.models import Base, Contact, flush_pending
from storage.recruitment import Attribution, Campaign

CITY = ""  # the union_body of a city-wide target row

# Lead stages in funnel order: "doanh nghiệp đề nghị" (the employer asked for help itself, from
# the employer track), then the statuses, where a lead further on also passed every earlier one.
FUNNEL = FUNNEL_STAGES
BIG_SIZES = ("25_99", "100_499", "500plus")  # 25 workers or more: the 2028 target
MID_SIZES = ("20_24",)  # 20–24 workers: the 2033 target

# Indexes for the report ranges, on the features' tables (declared here: they serve the reports).
# Each is built so the query that uses it reads the index alone (no table row per entry).
_m = MemberApplication
Index("ix_member_app_decided", _m.status, _m.decided_at, _m.union_body)  # periods, weeks
Index("ix_member_app_body", _m.status, _m.union_body, _m.decided_at)  # per union body
Index("ix_member_app_waiting", _m.status, _m.created_at, _m.union_body)  # the waiting queue
Index("ix_member_app_created", _m.created_at, _m.union_body, _m.channel, _m.contact_id)
Index("ix_enterprises_size_union", Enterprise.area_code, Enterprise.size_band,
      Enterprise.union_status)  # fmt: skip  # without a union, grouped by area
Index("ix_leads_funnel", Lead.status, Lead.area_code, Lead.employer_request, Lead.enterprise_id)
Index("ix_attributions_joins", Attribution.campaign_id, Attribution.contact_id,
      Attribution.created_at)  # fmt: skip  # a campaign's verified joins
Index("ix_lead_changes_to", LeadStatusChange.to_status, LeadStatusChange.created_at)
Index("ix_contacts_created", Contact.created_at)


class ReportTarget(Base):
    """New members a union body (or the city, ``union_body = ""``) should admit in a year."""

    __tablename__ = "report_targets"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    union_body: Mapped[str] = mapped_column(String(200), primary_key=True)
    new_members: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]


class AreaUnionBody(Base):
    """Which union body answers for a commune-level unit; edited on the dashboard and exported
    to content/areas.csv, which stays the file of record."""

    __tablename__ = "area_union_bodies"

    area_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    union_body: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime]


@dataclass(frozen=True)
class Bounds:
    """[start, end) in UTC."""

    start: datetime
    end: datetime


Scope = Sequence[str] | None  # union bodies; None = the whole city


def _body_filter(scope: Scope) -> list[Any]:
    if scope is None:
        return []
    return [MemberApplication.union_body.in_(sorted(scope))]


def _in(column: Any, bounds: Bounds) -> Any:
    return and_(column >= bounds.start, column < bounds.end)


def _count_if(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


# -- members -------------------------------------------------------------------------------------


async def _bodies_with_applications(session: AsyncSession) -> set[str]:
    """The union bodies that have applications, one index seek per body (a "loose index scan"
    on ``ix_member_app_body_status``): SELECT DISTINCT would read every application."""
    rows = await session.execute(
        text(
            "WITH RECURSIVE b(body) AS ("
            " SELECT min(union_body) FROM member_applications"
            " UNION ALL"
            " SELECT (SELECT min(union_body) FROM member_applications WHERE union_body > b.body)"
            " FROM b WHERE b.body IS NOT NULL"
            ") SELECT body FROM b WHERE body IS NOT NULL"
        )
    )
    return {str(body) for (body,) in rows}


def _admitted_between(bounds: Bounds, scope: Scope) -> Any:
    """Members admitted in [start, end): a count over one range of ``ix_member_app_decided``
    (status, decided_at, union_body), read from the index alone."""
    m = MemberApplication
    return (
        select(func.count())
        .select_from(m)
        .where(m.status == ADMITTED, _in(m.decided_at, bounds), *_body_filter(scope))
        .scalar_subquery()
    )


async def admitted_counts(
    session: AsyncSession, periods: Mapping[str, Bounds], scope: Scope = None
) -> dict[str, int]:
    """Members admitted in each named period: one statement, one index range count per period
    (cheaper than one scan with a conditional sum per period, which evaluates every condition
    on every row of the widest range)."""
    if not periods:
        return {}
    names = list(periods)
    row = (
        await session.execute(select(*(_admitted_between(periods[n], scope) for n in names)))
    ).one()
    return {n: int(v or 0) for n, v in zip(names, row, strict=True)}


async def admitted_total(session: AsyncSession, since: datetime, scope: Scope = None) -> int:
    value = await session.scalar(
        select(func.count())
        .select_from(MemberApplication)
        .where(
            MemberApplication.status == ADMITTED,
            MemberApplication.decided_at >= since,
            *_body_filter(scope),
        )
    )
    return int(value or 0)


@dataclass(frozen=True)
class Waiting:
    count: int
    oldest_at: datetime | None
    over_days: int  # waiting longer than the review time the workers are told
    review_days: int


async def waiting(
    session: AsyncSession, now: datetime, review_days: int, scope: Scope = None
) -> Waiting:
    """Applications waiting, the oldest, and how many waited past the review time: counts over
    ``ix_member_app_waiting`` (status, created_at, union_body), read from the index alone."""
    m = MemberApplication
    cutoff = now - timedelta(days=review_days)
    pending = [m.status == PENDING, *_body_filter(scope)]

    def scalar(what: Any, *where: Any) -> Any:
        return select(what).select_from(m).where(*pending, *where).scalar_subquery()

    row = (
        await session.execute(
            select(
                scalar(func.count()),
                scalar(func.min(m.created_at)),
                scalar(func.count(), m.created_at < cutoff),
            )
        )
    ).one()
    oldest = row[1]
    if isinstance(oldest, str):  # SQLite's MIN() returns the stored text, not the typed value
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=now.tzinfo)
    return Waiting(int(row[0] or 0), oldest, int(row[2] or 0), review_days)


async def weekly_admitted(
    session: AsyncSession, weeks: Sequence[Bounds], scope: Scope = None
) -> list[int]:
    """Members admitted in each week (one range scan with a conditional sum per week)."""
    return list(
        (await admitted_counts(session, {str(i): w for i, w in enumerate(weeks)}, scope)).values()
    )


@dataclass(frozen=True)
class BodyRow:
    union_body: str
    admitted_period: int
    admitted_year: int
    waiting: int
    target_year: int | None


BODIES_PER_STATEMENT = 100  # three scalar counts per body: well under any column limit


async def by_union_body(
    session: AsyncSession, period: Bounds, year: Bounds, year_number: int, scope: Scope = None
) -> list[BodyRow]:
    """Per union body: admitted in the period and in the year, applications waiting, target.

    Three index range counts per body over ``ix_member_app_body`` (status, union_body,
    decided_at): each reads only that body's entries of that range, where a grouped scan would
    read every admitted member there ever was."""
    m = MemberApplication
    targets = await targets_for(session, year_number)
    bodies = await _bodies_with_applications(session)
    bodies |= {b for b in targets if b != CITY}
    if scope is not None:
        bodies &= set(scope)
    names = sorted(bodies)

    def count(body: str, *where: Any) -> Any:
        return (
            select(func.count())
            .select_from(m)
            .where(m.union_body == body, *where)
            .scalar_subquery()
        )

    out: list[BodyRow] = []
    for start in range(0, len(names), BODIES_PER_STATEMENT):
        chunk = names[start : start + BODIES_PER_STATEMENT]
        columns = []
        for body in chunk:
            columns += [
                count(body, m.status == ADMITTED, _in(m.decided_at, period)),
                count(body, m.status == ADMITTED, _in(m.decided_at, year)),
                count(body, m.status == PENDING),
            ]
        row = (await session.execute(select(*columns))).one()
        for i, body in enumerate(chunk):
            p, y, w = (int(v or 0) for v in row[3 * i : 3 * i + 3])
            if p or y or w or body in targets:
                out.append(BodyRow(body, p, y, w, targets.get(body)))
    return sorted(out, key=lambda r: (-r.admitted_year, r.union_body))


@dataclass(frozen=True)
class Arrivals:
    by_channel: dict[str, int]  # applications made in the period, by channel
    invited: int  # of which the worker arrived through an invitation (referral code)
    new_contacts: int  # people who wrote to the bot for the first time (city-wide only)


async def arrivals(session: AsyncSession, period: Bounds, scope: Scope = None) -> Arrivals:
    """Applications made in the period by channel, and how many came through an invitation:
    one pass over the period's range of ``ix_member_app_created`` (created_at, union_body,
    channel, contact_id) joined to the attributions (a hash join on PostgreSQL, the unique
    index's lookups on SQLite)."""
    m = MemberApplication
    rows = await session.execute(  # one attribution at most per contact: the join adds no row
        select(m.channel, func.count(), func.count(Attribution.contact_id))
        .select_from(m)
        .outerjoin(Attribution, Attribution.contact_id == m.contact_id)
        .where(_in(m.created_at, period), *_body_filter(scope))
        .group_by(m.channel)
    )
    by_channel: dict[str, int] = {}
    through_invitation = 0
    for channel, n, came in rows:
        by_channel[channel] = int(n)
        through_invitation += int(came)
    contacts = 0
    if scope is None:
        contacts = int(
            await session.scalar(  # count(*): the index alone (count(id) reads each row)
                select(func.count()).select_from(Contact).where(_in(Contact.created_at, period))
            )
            or 0
        )
    return Arrivals(dict(sorted(by_channel.items())), through_invitation, contacts)


# -- targets -------------------------------------------------------------------------------------


async def targets_for(session: AsyncSession, year: int) -> dict[str, int]:
    rows = await session.execute(
        select(ReportTarget.union_body, ReportTarget.new_members).where(ReportTarget.year == year)
    )
    return {body: int(n) for body, n in rows}


async def all_targets(session: AsyncSession) -> list[ReportTarget]:
    rows = await session.scalars(
        select(ReportTarget).order_by(ReportTarget.year, ReportTarget.union_body)
    )
    return list(rows)


async def set_target(
    session: AsyncSession, year: int, union_body: str, new_members: int | None, now: datetime
) -> int | None:
    """Set (or with None remove) a target; returns the previous value for the audit log."""
    row = await session.get(ReportTarget, (year, union_body))
    before = row.new_members if row else None
    if new_members is None:
        if row is not None:
            await session.delete(row)
        return before
    if row is None:
        session.add(ReportTarget(year=year, union_body=union_body, new_members=new_members,
                                 updated_at=now))  # fmt: skip
    else:
        row.new_members, row.updated_at = new_members, now
    await session.flush()
    return before


_AREA_MAPPING = select(AreaUnionBody.__table__.c.area_code, AreaUnionBody.__table__.c.union_body)


async def area_mapping(session: AsyncSession) -> dict[str, str]:
    """Commune → union body as edited on the dashboard: one plain statement, built once (the
    join form's "Gửi" routes by it on the event loop's thread)."""
    await flush_pending(session)
    return dict((await session.execute(_AREA_MAPPING)).all())


async def set_area_union_body(
    session: AsyncSession, area_code: str, union_body: str, now: datetime
) -> str | None:
    """Map a unit to a union body ("" removes it); returns the previous body for the audit."""
    row = await session.get(AreaUnionBody, area_code)
    before = row.union_body if row else None
    if not union_body:
        if row is not None:
            await session.delete(row)
        return before
    if row is None:
        session.add(AreaUnionBody(area_code=area_code, union_body=union_body, updated_at=now))
    else:
        row.union_body, row.updated_at = union_body, now
    await session.flush()
    return before


# -- enterprises ---------------------------------------------------------------------------------


async def lead_funnel(
    session: AsyncSession, area_codes: Sequence[str] | None = None
) -> dict[str, int]:
    """How many leads reached each stage (a lead further on counts for every earlier stage),
    and how many enterprises asked for help themselves (``EMPLOYER_REQUEST``)."""
    where = [] if area_codes is None else [Lead.area_code.in_(list(area_codes))]
    rows = await session.execute(
        select(Lead.status, func.count(Lead.id), _count_if(Lead.employer_request.is_(True)))
        .where(*where)
        .group_by(Lead.status)
    )
    at: dict[str, int] = {}
    requested = 0
    for status, n, asked in rows:
        at[status] = int(n)
        requested += int(asked)
    reached = {EMPLOYER_REQUEST: requested}
    running = 0
    for stage in reversed(STATUSES):
        running += at.get(stage, 0)
        reached[stage] = running
    return {stage: reached[stage] for stage in FUNNEL}


async def founded_in(session: AsyncSession, period: Bounds) -> int:
    """Grassroots unions (CĐCS) founded in the period, from the leads' status history."""
    value = await session.scalar(
        select(func.count(func.distinct(LeadStatusChange.lead_id))).where(
            LeadStatusChange.to_status == "founded", _in(LeadStatusChange.created_at, period)
        )
    )
    return int(value or 0)


async def employer_requests_in(
    session: AsyncSession, period: Bounds, area_codes: Sequence[str] | None = None
) -> int:
    """Enterprises that asked for help founding a CĐCS in the period: the leads' "doanh nghiệp
    đề nghị" stage (handlers/employer.py), from their history, each enterprise once."""
    query = select(func.count(func.distinct(LeadStatusChange.lead_id))).where(
        LeadStatusChange.to_status == EMPLOYER_REQUEST, _in(LeadStatusChange.created_at, period)
    )
    if area_codes is not None:
        query = query.join(Lead, Lead.id == LeadStatusChange.lead_id).where(
            Lead.area_code.in_(list(area_codes))
        )
    return int(await session.scalar(query) or 0)


@dataclass(frozen=True)
class UnionGap:
    area_code: str | None
    big: int  # 25 workers or more, no grassroots union yet
    mid: int  # 20–24 workers, no grassroots union yet


async def without_union(
    session: AsyncSession, area_codes: Sequence[str] | None = None
) -> list[UnionGap]:
    """Enterprises with 20 or more workers and no grassroots union, by area (the plan's targets:
    100% of those with 25+ by 2028, 20+ by 2033). A founded lead counts as a union."""
    founded = select(Lead.enterprise_id).where(Lead.status == "founded")
    where = [
        Enterprise.size_band.in_(BIG_SIZES + MID_SIZES),
        Enterprise.union_status != "yes",
        Enterprise.id.not_in(founded),
    ]
    if area_codes is not None:
        where.append(Enterprise.area_code.in_(list(area_codes)))
    rows = await session.execute(
        select(
            Enterprise.area_code,
            _count_if(Enterprise.size_band.in_(BIG_SIZES)),
            _count_if(Enterprise.size_band.in_(MID_SIZES)),
        )
        .where(*where)
        .group_by(Enterprise.area_code)
    )
    gaps = [UnionGap(area, int(big), int(mid)) for area, big, mid in rows]
    return sorted(gaps, key=lambda g: (-g.big, -g.mid, g.area_code or ""))


# -- legal advice --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LegalFigures:
    opened: int  # cases opened in the period
    answered: int  # of which answered
    median_hours: float | None  # first reply, in working hours
    p90_hours: float | None
    past_target: int  # first reply later than the target (or still waiting past it)
    open_by_age: dict[str, int]  # open cases now, by age bucket
    ratings: dict[int, int]  # score -> count, for cases opened in the period
    target_hours: float
    topics: dict[str | None, int]  # FAQ topic -> cases opened in the period, most first
    # (None: no topic fitted)

    @property
    def rated(self) -> int:
        return sum(self.ratings.values())

    @property
    def rating_mean(self) -> float | None:
        """The average score (1–5) of the rated cases, or None when none was rated."""
        if not self.ratings:
            return None
        return sum(s * n for s, n in self.ratings.items()) / self.rated


AGE_BUCKETS = (("<1", 1), ("1-3", 3), ("3-7", 7), (">7", None))  # days


async def legal_figures(
    session: AsyncSession,
    period: Bounds,
    now: datetime,
    working_hours: Callable[[datetime, datetime], timedelta],
    target_hours: float,
) -> LegalFigures:
    """Reply times in working hours (the centre's office hours, from [legal])."""
    rows = await session.execute(
        select(LegalCase.created_at, LegalCase.first_response_at).where(
            _in(LegalCase.created_at, period)
        )
    )
    hours: list[float] = []
    late = 0
    opened = 0
    for created, first in rows:
        opened += 1
        end = first or min(now, period.end)
        spent = working_hours(created, end).total_seconds() / 3600
        if first is not None:
            hours.append(spent)
        if spent > target_hours:
            late += 1
    median = statistics.median(hours) if hours else None
    p90 = _percentile(hours, 0.9)
    ages = {name: 0 for name, _ in AGE_BUCKETS}
    open_rows = await session.scalars(
        select(LegalCase.created_at).where(
            LegalCase.status != "closed", LegalCase.first_response_at.is_(None)
        )
    )
    for created in open_rows:
        days = (now - created).total_seconds() / 86400
        for name, limit in AGE_BUCKETS:
            if limit is None or days < limit:
                ages[name] += 1
                break
    rating_rows = await session.execute(
        select(CaseRating.score, func.count())
        .join(LegalCase, LegalCase.id == CaseRating.case_id)
        .where(_in(LegalCase.created_at, period))
        .group_by(CaseRating.score)
    )
    ratings = {int(s): int(n) for s, n in rating_rows}
    topic_rows = await session.execute(
        select(LegalCase.topic, func.count(LegalCase.id))
        .where(_in(LegalCase.created_at, period))
        .group_by(LegalCase.topic)
    )
    topics = dict(
        sorted(((t, int(n)) for t, n in topic_rows), key=lambda r: (-r[1], r[0] is None, r[0]))
    )
    return LegalFigures(opened, len(hours), median, p90, late, ages, ratings, target_hours, topics)


def _percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (what a person counting the sorted list would say)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-int(q * 1000) * len(ordered) // 1000))
    return ordered[min(rank, len(ordered)) - 1]


# -- FAQ misses and campaigns --------------------------------------------------------------------


async def faq_misses(session: AsyncSession, limit: int = 100) -> list[FaqMiss]:
    """Questions the FAQ could not answer (and answers marked 👎), most frequent first."""
    rows = await session.scalars(
        select(FaqMiss).order_by(FaqMiss.count.desc(), FaqMiss.last_seen.desc()).limit(limit)
    )
    return list(rows)


@dataclass(frozen=True)
class CampaignRow:
    campaign: Campaign
    arrivals: int
    admitted: int  # verified: the application was admitted by an officer


async def campaign_results(
    session: AsyncSession, campaigns: Sequence[Campaign]
) -> list[CampaignRow]:
    out = []
    for c in campaigns:
        arrived = await session.scalar(
            select(func.count(Attribution.id)).where(Attribution.campaign_id == c.id)
        )
        admitted = await session.scalar(
            select(func.count(func.distinct(MemberApplication.contact_id)))
            .join(Attribution, Attribution.contact_id == MemberApplication.contact_id)
            .where(
                Attribution.campaign_id == c.id,
                MemberApplication.status == ADMITTED,
                MemberApplication.created_at >= Attribution.created_at,
            )
        )
        out.append(CampaignRow(c, int(arrived or 0), int(admitted or 0)))
    return out


async def campaign_by_union_body(session: AsyncSession, campaign_id: int) -> list[tuple[str, int]]:
    """Verified joins (admitted) credited to a campaign, per union body, most first."""
    rows = await session.execute(
        select(
            MemberApplication.union_body, func.count(func.distinct(MemberApplication.contact_id))
        )
        .join(Attribution, Attribution.contact_id == MemberApplication.contact_id)
        .where(
            Attribution.campaign_id == campaign_id,
            MemberApplication.status == ADMITTED,
            MemberApplication.created_at >= Attribution.created_at,
        )
        .group_by(MemberApplication.union_body)
    )
    return sorted(((b, int(n)) for b, n in rows), key=lambda r: (-r[1], r[0]))


async def union_bodies(session: AsyncSession) -> list[str]:
    """Every union body that has applications or a target (for filters and the workbook)."""
    bodies = await _bodies_with_applications(session)
    bodies |= set(await session.scalars(select(ReportTarget.union_body).distinct()))
    bodies.discard(CITY)
    return sorted(bodies)


# -- staff lists ---------------------------------------------------------------------------------


async def application_queue(
    session: AsyncSession,
    scope: Scope,
    *,
    status: str = PENDING,
    union_body: str | None = None,
    reference: str | None = None,
    limit: int = 50,
) -> tuple[list[MemberApplication], int]:
    """Applications for the dashboard's queue, oldest first, and how many match in all.

    Search is by reference (KN-2027-000123) or its number: names and phones are encrypted and
    are never searched."""
    m = MemberApplication
    where = [m.status == status, *_body_filter(scope), m.name_enc.is_not(None)]
    if union_body:
        where.append(m.union_body == union_body)
    if reference:
        where.append(m.reference.like(f"%{reference.upper().strip()}%"))
    rows = await session.scalars(select(m).where(*where).order_by(m.id).limit(limit))
    total = await session.scalar(select(func.count(m.id)).where(*where))
    return list(rows), int(total or 0)


async def application_in_scope(
    session: AsyncSession, application_id: int, scope: Scope, *, lock: bool = False
) -> MemberApplication | None:
    """One application if it is in the caller's scope; None otherwise (the page says 404)."""
    query = select(MemberApplication).where(
        MemberApplication.id == application_id, *_body_filter(scope)
    )
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


async def stale_leads(
    session: AsyncSession,
    now: datetime,
    *,
    claimed_days: int,
    unclaimed_days: int,
    area_codes: Sequence[str] | None = None,
    limit: int = 50,
) -> list[tuple[Lead, Enterprise]]:
    """Leads going nowhere: claimed without progress for ``claimed_days``, or nobody has claimed
    them for ``unclaimed_days``; the longest forgotten first."""
    where = [
        Lead.is_open.is_(True),
        or_(
            and_(Lead.status != "new", Lead.last_progress_at <= now - timedelta(days=claimed_days)),
            and_(Lead.status == "new", Lead.opened_at <= now - timedelta(days=unclaimed_days)),
        ),
    ]
    if area_codes is not None:
        where.append(Lead.area_code.in_(list(area_codes)))
    since = func.coalesce(Lead.last_progress_at, Lead.opened_at)
    rows = await session.execute(
        select(Lead, Enterprise)
        .join(Enterprise, Enterprise.id == Lead.enterprise_id)
        .where(*where)
        .order_by(since, Lead.id)
        .limit(limit)
    )
    return [(lead, ent) for lead, ent in rows]
