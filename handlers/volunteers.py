"""Volunteers' side of the leads: /leads, claim, progress with a note, messages to reporters.

A volunteer sees only the leads of their own areas (person_areas), by every route: the list, a
lead's card, every button. Each handler reloads the lead through ``get_lead`` with the caller's
areas, so a forged button payload with another area's lead id gets the same "not found" as an id
that does not exist. Staff (configured or registered) see every area.

Reporters stay anonymous unless they agreed to be contacted; even then a volunteer sees only what
the worker gave (a phone number) and only after claiming the lead, or writes through the bot.

The follow-up job tells an area's volunteers about leads recorded elsewhere (the join form),
reminds a volunteer after 14 days without progress, and re-offers a lead nobody claimed in 7 days
to the area's other volunteers and to staff — each once, not on every tick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

from bot.config import ConfigReader
from bot.core.answers import menu
from bot.core.areas import AreaIndex
from bot.core.context import Ctx, JobContext, Services
from bot.core.engine import reachable_address
from bot.core.events import Address, Choice, Choices, Kind, Outgoing
from bot.core.feature import Feature, Job
from bot.core.numbers import parse_id, parse_int
from bot.core.payloads import Payload
from bot.core.texts import fmt_date, fmt_datetime
from bot.core.validators import display_phone
from storage import employers as employers_repo
from storage import enterprises as leads_repo
from storage import people as people_repo
from storage.enterprises import LeadView
from storage.people import Person

log = logging.getLogger(__name__)

PAGE_SIZE = 8
PAGE_MAX = 10_000  # /leads <page>: far past the last page, never past 64 bits
NOTE_MAX = 500
MESSAGE_MAX = 1000
DEFAULT_REMINDER_DAYS = 14
DEFAULT_REOFFER_DAYS = 7
JOB_SECONDS = 600
STEP_ORDER = {"new": -1, "claimed": 0, "contacted": 1, "core_group": 2, "committee": 3,
              "founded": 4}  # fmt: skip
NOTE_FLOW = "vol_note"
MESSAGE_FLOW = "vol_message"
REPLY_FLOW = "lead_reply"

T = Callable[..., str]


# -- configuration and who is asking --------------------------------------------------------------


@dataclass(frozen=True)
class RecruitmentConfig:
    """``[recruitment]`` of config.toml, the keys the volunteers' side reads."""

    SECTION = "recruitment"
    reminder_days: int = DEFAULT_REMINDER_DAYS
    reoffer_days: int = DEFAULT_REOFFER_DAYS

    @classmethod
    def from_config(cls, reader: ConfigReader) -> Self:
        return cls(
            reminder_days=reader.integer("reminder_days", DEFAULT_REMINDER_DAYS, minimum=1),
            reoffer_days=reader.integer("reoffer_days", DEFAULT_REOFFER_DAYS, minimum=1),
        )


def reminder_days(services: Services) -> int:
    return services.config(RecruitmentConfig).reminder_days


def reoffer_days(services: Services) -> int:
    return services.config(RecruitmentConfig).reoffer_days


@dataclass(frozen=True)
class VolPayload(Payload, prefix="vol"):
    """``vol:<action>[:<lead id>[:<step>]]``: page, mine, show, hist, claim, prog, rel, msg,
    note (``vol:note:skip``)."""

    action: str
    arg: str = ""
    step: str = ""

    @property
    def lead_id(self) -> int:
        return parse_id(self.arg) or 0


@dataclass(frozen=True)
class ReplyPayload(Payload, prefix="leadmsg"):
    """ "Trả lời" under a volunteer's message to a reporter: ``leadmsg:<lead id>``."""

    lead_id: int


def vol(action: str, arg: object = "", step: str = "") -> str:
    return VolPayload(action, str(arg), step).pack()


@dataclass
class Scope:
    """What the person asking may see: ``areas`` None means every area (staff)."""

    person: Person | None
    areas: list[str] | None
    staff: bool


async def scope_of(ctx: Ctx) -> Scope | None:
    """Staff see every area; a volunteer sees their areas; anyone else sees nothing."""
    grant = await ctx.services.roles.grant(ctx.session, ctx.who, "leads.work")
    if grant is None:
        return None
    if grant.areas is None:
        return Scope(grant.person, None, True)
    # a configured volunteer without a registration has no areas yet
    return Scope(grant.person, sorted(grant.areas), False)


async def _acting_person(ctx: Ctx, scope: Scope) -> Person:
    """The person row a claim is recorded against (configured staff get one on first use)."""
    if scope.person is not None:
        return scope.person
    person = await people_repo.add_person(
        ctx.session, role="staff", channel=ctx.inbound.channel, external_id=ctx.inbound.user_id
    )
    scope.person = person
    return person


# -- rendering ------------------------------------------------------------------------------------


def area_name(t: T, areas: AreaIndex, code: str | None) -> str:
    area = areas.by_code(code) if code else None
    return area.name if area else t("leads.area.unknown")


def status_label(t: T, status: str) -> str:
    return t(f"leads.status.{status}")


def lead_line(t: T, areas: AreaIndex, view: LeadView, n: int, mine: bool = False) -> str:
    lead, ent = view.lead, view.enterprise
    status = status_label(t, lead.status)
    if mine:
        status = t("leads.status.mine", status=status)
    name = t("employer.vol.line_mark", name=ent.name) if lead.employer_request else ent.name
    return t(
        "leads.vol.line",
        n=n,
        name=name,
        area=area_name(t, areas, lead.area_code),
        size=t(f"leads.size.{ent.size_band}"),
        reports=lead.report_count,
        status=status,
    )


def _short(name: str, limit: int = 40) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def view_button(t: T, lead_id: int) -> Choice:
    return Choice(t("leads.notify.view_button"), vol("show", lead_id))


# -- notifications (used by handlers and by the job) ----------------------------------------------


async def staff_addresses(session: Any, services: Services) -> list[Address]:
    accounts = await services.roles.accounts_with(session, "staff")
    return [Address(who.channel, who.user_id) for who in accounts]


def person_address(person: Person) -> Address:
    return Address(person.channel, person.external_id)


async def announcements(session: Any, services: Services, t: T, view: LeadView) -> list[Outgoing]:
    """A new lead for the area's volunteers; for staff when the area has none or is unknown."""
    areas = services.areas
    text = t("leads.notify.new", line=lead_line(t, areas, view, 1))
    options = (view_button(t, view.lead.id),)
    people = []
    if view.lead.area_code:
        people = await people_repo.people_with_role(session, "volunteer", view.lead.area_code)
    addresses = [person_address(p) for p in people] or await staff_addresses(session, services)
    tag = f"lead:new:{view.lead.id}"
    return [Outgoing(a, Choices(text, options), tag=tag) for a in dict.fromkeys(addresses)]


async def more_report_notice(
    session: Any, services: Services, t: T, view: LeadView
) -> list[Outgoing]:
    """Another worker reported a lead someone already works on: tell that volunteer."""
    if view.lead.claimed_by is None or view.lead.status == "founded":
        return []
    person = await session.get(Person, view.lead.claimed_by)
    if person is None or not person.active:
        return []
    text = t("leads.notify.more", name=view.enterprise.name, reports=view.lead.report_count)
    return [Outgoing(person_address(person), Choices(text, (view_button(t, view.lead.id),)))]


async def announce_new(ctx: Ctx, view: LeadView) -> None:
    """Called by the lead form right after a report opened a new lead."""
    for out in await announcements(ctx.session, ctx.services, ctx.t, view):
        ctx.notify(out)
    view.lead.announced_at = ctx.now


async def notify_more(ctx: Ctx, view: LeadView) -> None:
    for out in await more_report_notice(ctx.session, ctx.services, ctx.t, view):
        ctx.notify(out)


def _progress_options(t: T, lead_id: int, status: str) -> list[Choice]:
    order = STEP_ORDER.get(status, -1)
    return [
        Choice(t(f"leads.progress.{step}"), vol("prog", lead_id, step))
        for step in leads_repo.PROGRESS_STEPS
        if STEP_ORDER[step] > order
    ]


async def followup_job(job: JobContext) -> None:
    """The periodic job: announce, remind, re-offer. Tests run it with the fake clock's time."""
    services, t, now = job.services, job.t, job.now
    areas = services.areas
    async with job.db.transaction() as session:
        for view in await leads_repo.unannounced(session):
            job.enqueue(session, await announcements(session, services, t, view))
            view.lead.announced_at = now
        days = reminder_days(services)
        for view in await leads_repo.stalled(session, now, days):
            person = await session.get(Person, view.lead.claimed_by)
            view.lead.reminded_at = now
            if person is None or not person.active:
                continue
            text = t(
                "leads.notify.reminder",
                days=days,
                name=view.enterprise.name,
                status=status_label(t, view.lead.status),
            )
            options = (
                *_progress_options(t, view.lead.id, view.lead.status),
                Choice(t("leads.vol.release_button"), vol("rel", view.lead.id)),
            )
            job.enqueue(session, [Outgoing(person_address(person), Choices(text, options))])
        days = reoffer_days(services)
        for view in await leads_repo.unclaimed_too_long(session, now, days):
            view.lead.offered_at = now
            job.enqueue(session, await _reoffers(session, services, t, areas, view, days))


async def _reoffers(
    session: Any, services: Services, t: T, areas: AreaIndex, view: LeadView, days: int
) -> list[Outgoing]:
    lead, ent = view.lead, view.enterprise
    name, size = ent.name, t(f"leads.size.{ent.size_band}")
    area = area_name(t, areas, lead.area_code)
    volunteers = []
    if lead.area_code:
        volunteers = await people_repo.people_with_role(session, "volunteer", lead.area_code)
    gave_back = await leads_repo.released_by(session, lead.id)
    others = [p for p in volunteers if p.id not in gave_back]
    options = (view_button(t, lead.id),)
    offer = t("leads.notify.reoffer", name=name, area=area, size=size, days=days)
    outs = [Outgoing(person_address(p), Choices(offer, options)) for p in others]
    staff_text = t(
        "leads.notify.reoffer_staff",
        name=name,
        area=area,
        size=size,
        days=days,
        volunteers=len(volunteers),
    )
    staff = await staff_addresses(session, services)
    outs += [Outgoing(a, Choices(staff_text, options)) for a in staff]
    return outs


# -- /leads ---------------------------------------------------------------------------------------


async def _scope_or_refuse(ctx: Ctx) -> tuple[Scope | None, list[Outgoing]]:
    scope = await scope_of(ctx)
    if scope is None:
        return None, [ctx.say("leads.vol.not_volunteer")]
    return scope, []


async def leads_command(ctx: Ctx) -> list[Outgoing]:
    """/leads [page]: the caller's areas, 25+ workers first, then 20+, then by reports."""
    arg = ctx.inbound.args.strip()
    page = parse_int(arg, low=1, high=PAGE_MAX) or 1
    return await _list(ctx, page)


async def _list(ctx: Ctx, page: int, mine: bool = False) -> list[Outgoing]:
    scope, refusal = await _scope_or_refuse(ctx)
    if scope is None:
        return refusal
    if scope.areas is not None and not scope.areas:
        return [ctx.say("leads.vol.no_areas")]
    page = max(1, page)
    claimed_by = None
    if mine:
        if scope.person is None:
            return [ctx.say("leads.vol.empty_mine")]
        claimed_by = scope.person.id
    views, total = await leads_repo.open_leads(
        ctx.session,
        scope.areas,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
        claimed_by=claimed_by,
    )
    if total == 0:
        return [ctx.say("leads.vol.empty_mine" if mine else "leads.vol.empty")]
    pages = (total + PAGE_SIZE - 1) // PAGE_SIZE
    if page > pages:  # an old "next page" button after leads were claimed or founded
        page = pages
        views, total = await leads_repo.open_leads(
            ctx.session, scope.areas, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE,
            claimed_by=claimed_by,
        )  # fmt: skip
    areas = ctx.services.areas
    me = scope.person.id if scope.person else None
    first = (page - 1) * PAGE_SIZE + 1
    lines = [
        lead_line(ctx.t, areas, v, first + i, mine=v.lead.claimed_by == me and me is not None)
        for i, v in enumerate(views)
    ]
    options = [
        (ctx.t("leads.vol.button", n=first + i, name=_short(v.enterprise.name)),
         vol("show", v.lead.id))
        for i, v in enumerate(views)
    ]  # fmt: skip
    if mine:
        text = ctx.t("leads.vol.list_mine", total=total, lines="\n".join(lines))
        options.append((ctx.t("leads.vol.list_button"), vol("page", 1)))
        return [ctx.choices(text, options)]
    text = ctx.t("leads.vol.list", page=page, pages=pages, total=total, lines="\n".join(lines))
    if page > 1:
        options.append((ctx.t("leads.vol.prev_page"), vol("page", page - 1)))
    if page < pages:
        options.append((ctx.t("leads.vol.next_page"), vol("page", page + 1)))
    if me is not None:
        options.append((ctx.t("leads.vol.mine_button"), vol("mine")))
    return [ctx.choices(text, options)]


# -- one lead -------------------------------------------------------------------------------------


def _mine(scope: Scope, view: LeadView) -> bool:
    return scope.person is not None and view.lead.claimed_by == scope.person.id


def _may_act(scope: Scope, view: LeadView) -> bool:
    return _mine(scope, view) or (scope.staff and view.lead.claimed_by is not None)


async def _reporters_text(ctx: Ctx, view: LeadView, reveal: bool) -> tuple[str, int]:
    """What the volunteer may know about the reporters, and how many can be messaged."""
    consenting = [r for r in await leads_repo.reports_of(ctx.session, view.lead.id) if r.contact_ok]
    if not consenting:
        return ctx.t("leads.vol.reporters_anonymous"), 0
    chat = [r for r in consenting if r.reporter_contact_id is not None]
    if not reveal:
        return ctx.t("leads.vol.reporters_after_claim", count=len(consenting)), len(chat)
    crypto = ctx.services.crypto
    how = []
    for report in consenting:
        if report.contact_enc:
            how.append(ctx.t("leads.vol.reporter_phone", phone=_phone(crypto, report.contact_enc)))
    if chat:
        how.append(ctx.t("leads.vol.reporter_chat", count=len(chat)))
    return ctx.t("leads.vol.reporters_contact", how="; ".join(how)), len(chat)


def _phone(crypto: Any, token: str) -> str:
    value = crypto.decrypt(token)
    try:
        return display_phone(value)
    except Exception:
        return value


async def _employer_lines(ctx: Ctx, view: LeadView, acting: bool) -> str:
    """The enterprise asked for help itself ("doanh nghiệp đề nghị"): the marker, and the contact
    person it gave, only for the volunteer working on it (or staff acting on it)."""
    lines = [ctx.t("employer.vol.marker")]
    if acting:
        crypto = ctx.services.crypto
        for request in await employers_repo.requests_for_lead(ctx.session, view.lead.id):
            lines.append(
                ctx.t(
                    "employer.vol.contact",
                    person=crypto.decrypt(request.person_enc),
                    phone=display_phone(crypto.decrypt(request.phone_enc)),
                    workers=request.workers,
                    date=fmt_date(request.created_at),
                )
            )
    return "\n".join(lines)


async def _size_before(ctx: Ctx, view: LeadView) -> str:
    """A later report changed the worker count: what earlier reports said, with their dates."""
    history = await leads_repo.size_history(ctx.session, view.lead.id)
    earlier = [(band, at) for band, at in history[:-1] if band != view.enterprise.size_band]
    if not earlier:
        return ""
    said = "; ".join(
        ctx.t("leads.vol.size_said", size=ctx.t(f"leads.size.{band}"), date=fmt_date(at))
        for band, at in earlier[-3:]
    )
    return ctx.t("leads.vol.size_before", earlier=said)


async def _card(ctx: Ctx, scope: Scope, view: LeadView) -> Outgoing:
    lead, ent = view.lead, view.enterprise
    areas = ctx.services.areas
    acting = _may_act(scope, view)
    reporters, chat_count = await _reporters_text(ctx, view, reveal=acting)
    none = ctx.t("leads.vol.none_given")
    status = status_label(ctx.t, lead.status)
    if _mine(scope, view):
        status = ctx.t("leads.status.mine", status=status)
    text = ctx.t(
        "leads.vol.detail",
        name=ent.name,
        area=area_name(ctx.t, areas, lead.area_code),
        park=ent.industrial_park or none,
        tax_code=ent.tax_code or none,
        size=ctx.t(f"leads.size.{ent.size_band}") + await _size_before(ctx, view),
        reports=lead.report_count,
        last=fmt_date(ent.last_reported_at),
        status=status,
        reporters=reporters,
    )
    if lead.employer_request:
        text = f"{await _employer_lines(ctx, view, acting)}\n{text}"
    options: list[tuple[str, str]] = []
    if lead.status == "new":
        options.append((ctx.t("leads.vol.claim_button"), vol("claim", lead.id)))
    elif acting and lead.status != "founded":
        options += [(c.label, c.payload) for c in _progress_options(ctx.t, lead.id, lead.status)]
        if chat_count:
            options.append((ctx.t("leads.vol.message_button"), vol("msg", lead.id)))
        options.append((ctx.t("leads.vol.release_button"), vol("rel", lead.id)))
    options.append((ctx.t("leads.vol.history_button"), vol("hist", lead.id)))
    options.append((ctx.t("leads.vol.list_button"), vol("page", 1)))
    return ctx.choices(text, options)


async def _load(ctx: Ctx, lead_id: int) -> tuple[Scope | None, LeadView | None, list[Outgoing]]:
    """The caller's scope and the lead, if it lies in their areas; else the reply to send."""
    scope, refusal = await _scope_or_refuse(ctx)
    if scope is None:
        return None, None, refusal
    view = None
    if lead_id > 0:
        view = await leads_repo.get_lead(ctx.session, lead_id, scope.areas)
    if view is None:
        return scope, None, [ctx.say("leads.vol.not_found")]
    return scope, view, []


async def on_button(ctx: Ctx) -> list[Outgoing]:
    """Every "vol:..." payload. Each one re-checks the caller's areas for the lead it names."""
    pressed = VolPayload.unpack(ctx.inbound.payload) or VolPayload("")
    action = pressed.action
    if action == "page":
        return await _list(ctx, pressed.lead_id or 1)
    if action == "mine":
        return await _list(ctx, 1, mine=True)
    scope, view, replies = await _load(ctx, pressed.lead_id)
    if scope is None or view is None:
        return replies
    if action == "show":
        return [await _card(ctx, scope, view)]
    if action == "hist":
        return [await _history(ctx, scope, view)]
    if action == "claim":
        return await _claim(ctx, scope, view)
    if not _may_act(scope, view):
        key = "leads.vol.not_yours" if view.lead.claimed_by else "leads.vol.not_found"
        return [ctx.say(key), await _card(ctx, scope, view)]
    if action == "prog" and pressed.step:
        return _ask_note(ctx, view, pressed.step) or [await _card(ctx, scope, view)]
    if action == "rel":
        person = await _acting_person(ctx, scope)
        await leads_repo.release_lead(ctx.session, view.lead, person_id=person.id, now=ctx.now)
        return [ctx.say("leads.vol.released", name=view.enterprise.name)]
    if action == "msg":
        ctx.start_flow(MESSAGE_FLOW, "text", {"lead_id": view.lead.id})
        return [ctx.say("leads.vol.ask_message", name=view.enterprise.name)]
    return [await _card(ctx, scope, view)]


async def _claim(ctx: Ctx, scope: Scope, view: LeadView) -> list[Outgoing]:
    person = await _acting_person(ctx, scope)
    if not await leads_repo.claim_lead(ctx.session, view.lead.id, person.id, ctx.now):
        return [ctx.say("leads.vol.taken")]
    fresh = await leads_repo.get_lead(ctx.session, view.lead.id, scope.areas)
    assert fresh is not None
    await ctx.session.refresh(fresh.lead)
    claimed = ctx.say(
        "leads.vol.claimed", name=view.enterprise.name, days=reminder_days(ctx.services)
    )
    return [claimed, await _card(ctx, scope, fresh)]


async def _history(ctx: Ctx, scope: Scope, view: LeadView) -> Outgoing:
    crypto = ctx.services.crypto
    lines = []
    for change in await leads_repo.history_of(ctx.session, view.lead.id):
        note = ""
        if change.note_enc:
            note = ctx.t("leads.vol.history_note", note=crypto.decrypt(change.note_enc))
        lines.append(
            ctx.t(
                "leads.vol.history_line",
                time=fmt_datetime(change.created_at),
                status=status_label(ctx.t, change.to_status),
                note=note,
            )
        )
    text = ctx.t("leads.vol.history", name=view.enterprise.name, lines="\n".join(lines))
    return ctx.choices(
        text,
        [
            (ctx.t("leads.notify.view_button"), vol("show", view.lead.id)),
            (ctx.t("leads.vol.list_button"), vol("page", 1)),
        ],
    )


# -- progress with a note -------------------------------------------------------------------------


def _ask_note(ctx: Ctx, view: LeadView, step: str) -> list[Outgoing]:
    if step not in leads_repo.PROGRESS_STEPS or STEP_ORDER[step] <= STEP_ORDER.get(
        view.lead.status, -1
    ):
        return []  # a step already passed (an old button): the caller shows the card
    ctx.start_flow(NOTE_FLOW, "note", {"lead_id": view.lead.id, "progress": step})
    label = status_label(ctx.t, step)
    return [
        ctx.choices(
            ctx.t("leads.vol.ask_note", status=label),
            [(ctx.t("leads.vol.skip_note"), vol("note", "skip"))],
        )
    ]


async def note_flow(ctx: Ctx) -> list[Outgoing] | None:
    """The volunteer's note for a progress step (typed, or "Bỏ qua")."""
    inbound = ctx.inbound
    skip = inbound.payload == vol("note", "skip")
    if inbound.kind is Kind.BUTTON and not skip:
        ctx.clear_flow()
        return None  # another button: the step is dropped, the engine routes the button
    if not skip and (inbound.kind is not Kind.TEXT or not inbound.text):
        return [ctx.say("leads.vol.need_text")]
    note = " ".join(inbound.text.split()) if not skip else ""
    if len(note) > NOTE_MAX:
        return [ctx.say("leads.vol.note_long", limit=NOTE_MAX)]
    lead_id, step = int(ctx.data["lead_id"]), str(ctx.data["progress"])
    ctx.clear_flow()
    scope, view, replies = await _load(ctx, lead_id)
    if scope is None or view is None:
        return replies
    if not _may_act(scope, view) or STEP_ORDER[step] <= STEP_ORDER.get(view.lead.status, -1):
        return [ctx.say("leads.vol.not_yours"), await _card(ctx, scope, view)]
    person = await _acting_person(ctx, scope)
    note_enc = ctx.services.crypto.encrypt(note) if note else None
    await leads_repo.record_progress(
        ctx.session, view.lead, person_id=person.id, to_status=step, now=ctx.now,
        note_enc=note_enc,
    )  # fmt: skip
    if step == "founded":
        return [ctx.say("leads.vol.founded", name=view.enterprise.name)]
    saved = ctx.say("leads.vol.saved", name=view.enterprise.name, status=status_label(ctx.t, step))
    return [saved, await _card(ctx, scope, view)]


# -- messages between a volunteer and the reporters, through the bot ------------------------------


async def message_flow(ctx: Ctx) -> list[Outgoing] | None:
    """The volunteer's message to the reporters who agreed to be contacted through the bot."""
    inbound = ctx.inbound
    if inbound.kind is Kind.BUTTON:
        ctx.clear_flow()
        return None
    if inbound.kind is not Kind.TEXT or not inbound.text:
        return [ctx.say("leads.vol.need_text")]
    message = inbound.text.strip()[:MESSAGE_MAX]
    lead_id = int(ctx.data["lead_id"])
    ctx.clear_flow()
    scope, view, replies = await _load(ctx, lead_id)
    if scope is None or view is None:
        return replies
    if not _may_act(scope, view):
        return [ctx.say("leads.vol.not_yours")]
    sent = 0
    text = ctx.t("leads.relay.to_reporter", name=view.enterprise.name, message=message)
    reply = (Choice(ctx.t("leads.relay.reply_button"), ReplyPayload(lead_id).pack()),)
    # One message per consenting reporter, however often they reported the company.
    reporters = dict.fromkeys(
        r.reporter_contact_id
        for r in await leads_repo.reports_of(ctx.session, lead_id)
        if r.contact_ok and r.reporter_contact_id is not None
    )
    for contact_id in reporters:
        address = await reachable_address(ctx.session, contact_id)
        if address is not None:
            ctx.notify(Outgoing(address, Choices(text, reply), tag=f"lead:msg:{lead_id}"))
            sent += 1
    if not sent:
        return [ctx.say("leads.vol.no_one_to_message")]
    return [ctx.say("leads.vol.message_sent", count=sent)]


async def reporter_reply_button(ctx: Ctx) -> list[Outgoing]:
    """ "Trả lời" under a volunteer's message: only a consenting reporter of that lead."""
    pressed = ReplyPayload.unpack(ctx.inbound.payload)
    if pressed is None or not await _is_reporter(ctx, pressed.lead_id):
        return [ctx.say("leads.relay.closed")]
    ctx.start_flow(REPLY_FLOW, "text", {"lead_id": pressed.lead_id})
    return [ctx.say("leads.relay.ask_reply")]


async def _is_reporter(ctx: Ctx, lead_id: int) -> bool:
    return any(
        r.contact_ok and r.reporter_contact_id == ctx.contact_id
        for r in await leads_repo.reports_of(ctx.session, lead_id)
    )


async def reply_flow(ctx: Ctx) -> list[Outgoing] | None:
    inbound = ctx.inbound
    if inbound.kind is Kind.BUTTON:
        ctx.clear_flow()
        return None
    if inbound.kind is not Kind.TEXT or not inbound.text:
        return [ctx.say("leads.vol.need_text")]
    lead_id = int(ctx.data["lead_id"])
    ctx.clear_flow()
    view = await leads_repo.get_lead(ctx.session, lead_id, None)
    if view is None or view.lead.claimed_by is None or not await _is_reporter(ctx, lead_id):
        return [ctx.say("leads.relay.closed")]
    person = await ctx.session.get(Person, view.lead.claimed_by)
    if person is None or not person.active:
        return [ctx.say("leads.relay.closed")]
    text = ctx.t(
        "leads.relay.to_volunteer",
        name=view.enterprise.name,
        message=inbound.text.strip()[:MESSAGE_MAX],
    )
    options = (
        Choice(ctx.t("leads.vol.message_button"), vol("msg", lead_id)),
        view_button(ctx.t, lead_id),
    )
    ctx.notify(Outgoing(person_address(person), Choices(text, options)))
    return [menu(ctx, "leads.relay.reply_sent")]


def register() -> Feature:
    return Feature(
        name=__name__,
        commands={"leads": leads_command},
        payloads={VolPayload.prefix: on_button, ReplyPayload.prefix: reporter_reply_button},
        flows={NOTE_FLOW: note_flow, MESSAGE_FLOW: message_flow, REPLY_FLOW: reply_flow},
        jobs=(Job("leads.followup", JOB_SECONDS, followup_job),),
        config=(RecruitmentConfig,),
    )
