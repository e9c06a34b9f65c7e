"""/dangnhap: a staff member asks for a one-time link to the web dashboard.

Only in a private chat (the engine routes group messages to group handlers, so a link is never
posted where others could use it), and only for accounts that hold a staff role. The link is the
dashboard's public address plus a random token; the token is stored hashed
(storage/web_sessions.py) and the reply is the only place it exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.core.engine import Ctx
from bot.core.events import Outgoing
from bot.core.feature import Feature
from storage import web_sessions

STAFF_ROLES = frozenset({"staff", "membership", "legal", "volunteer"})


def dashboard_url(settings: Any) -> str:
    """The dashboard's address as staff reach it (behind a proxy: its https sub-path)."""
    extra: Mapping[str, Any] = settings.extra
    configured = extra.get("congdoan_dashboard_url") or (extra.get("http") or {}).get("public_url")
    if configured:
        return str(configured).rstrip("/") + "/"
    return f"http://{settings.http_host}:{settings.http_port}/"


def login_link(settings: Any, token: str) -> str:
    return f"{dashboard_url(settings)}dangnhap/{token}"


async def ask_for_link(ctx: Ctx) -> list[Outgoing]:
    settings = ctx.services.settings
    channel, user = ctx.inbound.channel, ctx.inbound.user_id
    roles = await ctx.services.roles.roles_of(ctx.session, ctx.who)
    if not roles & STAFF_ROLES:
        return [ctx.say("dashboard.login.not_staff")]
    try:
        token = await web_sessions.create_login_link(ctx.session, channel, user, ctx.now)
    except web_sessions.TooManyLinks:
        return [ctx.say("dashboard.login.too_many")]
    minutes = int(web_sessions.LINK_TTL.total_seconds() // 60)
    return [ctx.say("dashboard.login.link", link=login_link(settings, token), minutes=minutes)]


def register() -> Feature:
    return Feature(name=__name__, commands={"dangnhap": ask_for_link})
