"""The worker's side of the legal-centre relay: the question form, follow-ups, ratings.

"Hỏi tư vấn viên" runs content/flows/question.toml (question, optional workplace, named or
anonymous, name and phone only when named, confirmation). On "Gửi" a case ``TV-<year>-<6 digits>``
is stored and posted to the staff group (handlers/relay_staff.py); the worker learns when to
expect an answer from the centre's office hours, and outside them when it opens and the hotline.
Photos sent during the form are attached to the case.

After a lawyer answers, the case waits for the worker: their next text goes back to the same case
(and forum topic), and from then on they stay in a small "case_more" conversation until they press
"Xong" or open the menu. "Gửi thêm thông tin" / "Hỏi thêm" enter that conversation explicitly.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from typing import Any

from bot.core.answers import MAIN_MENU, menu
from bot.core.consent import Purpose
from bot.core.context import Ctx, Handler, JobContext
from bot.core.engine import MAX_TEXT
from bot.core.events import Kind, Outgoing
from bot.core.feature import Feature, Job, TextHandler
from bot.core.form_contract import Invalid, Result, Valid
from bot.core.payloads import button
from bot.core.validators import Rejected, display_phone, normalise_person_name, normalise_phone
from handlers import relay_staff
from handlers.relay_shared import (
    CasePayload,
    LegalConfig,
    fmt_when,
    group_for,
    legal_config,
    record_inbound,
    stash_media,
)
from storage import cases as cases_repo
from storage.cases import LegalCase

log = logging.getLogger(__name__)

FORM = "question"
MORE_FLOW = "case_more"
PURPOSE = "question"
QUESTION_MIN_WORDS = 3
QUESTION_DETAIL_WORDS = 6  # shorter than this: asked once for one more detail, then joined
QUESTION_MAX_CHARS = MAX_TEXT  # all a message can hold; long ones reach staff in several posts
WORKPLACE_MAX_CHARS = 200
MAX_FORM_MEDIA = 10

# -- the question form ---------------------------------------------------------------------


async def validate_question(ctx: Ctx, text: str) -> Result:
    """A question lawyers can work with: a very short one ("bi giam doc danh") is asked once
    for one more detail, and the two answers are joined."""
    text = text.strip()
    earlier = ctx.data.pop("_q_short", None)
    if earlier:
        text = f"{ctx.services.crypto.decrypt(earlier)}. {text}"
    if len(text.split()) < QUESTION_MIN_WORDS:
        return Invalid("relay.form.question.too_short")
    if len(text.split()) < QUESTION_DETAIL_WORDS and not earlier:
        ctx.data["_q_short"] = ctx.services.crypto.encrypt(text)
        return Invalid("relay.form.question.more_detail")
    if len(text) > QUESTION_MAX_CHARS:
        return Invalid("relay.form.question.too_long", {"limit": QUESTION_MAX_CHARS})
    return Valid(text, text)


async def validate_workplace(ctx: Ctx, text: str) -> Result:
    text = " ".join(text.split())
    if not text:
        return Invalid("form.need_text")
    if len(text) > WORKPLACE_MAX_CHARS:
        return Invalid("form.too_long", {"limit": WORKPLACE_MAX_CHARS})
    return Valid(text, text)


async def validate_name(ctx: Ctx, text: str) -> Result:
    try:
        name = normalise_person_name(text)
    except Rejected as exc:
        if exc.reason == "too_short":
            return Invalid("relay.form.name.too_short")
        return Invalid("relay.form.name.invalid")
    return Valid(name, name)


async def validate_phone(ctx: Ctx, text: str) -> Result:
    try:
        phone = normalise_phone(text)
    except Rejected as exc:
        if exc.reason == "landline":
            return Invalid("relay.form.phone.landline")
        if exc.reason == "old_11_digits":
            return Invalid("relay.form.phone.old")
        return Invalid("relay.form.phone.invalid")
    return Valid(phone, display_phone(phone))


async def start_question(
    ctx: Ctx, question: str | None = None, *, audience: str | None = None
) -> list[Outgoing]:
    """The question's data notice first (bot/core/consent.py), then the form.

    ``audience`` "employer" makes the case an employer case; by default it is one when the chat
    is in the employer track, whichever button led here. It waits in the state through the
    notice."""
    if audience is None:
        in_track = ctx.services.hooks.in_employer_track
        audience = cases_repo.EMPLOYER if in_track and in_track(ctx) else cases_repo.WORKER
    ctx.data["_q_audience"] = audience
    return await NOTICE.ask(ctx, question)


async def _open_form(ctx: Ctx, question: str | None = None) -> list[Outgoing]:
    """Open the question form; a question the worker already typed is filled in for them."""
    runner = ctx.services.forms
    ctx.data.pop("_q_media", None)
    prefill: dict[str, tuple[Any, str]] = {}
    if question:
        result = await validate_question(ctx, question)
        if isinstance(result, Valid):
            prefill["question"] = (result.value, result.shown)
    if not prefill:
        return await runner.start(ctx, FORM)
    said = ctx.say("relay.form.prefilled", question=prefill["question"][1])
    return [said, *await runner.start(ctx, FORM, prefill=prefill)]


NOTICE = Purpose(
    PURPOSE, _open_form, params=lambda ctx: {"case_days": legal_config(ctx).retention_days}
)


async def accept_media(ctx: Ctx, resume: Handler) -> list[Outgoing] | None:
    """Photos of documents may arrive at any step: keep them for the case, then carry on."""
    inbound = ctx.inbound
    store = list(ctx.data.get("_q_media") or [])
    if len(store) >= MAX_FORM_MEDIA:
        return [ctx.say("relay.media.too_many", limit=MAX_FORM_MEDIA)]
    stash_media(ctx, store)
    ctx.data["_q_media"] = store
    if inbound.text and ctx.step == "question":
        # A photo with a caption at the first step: the caption is the question.
        ctx.inbound = replace(inbound, kind=Kind.TEXT)
    else:
        ctx.step = None  # the runner re-asks where the form stands
        ctx.data.pop("_editing", None)
    return [ctx.say("relay.media.got", count=len(store)), *(await resume(ctx) or [])]


async def submit_question(ctx: Ctx, values: dict[str, Any]) -> list[Outgoing]:
    """Store the case, post it to the staff group, tell the worker the number and the timing."""
    cfg = legal_config(ctx)
    crypto = ctx.services.crypto
    named = values.get("share") == "named"
    name = values.get("name") if named else None
    phone = values.get("phone") if named else None
    workplace = values.get("workplace")
    audience = ctx.data.pop("_q_audience", None) or cases_repo.WORKER
    group = group_for(cfg, audience)
    local_year = ctx.now.astimezone(cfg.office.tz).year
    case = await cases_repo.create_case(
        ctx.session,
        contact_id=ctx.contact_id,
        channel=ctx.inbound.channel,
        chat_id=ctx.address.chat_id,
        question_enc=crypto.encrypt(str(values["question"])),
        workplace_enc=crypto.encrypt(str(workplace)) if workplace else None,
        name_enc=crypto.encrypt(str(name)) if name else None,
        phone_enc=crypto.encrypt(str(phone)) if phone else None,
        phone_hash=crypto.lookup_hash(str(phone)) if phone else None,
        year=local_year,
        now=ctx.now,
        staff_channel=cfg.channel if group else None,
        staff_chat_id=group,
        audience=audience,
        topic=case_topic(ctx, str(values["question"])),
    )
    for item in ctx.data.pop("_q_media", None) or []:
        cases_repo.add_message(
            ctx.session,
            case,
            direction="worker",
            now=ctx.now,
            body_enc=crypto.encrypt(item["caption"]) if item.get("caption") else None,
            media=item.get("media") or [],
            source_channel=item["channel"],
            source_chat_id=item["chat_id"],
            source_message_id=item.get("message_id"),
        )
    await ctx.session.flush()
    for out in await relay_staff.posts_for_new_case(ctx.services, ctx.session, case):
        ctx.notify(out)
    return [_submitted(ctx, case)]


def case_topic(ctx: Ctx, question: str) -> str | None:
    """The FAQ topic of the question, for the centre's figures (Tư vấn pháp luật): the entry the
    matcher answers or suggests first, else the answer the worker was reading when they pressed
    "Hỏi tư vấn viên"; None when neither fits. Only the label is kept, never the words."""
    matcher = ctx.services.matcher
    match = matcher.match(question)
    if match.entry is not None:
        return match.entry.topic
    answered = ctx.data.get("_ask_answered")
    entry = next((e for e in matcher.entries if e.id == answered), None) if answered else None
    return entry.topic if entry is not None else None


def _submitted(ctx: Ctx, case: LegalCase) -> Outgoing:
    cfg = legal_config(ctx)
    office = cfg.office
    due = fmt_when(office.add_working(ctx.now, cfg.answer_within_hours), office.tz)
    if not cfg.group_chat_id:
        # No lawyers' group is configured: promise no reply time, give the hotline.
        text = ctx.t("relay.submitted.no_group", number=case.number)
    elif office.is_open(ctx.now):
        text = ctx.t("relay.submitted.open", number=case.number, due=due)
    else:
        opens = fmt_when(office.next_open(ctx.now), office.tz)
        text = ctx.t("relay.submitted.closed", number=case.number, opens=opens, due=due)
    return ctx.choices(
        text,
        [
            button(ctx.t("relay.btn.more"), CasePayload("more", case.id)),
            (ctx.t("common.back_to_menu"), MAIN_MENU),
        ],
    )


# -- follow-ups ----------------------------------------------------------------------------


async def relay_worker_message(ctx: Ctx, case: LegalCase) -> list[Outgoing]:
    """A worker's follow-up (text or photo) goes to the case's staff thread; they stay in it."""
    message = record_inbound(ctx, case, "worker")
    case.awaiting_worker = False
    for out in relay_staff.posts_for_worker_message(ctx.services, case, message, ctx.inbound.text):
        ctx.notify(out)
    ctx.start_flow(MORE_FLOW, None, {"case": case.id})
    return [
        ctx.choices(
            ctx.t("relay.more.sent", number=case.number),
            [button(ctx.t("relay.btn.done"), CasePayload("done", case.id))],
        )
    ]


async def more_flow(ctx: Ctx) -> list[Outgoing] | None:
    """The worker is talking to the legal centre about one case."""
    inbound = ctx.inbound
    case = await cases_repo.get_case(ctx.session, int(ctx.data.get("case") or 0))
    if case is None or case.contact_id != ctx.contact_id or case.status == cases_repo.CLOSED:
        ctx.clear_flow()
        return None  # the case ended: the message is an ordinary one again
    if inbound.kind is Kind.BUTTON:
        if not CasePayload.matches(inbound.payload):
            ctx.clear_flow()
        return None
    if inbound.kind is Kind.MEDIA or (inbound.kind is Kind.TEXT and inbound.text):
        return await relay_worker_message(ctx, case)
    ctx.clear_flow()
    return None


async def awaiting_text(ctx: Ctx) -> list[Outgoing] | None:
    """Free text while a lawyer waits for the worker's reply returns to that case."""
    case = await cases_repo.awaiting_case_of(ctx.session, ctx.contact_id)
    if case is None:
        return None
    return await relay_worker_message(ctx, case)


async def on_button(ctx: Ctx) -> list[Outgoing]:
    """``case:new``, ``case:more:<id>``, ``case:done:<id>``, ``case:rate:<id>:<score>``."""
    pressed = CasePayload.unpack(ctx.inbound.payload) or CasePayload("")
    verb = pressed.action
    if verb == "new":
        return await start_question(ctx)
    case = None
    if pressed.case_id > 0:
        case = await cases_repo.get_case(ctx.session, pressed.case_id)
    if case is None or case.contact_id != ctx.contact_id:
        return [menu(ctx, "relay.case_gone")]
    if verb == "more":
        if case.status == cases_repo.CLOSED:
            return [_closed_offer(ctx, case)]
        ctx.start_flow(MORE_FLOW, None, {"case": case.id})
        return [
            ctx.choices(
                ctx.t("relay.more.prompt", number=case.number),
                [button(ctx.t("relay.btn.done"), CasePayload("done", case.id))],
            )
        ]
    if verb == "done":
        if ctx.flow == MORE_FLOW:
            ctx.clear_flow()
        case.awaiting_worker = False
        return [menu(ctx, "relay.more.done")]
    if verb == "rate" and 1 <= pressed.score <= 5:
        if ctx.flow == MORE_FLOW:
            ctx.clear_flow()
        if case.status != cases_repo.CLOSED:
            return [menu(ctx, "relay.rate.not_closed")]
        await cases_repo.rate_case(ctx.session, case.id, pressed.score, ctx.now)
        return [menu(ctx, "relay.rate.thanks")]
    return [menu(ctx, "relay.case_gone")]


def _closed_offer(ctx: Ctx, case: LegalCase) -> Outgoing:
    return ctx.choices(
        ctx.t("relay.closed_case", number=case.number),
        [
            button(ctx.t("relay.btn.new"), CasePayload("new")),
            (ctx.t("common.back_to_menu"), MAIN_MENU),
        ],
    )


# -- personal data -------------------------------------------------------------------------


async def status_lines(ctx: Ctx) -> list[str]:
    """/trangthai: the worker's questions to the legal centre, newest first."""
    office = legal_config(ctx).office
    lines = []
    for case in reversed(await cases_repo.cases_of_contact(ctx.session, ctx.contact_id)):
        lines.append(
            ctx.t(
                "relay.status.case",
                number=case.number,
                status=_case_status(ctx, case),
                when=fmt_when(case.created_at, office.tz),
            )
        )
    return lines


def _case_status(ctx: Ctx, case: LegalCase) -> str:
    return {
        cases_repo.OPEN: ctx.t("relay.data.status_open"),
        cases_repo.ANSWERED: ctx.t("relay.data.status_answered"),
    }.get(case.status, ctx.t("relay.data.status_closed"))


class PersonalData:
    """The worker's cases for /dulieucuatoi and /xoadulieu (handlers/data_rights.py)."""

    name = "legal_cases"

    async def describe(self, ctx: Ctx) -> list[str]:
        office = legal_config(ctx).office
        lines = []
        for case in await cases_repo.cases_of_contact(ctx.session, ctx.contact_id):
            status = _case_status(ctx, case)
            identity = ctx.t("relay.data.named") if case.named else ctx.t("relay.data.anonymous")
            lines.append(
                ctx.t(
                    "relay.data.case",
                    number=case.number,
                    status=status,
                    when=fmt_when(case.created_at, office.tz),
                    identity=identity,
                )
            )
        return lines

    async def withdraw(self, ctx: Ctx) -> bool:
        """Stop: open cases close, and every case's question, messages, name and phone go."""
        wiped = await cases_repo.wipe_contact(ctx.session, ctx.contact_id, now=ctx.now)
        in_form = ctx.flow in (FORM, MORE_FLOW, NOTICE.flow)
        if in_form:
            ctx.clear_flow()
        ctx.data.pop("_q_media", None)
        return bool(wiped or in_form)

    async def erase(self, ctx: Ctx) -> None:
        """Delete the cases with their messages, links and ratings; leave any case form."""
        await cases_repo.erase_contact(ctx.session, ctx.contact_id)
        if ctx.flow in (FORM, MORE_FLOW):
            ctx.clear_flow()
        ctx.data.pop("_q_media", None)


async def retention_job(job: JobContext) -> None:
    """Closed cases lose their words (question, messages, name, phone) after the period the
    question's notice states; the case number and dates stay for the centre's figures."""
    before = job.now - timedelta(days=job.services.config(LegalConfig).retention_days)
    async with job.db.transaction() as session:
        await cases_repo.wipe_closed_before(session, before)


# -- wiring --------------------------------------------------------------------------------


def register() -> Feature:
    """The worker's side and the centre's side (handlers/relay_staff.py) as one feature."""
    staff = relay_staff.feature_parts()
    return Feature(
        name=__name__,
        flows={MORE_FLOW: more_flow, **NOTICE.flows()},
        payloads={CasePayload.prefix: on_button, **NOTICE.payloads()},
        text=(TextHandler(awaiting_text),),
        validators={
            "relay_question": validate_question,
            "relay_workplace": validate_workplace,
            "relay_name": validate_name,
            "relay_phone": validate_phone,
        },
        submitters={FORM: submit_question},
        form_media={FORM: accept_media},
        personal_data=(PersonalData(),),
        offers={"start_question": start_question, "status": status_lines},
        config=(LegalConfig,),
        group=staff.group,
        jobs=(*staff.jobs, Job("relay.retention", 6 * 3600, retention_job)),
        delivery_hooks=staff.delivery_hooks,
    )
