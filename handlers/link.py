"""Account linking: one worker on Telegram and Zalo becomes one person.

"/lienket" on one channel gives a one-time code; "/lienket CODE" (or "lienket CODE",
"liên kết CODE") typed on the other channel merges the two contacts (storage/linking.py): the
older contact is kept with its conversation state, applications and cases, and everything of
the newer one moves to it. The account that issued the code is told about the link, so a worker
whose code was misused by someone else finds out and can call the hotline.

Guessing is hopeless and limited: a code has 10 characters from 31 (storage/codes.py), lasts
10 minutes, works once and only for the account that asked for it; an account may type 5 wrong
codes an hour, and a channel 50 for all its accounts together (bot/core/code_guard.py, kept
apart from the contact so /xoadulieu does not reset it). Staff hear when a limit is reached.
"""

from __future__ import annotations

import re

from bot.core import code_guard
from bot.core.context import Ctx
from bot.core.events import Address, Outgoing, Text
from bot.core.feature import PRIORITY_COMMAND_WORDS, Feature, TextHandler
from bot.core.textnorm import fold
from storage import codes, linking
from storage import contacts as contacts_repo

PURPOSE = "link"
LIMITS = codes.Limits(per_account=5, per_channel=50)
# "lienket K7M2Q-XR4TB", "liên kết: k7m2q xr4tb", "/lien ket ..." (with or without diacritics)
_TYPED = re.compile(r"^\s*/?\s*lien\s*ket\b\s*:?\s*([a-z0-9\s.-]*)\s*$")
_CHANNEL_NAMES = {"telegram": "Telegram", "zalo_oa": "Zalo", "zalo_bot": "Zalo"}


def _hash(ctx: Ctx, code: str) -> str:
    return str(ctx.services.crypto.lookup_hash("link-code:" + code))


def _channel_name(ctx: Ctx, channel: str) -> str:
    return _CHANNEL_NAMES.get(channel) or ctx.t("link.other_app")


async def on_command(ctx: Ctx) -> list[Outgoing]:
    """/lienket gives a code; /lienket CODE uses one."""
    typed = (ctx.inbound.args or "").strip()
    if typed:
        return await redeem(ctx, typed)
    return await issue(ctx)


async def on_text(ctx: Ctx) -> list[Outgoing] | None:
    """The same without the slash, as people type it on Zalo ("lien ket tai khoan" is not ours:
    a code has a digit)."""
    match = _TYPED.match(fold(ctx.inbound.text or ""))
    if match is None:
        return None
    typed = match.group(1).strip()
    if not typed:
        return await issue(ctx)
    if not any(ch.isdigit() for ch in typed):
        return None
    return await redeem(ctx, typed)


async def issue(ctx: Ctx) -> list[Outgoing]:
    found = await contacts_repo.identity_ids(ctx.session, ctx.inbound.channel, ctx.inbound.user_id)
    code = await linking.issue_code(
        ctx.session,
        ctx.contact_id,
        ctx.inbound.channel,
        ctx.now,
        lambda c: _hash(ctx, c),
        identity_id=found[0] if found is not None else None,
    )
    minutes = int(linking.CODE_TTL.total_seconds() // 60)
    return [ctx.say("link.code", code=codes.shown(code), minutes=minutes)]


async def redeem(ctx: Ctx, typed: str) -> list[Outgoing]:
    minutes = int(LIMITS.window.total_seconds() // 60)
    limit = await code_guard.blocked(ctx, PURPOSE, LIMITS)
    if limit is not None:
        return [ctx.say(f"link.too_many_{limit}", minutes=minutes)]
    code = codes.clean(typed)
    if not codes.well_formed(code):
        # not a code at all (a guess has to be well formed): the format, not a try counted
        return [ctx.say("link.bad_format", length=codes.CODE_LENGTH)]
    result = await linking.redeem_code(
        ctx.session, _hash(ctx, code), ctx.contact_id, ctx.inbound.channel, ctx.now
    )
    if result.status != "ok":
        if result.status in ("invalid", "expired"):
            await code_guard.failed(ctx, PURPOSE, LIMITS, "link.guard_what")
        key = {
            "invalid": "link.invalid",
            "expired": "link.expired",
            "same_contact": "link.already",
            "same_channel": "link.same_channel",
        }[result.status]
        return [ctx.say(key)]
    assert result.issuer_contact is not None and result.issuer_channel is not None
    return await _merge(ctx, result.issuer_contact, result.issuer_channel)


async def _merge(ctx: Ctx, issuer: int, issuer_channel: str) -> list[Outgoing]:
    session = ctx.session
    await contacts_repo.lock_contact(session, issuer)
    keep, drop = await linking.older_contact(session, ctx.contact_id, issuer)
    notice_to = await linking.identity_on(session, issuer, issuer_channel)
    await linking.void_codes(session, (keep, drop))
    await linking.merge_contacts(session, keep, drop)
    here = _channel_name(ctx, ctx.inbound.channel)
    there = _channel_name(ctx, issuer_channel)
    if drop == ctx.contact_id:
        # This contact's state is gone; the kept one's state stays as it was, minus the
        # numbered choices it showed last (this reply shows none).
        state = await contacts_repo.state_of(session, keep)
        data = {k: v for k, v in state.data.items() if k not in ("_choices", "_labels")}
        await contacts_repo.write_state(
            session, state, flow=state.flow, step=state.step, data=data,
            flow_version=state.flow_version,
        )  # fmt: skip
    else:
        ctx.data.pop("_link_tries", None)  # the counter kept here before code_attempts
    if notice_to is not None:
        ctx.notify(
            Outgoing(
                Address(notice_to.channel, notice_to.chat_id),
                Text(ctx.t("link.notice", channel=here)),
            )
        )
    return [ctx.say("link.done", first=there, second=here)]


def register() -> Feature:
    return Feature(
        name=__name__,
        commands={"lienket": on_command},
        # First among the free-text handlers: "lienket 123456" must not reach the FAQ matcher.
        # It only answers text that starts with "lienket"/"liên kết", so it takes nothing else.
        text=(TextHandler(on_text, PRIORITY_COMMAND_WORDS),),
    )
