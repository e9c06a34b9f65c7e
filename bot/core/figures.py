"""The figures of the overview page, the quarterly workbook and /baocao, gathered once.

Both the dashboard and the workbook call these functions, which call the queries in
``storage/reports.py``; nothing is counted twice in two ways, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from bot.core.context import Services
from bot.core.periods import (
    LOCAL_TZ,
    current_periods,
    last_weeks,
    quarter_bounds,
    year_bounds,
)
from storage import reports
from storage.recruitment import list_campaigns

WEEKS_SHOWN = 26

# The lead pipeline's stages as the dashboard and the workbook name them (storage.reports.FUNNEL).
FUNNEL_LABELS = {
    "employer_request": "Doanh nghiệp đề nghị",
    "new": "Được báo về",
    "claimed": "Có người nhận",
    "contacted": "Đã tiếp cận",
    "core_group": "Có nhóm nòng cốt",
    "committee": "Có ban vận động thành lập",
    "founded": "Đã thành lập CĐCS",
}


@dataclass(frozen=True)
class PlanGoal:
    """The plan's membership goal (``[targets]`` in config.toml): members in the non-state sector
    by a year, and the count on record when the bot started counting."""

    year: int = 2028
    members: int = 390_000
    baseline: int = 0
    baseline_on: date = date(2024, 6, 30)

    @classmethod
    def from_settings(cls, extra: Mapping[str, Any]) -> PlanGoal:
        raw = extra.get("targets") or {}
        baseline_on = raw.get("baseline_on", cls.baseline_on)
        if isinstance(baseline_on, str):
            baseline_on = date.fromisoformat(baseline_on)
        return cls(
            year=int(raw.get("plan_year", cls.year)),
            members=int(raw.get("plan_members", cls.members)),
            baseline=int(raw.get("baseline_members", cls.baseline)),
            baseline_on=baseline_on,
        )


@dataclass(frozen=True)
class Overview:
    admitted: dict[str, int]  # week, month, quarter, year
    year: int
    year_target: int | None
    goal: PlanGoal
    members_now: int  # baseline + admitted through the bot since the baseline date
    waiting: reports.Waiting
    weeks: list[tuple[date, int]]
    bodies: list[reports.BodyRow]
    arrivals: reports.Arrivals

    months_left: int = 0  # whole months from this one to the end of the plan's year

    @property
    def goal_share(self) -> float:
        return min(1.0, self.members_now / self.goal.members) if self.goal.members else 0.0

    @property
    def goal_missing(self) -> int:
        """Members still to be admitted to reach the plan's goal."""
        return max(0, self.goal.members - self.members_now)

    @property
    def goal_per_month(self) -> int | None:
        """New members needed each month, this one included, to reach the goal in time."""
        if not self.goal_missing or self.months_left <= 0:
            return None
        return -(-self.goal_missing // self.months_left)


def topic_label(services: Services, topic: str | None) -> str:
    """A legal case's topic as staff read it (content/vi/dashboard.toml, dashboard.topic.*)."""
    name = topic or "none"
    if f"dashboard.topic.{name}" not in services.texts:
        return name  # a topic added to the FAQ before its label: shown as it is
    return services.texts(f"dashboard.topic.{name}")


def legal_topics(services: Services, legal: reports.LegalFigures) -> list[tuple[str, int]]:
    """Cases of the period by topic, most first, labelled: the page and the workbook."""
    return [(topic_label(services, topic), n) for topic, n in legal.topics.items()]


def review_days(services: Services) -> int:
    join = services.section("join")
    return int(join.review_days) if join is not None else 7


async def overview(
    session: Any, services: Services, now: datetime, scope: reports.Scope = None
) -> Overview:
    periods = current_periods(now)
    year = periods["year"].start.year
    admitted = await reports.admitted_counts(session, periods, scope)
    goal = PlanGoal.from_settings(services.settings.extra)
    since = datetime.combine(goal.baseline_on + timedelta(days=1), datetime.min.time(),
                             periods["year"].start.tzinfo)  # fmt: skip
    members_now = goal.baseline + await reports.admitted_total(session, since, scope)
    targets = await reports.targets_for(session, year)
    if scope is None:
        year_target = targets.get(reports.CITY)
    else:
        mine = [targets[b] for b in scope if b in targets]
        year_target = sum(mine) if mine else None
    weeks = last_weeks(now, WEEKS_SHOWN)
    counts = await reports.weekly_admitted(session, weeks, scope)
    return Overview(
        admitted=admitted,
        year=year,
        year_target=year_target,
        goal=goal,
        members_now=members_now,
        waiting=await reports.waiting(session, now, review_days(services), scope),
        weeks=[(w.start.date(), n) for w, n in zip(weeks, counts, strict=True)],
        bodies=await reports.by_union_body(
            session, periods["quarter"], periods["year"], year, scope
        ),
        arrivals=await reports.arrivals(session, periods["quarter"], scope),
        months_left=months_left(now, goal.year),
    )


def months_left(now: datetime, plan_year: int) -> int:
    """Calendar months from the current local month to December of the plan's year, both
    counted (0 once the plan's year is over)."""
    local = now.astimezone(LOCAL_TZ)
    return max(0, (plan_year - local.year) * 12 + 12 - local.month + 1)


async def legal(
    session: Any, services: Services, period: reports.Bounds, now: datetime
) -> reports.LegalFigures:
    """Legal-advice figures for a period, timed in the centre's working hours ([legal])."""
    config = services.section("legal")
    office = config.office if config is not None else None

    def working(start: datetime, end: datetime) -> timedelta:
        return office.working_between(start, end) if office is not None else end - start

    target_hours = float(getattr(config, "answer_within_hours", 4) or 4)
    return await reports.legal_figures(session, period, now, working, target_hours)


@dataclass(frozen=True)
class QuarterReport:
    year: int
    quarter: int
    bounds: reports.Bounds
    union_body: str | None
    admitted: int
    admitted_year_to_date: int
    year_target: int | None
    arrivals: reports.Arrivals
    founded: int
    funnel: dict[str, int]
    employer_requests: int  # enterprises that asked for help founding a CĐCS in the quarter
    without_union: list[reports.UnionGap]
    waiting: reports.Waiting
    legal: reports.LegalFigures
    legal_topics: list[tuple[str, int]]
    campaigns: list[reports.CampaignRow]
    bodies: list[reports.BodyRow]
    weeks: list[tuple[date, int]]


async def quarter_report(
    session: Any,
    services: Services,
    year: int,
    quarter: int,
    now: datetime,
    union_body: str | None = None,
) -> QuarterReport:
    """The quarterly review's figures (giao ban quý), for the city or one union body."""
    bounds = quarter_bounds(year, quarter)
    ytd = reports.Bounds(year_bounds(year).start, bounds.end)
    scope = None if union_body is None else [union_body]
    counts = await reports.admitted_counts(session, {"quarter": bounds, "ytd": ytd}, scope)
    targets = await reports.targets_for(session, year)
    weeks = quarter_weeks(bounds)
    week_counts = await reports.weekly_admitted(session, weeks, scope)
    campaigns = [
        c
        for c in await list_campaigns(session)
        if c.starts_on < bounds.end.date() and c.ends_on >= bounds.start.date()
    ]
    legal_figures = await legal(session, services, bounds, now)
    return QuarterReport(
        year=year,
        quarter=quarter,
        bounds=bounds,
        union_body=union_body,
        admitted=counts["quarter"],
        admitted_year_to_date=counts["ytd"],
        year_target=targets.get(union_body or reports.CITY),
        arrivals=await reports.arrivals(session, bounds, scope),
        founded=await reports.founded_in(session, bounds),
        funnel=await reports.lead_funnel(session),
        employer_requests=await reports.employer_requests_in(session, bounds),
        without_union=await reports.without_union(session),
        waiting=await reports.waiting(session, now, review_days(services), scope),
        legal=legal_figures,
        legal_topics=legal_topics(services, legal_figures),
        campaigns=await reports.campaign_results(session, campaigns),
        bodies=await reports.by_union_body(session, bounds, year_bounds(year), year, scope),
        weeks=[(w.start.date(), n) for w, n in zip(weeks, week_counts, strict=True)],
    )


@dataclass(frozen=True)
class BodyQuarter:
    """One union body's quarter, for its own sheet of the workbook."""

    union_body: str
    admitted: int
    admitted_year_to_date: int
    year_target: int | None
    waiting: reports.Waiting
    weeks: list[tuple[date, int]]


def quarter_weeks(bounds: reports.Bounds) -> list[reports.Bounds]:
    """The quarter cut into 7-day spans from its first day (the last one may be shorter)."""
    weeks = []
    first = bounds.start
    while first < bounds.end:
        weeks.append(reports.Bounds(first, min(first + timedelta(days=7), bounds.end)))
        first += timedelta(days=7)
    return weeks


async def body_quarter(
    session: Any,
    services: Services,
    year: int,
    quarter: int,
    union_body: str,
    now: datetime,
) -> BodyQuarter:
    bounds = quarter_bounds(year, quarter)
    ytd = reports.Bounds(year_bounds(year).start, bounds.end)
    scope = [union_body]
    counts = await reports.admitted_counts(session, {"quarter": bounds, "ytd": ytd}, scope)
    weeks = quarter_weeks(bounds)
    week_counts = await reports.weekly_admitted(session, weeks, scope)
    return BodyQuarter(
        union_body=union_body,
        admitted=counts["quarter"],
        admitted_year_to_date=counts["ytd"],
        year_target=(await reports.targets_for(session, year)).get(union_body),
        waiting=await reports.waiting(session, now, review_days(services), scope),
        weeks=[(w.start.date(), n) for w, n in zip(weeks, week_counts, strict=True)],
    )
