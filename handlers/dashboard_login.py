"""/dangnhap: a staff member asks for a one-time link to the web dashboard.

Only in a private chat (the engine routes group messages to group handlers, so a link is never
posted where others could use it), and only for accounts that hold a staff role. The link is the
dashboard's public address plus a random token; the token is stored hashed
(storage/web_sessions.py) and the reply is the only place it exists.
"""

from __future__ import annotations

from bot.core.context import Ctx
from bot.core.events import Outgoing
from bot.core.feature import Feature
from bot.core.links import login_link
from bot.core.roles import DASHBOARD_ROLES
from storage import web_sessions


async def ask_for_link(ctx: Ctx) -> list[Outgoing]:
    settings = ctx.services.settings
    channel, user = ctx.inbound.channel, ctx.inbound.user_id
    roles = await ctx.services.roles.roles_of(ctx.session, ctx.who)
    if roles.isdisjoint(DASHBOARD_ROLES):
        return [ctx.say("dashboard.login.not_staff")]
    try:
        token = await web_sessions.create_login_link(ctx.session, channel, user, ctx.now)
    except web_sessions.TooManyLinks:
        return [ctx.say("dashboard.login.too_many")]
    minutes = int(web_sessions.LINK_TTL.total_seconds() // 60)
    return [ctx.say("dashboard.login.link", link=login_link(settings, token), minutes=minutes)]


def register() -> Feature:
    return Feature(name=__name__, commands={"dangnhap": ask_for_link})
