"""Tổng quan: new members against the targets, the waiting queue, 26 weeks, per union body."""

from __future__ import annotations

from aiohttp import web

from bot.core import figures
from bot.core.texts import fmt_date
from bot.dashboard.charts import bar_chart
from bot.dashboard.site import Dashboard, PageRequest

CHANNEL_LABELS = {
    "telegram": "Telegram",
    "zalo_oa": "Zalo OA",
    "zalo_bot": "Zalo",
    "console": "Thử nghiệm",
}


async def overview(req: PageRequest) -> web.StreamResponse:
    assert req.staff is not None
    scope = None if req.staff.union_bodies is None else sorted(req.staff.union_bodies)
    data = await figures.overview(req.session, req.services, req.now, scope)
    chart = bar_chart(
        [(fmt_date(day)[:5], n) for day, n in data.weeks],
        title="Đoàn viên mới kết nạp mỗi tuần, 26 tuần gần nhất",
    )
    req.audit("web.viewed_overview", "dashboard", scope="city" if scope is None else "bodies")
    return req.render("overview.html", data=data, chart=chart, scope=scope, channels=CHANNEL_LABELS)


async def home(req: PageRequest) -> web.StreamResponse:
    """The first page the person may open."""
    assert req.staff is not None
    menu = req.dashboard.menu(req.staff)
    return req.redirect(menu[0].path if menu else "/dangnhap")


def register(dashboard: Dashboard) -> None:
    dashboard.page("/", home, roles=("membership", "legal", "volunteer"))
    dashboard.page("/tongquan", overview, roles=("membership",), title="Tổng quan", order=10)
