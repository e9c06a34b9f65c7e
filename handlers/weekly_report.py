"""/baocao in a staff group: this week's summary with a chart image, for city staff.

The figures are the dashboard's (bot/reports/weekly.py); only people holding the "staff" role
may ask, and the post holds counts only.
"""

from __future__ import annotations

from bot.core.context import Ctx
from bot.core.events import Kind, Outgoing, Photo
from bot.core.feature import Feature
from bot.core.texts import fmt_number
from bot.reports.weekly import chart_png, weekly


async def on_group(ctx: Ctx) -> list[Outgoing] | None:
    inbound = ctx.inbound
    if inbound.kind is not Kind.COMMAND or (inbound.command or "") != "baocao":
        return None
    if "staff" not in await ctx.services.roles.roles_of(ctx.session, ctx.who):
        return [ctx.say("dashboard.weekly.not_staff")]
    data = await weekly(ctx.session, ctx.services, ctx.now)
    total = data.admitted["year"]
    if data.year_target:
        share = fmt_number(round(100 * total / data.year_target, 1)) + " %"
        target_line = ctx.t("dashboard.weekly.target", year=data.year,
                            target=fmt_number(data.year_target), share=share)  # fmt: skip
    else:
        target_line = ctx.t("dashboard.weekly.no_target", year=data.year)
    text = ctx.t(
        "dashboard.weekly.summary",
        week=fmt_number(data.admitted["week"]),
        month=fmt_number(data.admitted["month"]),
        quarter=fmt_number(data.admitted["quarter"]),
        year=data.year,
        year_total=fmt_number(total),
        target_line=target_line,
        waiting=fmt_number(data.waiting.count),
        over=fmt_number(data.waiting.over_days),
        review_days=data.waiting.review_days,
        founded=fmt_number(data.founded_week),
        employer_requests=fmt_number(data.employer_requests_week),
        cases=fmt_number(data.legal.opened),
        late=fmt_number(data.legal.past_target),
        target_hours=fmt_number(data.legal.target_hours),
    )
    image = chart_png(data.weeks, ctx.t("dashboard.weekly.chart_title"))
    return [Outgoing(ctx.address, Photo(image, caption=text, filename="bao-cao-tuan.png"))]


def register() -> Feature:
    return Feature(name=__name__, group=(on_group,))
