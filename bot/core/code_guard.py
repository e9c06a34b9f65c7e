"""The guard in front of every one-time code a person types (/lienket, /thamgia).

Before a code is looked up: is this account, or this channel, out of tries (storage/codes.py)?
After a wrong code: count it, and when a limit has just been used up tell the staff (the
"staff" role: configured in ``[staff]`` and registered), once, without personal data: what was
guessed, how often, on which channel, and a short pseudonym of the account.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.events import Address, Outgoing, Text
from storage import codes

if TYPE_CHECKING:
    from bot.core.context import Ctx

ALERT_ROLE = "staff"
CHANNEL_NAMES = {"telegram": "Telegram", "zalo_oa": "Zalo OA", "zalo_bot": "Zalo"}


def account_key(ctx: Ctx, purpose: str) -> str:
    """A keyed hash of the sender's account (never the id itself, never the contact)."""
    who = ctx.inbound
    return str(ctx.services.crypto.lookup_hash(f"code-guard:{purpose}:{who.channel}:{who.user_id}"))


async def blocked(ctx: Ctx, purpose: str, limits: codes.Limits) -> str | None:
    """ "account" or "channel" when the sender may not try a code now, else None."""
    return await codes.blocked(
        ctx.session, purpose, account_key(ctx, purpose), ctx.inbound.channel, ctx.now, limits
    )


async def failed(ctx: Ctx, purpose: str, limits: codes.Limits, what_key: str) -> None:
    """Count a wrong code; tell the staff when this try used up a limit.

    ``what_key`` is the text key naming the code in the alert ("mã liên kết tài khoản")."""
    account = account_key(ctx, purpose)
    channel = ctx.inbound.channel
    reached = await codes.record_failure(ctx.session, purpose, account, channel, ctx.now, limits)
    if not reached:
        return
    staff = await ctx.services.roles.accounts_with(ctx.session, ALERT_ROLE)
    if not staff:
        return
    minutes = int(limits.window.total_seconds() // 60)
    what = ctx.t(what_key)
    channel_name = CHANNEL_NAMES.get(channel, channel)
    if "account" in reached:
        text = ctx.t(
            "common.code_guard.alert_account",
            what=what,
            count=limits.per_account,
            minutes=minutes,
            channel=channel_name,
            ref=account[:8],
        )
    else:
        text = ctx.t(
            "common.code_guard.alert_channel",
            what=what,
            count=limits.per_channel,
            minutes=minutes,
            channel=channel_name,
        )
    for who in staff:
        ctx.notify(Outgoing(Address(who.channel, who.user_id), Text(text), tag=f"guard:{purpose}"))
