"""What a worker does with announcements: subscribe per topic, stop, answer a poll, press a button.

``/nhantin`` (or "Nhận tin công đoàn" in the menu) shows a short notice and the three topics;
each press records or withdraws consent for one topic (Law 91/2025/QH15 Điều 4: consent per
purpose, with the notice version shown). Nobody receives an announcement without an active
subscription: the audience query starts from subscriptions and the sender checks them again just
before each message. "Dừng nhận tin" (button, ``/dungtin``, or typed "dung", "dừng", "huy dang
ky", "stop") withdraws everything at once and stops every copy not yet sent.

Payloads: ``news:*`` (subscriptions), ``bc:poll:<id>:<n>`` (one answer per person; a second press
changes it and says so), ``bc:btn:<id>`` (the announcement's button: counted, then the feature it
names). On channels without buttons the sender leaves the announcement's options as the numbered
list, so a typed number answers the poll.
"""

from __future__ import annotations

import hashlib
import logging

from bot.core.answers import AskPayload, NewsPayload, RightsPayload
from bot.core.context import Ctx, JobContext
from bot.core.events import Outgoing
from bot.core.feature import PRIORITY_COMMAND_WORDS, CliCommand, Feature, Job, TextHandler
from bot.core.textnorm import fold
from bot.core.texts import fmt_datetime
from handlers.broadcast_send import (
    STALE_CLAIM,
    STOP_PAYLOAD,
    AnnouncementPayload,
    BroadcastConfig,
    Broadcaster,
    NeedsApproval,
)
from storage import broadcasts as repo

log = logging.getLogger(__name__)
STOP_WORDS = frozenset({"dung", "huy dang ky", "stop", "dung nhan tin", "huy nhan tin"})
SCHEDULER_SECONDS = 30


# Where "Quyền lợi" and "Hỏi đáp" lead (the join button starts the join form directly).
BUTTON_TARGETS = {
    "rights": ("news.button.rights", RightsPayload("index").pack()),
    "ask": ("news.button.ask", AskPayload("start").pack()),
}


def notice_version(ctx: Ctx) -> str:
    """The editors' version plus a fingerprint of the exact notice the worker read."""
    digest = hashlib.sha256(ctx.t("news.notice.text").encode("utf-8")).hexdigest()[:8]
    return f"{ctx.t('news.notice.version')}+{digest}"


def topic_label(ctx: Ctx, topic: str) -> str:
    return ctx.t(f"news.topic.{topic}")


async def _topics_menu(ctx: Ctx, text: str) -> Outgoing:
    active = await repo.active_topics(ctx.session, ctx.contact_id)
    options = []
    for topic in repo.TOPICS:
        label = topic_label(ctx, topic)
        if topic in active:
            label = ctx.t("news.chosen", topic=label)
        options.append((label, NewsPayload("topic", topic).pack()))
    if len(active) < len(repo.TOPICS):
        options.append((ctx.t("news.all"), NewsPayload("all").pack()))
    if active:
        options.append((ctx.t("news.stop"), STOP_PAYLOAD))
    options.append((ctx.t("news.done"), NewsPayload("done").pack()))
    return ctx.choices(text, options)


async def show_topics(ctx: Ctx) -> list[Outgoing]:
    """/nhantin and the menu button: the notice and the topics, chosen ones ticked."""
    return [await _topics_menu(ctx, ctx.t("news.notice.text"))]


async def _summary(ctx: Ctx) -> Outgoing:
    active = await repo.active_topics(ctx.session, ctx.contact_id)
    if not active:
        return ctx.say("news.none_chosen")
    names = ", ".join(topic_label(ctx, t).lower() for t in repo.TOPICS if t in active)
    return ctx.say("news.saved", topics=names)


async def stop(ctx: Ctx) -> list[Outgoing]:
    """Withdraw every topic and stop what is still being sent, in this transaction."""
    if not await repo.active_topics(ctx.session, ctx.contact_id):
        return [ctx.say("news.not_subscribed")]
    await repo.unsubscribe(ctx.session, ctx.contact_id, ctx.now)
    return [ctx.say("news.stopped")]


async def on_news_button(ctx: Ctx) -> list[Outgoing]:
    pressed = NewsPayload.unpack(ctx.inbound.payload)
    action = pressed.action if pressed else "start"
    if action == "start":
        return await show_topics(ctx)
    if action == "stop":
        return await stop(ctx)
    if action == "done":
        return [await _summary(ctx)]
    version = notice_version(ctx)
    if action == "all":
        for topic in repo.TOPICS:
            await repo.subscribe(
                ctx.session, contact_id=ctx.contact_id, topic=topic, notice_version=version,
                channel=ctx.inbound.channel, now=ctx.now,
            )  # fmt: skip
        return [await _summary(ctx)]
    topic = pressed.topic if pressed and action == "topic" else ""
    if topic not in repo.TOPICS:
        return await show_topics(ctx)
    added = await repo.subscribe(
        ctx.session, contact_id=ctx.contact_id, topic=topic, notice_version=version,
        channel=ctx.inbound.channel, now=ctx.now,
    )  # fmt: skip
    if not added:
        await repo.unsubscribe(ctx.session, ctx.contact_id, ctx.now, topic=topic)
    return [await _topics_menu(ctx, (await _summary(ctx)).text)]


async def on_text(ctx: Ctx) -> list[Outgoing] | None:
    """Typed "dung", "dừng", "huy dang ky", "stop": the same as the button."""
    if fold(ctx.inbound.text).strip(" .!") not in STOP_WORDS:
        return None
    return await stop(ctx)


async def _owned(ctx: Ctx, broadcast_id: int) -> repo.Broadcast | None:
    """The announcement, only if this person was sent it (a forged payload finds nothing)."""
    broadcast = await repo.get(ctx.session, broadcast_id)
    if broadcast is None or not await repo.received(ctx.session, broadcast.id, ctx.contact_id):
        return None
    return broadcast


async def on_broadcast_button(ctx: Ctx) -> list[Outgoing]:
    pressed = AnnouncementPayload.unpack(ctx.inbound.payload)
    broadcast = await _owned(ctx, pressed.broadcast_id) if pressed else None
    if pressed is None or broadcast is None:
        return [ctx.say("news.button.stale")]
    if pressed.action == "poll":
        return await _answer(ctx, broadcast, pressed.option)
    if pressed.action != "btn" or not broadcast.button:
        return [ctx.say("news.button.stale")]
    await repo.record_click(ctx.session, broadcast.id, ctx.contact_id, ctx.now)
    start_join = ctx.services.hooks.start_join
    if broadcast.button == "join" and start_join is not None:
        return list(await start_join(ctx) or [])
    target = BUTTON_TARGETS.get(broadcast.button)
    if target is not None:
        label, payload = target
        return [ctx.choices(ctx.t("news.button.open"), [(ctx.t(label), payload)])]
    if broadcast.button.startswith("https://"):
        return [ctx.say("news.button.link_reply", url=broadcast.button)]
    return [ctx.say("common.coming_soon")]


async def _answer(ctx: Ctx, broadcast: repo.Broadcast, option: int) -> list[Outgoing]:
    options = broadcast.poll_options or []
    if not 1 <= option <= len(options):
        return [ctx.say("news.button.stale")]
    outcome, previous = await repo.answer_poll(
        ctx.session, broadcast.id, ctx.contact_id, option, ctx.now
    )
    answer = options[option - 1]
    if outcome == "changed" and previous is not None:
        return [ctx.say("news.poll.changed", previous=options[previous - 1], answer=answer)]
    if outcome == "same":
        return [ctx.say("news.poll.same", answer=answer)]
    return [ctx.say("news.poll.thanks", answer=answer)]


class SubscriptionData:
    """The personal-data provider: /dulieucuatoi lists, /rutdongy stops, /xoadulieu erases."""

    async def describe(self, ctx: Ctx) -> list[str]:
        lines = []
        for sub in await repo.subscriptions_of(ctx.session, ctx.contact_id):
            withdrawn = (
                ctx.t("news.mydata_withdrawn", at=fmt_datetime(sub.withdrawn_at))
                if sub.withdrawn_at
                else ""
            )
            lines.append(
                ctx.t(
                    "news.mydata",
                    topic=topic_label(ctx, sub.topic),
                    given=fmt_datetime(sub.given_at),
                    withdrawn=withdrawn,
                )
            )
        for answer in await repo.poll_answers_of(ctx.session, ctx.contact_id):
            broadcast = await repo.get(ctx.session, answer.broadcast_id)
            options = (broadcast.poll_options if broadcast else None) or []
            shown = options[answer.option - 1] if 0 < answer.option <= len(options) else "?"
            lines.append(ctx.t("news.mydata_poll", id=answer.broadcast_id, answer=shown))
        return lines

    async def withdraw(self, ctx: Ctx) -> bool:
        return bool(await repo.unsubscribe(ctx.session, ctx.contact_id, ctx.now))

    async def erase(self, ctx: Ctx) -> None:
        await repo.erase_contact(ctx.session, ctx.contact_id)


async def scheduler_job(job: JobContext) -> None:
    """Start scheduled announcements whose time has come, and take over a running one that no
    process has claimed rows of for a while (its process stopped). The start is one atomic
    UPDATE, so with several processes only one starts each announcement."""
    services = job.services
    if not services.channels:
        return
    async with services.db.transaction() as session:
        due = await repo.start_due(session, job.now)
        due += await repo.take_over_stalled(session, job.now - STALE_CLAIM)
    for broadcast_id in due:
        sender = Broadcaster(
            services.db, services.texts, services.channels,
            config=services.config(BroadcastConfig), areas=services.areas, clock=services.clock,
        )  # fmt: skip
        try:
            await sender.run(broadcast_id)
        except NeedsApproval as e:  # it waits (awaiting_approval) for a second staff member
            log.info("broadcast %d: %s recipients, waiting for approval", broadcast_id, e.args[0])


def _cli() -> CliCommand:
    from handlers import broadcast_cli as command

    return CliCommand("broadcast", command.HELP, command.add_arguments, command.run)


def register() -> Feature:
    from handlers import broadcast_staff as staff
    from handlers import broadcast_web

    return Feature(
        name=__name__,
        commands={
            "nhantin": show_topics,
            "dungtin": stop,
            "guithongbao": staff.start,
            "duyetthongbao": staff.approve_command,
        },
        payloads={
            NewsPayload.prefix: on_news_button,
            AnnouncementPayload.prefix: on_broadcast_button,
            staff.StaffPayload.prefix: staff.on_button,
        },
        validators=staff.VALIDATORS,
        submitters={staff.FORM: staff.submitted},
        text=(TextHandler(on_text, PRIORITY_COMMAND_WORDS),),
        personal_data=(SubscriptionData(),),
        jobs=(Job("broadcast.scheduler", SCHEDULER_SECONDS, scheduler_job),),
        cli_commands=(_cli(),),
        config=(BroadcastConfig,),
        offers={"subscribe": show_topics},
        dashboard_pages=(broadcast_web.register,),
    )
