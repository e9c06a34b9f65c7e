"""Account linking: one worker on Telegram and Zalo becomes one person.

"/lienket" on one channel gives a short one-time code; "/lienket CODE" (or "lienket CODE",
"liên kết CODE") typed on the other channel merges the two contacts (storage/linking.py): the
older contact is kept with its conversation state, applications and cases, and everything of
the newer one moves to it. The account that issued the code is told about the link, so a worker
whose code was misused by someone else finds out and can call the hotline.

Guessing is limited: a code has 6 digits, lasts 10 minutes, works once, and a contact may type
at most 5 wrong codes an hour.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from bot.core.engine import Ctx
from bot.core.events import Address, Outgoing, Text
from bot.core.feature import PRIORITY_COMMAND_WORDS, Feature, TextHandler
from bot.core.textnorm import fold
from storage import contacts as contacts_repo
from storage import linking

MAX_WRONG = 5
WRONG_WINDOW = timedelta(hours=1)
_TRIES = "_link_tries"
# "lienket 123456", "liên kết: 123 456", "/lien ket 123456" (typed without or with diacritics)
_TYPED = re.compile(r"^\s*/?\s*lien\s*ket\b\s*:?\s*([\d\s.-]*)\s*$")
_CHANNEL_NAMES = {"telegram": "Telegram", "zalo_oa": "Zalo", "zalo_bot": "Zalo"}


def _hash(ctx: Ctx, code: str) -> str:
    return str(ctx.services.crypto.lookup_hash("link-code:" + code))


def _channel_name(ctx: Ctx, channel: str) -> str:
    return _CHANNEL_NAMES.get(channel) or ctx.t("link.other_app")


async def on_command(ctx: Ctx) -> list[Outgoing]:
    """/lienket gives a code; /lienket CODE uses one."""
    digits = re.sub(r"\D", "", ctx.inbound.args or "")
    if digits:
        return await redeem(ctx, digits)
    return await issue(ctx)


async def on_text(ctx: Ctx) -> list[Outgoing] | None:
    """The same without the slash, as people type it on Zalo."""
    match = _TYPED.match(fold(ctx.inbound.text or ""))
    if match is None:
        return None
    digits = re.sub(r"\D", "", match.group(1))
    return await (redeem(ctx, digits) if digits else issue(ctx))


async def issue(ctx: Ctx) -> list[Outgoing]:
    code = await linking.issue_code(
        ctx.session, ctx.contact_id, ctx.inbound.channel, ctx.now, lambda c: _hash(ctx, c)
    )
    minutes = int(linking.CODE_TTL.total_seconds() // 60)
    return [ctx.say("link.code", code=code, minutes=minutes)]


async def redeem(ctx: Ctx, code: str) -> list[Outgoing]:
    if _too_many_wrong(ctx.data, ctx.now):
        return [ctx.say("link.too_many")]
    result = await linking.redeem_code(
        ctx.session, _hash(ctx, code), ctx.contact_id, ctx.inbound.channel, ctx.now
    )
    if result.status != "ok":
        if result.status in ("invalid", "expired"):
            _count_wrong(ctx.data, ctx.now)
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
    await linking.merge_contacts(session, keep, drop)
    here = _channel_name(ctx, ctx.inbound.channel)
    there = _channel_name(ctx, issuer_channel)
    if drop == ctx.contact_id:
        # This contact's state is gone; the kept one's state stays as it was, minus the
        # numbered choices it showed last (this reply shows none).
        state = await contacts_repo.load_state(session, keep)
        data = {k: v for k, v in (state.data or {}).items() if k not in ("_choices", "_labels")}
        contacts_repo.save_state(
            state, flow=state.flow, step=state.step, data=data, flow_version=state.flow_version
        )
    else:
        ctx.data.pop(_TRIES, None)
    if notice_to is not None:
        ctx.notify(
            Outgoing(
                Address(notice_to.channel, notice_to.chat_id),
                Text(ctx.t("link.notice", channel=here)),
            )
        )
    return [ctx.say("link.done", first=there, second=here)]


def _live_tries(data: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    """The wrong-code counter, or None when there is none or its hour has passed."""
    tries = data.get(_TRIES) or {}
    since = tries.get("since")
    if not since or now - datetime.fromisoformat(since) > WRONG_WINDOW:
        return None
    return tries


def _too_many_wrong(data: dict[str, Any], now: datetime) -> bool:
    tries = _live_tries(data, now)
    return tries is not None and int(tries.get("n", 0)) >= MAX_WRONG


def _count_wrong(data: dict[str, Any], now: datetime) -> None:
    tries = _live_tries(data, now) or {"n": 0, "since": now.isoformat()}
    data[_TRIES] = {"n": int(tries.get("n", 0)) + 1, "since": tries["since"]}


def register() -> Feature:
    return Feature(
        name=__name__,
        commands={"lienket": on_command},
        # First among the free-text handlers: "lienket 123456" must not reach the FAQ matcher.
        # It only answers text that starts with "lienket"/"liên kết", so it takes nothing else.
        text=(TextHandler(on_text, PRIORITY_COMMAND_WORDS),),
    )
