"""Doanh nghiệp: the lead pipeline as a funnel, enterprises still without a union by area,
stale leads, and claiming (volunteers) or assigning (city staff) a lead.

A volunteer sees and claims only the leads of their areas; a lead id outside them is 404, as in
the chat (handlers/volunteers.py reloads leads with the caller's areas the same way).
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from bot.core import figures
from bot.core.numbers import parse_id
from bot.dashboard.charts import funnel_chart
from bot.dashboard.site import Dashboard, PageRequest
from handlers.volunteers import STEP_ORDER, reminder_days, reoffer_days
from storage import enterprises as leads_repo
from storage import reports
from storage.people import Person, people_with_role

ROLES = ("volunteer",)
STAGES = figures.FUNNEL_LABELS


def _areas(req: PageRequest) -> list[str] | None:
    assert req.staff is not None
    return None if req.staff.area_codes is None else sorted(req.staff.area_codes)


def area_name(req: PageRequest, code: str | None) -> str:
    area = req.services.areas.by_code(code) if code else None
    return area.name if area else "Chưa rõ địa bàn"


async def _volunteer_id(req: PageRequest) -> int | None:
    assert req.staff is not None
    return await req.session.scalar(
        select(Person.id).where(
            Person.channel == req.staff.channel,
            Person.external_id == req.staff.external_id,
            Person.role == "volunteer",
            Person.active,
        )
    )


async def pipeline(req: PageRequest) -> web.StreamResponse:
    areas = _areas(req)
    funnel = await reports.lead_funnel(req.session, areas)
    gaps = await reports.without_union(req.session, areas)
    stale = await reports.stale_leads(
        req.session, req.now, claimed_days=reminder_days(req.services),
        unclaimed_days=reoffer_days(req.services), area_codes=areas,
    )  # fmt: skip
    open_leads, open_total = await leads_repo.open_leads(req.session, areas, limit=30)
    volunteers = []
    if areas is None:  # city staff assign leads, so they see the volunteers' names (audited)
        crypto = req.services.crypto
        for p in await people_with_role(req.session, "volunteer"):
            name = crypto.decrypt(p.name_enc) if p.name_enc else f"#{p.id}"
            volunteers.append((p.id, name))
        if volunteers:
            req.audit("web.viewed_volunteers", "people", count=len(volunteers))
    chart = funnel_chart([(STAGES[s], funnel[s]) for s in reports.FUNNEL],
                         title="Phễu vận động thành lập CĐCS")  # fmt: skip
    return req.render(
        "enterprises.html",
        chart=chart,
        funnel=funnel,
        stages=STAGES,
        gaps=[(area_name(req, g.area_code), g) for g in gaps],
        stale=stale,
        open_leads=open_leads,
        open_total=open_total,
        volunteers=volunteers,
        area_name=lambda code: area_name(req, code),
        next_steps=next_steps,
        me=await _volunteer_id(req) if areas is not None else None,
        city=areas is None,
        done=req.arg("xong"),
    )


async def claim(req: PageRequest) -> web.StreamResponse:
    """A volunteer takes a lead of their area."""
    lead_id = parse_id(req.match("id"))
    view = await leads_repo.get_lead(req.session, lead_id, _areas(req)) if lead_id else None
    person_id = await _volunteer_id(req)
    if view is None or person_id is None:
        return req.not_found()
    if not await leads_repo.claim_lead(req.session, view.lead.id, person_id, req.now):
        return req.render("error.html", status=409, heading="Đã có người nhận",
                          message="Doanh nghiệp này vừa được người khác nhận.")  # fmt: skip
    req.audit("web.lead_claimed", f"lead:{view.lead.id}")
    return req.redirect(f"/doanhnghiep?xong={view.lead.id}")


async def assign(req: PageRequest) -> web.StreamResponse:
    """City staff give a lead to a volunteer (taking it from whoever held it)."""
    lead_id, chosen = parse_id(req.match("id")), parse_id(req.form.get("nguoi", ""))
    view = await leads_repo.get_lead(req.session, lead_id, None) if lead_id else None
    person = await req.session.get(Person, chosen) if chosen else None
    if view is None or person is None or person.role != "volunteer" or not person.active:
        return req.not_found()
    lead = view.lead
    if lead.status == "founded":
        return req.render("error.html", status=409, heading="Đã thành lập CĐCS",
                          message="Doanh nghiệp này đã có công đoàn cơ sở.")  # fmt: skip
    before = lead.claimed_by
    if lead.claimed_by is not None:
        await leads_repo.release_lead(req.session, lead, person_id=None, now=req.now)
        await req.session.flush()
    await leads_repo.claim_lead(req.session, lead.id, person.id, req.now)
    req.audit("web.lead_assigned", f"lead:{lead.id}", to=person.id, before=before)
    return req.redirect(f"/doanhnghiep?xong={lead.id}")


def next_steps(status: str) -> list[tuple[str, str]]:
    """The founding steps still ahead of a lead (forward only, as in the chat)."""
    order = STEP_ORDER.get(status, -1)
    return [(step, STAGES[step]) for step in leads_repo.PROGRESS_STEPS if STEP_ORDER[step] > order]


async def progress(req: PageRequest) -> web.StreamResponse:
    """A founding step (đã tiếp cận → nhóm nòng cốt → ban vận động → thành lập CĐCS), by the
    volunteer who holds the lead or by city staff; the same record as the chat's buttons."""
    lead_id, step = parse_id(req.match("id")), req.form.get("buoc", "")
    areas = _areas(req)
    view = await leads_repo.get_lead(req.session, lead_id, areas) if lead_id is not None else None
    if view is None:
        return req.not_found()
    lead = view.lead
    person_id = None
    if areas is not None:  # a volunteer: only a lead they hold
        person_id = await _volunteer_id(req)
        if person_id is None:
            return req.not_found()
    held = lead.claimed_by is not None and (areas is None or lead.claimed_by == person_id)
    if not held or step not in dict(next_steps(lead.status)):
        return req.render(
            "error.html", status=409, heading="Không ghi được bước này",
            message="Bước này chỉ ghi được cho đầu mối bạn đang phụ trách (hoặc đã giao cho "
            "tình nguyện viên), và chỉ các bước chưa qua.",
        )  # fmt: skip
    before = lead.status
    await leads_repo.record_progress(req.session, lead, person_id=person_id, to_status=step,
                                     now=req.now)  # fmt: skip
    req.audit("web.lead_progress", f"lead:{lead.id}", before=before, after=step)
    return req.redirect(f"/doanhnghiep?xong={lead.id}")


def register(dashboard: Dashboard) -> None:
    dashboard.page("/doanhnghiep", pipeline, roles=ROLES, title="Doanh nghiệp", order=30)
    dashboard.page("/doanhnghiep/{id}/nhan", claim, roles=ROLES, method="POST")
    dashboard.page("/doanhnghiep/{id}/giao", assign, roles=("staff",), method="POST")
    dashboard.page("/doanhnghiep/{id}/buoc", progress, roles=ROLES, method="POST")
