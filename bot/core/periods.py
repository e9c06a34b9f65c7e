"""Reporting periods in Hai Phong time: this week, month, quarter, year; a named quarter.

The federation counts by the local calendar (a member admitted at 01:00 on 1 July, Hai Phong
time, belongs to the third quarter), so bounds are local midnights turned into UTC.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from storage.reports import Bounds

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
_QUARTER = re.compile(r"^\s*([0-9]{4})\s*-?\s*[Qq]([1-4])\s*$")


def local_midnight(day: date, tz: ZoneInfo = LOCAL_TZ) -> datetime:
    return datetime.combine(day, time(0), tz)


def span(first: date, after_last: date, tz: ZoneInfo = LOCAL_TZ) -> Bounds:
    return Bounds(local_midnight(first, tz), local_midnight(after_last, tz))


def week_of(day: date) -> Bounds:
    monday = day - timedelta(days=day.weekday())
    return span(monday, monday + timedelta(days=7))


def month_of(day: date) -> Bounds:
    first = day.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return span(first, nxt)


def quarter_of(day: date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


def quarter_bounds(year: int, quarter: int) -> Bounds:
    first = date(year, 3 * (quarter - 1) + 1, 1)
    nxt = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    return span(first, nxt)


def year_bounds(year: int) -> Bounds:
    return span(date(year, 1, 1), date(year + 1, 1, 1))


def parse_quarter(text: str) -> tuple[int, int]:
    """ "2027Q2", "2027-Q2", "2027 q2" → (2027, 2); ValueError otherwise."""
    match = _QUARTER.match(text or "")
    if not match:
        raise ValueError(f"quý không hợp lệ: {text!r} (viết như 2027Q2)")
    return int(match.group(1)), int(match.group(2))


def current_periods(now: datetime) -> dict[str, Bounds]:
    """This week, month, quarter and year, for the overview."""
    today = now.astimezone(LOCAL_TZ).date()
    year, quarter = quarter_of(today)
    return {
        "week": week_of(today),
        "month": month_of(today),
        "quarter": quarter_bounds(year, quarter),
        "year": year_bounds(year),
    }


def last_weeks(now: datetime, count: int) -> list[Bounds]:
    """The ``count`` weeks (Monday to Sunday) ending with the current one, oldest first."""
    this = week_of(now.astimezone(LOCAL_TZ).date())
    first = this.start.date() - timedelta(weeks=count - 1)
    return [span(first + timedelta(weeks=i), first + timedelta(weeks=i + 1)) for i in range(count)]
