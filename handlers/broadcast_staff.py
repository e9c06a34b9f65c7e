"""/guithongbao: a staff member composes an announcement or a quick poll in a private chat.

The steps are a form (content/flows/broadcast.toml, run by the form runner, so "Quay lại",
"Hủy" and "Sửa" per field work as in every form): the text, then a button or a poll or
neither, the audience, and optionally a time. "Gửi" on the summary stores a draft and shows
the preview: a test copy to the author alone, exactly as workers will get it, and how many
people it reaches on each channel (text over a channel's limit is refused there). "Gửi thông
báo" then schedules it — now, or at the time given — and the bot's scheduler sends it
(handlers/broadcast.py, ``scheduler_job``). "Sửa" reopens the form with every answer kept.

An audience over ``[broadcast] approval_over`` (10,000) waits: every other staff account on
Telegram is asked (a button, or ``/duyetthongbao ID``), sees the same test copy, and approves
or refuses; the author cannot approve their own, and someone without the staff role cannot
approve at all (``handlers/broadcast_compose.py`` decides, as for the CLI and the dashboard).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.context import Ctx
from bot.core.events import Address, Choice, Choices, Outgoing, Text
from bot.core.form_contract import Candidates, Invalid, Result, Valid
from bot.core.numbers import parse_id
from bot.core.payloads import Payload, button
from bot.core.textnorm import fold
from bot.core.texts import fmt_datetime
from handlers import broadcast_compose as compose
from handlers.broadcast_send import BUTTONS, BroadcastConfig, check_button, check_poll, render
from storage import broadcasts as repo

FORM = "broadcast"
QUESTION_MAX = 300
EXCERPT = 200

# The form's audience choices -> the audience as the CLI writes it (storage/broadcasts.py).
AUDIENCES = {
    "all": "all",
    "topic_campaign": "topic:campaign",
    "topic_rights": "topic:rights",
    "topic_activities": "topic:activities",
    "members": "members",
    "non_members": "non-members",
    "applicants": "applicants",
    "collaborators": "collaborators",
    "volunteers": "volunteers",
}
STATUS_COUNTS = ("total", "sent", "failed", "blocked", "held", "skipped", "opted_out", "unknown",
                 "clicks")  # fmt: skip
CHANNEL_NAMES = {"telegram": "Telegram", "zalo_oa": "Zalo OA", "zalo_bot": "Zalo Bot"}
_AT_FORMATS = ("%H:%M %d/%m/%Y", "%d/%m/%Y %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class StaffPayload(Payload, prefix="bcs"):
    """``bcs:go|edit|drop|review|ok|no|status:<id>``: the author's and the approver's buttons."""

    action: str
    broadcast_id: int = 0


async def _allowed(ctx: Ctx) -> bool:
    if ctx.inbound.chat_type != "private":
        return False
    return await compose.is_staff(ctx.session, ctx.services.roles, ctx.who)


async def start(ctx: Ctx) -> list[Outgoing]:
    """/guithongbao"""
    if not await _allowed(ctx):
        return [ctx.say("news.compose.refused")]
    return await ctx.services.forms.start(ctx, FORM)


# -- validators -----------------------------------------------------------------------------


async def check_text(ctx: Ctx, text: str) -> Result:
    body = "\n".join(line.rstrip() for line in text.strip().splitlines()).strip()
    if not body:
        return Invalid("news.compose.text.empty")
    if len(body) > compose.TEXT_MAX:
        found = {"length": len(body), "limit": compose.TEXT_MAX}
        return Invalid("news.compose.text.too_long", found)
    return Valid(body, body)


async def check_link(ctx: Ctx, text: str) -> Result:
    url = text.strip()
    try:
        if check_button(url) != url or not url.startswith("https://"):
            raise ValueError(url)
    except ValueError:
        return Invalid("news.compose.link.bad")
    return Valid(url, url)


async def check_question(ctx: Ctx, text: str) -> Result:
    question = " ".join(text.split())
    if not question or len(question) > QUESTION_MAX:
        return Invalid("news.compose.question.bad")
    return Valid(question, question)


async def check_options(ctx: Ctx, text: str) -> Result:
    parts = [" ".join(p.split()) for p in re.split(r"[;\n]", text)]
    try:
        options = check_poll("?", [p for p in parts if p]) or []
    except ValueError as e:
        long = "40" in str(e)
        return Invalid("news.compose.options.long" if long else "news.compose.options.count")
    return Valid(options, "; ".join(options))


async def check_area(ctx: Ctx, text: str) -> Result:
    found = ctx.services.areas.search(text)
    if not found:
        return Invalid("news.compose.area.none")
    if len(found) == 1:
        return Valid(found[0].code, found[0].name)
    return Candidates(tuple((a.code, a.name) for a in found))


def union_bodies_of(areas: Any) -> list[str]:
    """The union bodies an announcement may go to (those content/areas.csv routes to)."""
    return sorted({a.union_body_or_default for a in areas})


def union_bodies(ctx: Ctx) -> list[str]:
    return union_bodies_of(ctx.services.areas)


async def check_union_body(ctx: Ctx, text: str) -> Result:
    """The value is the body's place in ``union_bodies`` (names are too long for a button)."""
    bodies = union_bodies(ctx)
    wanted = fold(text).strip()
    exact = [i for i, b in enumerate(bodies) if fold(b) == wanted]
    found = exact or [i for i, b in enumerate(bodies) if wanted and wanted in fold(b)]
    if not found:
        return Invalid("news.compose.union_body.none")
    if len(found) == 1:
        return Valid(str(found[0]), bodies[found[0]])
    return Candidates(tuple((str(i), bodies[i]) for i in found[:5]))


async def check_at(ctx: Ctx, text: str) -> Result:
    config = ctx.services.config(BroadcastConfig)
    typed = " ".join(text.replace("lúc", " ").split())
    for pattern in _AT_FORMATS:
        try:
            local = datetime.strptime(typed, pattern).replace(tzinfo=ZoneInfo(config.timezone))
        except ValueError:
            continue
        at = local.astimezone(UTC)
        if at <= ctx.now:
            return Invalid("news.compose.at.past")
        return Valid(at.isoformat(), fmt_datetime(at))
    return Invalid("news.compose.at.bad")


VALIDATORS = {
    "broadcast_text": check_text,
    "broadcast_link": check_link,
    "broadcast_question": check_question,
    "broadcast_options": check_options,
    "broadcast_area": check_area,
    "broadcast_union_body": check_union_body,
    "broadcast_at": check_at,
}


# -- the draft and its preview -------------------------------------------------------------


def _audience(ctx: Ctx, values: dict[str, Any]) -> str:
    chosen = values["audience"]
    if chosen == "area":
        area = ctx.services.areas.by_code(values["area"])
        return f"area:{area.name if area else values['area']}"
    if chosen == "union_body":
        bodies = union_bodies(ctx)
        index = int(values["union_body"])
        return f"union-body:{bodies[index] if index < len(bodies) else ''}"
    return AUDIENCES[chosen]


async def submitted(ctx: Ctx, values: dict[str, Any]) -> list[Outgoing]:
    """ "Gửi" on the form's summary: a draft, its test copy and the preview."""
    if not await _allowed(ctx):
        return [ctx.say("news.compose.refused")]
    kind = values.get("kind")
    chosen = values.get("button") if kind == "button" else None
    at = values.get("at")
    broadcast = await repo.create(
        ctx.session,
        text=values["text"],
        button=values.get("link") if chosen == "link" else chosen,
        poll_question=values.get("question") if kind == "poll" else None,
        poll_options=values.get("options") if kind == "poll" else None,
        audience=_audience(ctx, values),
        exclude=AUDIENCES[values["exclude"]] if values.get("exclude") in AUDIENCES else None,
        scheduled_at=datetime.fromisoformat(at) if at else None,
        status=repo.DRAFT,
        created_by=compose.staff_ref(ctx.who),
        created_at=ctx.now,
    )
    return [
        *_test_copy(ctx, broadcast),
        ctx.choices(
            (await _summary(ctx, broadcast)),
            [
                button(ctx.t("news.compose.send"), StaffPayload("go", broadcast.id)),
                button(ctx.t("news.compose.edit"), StaffPayload("edit", broadcast.id)),
                button(ctx.t("news.compose.drop"), StaffPayload("drop", broadcast.id)),
            ],
        ),
    ]


def _quiet_note(ctx: Ctx) -> str:
    config = ctx.services.config(BroadcastConfig)
    if config.quiet_start == config.quiet_end:
        return ""
    hours = f"{config.quiet_start:%H:%M}–{config.quiet_end:%H:%M}"
    return " " + ctx.t("news.compose.quiet_note", hours=hours)  # after a sentence


def _test_copy(ctx: Ctx, broadcast: repo.Broadcast) -> list[Outgoing]:
    channel = ctx.services.channels.get(ctx.inbound.channel)
    photos = bool(getattr(getattr(channel, "capabilities", None), "photos", True))
    copy = [Outgoing(ctx.address, item) for item in render(broadcast, ctx.texts, photos=photos)]
    return [ctx.say("news.compose.test_copy"), *copy]


def _problems(ctx: Ctx, broadcast: repo.Broadcast, sizes: dict[str, int]) -> list[str]:
    views = compose.channel_views(broadcast, ctx.texts, ctx.services.channels, sizes)
    return [p for view in views for p in view.problems]


async def _summary(ctx: Ctx, broadcast: repo.Broadcast) -> str:
    sizes = await compose.sizes_in(ctx.session, broadcast, ctx.services.areas)
    names = sorted(set(ctx.services.channels) | set(sizes))
    lines = [
        ctx.t("news.compose.preview_channel", channel=CHANNEL_NAMES.get(n, n), size=sizes.get(n, 0))
        for n in names
    ]
    problems = "".join(
        "\n" + ctx.t("news.compose.preview_problem", problem=p)
        for p in _problems(ctx, broadcast, sizes)
    )
    return ctx.t(
        "news.compose.preview",
        id=broadcast.id,
        total=sum(sizes.values()),
        channels="\n".join(lines),
        problems=problems,
        when=_when(ctx, broadcast),
    )


def _when(ctx: Ctx, broadcast: repo.Broadcast) -> str:
    """ " lúc 08:00 01/05/2027" or " (bắt đầu trong vòng một phút)", after a word."""
    if broadcast.scheduled_at is not None and broadcast.scheduled_at > ctx.now:
        return " " + ctx.t("news.compose.preview_at", at=fmt_datetime(broadcast.scheduled_at))
    return " " + ctx.t("news.compose.preview_now")


def _status_label(ctx: Ctx, status: str) -> str:
    return ctx.t(f"news.status.{status}")


# -- the buttons ----------------------------------------------------------------------------


async def on_button(ctx: Ctx) -> list[Outgoing]:
    pressed = StaffPayload.unpack(ctx.inbound.payload)
    if pressed is None:
        return [ctx.say("form.stale")]
    if not await _allowed(ctx):
        return [ctx.say("news.compose.refused")]
    action = ACTIONS.get(pressed.action)
    if action is None:
        return [ctx.say("form.stale")]
    return await action(ctx, pressed.broadcast_id)


async def _go(ctx: Ctx, broadcast_id: int) -> list[Outgoing]:
    broadcast = await repo.get(ctx.session, broadcast_id)
    if broadcast is None:
        return [ctx.say("news.compose.missing")]
    sizes = await compose.sizes_in(ctx.session, broadcast, ctx.services.areas)
    config = ctx.services.config(BroadcastConfig)
    decision = await compose.request_send(
        ctx.session, broadcast_id, roles=ctx.services.roles, who=ctx.who, config=config,
        areas=ctx.services.areas, problems=_problems(ctx, broadcast, sizes), now=ctx.now,
    )  # fmt: skip
    outcome, found = decision.outcome, decision.broadcast
    if outcome == "not_staff":
        return [ctx.say("news.compose.refused")]
    if found is None:
        return [ctx.say("news.compose.missing")]
    fix = [
        button(ctx.t("news.compose.edit"), StaffPayload("edit", found.id)),
        button(ctx.t("news.compose.drop"), StaffPayload("drop", found.id)),
    ]
    if outcome == "too_long":
        return [ctx.choices(ctx.t("news.compose.too_long"), fix)]
    if outcome == "empty":
        return [ctx.choices(ctx.t("news.compose.empty"), fix)]
    if outcome == "closed":
        return [_closed(ctx, found)]
    if outcome == "needs_approval":
        asked = await _ask_approval(ctx, found, decision.size)
        limit = config.approval_over
        waiting = ctx.say("news.compose.needs_approval", id=found.id, size=decision.size,
                          limit=limit, asked=asked)  # fmt: skip
        return [waiting]
    assert found.scheduled_at is not None
    at = fmt_datetime(found.scheduled_at)
    text = ctx.t("news.compose.scheduled", id=found.id, at=at, size=decision.size,
                 quiet=_quiet_note(ctx))  # fmt: skip
    progress = button(ctx.t("news.compose.progress"), StaffPayload("status", found.id))
    return [ctx.choices(text, [progress])]


def _closed(ctx: Ctx, broadcast: repo.Broadcast) -> Outgoing:
    return ctx.say(
        "news.compose.closed", id=broadcast.id, status=_status_label(ctx, broadcast.status)
    )


async def _ask_approval(ctx: Ctx, broadcast: repo.Broadcast, size: int) -> int:
    outs = await approval_requests(
        ctx.session, ctx.services.roles, ctx.texts, broadcast, size,
        author=ctx.inbound.display_name or broadcast.created_by,
    )  # fmt: skip
    for out in outs:
        ctx.notify(out)
    return len(outs)


async def approval_requests(
    session: Any, roles: Any, texts: Any, broadcast: repo.Broadcast, size: int, *, author: str
) -> list[Outgoing]:
    """A request to every other staff account on Telegram (sent through the outbox), with the
    button that opens the review; the chat and the dashboard both ask this way."""
    excerpt = (broadcast.poll_question or broadcast.text or "").strip()
    if len(excerpt) > EXCERPT:
        excerpt = excerpt[: EXCERPT - 1].rstrip() + "…"
    text = texts("news.compose.ask_approval", author=author, id=broadcast.id, size=size,
                 excerpt=excerpt)  # fmt: skip
    review = Choice(texts("news.compose.review"), StaffPayload("review", broadcast.id).pack())
    return [
        Outgoing(Address(who.channel, who.user_id), Choices(text, (review,)))
        for who in await compose.staff_accounts(session, roles)
        if compose.staff_ref(who) != broadcast.created_by
    ]


def author_notice(
    texts: Any, broadcast: repo.Broadcast, key: str, *, by: Any, **params: Any
) -> list[Outgoing]:
    """What the author is told when someone else (``by``) decides about their announcement."""
    try:
        author = compose.staff_who(broadcast.created_by)
    except ValueError:
        return []
    if broadcast.created_by == "cli" or author == by:
        return []
    return [Outgoing(Address(author.channel, author.user_id), Text(texts(key, **params)))]


def _tell_author(ctx: Ctx, broadcast: repo.Broadcast, key: str, **params: Any) -> None:
    for out in author_notice(ctx.texts, broadcast, key, by=ctx.who, **params):
        ctx.notify(out)


async def _edit(ctx: Ctx, broadcast_id: int) -> list[Outgoing]:
    broadcast = await repo.get_for_update(ctx.session, broadcast_id)
    if broadcast is None:
        return [ctx.say("news.compose.missing")]
    if broadcast.status != repo.DRAFT:
        return [_closed(ctx, broadcast)]
    broadcast.status = repo.CANCELLED  # the edited copy is a new draft
    return await ctx.services.forms.start(ctx, FORM, prefill(ctx, broadcast))


def prefill(ctx: Ctx, broadcast: repo.Broadcast) -> dict[str, tuple[Any, str]]:
    """The form's answers back from a draft, so "Sửa" reopens the summary with all of them."""
    t = ctx.t
    values: dict[str, tuple[Any, str]] = {"text": (broadcast.text, broadcast.text)}
    kind = "text"
    if broadcast.poll_question and broadcast.poll_options:
        kind = "poll"
        values["question"] = (broadcast.poll_question, broadcast.poll_question)
        options = list(broadcast.poll_options)
        values["options"] = (options, "; ".join(options))
    elif broadcast.button:
        kind = "button"
        if broadcast.button in BUTTONS:
            values["button"] = (broadcast.button, t(f"news.button.{broadcast.button}"))
        else:
            values["button"] = ("link", t("news.compose.button.link"))
            values["link"] = (broadcast.button, broadcast.button)
    values["kind"] = (kind, t(f"news.compose.kind.{kind}"))
    audience = repo.parse_audience(broadcast.audience)
    chosen = next((k for k, v in AUDIENCES.items() if v == broadcast.audience), None)
    if audience.kind == "area":
        area = ctx.services.areas.by_name(audience.value)
        if area is not None:
            chosen = "area"
            values["area"] = (area.code, area.name)
    elif audience.kind == "union-body" and audience.value in union_bodies(ctx):
        chosen = "union_body"
        values["union_body"] = (str(union_bodies(ctx).index(audience.value)), audience.value)
    if chosen is not None:
        values["audience"] = (chosen, t(f"news.compose.audience.{chosen}"))
    left_out = next((k for k, v in AUDIENCES.items() if v == broadcast.exclude), None)
    if left_out is not None:
        values["exclude"] = (left_out, t(f"news.compose.audience.{left_out}"))
    at = broadcast.scheduled_at
    if at is not None and at > ctx.now:
        values["at"] = (at.isoformat(), fmt_datetime(at))
    else:
        values["at"] = (None, t("form.skipped"))
    return values


async def _drop(ctx: Ctx, broadcast_id: int) -> list[Outgoing]:
    decision = await compose.cancel(
        ctx.session, broadcast_id, roles=ctx.services.roles, who=ctx.who
    )
    if decision.broadcast is None:
        return [ctx.say("news.compose.missing")]
    if decision.outcome == "closed":
        return [_closed(ctx, decision.broadcast)]
    return [ctx.say("news.compose.dropped", id=broadcast_id)]


async def _awaiting_review(ctx: Ctx, broadcast_id: int) -> repo.Broadcast | list[Outgoing]:
    """The announcement a second staff member may approve or reject, or why they cannot."""
    broadcast = await repo.get(ctx.session, broadcast_id)
    if broadcast is None:
        return [ctx.say("news.compose.missing")]
    if broadcast.created_by == compose.staff_ref(ctx.who):
        return [ctx.say("news.compose.own", id=broadcast.id)]
    if broadcast.status != repo.AWAITING_APPROVAL:
        return [ctx.say("news.compose.not_waiting", id=broadcast.id)]
    return broadcast


async def review(ctx: Ctx, broadcast_id: int) -> list[Outgoing]:
    """A second staff member looks at an announcement waiting for approval."""
    broadcast = await _awaiting_review(ctx, broadcast_id)
    if not isinstance(broadcast, repo.Broadcast):
        return broadcast
    size = sum((await compose.sizes_in(ctx.session, broadcast, ctx.services.areas)).values())
    intro = ctx.t(
        "news.compose.review_intro", id=broadcast.id, author=broadcast.created_by, size=size,
        when=_when(ctx, broadcast),
    )  # fmt: skip
    options = [
        button(ctx.t("news.compose.approve"), StaffPayload("ok", broadcast.id)),
        button(ctx.t("news.compose.reject"), StaffPayload("no", broadcast.id)),
    ]
    return [*_test_copy(ctx, broadcast), ctx.choices(intro, options)]


async def _approve(ctx: Ctx, broadcast_id: int) -> list[Outgoing]:
    decision = await compose.approve(
        ctx.session, broadcast_id, roles=ctx.services.roles, who=ctx.who, now=ctx.now
    )
    broadcast = decision.broadcast
    if decision.outcome == "not_staff":
        return [ctx.say("news.compose.refused")]
    if broadcast is None:
        return [ctx.say("news.compose.missing")]
    if decision.outcome == "closed":
        return [_closed(ctx, broadcast)]
    if decision.outcome == "own":
        return [ctx.say("news.compose.own", id=broadcast.id)]
    if decision.outcome == "already":
        return [ctx.say("news.compose.already", id=broadcast.id)]
    if broadcast.status != repo.SCHEDULED or broadcast.scheduled_at is None:
        return [ctx.say("news.compose.approved_draft", id=broadcast.id)]
    at = fmt_datetime(broadcast.scheduled_at)
    approver = ctx.inbound.display_name or compose.staff_ref(ctx.who)
    _tell_author(ctx, broadcast, "news.compose.approved_author", id=broadcast.id,
                 approver=approver, at=at)  # fmt: skip
    return [ctx.say("news.compose.approved", id=broadcast.id, at=at)]


async def _reject(ctx: Ctx, broadcast_id: int) -> list[Outgoing]:
    broadcast = await _awaiting_review(ctx, broadcast_id)
    if not isinstance(broadcast, repo.Broadcast):
        return broadcast
    decision = await compose.cancel(
        ctx.session, broadcast_id, roles=ctx.services.roles, who=ctx.who
    )
    if decision.outcome != "cancelled":
        return [ctx.say("news.compose.refused")]
    approver = ctx.inbound.display_name or compose.staff_ref(ctx.who)
    _tell_author(ctx, broadcast, "news.compose.rejected_author", id=broadcast.id,
                 approver=approver)  # fmt: skip
    return [ctx.say("news.compose.rejected", id=broadcast.id)]


async def _status(ctx: Ctx, broadcast_id: int) -> list[Outgoing]:
    broadcast = await repo.get(ctx.session, broadcast_id)
    if broadcast is None:
        return [ctx.say("news.compose.missing")]
    counts = await repo.counts(ctx.session, broadcast_id)
    shown = {k: counts[k] for k in STATUS_COUNTS}
    text = ctx.t("news.compose.status", id=broadcast.id,
                 status=_status_label(ctx, broadcast.status), **shown)  # fmt: skip
    if broadcast.poll_options:
        answers = await repo.poll_counts(ctx.session, broadcast_id)
        text += "".join(
            "\n" + ctx.t("news.compose.status_poll", option=option, count=answers.get(n, 0))
            for n, option in enumerate(broadcast.poll_options, 1)
        )
    refresh = [button(ctx.t("news.compose.progress"), StaffPayload("status", broadcast.id))]
    return [ctx.choices(text, refresh)]


ACTIONS = {
    "go": _go,
    "edit": _edit,
    "drop": _drop,
    "review": review,
    "ok": _approve,
    "no": _reject,
    "status": _status,
}


async def approve_command(ctx: Ctx) -> list[Outgoing]:
    """/duyetthongbao ID: the same review as the button in the request."""
    if not await _allowed(ctx):
        return [ctx.say("news.compose.refused")]
    broadcast_id = parse_id((ctx.inbound.args or "").strip().lstrip("#"))
    if broadcast_id is None:
        return [ctx.say("news.compose.duyet_usage")]
    return await review(ctx, broadcast_id)
