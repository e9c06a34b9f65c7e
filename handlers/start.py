"""Welcome, main menu, help, contact, cancel, and the replies for input nothing else takes.

Every input gets an answer: unknown text, stickers and edited messages get a short explanation
and the menu, so a worker is never left in silence.
"""

from __future__ import annotations

from bot.core.engine import Ctx, Engine
from bot.core.events import Kind, Outgoing

MENU = (
    ("menu.rights", "rights:index"),
    ("menu.join", "join:start"),
    ("menu.ask", "ask:start"),
    ("menu.lead", "lead:start"),
    ("menu.contact", "contact:show"),
)


def menu(ctx: Ctx, text_key: str = "menu.text") -> Outgoing:
    return ctx.choices(ctx.t(text_key), [(ctx.t(label), payload) for label, payload in MENU])


async def start(ctx: Ctx) -> list[Outgoing]:
    """/start (with or without a deep-link payload) and first contact: greet, disclose, menu."""
    if ctx.flow:
        ctx.clear_flow()
    referral = ctx.services.get("on_start_payload")
    outs: list[Outgoing] = []
    if referral is not None and ctx.inbound.args:
        outs += await referral(ctx, ctx.inbound.args)
    return [menu(ctx, "welcome.text"), *outs]


async def show_menu(ctx: Ctx) -> list[Outgoing]:
    if ctx.flow:
        ctx.clear_flow()
    return [menu(ctx)]


async def show_help(ctx: Ctx) -> list[Outgoing]:
    return [menu(ctx, "help.text")]


async def show_contact(ctx: Ctx) -> list[Outgoing]:
    return [menu(ctx, "contact.text")]


async def cancel(ctx: Ctx) -> list[Outgoing]:
    if ctx.flow:
        ctx.clear_flow()
        return [menu(ctx, "common.cancelled")]
    return [menu(ctx, "common.nothing_to_cancel")]


async def coming_soon(ctx: Ctx) -> list[Outgoing]:
    return [menu(ctx, "common.coming_soon")]


async def main_menu_button(ctx: Ctx) -> list[Outgoing]:
    return [menu(ctx)]


async def fallback(ctx: Ctx) -> list[Outgoing]:
    """Whatever nothing else handled: explain briefly and show the menu."""
    inbound = ctx.inbound
    if inbound.edited:
        key = "common.edited"
    elif inbound.kind in (Kind.MEDIA, Kind.UNSUPPORTED, Kind.CONTACT):
        key = "common.unsupported"
    else:
        key = "common.not_understood"
    return [menu(ctx, key)]


def register(engine: Engine) -> None:
    engine.command("start", start)
    engine.command("menu", show_menu)
    engine.command("trogiup", show_help)
    engine.command("help", show_help)
    engine.command("huy", cancel)
    engine.command("cancel", cancel)
    engine.payload("contact", show_contact)
    engine.payload("menu", main_menu_button)
    engine.first_contact_handler = start
    engine.fallback = fallback


def register_placeholders(engine: Engine) -> None:
    """Menu items whose feature is not wired in say so honestly and give the hotline."""
    for _, payload in MENU:
        prefix = payload.split(":", 1)[0]
        engine.payloads.setdefault(prefix, coming_soon)
