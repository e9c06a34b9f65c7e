"""Chiến dịch: campaigns, their results and leaderboards (verified joins only), editable.

The collaborators' leaderboard is the snapshot /bangxephang reads (recounted by the scheduler,
or here when it is older than [recruitment] leaderboard_minutes); by union body it counts
admitted applications credited to the campaign. Collaborators' names are shown to city staff,
who award the prizes, and the view is audited.
"""

from __future__ import annotations

from datetime import date, timedelta

from aiohttp import web

from bot.dashboard.site import Dashboard, PageRequest
from handlers.referral import invite_config
from storage import recruitment, reports

NAME_MAX = 200


def _board_age(req: PageRequest) -> timedelta:
    return timedelta(minutes=invite_config(req.services).leaderboard_minutes)


async def campaigns(req: PageRequest) -> web.StreamResponse:
    rows = await reports.campaign_results(
        req.session, await recruitment.list_campaigns(req.session)
    )
    chosen = next((r for r in rows if r.campaign.code == req.arg("ma").upper()), None)
    chosen = chosen or (rows[0] if rows else None)
    people, bodies = [], []
    if chosen is not None:
        standings = await recruitment.standings(req.session, chosen.campaign, req.now,
                                                _board_age(req))  # fmt: skip
        top = [s for s in standings if s.admitted > 0][:20]
        names = await recruitment.people_by_id(req.session, [s.person_id for s in top])
        crypto = req.services.crypto
        for s in top:
            person = names.get(s.person_id)
            name = (
                crypto.decrypt(person.name_enc) if person and person.name_enc else f"#{s.person_id}"
            )
            people.append((s, name))
        bodies = await reports.campaign_by_union_body(req.session, chosen.campaign.id)
        if people:
            req.audit("web.viewed_leaderboard", chosen.campaign.code, shown=len(people))
    return req.render("campaigns.html", rows=rows, chosen=chosen, people=people, bodies=bodies,
                      error=req.arg("loi"), done=req.arg("xong"))  # fmt: skip


def _parse(form: dict[str, str]) -> tuple[str, str, date, date] | str:
    """The campaign fields, or what is wrong with them (in Vietnamese)."""
    code = recruitment.campaign_code(form.get("ma", "")) or ""
    name = " ".join(form.get("ten", "").split())
    if len(code) < 2:
        return "Mã chiến dịch: 2–32 chữ in hoa, số, gạch nối (ví dụ T5-2028)."
    if not name or len(name) > NAME_MAX:
        return f"Tên chiến dịch: không trống, tối đa {NAME_MAX} ký tự."
    try:
        starts, ends = (
            date.fromisoformat(form.get("tu", "")),
            date.fromisoformat(form.get("den", "")),
        )
    except ValueError:
        return "Ngày bắt đầu và kết thúc cần đúng dạng ngày."
    if ends < starts:
        return "Ngày kết thúc phải sau ngày bắt đầu."
    return code, name, starts, ends


async def save(req: PageRequest) -> web.StreamResponse:
    parsed = _parse(req.form)
    if isinstance(parsed, str):
        return await _again(req, parsed)
    code, name, starts, ends = parsed
    await recruitment.save_campaign(req.session, code=code, name=name, starts_on=starts,
                                    ends_on=ends)  # fmt: skip
    req.audit("web.campaign_saved", code, starts=starts.isoformat(), ends=ends.isoformat())
    return req.redirect(f"/chiendich?ma={code}&xong=1")


async def _again(req: PageRequest, error: str) -> web.StreamResponse:
    rows = await reports.campaign_results(
        req.session, await recruitment.list_campaigns(req.session)
    )
    return req.render("campaigns.html", status=400, rows=rows, chosen=None, people=[], bodies=[],
                      error=error, done="")  # fmt: skip


def register(dashboard: Dashboard) -> None:
    dashboard.page("/chiendich", campaigns, roles=("staff",), title="Chiến dịch", order=60)
    dashboard.page("/chiendich", save, roles=("staff",), method="POST")
