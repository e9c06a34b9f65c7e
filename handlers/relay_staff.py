"""The legal centre's side of the relay: the staff group, its commands, and the clocks.

Each case is posted to one configured group (``[legal] group_chat_id``) as a card. With forum
topics on, the bot first opens a topic per case (a ``CreateTopic`` tagged ``case:<id>``); when
the platform reports the thread id, the card and the worker's photos follow into that topic.
Without topics, staff reply to the card (or to any relayed message); the platform message ids of
everything the bot posts are stored as links, so a reply finds its case.

Only people with the ``legal`` role (database or ``[staff] legal`` in config) are relayed. A
case-linked message from anyone else gets a short note and goes nowhere; chatter that belongs to
no case is left alone, and other groups are ignored. The first staff answer on a case is
acknowledged in the group; later ones are not, to stay under Telegram's 20 messages a minute per
group. Commands: /nhan (take), /dong (close; the worker is asked for a 1–5 rating), /chuyen @ai
(hand over), /cho (open cases by age), /mo (reopen a closed case).

Clocks: a case nobody answered within ``repost_after_hours`` working hours is posted to the group
again; after ``duty_lead_after_hours`` the duty lead is told directly. Each fires once.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.context import Ctx, DeliveryHook, JobContext, Services
from bot.core.engine import reachable_address
from bot.core.events import (
    Address,
    Choice,
    Choices,
    CreateTopic,
    Kind,
    Outgoing,
    Receipt,
    RelayCopy,
    SendStatus,
    Text,
)
from bot.core.feature import Feature, Job
from bot.core.numbers import parse_id
from bot.core.validators import display_phone
from handlers.relay_shared import (
    CasePayload,
    LegalConfig,
    decrypt,
    fmt_when,
    group_for,
    legal_config,
    rating_request,
    record_inbound,
    staff_groups,
)
from storage import cases as cases_repo
from storage.cases import CaseMessage, LegalCase

log = logging.getLogger(__name__)

CLOCK_SECONDS = 300
TOPIC_SNIPPET = 60
ASSIGNEE_MAX = 128  # legal_cases.assignee_label
_NUMBER = re.compile(r"TV(?:DN)?-[0-9]{4}-[0-9]{6}", re.IGNORECASE)

# -- what the bot posts to the group -------------------------------------------------------


def _group_address(cfg: LegalConfig, case: LegalCase) -> Address | None:
    group = group_for(cfg, case.audience)
    if not group:
        return None
    return Address(cfg.channel, group, case.thread_id)


def card_text(services: Services, case: LegalCase, *, header_key: str | None = None) -> str:
    """The case card staff see: number, question, workplace, and who asked if they agreed."""
    cfg = legal_config(services)
    t = services.texts
    if case.named:
        who = t(
            "relay.staff.who_named",
            name=decrypt(services, case.name_enc) or t("relay.staff.not_given"),
            phone=_shown_phone(decrypt(services, case.phone_enc)) or t("relay.staff.not_given"),
        )
    else:
        who = t("relay.staff.who_anonymous")
    how = t("relay.staff.how_topic") if case.thread_id else t("relay.staff.how_reply")
    question = question_parts(decrypt(services, case.question_enc))
    if len(question) > 1:
        question[0] += f" {t('relay.staff.continued')}"
    card = t(
        "relay.staff.card",
        number=case.number,
        question=question[0],
        workplace=decrypt(services, case.workplace_enc) or t("relay.staff.not_given"),
        who=who,
        when=fmt_when(case.created_at, cfg.office.tz),
        how=how,
    )
    if case.audience == cases_repo.EMPLOYER:
        card = f"{t('relay.staff.employer_case')}\n{card}"
    if header_key is None:
        return card
    hours = _fmt_hours(cfg.repost_after_hours)
    return f"{t(header_key, number=case.number, hours=hours)}\n\n{card}"


CARD_QUESTION_CHARS = 3000  # the card's other lines fit beside this in Telegram's 4,096


def question_parts(question: str, size: int = CARD_QUESTION_CHARS) -> list[str]:
    """A long question in pieces cut between words, never mid-word, so it reaches staff whole."""
    parts: list[str] = []
    rest = question.strip()
    while len(rest) > size:
        cut = rest.rfind(" ", 0, size)
        cut = cut if cut > size // 2 else size
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return [*parts, rest]


def _shown_phone(phone: str) -> str:
    return display_phone(phone) if phone.startswith("+84") else phone


def _fmt_hours(hours: float) -> str:
    return f"{hours:g}".replace(".", ",")


def _media_post(services: Services, cfg: LegalConfig, case: LegalCase, msg: CaseMessage
                ) -> Outgoing:  # fmt: skip
    """Copy a worker's photo into the group when it came from the same platform, else say so."""
    address = _group_address(cfg, case)
    assert address is not None
    t = services.texts
    if msg.source_channel == cfg.channel and msg.source_chat_id and msg.source_message_id:
        content: Any = RelayCopy(
            msg.source_chat_id,
            msg.source_message_id,
            t("relay.staff.media", number=case.number),
        )
    else:
        content = Text(
            t(
                "relay.staff.media_elsewhere",
                number=case.number,
                count=max(1, len(msg.media)),
                channel=msg.source_channel or "?",
            )
        )
    return Outgoing(address, content, tag=f"casemsg:{case.id}")


async def posts_for_new_case(
    services: Services, session: AsyncSession, case: LegalCase
) -> list[Outgoing]:
    """What goes to the group for a new case: a topic first, or the card and photos at once."""
    cfg = legal_config(services)
    address = _group_address(cfg, case)
    if address is None:
        log.warning("case %s stored but [legal] group_chat_id is not configured", case.number)
        return []
    if cfg.topics:
        question = decrypt(services, case.question_enc)
        snippet = " ".join(question.split())[:TOPIC_SNIPPET]
        name = services.texts("relay.staff.topic", number=case.number, snippet=snippet)
        return [Outgoing(address, CreateTopic(name), tag=f"case:{case.id}")]
    return await _card_and_media(services, session, case)


async def _card_and_media(services: Services, session: AsyncSession, case: LegalCase
                          ) -> list[Outgoing]:  # fmt: skip
    cfg = legal_config(services)
    address = _group_address(cfg, case)
    assert address is not None
    case.card_posted = True
    outs = [Outgoing(address, Text(card_text(services, case)), tag=f"casecard:{case.id}")]
    parts = question_parts(decrypt(services, case.question_enc))
    for number, part in enumerate(parts[1:], 2):
        body = services.texts("relay.staff.part", number=case.number, part=number,
                              parts=len(parts), text=part)  # fmt: skip
        outs.append(Outgoing(address, Text(body), tag=f"casemsg:{case.id}"))
    for msg in await cases_repo.messages_of(session, case.id):
        if msg.direction == "worker" and msg.media:
            outs.append(_media_post(services, cfg, case, msg))
    return outs


def posts_for_worker_message(
    services: Services, case: LegalCase, msg: CaseMessage, text: str
) -> list[Outgoing]:
    """A worker's follow-up, into the case's topic (or the group, linked for replies)."""
    cfg = legal_config(services)
    address = _group_address(cfg, case)
    if address is None:
        return []
    body = services.texts("relay.staff.followup", number=case.number, text=text)
    if not msg.media:
        return [Outgoing(address, Text(body), tag=f"casemsg:{case.id}")]
    out = _media_post(services, cfg, case, msg)
    if not text:
        return [out]
    if isinstance(out.content, RelayCopy):  # the text becomes the copied photo's caption
        content = RelayCopy(out.content.from_chat_id, out.content.message_id, body)
        return [Outgoing(address, content, tag=out.tag)]
    return [out, Outgoing(address, Text(body), tag=f"casemsg:{case.id}")]


# -- delivery receipts ---------------------------------------------------------------------


def _case_id(out: Outgoing) -> int | None:
    rest = (out.tag or "").partition(":")[2]
    return parse_id(rest)


def _message_ids(receipt: Receipt) -> list[str]:
    ids = [i for i in (receipt.extra or {}).get("message_ids", "").split(",") if i]
    if not ids and receipt.message_id:
        ids = [receipt.message_id]
    return ids


def delivery_hooks() -> dict[str, DeliveryHook]:
    async def topic_created(job: JobContext, session: AsyncSession, out: Outgoing,
                            receipt: Receipt) -> None:  # fmt: skip
        case_id = _case_id(out)
        case = await cases_repo.get_case(session, case_id) if case_id else None
        if case is None:
            return
        if receipt.ok and receipt.thread_id:
            case.thread_id = receipt.thread_id
            cases_repo.add_link(
                session,
                case.id,
                kind="thread",
                channel=out.address.channel,
                chat_id=out.address.chat_id,
                thread_id=receipt.thread_id,
            )
        elif case.card_posted or receipt.outcome is SendStatus.RATE_LIMITED:
            return  # the outbox retries the topic; the card is already out or will follow
        else:
            log.warning(
                "topic for %s failed (%s): posting the card plainly", case.number, receipt.error
            )
        # the outbox sender looks again once its current batch (and this hook) ends
        job.enqueue(session, await _card_and_media(job.services, session, case))

    async def posted(job: JobContext, session: AsyncSession, out: Outgoing,
                     receipt: Receipt) -> None:  # fmt: skip
        case_id = _case_id(out)
        if case_id is None or not receipt.ok:
            return
        kind = "card" if (out.tag or "").startswith("casecard:") else "message"
        for message_id in _message_ids(receipt):
            cases_repo.add_link(
                session,
                case_id,
                kind=kind,
                channel=out.address.channel,
                chat_id=out.address.chat_id,
                message_id=message_id,
                thread_id=out.address.thread_id,
            )

    return {"case": topic_created, "casecard": posted, "casemsg": posted}


# -- the group -----------------------------------------------------------------------------


def _reply(ctx: Ctx, key: str, **params: Any) -> Outgoing:
    return Outgoing(ctx.address, Text(ctx.t(key, **params)), reply_to=ctx.inbound.message_id)


async def _is_legal(ctx: Ctx) -> bool:
    return await ctx.services.roles.may(ctx.session, ctx.who, "legal.answer")


async def _case_of(ctx: Ctx, *, from_args: bool = False) -> LegalCase | None:
    inbound = ctx.inbound
    channel, chat = inbound.channel, inbound.address.chat_id
    if from_args:
        found = _NUMBER.search(inbound.args or "")
        if found:
            return await cases_repo.case_by_number(ctx.session, found.group(0))
    if inbound.reply_to:
        case = await cases_repo.case_for_message(ctx.session, channel, chat, inbound.reply_to)
        if case is not None:
            return case
    if inbound.address.thread_id:
        return await cases_repo.case_for_thread(
            ctx.session, channel, chat, inbound.address.thread_id
        )
    return None


async def on_group(ctx: Ctx) -> list[Outgoing] | None:
    cfg = legal_config(ctx)
    inbound = ctx.inbound
    if inbound.channel != cfg.channel or inbound.address.chat_id not in staff_groups(cfg):
        return None  # not the staff group: not ours
    if inbound.kind is Kind.COMMAND:
        command = COMMANDS.get(inbound.command or "")
        if command is None:
            return None  # another feature's command, or none at all
        if not await _is_legal(ctx):
            return [_reply(ctx, "relay.staff.not_staff")]
        return await command(ctx)
    if inbound.kind not in (Kind.TEXT, Kind.MEDIA):
        return None
    case = await _case_of(ctx)
    if case is None:
        return None  # staff talking among themselves: no case, nothing to relay
    if not await _is_legal(ctx):
        return [_reply(ctx, "relay.staff.not_staff")]
    if inbound.edited:
        return [_reply(ctx, "relay.staff.edited")]
    return await _answer(ctx, case)


async def _answer(ctx: Ctx, case: LegalCase) -> list[Outgoing]:
    """A lawyer's answer: to the worker's chat with a short header, recorded on the case."""
    inbound = ctx.inbound
    if case.status == cases_repo.CLOSED:
        when = fmt_when(case.closed_at or ctx.now, legal_config(ctx).office.tz)
        return [_reply(ctx, "relay.staff.closed_reply", number=case.number, when=when)]
    address = await reachable_address(ctx.session, case.contact_id)
    if address is None:
        return [_reply(ctx, "relay.staff.unreachable", number=case.number)]
    buttons = (
        Choice(ctx.t("relay.btn.ask_more"), CasePayload("more", case.id).pack()),
        Choice(ctx.t("relay.btn.understood"), CasePayload("done", case.id).pack()),
    )
    if inbound.kind is Kind.MEDIA:
        if address.channel != inbound.channel:
            return [_reply(ctx, "relay.staff.media_cannot", channel=address.channel)]
        caption = ctx.t("relay.reply.media", number=case.number)
        if inbound.text:
            caption = f"{caption}\n{inbound.text}"
        ctx.notify(
            Outgoing(address, RelayCopy(inbound.address.chat_id, inbound.message_id or "", caption))
        )
    else:
        text = ctx.t("relay.reply.text", number=case.number, text=inbound.text)
        ctx.notify(Outgoing(address, Choices(text, buttons)))
    record_inbound(ctx, case, "staff", author_id=inbound.user_id)
    first = case.first_response_at is None
    if first:
        case.first_response_at = ctx.now
    if case.assignee_id is None and case.assignee_label is None:
        case.assignee_id = inbound.user_id
        case.assignee_label = (inbound.display_name or inbound.user_id)[:ASSIGNEE_MAX]
    case.status = cases_repo.ANSWERED
    case.awaiting_worker = True
    return [_reply(ctx, "relay.staff.delivered", number=case.number)] if first else []


# -- commands ------------------------------------------------------------------------------


async def cmd_take(ctx: Ctx) -> list[Outgoing]:
    case = await _case_of(ctx, from_args=True)
    if case is None:
        return [_reply(ctx, "relay.staff.no_case")]
    if case.status == cases_repo.CLOSED:
        return [_reply(ctx, "relay.staff.already_closed", number=case.number)]
    who = ctx.inbound.display_name or ctx.inbound.user_id
    case.assignee_id = ctx.inbound.user_id
    case.assignee_label = who[:ASSIGNEE_MAX]
    address = await reachable_address(ctx.session, case.contact_id)
    if address is not None:
        ctx.notify(Outgoing(address, Text(ctx.t("relay.worker.taken", number=case.number))))
    return [_reply(ctx, "relay.staff.taken", number=case.number, who=who)]


async def cmd_close(ctx: Ctx) -> list[Outgoing]:
    case = await _case_of(ctx, from_args=True)
    if case is None:
        return [_reply(ctx, "relay.staff.no_case")]
    if case.status == cases_repo.CLOSED:
        return [_reply(ctx, "relay.staff.already_closed", number=case.number)]
    case.status = cases_repo.CLOSED
    case.closed_at = ctx.now
    case.awaiting_worker = False
    address = await reachable_address(ctx.session, case.contact_id)
    if address is not None:
        text, options = rating_request(ctx.services, case)
        ctx.notify(Outgoing(address, Choices(text, tuple(Choice(lbl, p) for lbl, p in options))))
    return [_reply(ctx, "relay.staff.closed", number=case.number)]


async def cmd_reopen(ctx: Ctx) -> list[Outgoing]:
    case = await _case_of(ctx, from_args=True)
    if case is None:
        return [_reply(ctx, "relay.staff.no_case")]
    if case.status != cases_repo.CLOSED:
        return [_reply(ctx, "relay.staff.not_closed", number=case.number)]
    case.status = cases_repo.ANSWERED if case.first_response_at else cases_repo.OPEN
    case.closed_at = None
    return [_reply(ctx, "relay.staff.reopened", number=case.number)]


async def cmd_hand_over(ctx: Ctx) -> list[Outgoing]:
    target = next((w for w in (ctx.inbound.args or "").split() if w.startswith("@")), None)
    if target is None or len(target) < 2:
        return [_reply(ctx, "relay.staff.hand_over_usage")]
    case = await _case_of(ctx, from_args=True)
    if case is None:
        return [_reply(ctx, "relay.staff.no_case")]
    if case.status == cases_repo.CLOSED:
        return [_reply(ctx, "relay.staff.already_closed", number=case.number)]
    case.assignee_id = None
    case.assignee_label = target[:ASSIGNEE_MAX]
    return [_reply(ctx, "relay.staff.handed_over", number=case.number, who=target)]


async def cmd_waiting(ctx: Ctx) -> list[Outgoing]:
    cases = await cases_repo.open_cases(ctx.session)
    if not cases:
        return [_reply(ctx, "relay.staff.waiting_none")]
    lines = []
    for case in cases:
        if case.first_response_at is not None:
            state = ctx.t("relay.staff.state_answered")
        elif case.assignee_label:
            state = ctx.t("relay.staff.state_taken", who=case.assignee_label)
        else:
            state = ctx.t("relay.staff.state_new")
        age = _age(ctx, ctx.now - case.created_at)
        lines.append(ctx.t("relay.staff.waiting_line", number=case.number, age=age, state=state))
    total = await cases_repo.count_open(ctx.session)
    return [_reply(ctx, "relay.staff.waiting", count=total, lines="\n".join(lines))]


def _age(ctx: Ctx, delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return ctx.t("relay.staff.age_minutes", n=minutes)
    if minutes < 48 * 60:
        return ctx.t("relay.staff.age_hours", n=minutes // 60)
    return ctx.t("relay.staff.age_days", n=minutes // (24 * 60))


COMMANDS = {
    "nhan": cmd_take,
    "dong": cmd_close,
    "chuyen": cmd_hand_over,
    "cho": cmd_waiting,
    "mo": cmd_reopen,
}

# -- clocks --------------------------------------------------------------------------------


async def clocks(job: JobContext) -> None:
    """Repost unanswered cases once, then tell the duty lead once (working hours)."""
    cfg, now = legal_config(job), job.now
    async with job.db.transaction() as session:
        for case in await cases_repo.unanswered_cases(session):
            worked = cfg.office.working_between(case.created_at, now)
            hours = worked.total_seconds() / 3600
            address = _group_address(cfg, case)
            if case.reposted_at is None and hours >= cfg.repost_after_hours:
                case.reposted_at = now
                if address is not None:
                    text = card_text(job.services, case, header_key="relay.staff.repost")
                    card = Outgoing(address, Text(text), tag=f"casecard:{case.id}")
                    job.enqueue(session, [card])
            if case.escalated_at is None and hours >= cfg.duty_lead_after_hours:
                case.escalated_at = now
                if cfg.duty_lead:
                    text = job.t(
                        "relay.staff.duty_lead",
                        number=case.number,
                        hours=_fmt_hours(cfg.duty_lead_after_hours),
                        when=fmt_when(case.created_at, cfg.office.tz),
                    )
                    duty = Outgoing(Address(cfg.channel, cfg.duty_lead), Text(text))
                    job.enqueue(session, [duty])
                else:
                    log.warning("case %s overdue but no [legal] duty_lead", case.number)


def feature_parts() -> Feature:
    """The centre's side: the staff group, the delivery receipts, the clocks. Composed into the
    relay feature (handlers/relay.py), which is the one listed in FEATURES."""
    return Feature(
        name=__name__,
        group=(on_group,),
        delivery_hooks=delivery_hooks(),
        jobs=(Job("legal_clocks", CLOCK_SECONDS, clocks),),
    )
