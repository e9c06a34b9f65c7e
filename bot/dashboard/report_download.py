"""The quarterly workbook from a button: the same file as `congdoan-bot report quarterly`."""

from __future__ import annotations

from aiohttp import web

from bot.core.periods import LOCAL_TZ, parse_quarter, quarter_of
from bot.dashboard.site import Dashboard, PageRequest
from bot.reports.workbook import quarterly_workbook
from storage import reports

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ROLES = ("membership",)


def _quarters(req: PageRequest, count: int = 8) -> list[str]:
    year, quarter = quarter_of(req.now.astimezone(LOCAL_TZ).date())
    out = []
    for _ in range(count):
        out.append(f"{year}Q{quarter}")
        year, quarter = (year, quarter - 1) if quarter > 1 else (year - 1, 4)
    return out


async def choose(req: PageRequest) -> web.StreamResponse:
    assert req.staff is not None
    bodies = (
        sorted(req.staff.union_bodies)
        if req.staff.union_bodies is not None
        else await reports.union_bodies(req.session)
    )
    return req.render(
        "report.html", quarters=_quarters(req), bodies=bodies, city=req.staff.union_bodies is None
    )


async def download(req: PageRequest) -> web.StreamResponse:
    assert req.staff is not None
    try:
        year, quarter = parse_quarter(req.arg("quy"))
    except ValueError:
        return req.not_found()
    body = req.arg("don_vi") or None
    mine = req.staff.union_bodies
    if mine is not None:
        if body is None and len(mine) == 1:
            body = next(iter(mine))
        if body not in mine:
            return req.not_found()
    data = await quarterly_workbook(req.session, req.services, year, quarter, req.now, body)
    req.audit("web.downloaded_report", f"{year}Q{quarter}", union_body=body or "city")
    name = f"bao-cao-{year}Q{quarter}.xlsx"
    return web.Response(
        body=data,
        content_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def register(dashboard: Dashboard) -> None:
    dashboard.page("/baocao", choose, roles=ROLES, title="Báo cáo quý", order=80)
    dashboard.page("/baocao/tai", download, roles=ROLES)
