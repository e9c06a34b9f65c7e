"""This week's figures for /baocao in the staff group, and the chart image that goes with it.

The numbers come from the same queries as the dashboard (bot/core/figures.py); the image is a
PNG drawn with matplotlib (headless Agg backend), because chat apps show pictures, not SVG.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bot.core import figures
from bot.core.context import Services
from bot.core.periods import current_periods, last_weeks
from storage import reports

CHART_WEEKS = 12


@dataclass(frozen=True)
class Weekly:
    admitted: dict[str, int]
    year: int
    year_target: int | None
    waiting: reports.Waiting
    founded_week: int
    employer_requests_week: int
    legal: reports.LegalFigures
    weeks: list[tuple[date, int]]


async def weekly(session: Any, services: Services, now: datetime) -> Weekly:
    periods = current_periods(now)
    year = periods["year"].start.year
    weeks = last_weeks(now, CHART_WEEKS)
    counts = await reports.weekly_admitted(session, weeks)
    return Weekly(
        admitted=await reports.admitted_counts(session, periods),
        year=year,
        year_target=(await reports.targets_for(session, year)).get(reports.CITY),
        waiting=await reports.waiting(session, now, figures.review_days(services)),
        founded_week=await reports.founded_in(session, periods["week"]),
        employer_requests_week=await reports.employer_requests_in(session, periods["week"]),
        legal=await figures.legal(session, services, periods["week"], now),
        weeks=[(w.start.date(), n) for w, n in zip(weeks, counts, strict=True)],
    )


def chart_png(weeks: Sequence[tuple[date, int]], title: str) -> bytes:
    """A bar chart of joins per week as PNG bytes (about 30 kB)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    try:
        labels = [d.strftime("%d/%m") for d, _ in weeks]
        ax.bar(labels, [n for _, n in weeks], color="#c8102e")
        ax.set_title(title)
        ax.set_ylabel("Người")
        ax.tick_params(axis="x", labelrotation=45)
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        out = io.BytesIO()
        fig.savefig(out, format="png")
        return out.getvalue()
    finally:
        plt.close(fig)
