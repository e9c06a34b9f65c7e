"""'Quyền lợi đoàn viên': short messages on what the union does, navigable by buttons."""

from __future__ import annotations

from bot.core.answers import JOIN_START, MAIN_MENU, RightsPayload
from bot.core.context import Ctx
from bot.core.events import Outgoing
from bot.core.feature import Feature

TOPICS = ("role", "who", "dues", "fund", "protect", "no_union", "legal", "support")


def _index(ctx: Ctx) -> Outgoing:
    options = [(ctx.t(f"rights.title.{t}"), RightsPayload(t).pack()) for t in TOPICS]
    options.append((ctx.t("common.back_to_menu"), MAIN_MENU))
    return ctx.choices(ctx.t("rights.index"), options)


def _topic(ctx: Ctx, topic: str) -> Outgoing:
    position = TOPICS.index(topic)
    options = []
    if position + 1 < len(TOPICS):
        options.append((ctx.t("rights.next"), RightsPayload(TOPICS[position + 1]).pack()))
    options += [
        (ctx.t("rights.join"), JOIN_START),
        (ctx.t("rights.list"), RightsPayload("index").pack()),
        (ctx.t("common.back_to_menu"), MAIN_MENU),
    ]
    return ctx.choices(ctx.t(f"rights.body.{topic}"), options)


async def on_button(ctx: Ctx) -> list[Outgoing]:
    pressed = RightsPayload.unpack(ctx.inbound.payload)
    if pressed is not None and pressed.topic in TOPICS:
        return [_topic(ctx, pressed.topic)]
    return [_index(ctx)]


def register() -> Feature:
    return Feature(name=__name__, payloads={RightsPayload.prefix: on_button})
