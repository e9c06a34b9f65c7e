"""'Quyền lợi đoàn viên': short messages on what the union does, navigable by buttons."""

from __future__ import annotations

from bot.core.engine import Ctx
from bot.core.events import Outgoing
from bot.core.feature import Feature

TOPICS = ("role", "who", "dues", "fund", "protect", "no_union", "legal", "support")


def _index(ctx: Ctx) -> Outgoing:
    options = [(ctx.t(f"rights.title.{topic}"), f"rights:{topic}") for topic in TOPICS]
    options.append((ctx.t("common.back_to_menu"), "menu:main"))
    return ctx.choices(ctx.t("rights.index"), options)


def _topic(ctx: Ctx, topic: str) -> Outgoing:
    position = TOPICS.index(topic)
    options = []
    if position + 1 < len(TOPICS):
        options.append((ctx.t("rights.next"), f"rights:{TOPICS[position + 1]}"))
    options += [
        (ctx.t("rights.join"), "join:start"),
        (ctx.t("rights.list"), "rights:index"),
        (ctx.t("common.back_to_menu"), "menu:main"),
    ]
    return ctx.choices(ctx.t(f"rights.body.{topic}"), options)


async def on_button(ctx: Ctx) -> list[Outgoing]:
    topic = (ctx.inbound.payload or "").partition(":")[2]
    if topic in TOPICS:
        return [_topic(ctx, topic)]
    return [_index(ctx)]


def register() -> Feature:
    return Feature(name=__name__, payloads={"rights": on_button})
