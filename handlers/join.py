"""'Gia nhập công đoàn': consent first, the join form, the application, and /trangthai.

The worker arrives by the menu button ("join:start"), a phrase like "muốn vào công đoàn", or an
invite link (the referral feature calls ``start_join``). They read what membership gives and
costs, then the data notice (Law 91/2025/QH15): nothing is collected until they press "Đồng ý",
and the consent is stored with the notice version they saw. The form itself is data
(content/flows/join.toml) run by the generic form runner; this module adds its validators and
what happens on "Gửi": one application with a KN-<year>-<6 digits> reference, routed to the union
body for the workplace area, never duplicated for the same phone, and a lead for an enterprise
that has no union. Personal fields are stored only as ciphertext plus the phone's keyed hash.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any, Self

from bot.config import ConfigReader
from bot.core.answers import JOIN_START, MAIN_MENU, NEWS_START, JoinPayload, menu
from bot.core.areas import DEFAULT_UNION_BODY, AreaIndex
from bot.core.consent import Purpose
from bot.core.context import Ctx, JobContext
from bot.core.engine import reachable_address
from bot.core.events import Address, Outgoing, Text
from bot.core.feature import Feature, Job, TextHandler
from bot.core.form_contract import Candidates, Invalid, Result, Valid
from bot.core.textnorm import folded_tokens
from bot.core.texts import fmt_date
from bot.core.validators import Rejected, display_phone, normalise_person_name, normalise_phone
from handlers.membership_view import ApplicationView
from storage import enterprises
from storage import membership as repo
from storage import recruitment as recruit_repo

log = logging.getLogger(__name__)

FORM = "join"
PURPOSE = "join"
AREA_UNKNOWN = "none"
COMPANY_MAX = 120
DEFAULT_REVIEW_DAYS = 7
DEFAULT_RETURNED_RETENTION_DAYS = 90
NO_UNION = ("no", "unknown")


# -- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class JoinConfig:
    """``[join]`` of config.toml: what workers are told (review time, retention)."""

    SECTION = "join"
    review_days: int = DEFAULT_REVIEW_DAYS
    returned_retention_days: int = DEFAULT_RETURNED_RETENTION_DAYS

    @classmethod
    def from_config(cls, reader: ConfigReader) -> Self:
        return cls(
            review_days=reader.integer("review_days", DEFAULT_REVIEW_DAYS, minimum=1),
            returned_retention_days=reader.integer(
                "returned_retention_days", DEFAULT_RETURNED_RETENTION_DAYS
            ),
        )


def review_days(ctx: Ctx) -> int:
    return ctx.services.config(JoinConfig).review_days


def returned_retention_days(ctx: Ctx | JobContext) -> int:
    return ctx.services.config(JoinConfig).returned_retention_days


def areas_of(ctx: Ctx) -> AreaIndex:
    return ctx.services.areas


# -- entry -----------------------------------------------------------------------------------


async def start_join(ctx: Ctx) -> list[Outgoing]:
    """Begin joining: what membership gives and costs, then the data notice with two buttons.

    Called by the menu button, by free text, and by the referral feature for invite links.
    A worker with an application in progress is shown it instead of a second one.
    """
    if ctx.flow == FORM:
        return await _resume_form(ctx)
    existing = await repo.latest_active_of(ctx.session, ctx.contact_id)
    if existing is not None:
        return [_already(ctx, existing)]
    return [ctx.say("join.intro"), *await NOTICE.ask(ctx, every_time=True)]


async def _audit(ctx: Ctx, action: str, *, subject: str | None = None, **detail: Any) -> None:
    """An audit entry for what the worker did (subject: their contact unless given)."""
    await repo.record_audit(
        ctx.session,
        action=action,
        actor="worker",
        subject=subject or f"contact:{ctx.contact_id}",
        channel=ctx.inbound.channel,
        now=ctx.now,
        **detail,
    )


async def _accepted(ctx: Ctx, carry: Any = None) -> list[Outgoing]:
    """After "Đồng ý" (bot/core/consent.py recorded it with the notice's fingerprint)."""
    started = ctx.say("join.started")
    return [started, *await ctx.services.forms.start(ctx, FORM)]


async def _declined(ctx: Ctx) -> list[Outgoing]:
    return [menu(ctx, "join.declined")]


def _notice_params(ctx: Ctx) -> dict[str, Any]:
    return {"returned_days": returned_retention_days(ctx)}


NOTICE = Purpose(PURPOSE, _accepted, _declined, params=_notice_params)


async def _resume_form(ctx: Ctx) -> list[Outgoing]:
    """Re-ask the question the worker stopped at (the runner finds the first missing slot)."""
    return [ctx.say("join.resume"), *ctx.services.forms.resume(ctx)]


async def on_button(ctx: Ctx) -> list[Outgoing]:
    """join:start and join:status."""
    pressed = JoinPayload.unpack(ctx.inbound.payload) or JoinPayload("start")
    if pressed.action == "status":
        return await show_status(ctx)
    return await start_join(ctx)


_JOIN_VERBS = ("vao", "gia nhap", "tham gia", "ket nap", "dang ky", "dang ki", "lam don")
_NEGATIVE = {"khong", "ko", "k", "cam", "chan", "bi", "ep", "duoi", "phat"}
_NEGATIVE_PHRASES = (" sa thai ", " ky luat ")
_BARE = {"gia nhap", "ket nap", "vao cong doan", "gia nhap cong doan", "tham gia cong doan"}


def is_join_request(text: str) -> bool:
    """A short message that asks to join ("muốn vào công đoàn", "lam sao de vao cong doan").

    Deliberately narrow: a question about being kept out of the union ("công ty cấm vào công
    đoàn") is a legal question for the FAQ, not a join request.
    """
    words = folded_tokens(text)
    if not words or len(words) > 12:
        return False
    joined = " ".join(words)
    if joined in _BARE:
        return True
    if _NEGATIVE & set(words) or any(p in f" {joined} " for p in _NEGATIVE_PHRASES):
        return False
    about_union = "cong doan" in joined or "doan vien" in joined
    return about_union and any(f" {verb} " in f" {joined} " for verb in _JOIN_VERBS)


async def on_text(ctx: Ctx) -> list[Outgoing] | None:
    """A fallback router: when the FAQ matcher is installed, it routes join intent itself."""
    if ctx.flow or ctx.services.hooks.faq is not None or not is_join_request(ctx.inbound.text):
        return None
    return await start_join(ctx)


# -- validators ------------------------------------------------------------------------------


# Reason codes of bot/core/validators.py -> the sentence a worker reads.
NAME_ERRORS = {
    "empty": "join.error.name.empty",
    "too_short": "join.error.name.too_short",
    "too_long": "join.error.name.too_long",
    "has_digits": "join.error.name.has_digits",
    "bad_chars": "join.error.name.bad_chars",
}
PHONE_ERRORS = {
    "empty": "join.error.phone.empty",
    "not_a_number": "join.error.phone.not_a_number",
    "foreign": "join.error.phone.foreign",
    "old_11_digits": "join.error.phone.old_11_digits",
    "landline": "join.error.phone.landline",
    "wrong_length": "join.error.phone.wrong_length",
    "not_mobile": "join.error.phone.not_mobile",
}


async def validate_name(ctx: Ctx, text: str) -> Result:
    try:
        name = normalise_person_name(text)
    except Rejected as err:
        return Invalid(NAME_ERRORS[err.reason], err.params)
    return Valid(name, name)


async def validate_phone(ctx: Ctx, text: str) -> Result:
    try:
        phone = normalise_phone(text)
    except Rejected as err:
        return Invalid(PHONE_ERRORS[err.reason], err.params)
    return Valid(phone, display_phone(phone))


async def validate_company(ctx: Ctx, text: str) -> Result:
    name = " ".join(text.split())
    if sum(ch.isalpha() for ch in name) < 2:
        return Invalid("join.error.company.too_short")
    if len(name) > COMPANY_MAX:
        return Invalid("join.error.company.too_long", {"limit": COMPANY_MAX})
    return Valid(name, name)


async def validate_area(ctx: Ctx, text: str) -> Result:
    """The matching units as buttons, each with its old district (bot/core/areas.py), plus "not
    sure" (routed to the city federation)."""
    found = areas_of(ctx).suggest(text)
    unknown = (AREA_UNKNOWN, ctx.t("join.area.unknown"))
    if not found:
        return Candidates((unknown,), prompt_key="join.area.not_found")
    options = (*((s.area.code, s.label) for s in found), unknown)
    return Candidates(options, prompt_key="join.area.pick")


# -- submit ----------------------------------------------------------------------------------


async def submit(ctx: Ctx, values: dict[str, Any]) -> list[Outgoing]:
    """ "Gửi": one application (never two for one phone), a lead if there is no union.

    Plain statements on the engine's transaction (the form's busiest step); the lead is
    recorded first, so the application is written once, with it."""
    crypto = ctx.services.crypto
    phone_hash = crypto.lookup_hash(values["phone"])
    existing = await repo.active_by_phone(ctx.session, phone_hash)
    if existing is not None:
        return await _duplicate(ctx, existing)
    area = None
    if values.get("area") and values["area"] != AREA_UNKNOWN:  # routed by the mapping as stored
        area = (await ctx.services.areas_now(ctx.session)).by_code(values["area"])
    union_body = area.union_body_or_default if area else DEFAULT_UNION_BODY
    area_code = area.code if area else None
    lead_id = await _record_lead(ctx, area_code, values)
    job = values.get("job")
    app = await repo.add_application(
        ctx.session,
        repo.NewApplication(
            contact_id=ctx.contact_id,
            channel=ctx.inbound.channel,
            name_enc=crypto.encrypt(values["full_name"]),
            phone_enc=crypto.encrypt(values["phone"]),
            phone_hash=phone_hash,
            company_enc=crypto.encrypt(values["company"]),
            job_enc=crypto.encrypt(job) if job else None,
            area_code=area_code,
            union_body=union_body,
            union_status=values["union_status"],
            size_band=values["size_band"],
            lead_id=lead_id,
        ),
        now=ctx.now,
    )
    await _audit(ctx, "application.submitted", subject=app.reference, union_body=union_body)
    done = ctx.t("join.done", reference=app.reference, union_body=union_body, days=review_days(ctx))
    if lead_id is not None:
        key = "join.lead.contact" if _contact_ok(values) else "join.lead.anonymous"
        done = f"{done}\n\n{ctx.t(key, company=values['company'])}"
    await _tell_officers(ctx, app.reference, union_body)
    return [ctx.choices(done, _after_buttons(ctx))]


def _after_buttons(ctx: Ctx) -> list[tuple[str, str]]:
    status = JoinPayload("status").pack()
    buttons = [(ctx.t("join.status_button"), status)]
    if ctx.services.hooks.subscribe is not None:  # announcements are wired in
        buttons.append((ctx.t("news.menu"), NEWS_START))
    return [*buttons, (ctx.t("join.menu"), MAIN_MENU)]


async def _duplicate(ctx: Ctx, existing: repo.MemberApplication) -> list[Outgoing]:
    """The same phone applied before. Only the chat that applied learns the reference: anyone
    else might be an employer probing who joins (LCĐ Điều 10), so the owner is told instead."""
    await _audit(
        ctx,
        "application.duplicate",
        subject=existing.reference,
        same_contact=existing.contact_id == ctx.contact_id,
    )
    if existing.contact_id == ctx.contact_id:
        return [_already(ctx, existing)]
    address = await reachable_address(ctx.session, existing.contact_id)
    if address is not None:
        ctx.notify(
            Outgoing(
                address,
                Text(
                    ctx.t(
                        "join.duplicate.owner_notice",
                        reference=existing.reference,
                        status=status_label(ctx, existing.status),
                    )
                ),
            )
        )
    return [menu(ctx, "join.duplicate.other")]


def _already(ctx: Ctx, app: repo.MemberApplication) -> Outgoing:
    text = ctx.t(
        "join.already",
        reference=app.reference,
        status=status_label(ctx, app.status),
        date=fmt_date(app.created_at),
    )
    return ctx.choices(text, _after_buttons(ctx))


def _contact_ok(values: dict[str, Any]) -> bool:
    """The worker agreed that a volunteer may contact them about their workplace."""
    return values.get("contact_ok") == "yes"


async def _record_lead(ctx: Ctx, area_code: str | None, values: dict[str, Any]) -> int | None:
    """No union at the workplace (LCĐ Điều 20): record the enterprise for the recruiters. The
    lead's id; None when nothing was recorded ("don't know" about a company whose union is
    recorded is not a lead)."""
    status = values["union_status"]
    if status not in NO_UNION:
        return None
    contact_ok = _contact_ok(values)
    return await enterprises.record_report(
        ctx.session,
        name=values["company"],
        area_code=area_code,
        size_band=values["size_band"],
        union_status=status,
        reporter_contact_id=ctx.contact_id if contact_ok else None,
        contact_ok=contact_ok,
        source="join",
        now=ctx.now,
        # the phone a volunteer may use, only with the worker's agreement
        contact_enc=ctx.services.crypto.encrypt(values["phone"]) if contact_ok else None,
        # credits the invitation the worker came through, without naming them
        credit=await recruit_repo.credit_of(ctx.session, ctx.contact_id),
        # the same worker reporting this company again (the lead form) is counted once
        reporter_key=enterprises.reporter_key(ctx.services.crypto.lookup_hash, ctx.contact_id),
        unless_union=status == "unknown",
    )


async def _tell_officers(ctx: Ctx, reference: str, union_body: str) -> None:
    """A note without personal data to the officers who will review it."""
    configured = ctx.services.roles.configured_accounts("membership")
    addresses = {Address(who.channel, who.user_id) for who in configured}
    for person in await repo.membership_officers(ctx.session, union_body):
        addresses.add(Address(person.channel, person.external_id))
    text = ctx.t("join.staff.new_application", reference=reference, union_body=union_body)
    for address in sorted(addresses, key=lambda a: (a.channel, a.chat_id)):
        ctx.notify(Outgoing(address, Text(text), tag=f"join:new:{reference}"))


# -- status ----------------------------------------------------------------------------------


def status_label(ctx: Ctx, status: str) -> str:
    return ctx.t(f"join.status.label.{status}")


def status_detail(ctx: Ctx, app: repo.MemberApplication) -> str:
    decided = fmt_date(app.decided_at or app.updated_at)
    if app.status == repo.PENDING:
        return ctx.t("join.status.detail.pending", days=review_days(ctx))
    if app.status == repo.ADMITTED:
        return ctx.t("join.status.detail.admitted", date=decided)
    if app.status == repo.RETURNED:
        if app.return_reason_enc:
            reason = ctx.services.crypto.decrypt(app.return_reason_enc)
        else:
            reason = ctx.t("join.status.detail.reason_erased")
        return ctx.t("join.status.detail.returned", date=decided, reason=reason)
    return ctx.t("join.status.detail.withdrawn")


async def show_status(ctx: Ctx) -> list[Outgoing]:
    """/trangthai: the worker's latest application and what comes next, their questions to the
    legal centre (``hooks.status``), and a half-filled form to carry on — never "no application
    yet, press join" while the join form is open."""
    apps = await repo.applications_of(ctx.session, ctx.contact_id)
    runner = ctx.services.forms
    in_form = runner.in_form(ctx) is not None
    outs: list[Outgoing] = []
    if apps:
        app = apps[0]
        text = ctx.t(
            "join.status.show",
            reference=app.reference,
            status=status_label(ctx, app.status),
            date=fmt_date(app.created_at),
            union_body=app.union_body,
            detail=status_detail(ctx, app),
        )
        options = [(ctx.t("join.menu"), MAIN_MENU)]
        if app.status in (repo.RETURNED, repo.WITHDRAWN) and not in_form:
            options.insert(0, (ctx.t("join.join_button"), JOIN_START))
        outs.append(ctx.choices(text, options))
    other: list[str] = []
    for lines in ctx.services.hooks.status:
        other += await lines(ctx)
    if other:
        outs.append(ctx.text("\n".join([ctx.t("join.status.others"), *other])))
    if in_form:
        outs += runner.offer_resume(ctx)
    elif not apps:
        options = [(ctx.t("join.join_button"), JOIN_START), (ctx.t("join.menu"), MAIN_MENU)]
        outs.append(ctx.choices(ctx.t("join.status.none"), options))
    return outs


# -- the worker's data (a provider for /dulieucuatoi, /rutdongy, /xoadulieu) -----------------


@dataclass
class MembershipData:
    """What this feature holds about a worker: applications, a half-filled form (the consent
    records are handlers/consent.py's)."""

    async def describe(self, ctx: Ctx) -> list[str]:
        lines = []
        crypto = ctx.services.crypto
        for app in await repo.applications_of(ctx.session, ctx.contact_id):
            lines.append(_application_line(ctx, app, crypto))
        if ctx.flow in (FORM, NOTICE.flow) and ctx.data.get("form"):
            lines.append(ctx.t("privacy.mydata.in_form"))
        return lines

    async def withdraw(self, ctx: Ctx) -> bool:
        """Stop processing: pending applications stopped, fields wiped."""
        refs = await repo.withdraw_applications(ctx.session, ctx.contact_id, now=ctx.now)
        forgotten = await _forget_lead_reporter(ctx)
        in_form = ctx.flow in (FORM, NOTICE.flow)
        if in_form:
            ctx.clear_flow()
        return bool(refs or forgotten or in_form)

    async def erase(self, ctx: Ctx) -> None:
        await repo.delete_applications(ctx.session, ctx.contact_id)
        await _forget_lead_reporter(ctx)
        if ctx.flow in (FORM, NOTICE.flow):
            ctx.clear_flow()


async def _forget_lead_reporter(ctx: Ctx) -> int:
    """The join form may have named the worker on a lead (with their agreement): unlink it."""
    return await enterprises.forget_reporter(ctx.session, ctx.contact_id)


def _application_line(ctx: Ctx, app: repo.MemberApplication, crypto: Any) -> str:
    status = status_label(ctx, app.status)
    date = fmt_date(app.created_at)
    if app.name_enc is None:
        return ctx.t(
            "privacy.mydata.application_erased", reference=app.reference, status=status, date=date
        )
    view = ApplicationView.of(ctx.texts, ctx.services.areas, crypto, app)
    return ctx.t(
        "privacy.mydata.application",
        reference=app.reference,
        status=status,
        date=date,
        **asdict(view),
    )


# -- retention -------------------------------------------------------------------------------


async def retention_job(job: JobContext) -> None:
    """Returned applications lose their personal data after the period in the notice."""
    now = job.now
    before = now - timedelta(days=returned_retention_days(job))
    async with job.db.transaction() as session:
        count = await repo.expire_returned(session, before=before, now=now)
        if count:
            repo.audit(
                session,
                action="retention.wiped",
                actor="system",
                subject="member_applications",
                now=now,
                count=count,
            )


# -- wiring ----------------------------------------------------------------------------------


def register() -> Feature:
    return Feature(
        name=__name__,
        commands={"trangthai": show_status},
        payloads={JoinPayload.prefix: on_button, **NOTICE.payloads()},
        flows=NOTICE.flows(),
        text=(TextHandler(on_text),),
        jobs=(Job("join.retention", 6 * 3600, retention_job),),
        personal_data=(MembershipData(),),
        validators={
            "person_name": validate_name,
            "phone": validate_phone,
            "company": validate_company,
            "area": validate_area,
        },
        submitters={FORM: submit},
        offers={"start_join": start_join},
        config=(JoinConfig,),
    )
