"""Welcome, main menu, help, contact, cancel, and the replies for input nothing else takes.

Every input gets an answer: unknown text, stickers and edited messages get a short explanation
and the menu, so a worker is never left in silence.
"""

from __future__ import annotations

from bot.core.answers import MAIN_MENU, MENU, NEWS_START, ContactPayload, MenuPayload, menu
from bot.core.context import Ctx
from bot.core.events import Kind, Outgoing
from bot.core.feature import Feature

__all__ = ["MENU", "menu", "register"]
CONTACT = ContactPayload("show").pack()


def _half_filled(ctx: Ctx) -> list[Outgoing] | None:
    """A form in progress is never dropped by /start, a deep link or /menu: the worker chooses
    "Tiếp tục" or "Bỏ đơn" (the console sends /start at every start, so this is also how a
    half-filled form resumes there)."""
    runner = ctx.services.forms
    if runner.in_form(ctx) is None:
        return None
    if ctx.inbound.args:
        ctx.data["_start_args"] = ctx.inbound.args  # the invite link still counts after "Bỏ đơn"
    return list(runner.offer_resume(ctx))


async def start(ctx: Ctx) -> list[Outgoing]:
    """/start (with or without a deep-link payload) and first contact: greet, disclose, menu."""
    pending = _half_filled(ctx)
    if pending is not None:
        return pending
    if ctx.flow:
        ctx.clear_flow()
    # A feature's own deep link (`/start employer`) opens that feature instead of the menu.
    linked = ctx.services.hooks.start_links.get((ctx.inbound.args or "").strip().lower())
    if linked is not None:
        return list(await linked(ctx) or [])
    referral = ctx.services.hooks.start_payload
    outs: list[Outgoing] = []
    if referral is not None and ctx.inbound.args:
        outs += await referral(ctx, ctx.inbound.args)
    return [menu(ctx, "welcome.text"), *outs]


async def show_menu(ctx: Ctx) -> list[Outgoing]:
    pending = _half_filled(ctx)
    if pending is not None:
        return pending
    if ctx.flow:
        ctx.clear_flow()
    return [menu(ctx)]


async def show_help(ctx: Ctx) -> list[Outgoing]:
    return [menu(ctx, "help.text")]


ZALO_OA_BUTTONS = 5  # the most buttons a Zalo OA message shows (PLATFORMS.md §3)


async def show_contact(ctx: Ctx) -> list[Outgoing]:
    """ "Liên hệ", also the way in to announcements ("Nhận tin công đoàn") and for employers:
    the main menu keeps five buttons, the most a Zalo OA message shows as buttons, and so does
    this one (the features wired in first, then the menu's items, then "Menu chính")."""
    hooks = ctx.services.hooks
    extra = []
    if hooks.subscribe is not None:
        extra.append((ctx.t("news.menu"), NEWS_START))
    if hooks.start_links.get("employer") is not None:
        extra.append((ctx.t("employer.menu"), "employer:index"))
    items = [(ctx.t(label), payload) for label, payload in MENU if payload != CONTACT]
    options = [*extra, *items][: ZALO_OA_BUTTONS - 1]
    options.append((ctx.t("common.back_to_menu"), MAIN_MENU))
    return [ctx.choices(ctx.t("contact.text"), options)]


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


def register() -> Feature:
    return Feature(
        name=__name__,
        commands={
            "start": start,
            "menu": show_menu,
            "trogiup": show_help,
            "help": show_help,
            "huy": cancel,
            "cancel": cancel,
        },
        payloads={ContactPayload.prefix: show_contact, MenuPayload.prefix: main_menu_button},
        first_contact=start,
        fallback=fallback,
        # Menu items whose feature is not wired in say so honestly and give the hotline.
        placeholders={payload.split(":", 1)[0]: coming_soon for _, payload in MENU},
    )
