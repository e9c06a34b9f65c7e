"""'Công ty chưa có công đoàn': a worker reports an enterprise without a grassroots union.

Law 50/2024 Điều 20: where there is no CĐCS the upper union represents the workers, and the
federation's plan wants one founded in every enterprise of 25+ workers by 2028. The report is
the data form content/flows/lead.toml (company, area, size, industrial park, tax code, may a
volunteer contact you — "no" unless the worker chooses messages through the bot or a call).
On "Gửi" the enterprise is matched against earlier reports, the area's volunteers are told, and
the worker learns what happens next.

An anonymous report stores no link to the worker at all: only the invitation credit (a count for
the collaborator who brought them) survives. The worker who agrees to be contacted chooses how:
a phone number, or messages through the bot that never show who they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.core.answers import MENU, LeadPayload
from bot.core.consent import Purpose
from bot.core.context import Ctx
from bot.core.events import Outgoing
from bot.core.feature import Feature
from bot.core.form_contract import Candidates, Invalid, Result, Valid
from bot.core.texts import fmt_date
from bot.core.validators import Rejected, display_phone, normalise_phone
from handlers.volunteers import announce_new, area_name, notify_more
from storage import enterprises as repo
from storage import recruitment as recruit_repo
from storage.enterprises import LeadView

FORM = "lead"
AREA_UNKNOWN = "unknown"  # "Không rõ xã/phường" on the candidates: the federation's staff get it
COMPANY_MAX = 120
PARK_MAX = 120


async def start_report(ctx: Ctx) -> list[Outgoing]:
    """Begin a report: the report's data notice (bot/core/consent.py), then the form. The FAQ
    matcher, the menu and invite links for reports call this."""
    return await NOTICE.ask(ctx)


async def _open_form(ctx: Ctx, carry: Any = None) -> list[Outgoing]:
    """After "Đồng ý": a short reassurance, then the first question."""
    return [ctx.say("leads.intro"), *await ctx.services.forms.start(ctx, FORM)]


NOTICE = Purpose("lead", _open_form)


async def on_button(ctx: Ctx) -> list[Outgoing]:
    """ "lead:start" from the menu (and from the rights pages)."""
    return await start_report(ctx)


# -- validators -----------------------------------------------------------------------------------


async def validate_company(ctx: Ctx, text: str) -> Result:
    name = " ".join(text.split())
    if sum(ch.isalpha() for ch in name) < 2:
        return Invalid("leads.error.company_short")
    if len(name) > COMPANY_MAX:
        return Invalid("leads.error.company_long", {"limit": COMPANY_MAX})
    return Valid(name, name)


async def validate_area(ctx: Ctx, text: str) -> Result:
    """The same area search as the join form: units to pick from, each with its old district (an
    old district name like "Thủy Nguyên" offers all its units), and "Không rõ". An industrial
    park typed here ("KCN Đại An") answers the park question too, so it is not asked again."""
    found = ctx.services.areas.suggest(text)
    if not found:
        return Invalid("leads.error.area_not_found", {"query": text.strip()[:60]})
    unknown = (AREA_UNKNOWN, ctx.t("leads.area.not_sure"))
    fills = {s.area.code: {"park": (s.park, s.park)} for s in found if s.park}
    return Candidates(
        (*((s.area.code, s.label) for s in found), unknown),
        prompt_key="leads.area.pick",
        fills=fills,
    )


async def validate_park(ctx: Ctx, text: str) -> Result:
    park = " ".join(text.split())
    if len(park) > PARK_MAX:
        return Invalid("leads.error.park_long", {"limit": PARK_MAX})
    if sum(ch.isalnum() for ch in park) < 2:
        return Invalid("form.need_text")
    return Valid(park, park)


async def validate_tax_code(ctx: Ctx, text: str) -> Result:
    digits = repo.normalise_tax_code(text)
    if digits is None:
        return Invalid("leads.error.tax_code")
    shown = digits if len(digits) == 10 else f"{digits[:10]}-{digits[10:]}"
    return Valid(digits, shown)


async def validate_phone(ctx: Ctx, text: str) -> Result:
    try:
        phone = normalise_phone(text)
    except Rejected:
        return Invalid("leads.error.phone")
    return Valid(phone, display_phone(phone))


# -- submit ---------------------------------------------------------------------------------------


async def submit(ctx: Ctx, values: dict[str, Any]) -> list[Outgoing]:
    """ "Gửi": one more report for the enterprise; volunteers told of a new one."""
    contact_ok = values.get("contact_ok") in ("chat", "phone")
    phone = values.get("phone") if values.get("contact_ok") == "phone" else None
    crypto = ctx.services.crypto
    area = values.get("area")
    key_of = _reporter_key(ctx)
    lead = await repo.report_enterprise(
        ctx.session,
        name=values["company"],
        area_code=area if area and area != AREA_UNKNOWN else None,
        size_band=values.get("size_band"),
        union_status="no",
        reporter_contact_id=ctx.contact_id if contact_ok else None,
        contact_ok=contact_ok,
        source="report",
        now=ctx.now,
        tax_code=values.get("tax_code"),
        industrial_park=values.get("park"),
        contact_enc=crypto.encrypt(phone) if phone else None,
        credit=await recruit_repo.credit_of(ctx.session, ctx.contact_id),
        reporter_key=key_of,
    )
    view = await repo.get_lead(ctx.session, lead.id, None)
    assert view is not None
    latest = (await repo.reports_of(ctx.session, lead.id))[-1]
    if not latest.counted:
        # The same worker again: one count, their newer details kept beside the earlier ones.
        return [_thanks(ctx, view, contact_ok, phone, repeat=True)]
    if lead.report_count == 1:
        await announce_new(ctx, view)
    else:
        await notify_more(ctx, view)
    return [_thanks(ctx, view, contact_ok, phone)]


def _reporter_key(ctx: Ctx) -> Callable[[int], str]:
    """The keyed hash that recognises this worker's reports of one lead (storage/enterprises)."""
    return repo.reporter_key(ctx.services.crypto.lookup_hash, ctx.contact_id)


def _thanks(
    ctx: Ctx, view: LeadView, contact_ok: bool, phone: str | None, repeat: bool = False
) -> Outgoing:
    if not contact_ok:
        privacy = ctx.t("leads.done.anonymous")
    elif phone:
        privacy = ctx.t("leads.done.by_phone", phone=display_phone(phone))
    else:
        privacy = ctx.t("leads.done.by_chat")
    company = view.enterprise.name
    if repeat:
        text = ctx.t("leads.done.repeat", company=company, privacy=privacy)
    elif view.lead.report_count == 1:
        area = area_name(ctx.t, ctx.services.areas, view.lead.area_code)
        text = ctx.t("leads.done.text", company=company, area=area, privacy=privacy)
    else:
        text = ctx.t(
            "leads.done.again", company=company, count=view.lead.report_count, privacy=privacy
        )
    return ctx.choices(text, [(ctx.t(label), payload) for label, payload in MENU])


# -- the worker's data rights (/dulieucuatoi, /rutdongy, /xoadulieu) ------------------------------


class LeadData:
    """What the lead feature holds about a worker: reports they let volunteers follow up."""

    async def describe(self, ctx: Ctx) -> list[str]:
        lines = []
        for report, company in await repo.reports_by(ctx.session, ctx.contact_id):
            if report.contact_enc:
                # The number a volunteer who takes this company on may see, in full.
                phone = display_phone(ctx.services.crypto.decrypt(report.contact_enc))
                how = ctx.t("leads.mydata.report_phone", phone=phone)
            else:
                how = ctx.t("leads.mydata.report_chat")
            lines.append(
                ctx.t(
                    "leads.mydata.report",
                    company=company,
                    date=fmt_date(report.created_at),
                    how=how,
                )
            )
        return lines

    async def withdraw(self, ctx: Ctx) -> bool:
        """Volunteers may no longer contact the worker; the reports stay, anonymous."""
        return await repo.forget_reporter(ctx.session, ctx.contact_id) > 0

    async def erase(self, ctx: Ctx) -> None:
        await repo.forget_reporter(ctx.session, ctx.contact_id)
        await repo.forget_reporter_keys(ctx.session, _reporter_key(ctx))
        if ctx.flow == FORM:
            ctx.clear_flow()


def register() -> Feature:
    return Feature(
        name=__name__,
        payloads={LeadPayload.prefix: on_button, **NOTICE.payloads()},
        flows=NOTICE.flows(),
        validators={
            "lead_company": validate_company,
            "lead_area": validate_area,
            "lead_park": validate_park,
            "lead_tax_code": validate_tax_code,
            "lead_phone": validate_phone,
        },
        submitters={FORM: submit},
        offers={"start_report": start_report},
        personal_data=(LeadData(),),
    )
