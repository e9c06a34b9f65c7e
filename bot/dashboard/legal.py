"""Tư vấn pháp luật: open cases by age, first-reply times in working hours, topics, ratings.

Counts only: the questions themselves stay in the staff group, where the lawyers answer them.
"""

from __future__ import annotations

from aiohttp import web

from bot.core import figures
from bot.core.periods import LOCAL_TZ, parse_quarter, quarter_bounds, quarter_of
from bot.dashboard.site import Dashboard, PageRequest

AGE_LABELS = {"<1": "Dưới 1 ngày", "1-3": "1–3 ngày", "3-7": "3–7 ngày", ">7": "Quá 7 ngày"}


def chosen_quarter(req: PageRequest) -> tuple[int, int]:
    """The quarter in ?quy=2027Q2, or the current one."""
    try:
        return parse_quarter(req.arg("quy"))
    except ValueError:
        return quarter_of(req.now.astimezone(LOCAL_TZ).date())


async def legal_page(req: PageRequest) -> web.StreamResponse:
    year, quarter = chosen_quarter(req)
    data = await figures.legal(req.session, req.services, quarter_bounds(year, quarter), req.now)
    return req.render(
        "legal.html", data=data, year=year, quarter=quarter, ages=AGE_LABELS,
        stars=sorted(data.ratings.items(), reverse=True),
        topics=figures.legal_topics(req.services, data),
    )  # fmt: skip


def register(dashboard: Dashboard) -> None:
    dashboard.page("/tuvan", legal_page, roles=("legal",), title="Tư vấn pháp luật", order=40)
