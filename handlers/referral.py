"""Invitations and campaigns: /moiban, arriving through an invite, /bangxephang, /chiendich,
and one-time role invites from the staff chat (/moithanhvien, then /thamgia).

A collaborator's invitation is a short code: inside a Telegram deep link
(https://t.me/<bot>?start=<code>), typed on Zalo ("MA K7M2QX" or just "K7M2QX"), and drawn as a
QR code for posters. The first invitation a worker follows is credited, once, to its owner and to
the campaign running that day (Asia/Ho_Chi_Minh); what the worker does afterwards (applying,
being admitted, reporting a company) feeds the campaign's leaderboard.
"""

from __future__ import annotations

import io
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Self

import segno

from bot.commands import export as export_cli
from bot.config import ConfigError, ConfigReader
from bot.core import code_guard
from bot.core.answers import menu
from bot.core.areas import AreaIndex
from bot.core.context import Ctx, JobContext, Services
from bot.core.events import Kind, Outgoing, Photo
from bot.core.feature import PRIORITY_CODES, CliCommand, Feature, Job, TextHandler
from bot.core.textnorm import fold
from bot.core.texts import LOCAL_TZ, fmt_date, fmt_datetime
from storage import codes
from storage import people as people_repo
from storage import recruitment as repo
from storage.people import ROLES, Person
from storage.recruitment import Campaign, ReferralCode

INVITER_ROLES = ("collaborator", "volunteer", "staff")
BOARD_SIZE = 10
DEFAULT_INVITE_HOURS = 24
INVITE_LIMITS = codes.Limits(per_account=5, per_channel=50)
# "/moithanhvien ctv Lê Chân cho 123456789" (a Telegram id) or "... cho zalo 8412345": only that
# account can use the code
_RECIPIENT = re.compile(
    r"(?:^|[\s;,])cho\s+(?:(telegram|tg|zalo)\s*:?\s*)?([A-Za-z0-9_-]{1,64})\s*$", re.IGNORECASE
)
DEFAULT_BOARD_MINUTES = 10
STANDINGS_JOB_SECONDS = 300
ROLE_WORDS = {
    "tinhnguyenvien": "volunteer",
    "tnv": "volunteer",
    "congtacvien": "collaborator",
    "ctv": "collaborator",
    "canbo": "staff",
    "tuvan": "legal",
    "tuvanvien": "legal",
    "ketnap": "membership",
    **{role: role for role in ROLES},
}
_TYPED = re.compile(
    r"^(?P<prefix>ma(?:\s*moi)?\s*[:#.\-]?\s*)?(?P<code>[a-z0-9]{3}[\s\-]?[a-z0-9]{3})$"
)
_DATE = re.compile(r"^([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})$")


# -- configuration --------------------------------------------------------------------------------


@dataclass(frozen=True)
class InviteConfig:
    """``[recruitment]`` (and ``[[campaigns]]``) of config.toml, for invitations and boards.

    The bot's username for invite links: TELEGRAM_BOT_USERNAME, else ``bot_username`` in
    ``[telegram]`` or ``[recruitment]``, else what the Telegram channel read from getMe; none
    means /moiban gives the Zalo code and its QR only."""

    SECTION = "recruitment"
    bot_username: str | None = None
    invite_hours: int = DEFAULT_INVITE_HOURS
    leaderboard_minutes: float = DEFAULT_BOARD_MINUTES
    campaigns: tuple[dict[str, Any], ...] = ()

    @classmethod
    def from_config(cls, reader: ConfigReader) -> Self:
        telegram = reader.settings.extra.get("telegram") or {}
        name = (
            reader.override("TELEGRAM_BOT_USERNAME")
            or (telegram.get("bot_username") if isinstance(telegram, dict) else None)
            or reader.text("bot_username")
        )
        campaigns = reader.settings.extra.get("campaigns") or []
        if not isinstance(campaigns, list) or not all(isinstance(c, dict) for c in campaigns):
            raise ConfigError("campaigns", campaigns, "các bảng [[campaigns]] có code, name, "
                              "start và end")  # fmt: skip
        return cls(
            bot_username=str(name).lstrip("@") or None if name else None,
            # invite_days: the older setting, still read when invite_hours is not given
            invite_hours=reader.integer(
                "invite_hours",
                24 * reader.integer("invite_days", 0, minimum=0) or DEFAULT_INVITE_HOURS,
                minimum=1,
            ),
            leaderboard_minutes=reader.number("leaderboard_minutes", DEFAULT_BOARD_MINUTES),
            campaigns=tuple(campaigns),
        )


def invite_config(services: Services) -> InviteConfig:
    return services.config(InviteConfig)


def bot_username(services: Services) -> str | None:
    """The configured username, else the one the running Telegram channel read from getMe."""
    configured = invite_config(services).bot_username
    if configured:
        return configured
    learned = getattr(services.channels.get("telegram"), "username", None)
    return str(learned) if learned else None


def invite_link(services: Services, code: str) -> str | None:
    username = bot_username(services)
    return f"https://t.me/{username}?start={code}" if username else None


def qr_png(data: str) -> bytes:
    """A PNG QR code big enough to print on an A4 poster and still scan from a metre away."""
    buffer = io.BytesIO()
    segno.make(data, error="m").save(buffer, kind="png", scale=10, border=4)
    return buffer.getvalue()


def _campaigns(services: Services) -> list[dict[str, Any]]:
    return list(invite_config(services).campaigns)


def _max_age(services: Services) -> timedelta:
    """How old a leaderboard snapshot may be before /bangxephang recounts it itself."""
    return timedelta(minutes=invite_config(services).leaderboard_minutes)


async def standings_job(job: JobContext) -> None:
    """Recount the running campaign's leaderboard every few minutes, off the request path.

    The count reads every arrival of the campaign (about 0.4 s at 500,000 members), so it runs
    on a read connection, outside the writer: on SQLite (WAL) events keep being handled while
    it counts. Only the result is written, in a short transaction of its own."""
    now = job.now
    async with job.db.transaction() as session:
        await repo.sync_campaigns(session, _campaigns(job.services))
        campaign = await repo.campaign_on(session, now.astimezone(LOCAL_TZ).date())
        campaign_id = campaign.id if campaign is not None else None
    if campaign_id is None:
        return
    async with job.db.session() as session:
        fresh = await repo.leaderboard(session, campaign_id)
    async with job.db.transaction() as session:
        await repo.store_standings(session, campaign_id, fresh, now)


async def current_campaign(ctx: Ctx, when: datetime | None = None) -> Campaign | None:
    """The campaign running on the local day (config.toml [[campaigns]] and staff-made ones)."""
    await repo.sync_campaigns(ctx.session, _campaigns(ctx.services))
    day = (when or ctx.now).astimezone(LOCAL_TZ).date()
    return await repo.campaign_on(ctx.session, day)


async def _roles(ctx: Ctx) -> set[str]:
    return await ctx.services.roles.roles_of(ctx.session, ctx.who)


async def _may(ctx: Ctx, action: str) -> bool:
    return await ctx.services.roles.may(ctx.session, ctx.who, action)


async def _inviter(ctx: Ctx) -> Person | None:
    """The caller's registration that owns invitations; configured staff get one on first use."""
    channel, user = ctx.inbound.channel, ctx.inbound.user_id
    person = await repo.person_for(ctx.session, channel, user, INVITER_ROLES)
    if person is None and await _may(ctx, "people.manage"):
        person = await people_repo.add_person(
            ctx.session, role="staff", channel=channel, external_id=user
        )
    return person


# -- /moiban --------------------------------------------------------------------------------------


async def invite_command(ctx: Ctx) -> list[Outgoing]:
    """/moiban (join) or /moiban baocao (report a company): link, Zalo code and a QR poster."""
    person = await _inviter(ctx)
    if person is None:
        return [ctx.say("recruit.invite.not_allowed")]
    purpose = "lead" if fold(ctx.inbound.args).replace(" ", "") in ("baocao", "lead") else "join"
    code = await repo.code_for(ctx.session, person.id, purpose, ctx.now)
    link = invite_link(ctx.services, code.code)
    campaign = await current_campaign(ctx)
    if campaign is not None:
        campaign_line = ctx.t(
            "recruit.invite.campaign",
            name=campaign.name,
            start=fmt_date(campaign.starts_on),
            end=fmt_date(campaign.ends_on),
        )
    else:
        campaign_line = ctx.t("recruit.invite.no_campaign")
    purpose_text = ctx.t(
        "recruit.invite.purpose_lead" if purpose == "lead" else "recruit.invite.purpose_join"
    )
    text = ctx.t(
        "recruit.invite.text",
        purpose=purpose_text,
        link=link or ctx.t("recruit.invite.no_link"),
        code=code.code,
        campaign=campaign_line,
    )
    if purpose == "join":
        text += "\n" + ctx.t("recruit.invite.lead_hint")
    target = link or f"MA {code.code}"
    photo = Photo(
        qr_png(target),
        caption=ctx.t("recruit.invite.qr_caption", target=target),
        filename=f"loi-moi-{code.code}.png",
    )
    return [ctx.text(text), Outgoing(ctx.address, photo)]


# -- arriving through an invitation ---------------------------------------------------------------


async def credit(ctx: Ctx, code: ReferralCode) -> None:
    """First touch wins: an earlier invitation (or the owner's own link) keeps the credit."""
    campaign = await current_campaign(ctx)
    await repo.attribute(
        ctx.session,
        contact_id=ctx.contact_id,
        code=code,
        channel=ctx.inbound.channel,
        now=ctx.now,
        campaign_id=campaign.id if campaign else None,
    )


async def arrive(ctx: Ctx, code: ReferralCode, *, with_menu: bool) -> list[Outgoing]:
    """Credit the invitation, then go where it points: the join flow or the lead report."""
    await credit(ctx, code)
    hooks = ctx.services.hooks
    if code.purpose == "lead" and hooks.start_report is not None:
        return [ctx.say("recruit.arrive.lead"), *await hooks.start_report(ctx)]
    start_join = hooks.start_join
    if code.purpose != "lead" and start_join is not None:
        return [ctx.say("recruit.arrive.join"), *await start_join(ctx)]
    if with_menu:
        return [menu(ctx, "recruit.arrive.menu")]
    return [ctx.say("recruit.arrive.menu")]


async def on_start_payload(ctx: Ctx, args: str) -> list[Outgoing]:
    """/start <code> from a Telegram deep link; /start already shows the welcome and menu."""
    code = await repo.find_code(ctx.session, args.strip())
    if code is None:
        return []
    return await arrive(ctx, code, with_menu=False)


def typed_code(text: str) -> tuple[str, bool] | None:
    """("K7M2QX", had "MA" before it) for "MA K7M2QX", "mã: k7m2qx", "K7M2QX"; else None."""
    folded = " ".join(fold(text).split())
    match = _TYPED.match(folded)
    if match is None:
        return None
    code = repo.clean_code(match["code"])
    prefixed = bool(match["prefix"])
    if not prefixed and not (
        len(code) == repo.CODE_LENGTH
        and any(c.isdigit() for c in code)
        and any(c.isalpha() for c in code)
    ):
        return None  # a plain word is never taken for a code
    return code, prefixed


async def _typed(ctx: Ctx, *, with_menu: bool) -> list[Outgoing] | None:
    found = typed_code(ctx.inbound.text) if ctx.inbound.kind is Kind.TEXT else None
    if found is None:
        return None
    text, prefixed = found
    code = await repo.find_code(ctx.session, text)
    if code is not None:
        return await arrive(ctx, code, with_menu=with_menu)
    if prefixed:
        # the six letters and digits read from the message, upper-cased: never the raw text
        return [menu(ctx, "recruit.arrive.bad_code", code=text)] if with_menu else []
    return None


async def on_text(ctx: Ctx) -> list[Outgoing] | None:
    """A Zalo worker types the code from a poster: "MA K7M2QX" or just "K7M2QX"."""
    if ctx.flow:
        return None
    return await _typed(ctx, with_menu=True)


async def on_arrival(ctx: Ctx) -> list[Outgoing]:
    """A worker whose very first message is a code gets the welcome and the invitation both."""
    return await _typed(ctx, with_menu=False) or []


# -- /bangxephang ---------------------------------------------------------------------------------


def _name(ctx: Ctx, person: Person | None, person_id: int) -> str:
    if person is not None and person.name_enc:
        try:
            return str(ctx.services.crypto.decrypt(person.name_enc))
        except ValueError:
            pass
    return ctx.t("recruit.board.noname", number=person_id)


async def leaderboard_command(ctx: Ctx) -> list[Outgoing]:
    """/bangxephang [code]: top collaborators by admitted members, applications, then leads."""
    if not await _may(ctx, "recruit.invite"):
        return [ctx.say("recruit.board.not_allowed")]
    arg = ctx.inbound.args.strip()
    if arg:
        await repo.sync_campaigns(ctx.session, _campaigns(ctx.services))
        campaign = await repo.campaign_by_code(ctx.session, arg)
        if campaign is None:
            return [ctx.say("recruit.board.unknown_campaign", code=arg[:32])]
    else:
        campaign = await current_campaign(ctx)
        if campaign is None:
            return [ctx.say("recruit.board.no_campaign")]
    start, end = fmt_date(campaign.starts_on), fmt_date(campaign.ends_on)
    standings = await repo.standings(ctx.session, campaign, ctx.now, _max_age(ctx.services))
    if not standings:
        return [ctx.say("recruit.board.empty", campaign=campaign.name, start=start, end=end)]
    top = standings[:BOARD_SIZE]
    mine = {
        p.id for p in await repo.people_of(ctx.session, ctx.inbound.channel, ctx.inbound.user_id)
    }
    people = await repo.people_by_id(ctx.session, [s.person_id for s in top])
    lines = [
        ctx.t(
            "recruit.board.line",
            rank=s.rank,
            name=_name(ctx, people.get(s.person_id), s.person_id),
            admitted=s.admitted,
            applications=s.applications,
            leads=s.leads,
        )
        for s in top
    ]
    own = ""
    below = [s for s in standings[BOARD_SIZE:] if s.person_id in mine]
    if below:
        s = below[0]
        own = ctx.t(
            "recruit.board.own",
            rank=s.rank,
            admitted=s.admitted,
            applications=s.applications,
            leads=s.leads,
        )
    text = ctx.t(
        "recruit.board.text",
        campaign=campaign.name,
        start=start,
        end=end,
        lines="\n".join(lines),
        own=own,
        updated=fmt_datetime(campaign.standings_at or ctx.now),
    )
    return [ctx.text(text)]


# -- /chiendich -----------------------------------------------------------------------------------


def _parse_date(text: str) -> date | None:
    match = _DATE.match(text)
    if not match:
        return None
    day, month, year = (int(g) for g in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return None


async def campaigns_command(ctx: Ctx) -> list[Outgoing]:
    """/chiendich lists campaigns; staff add or change one: /chiendich CODE FROM TO NAME."""
    args = ctx.inbound.args.split()
    if not args:
        if not await _may(ctx, "recruit.invite"):
            return [ctx.say("recruit.board.not_allowed")]
        await repo.sync_campaigns(ctx.session, _campaigns(ctx.services))
        campaigns = await repo.list_campaigns(ctx.session)
        lines = [
            ctx.t(
                "recruit.campaign.line",
                code=c.code,
                name=c.name,
                start=fmt_date(c.starts_on),
                end=fmt_date(c.ends_on),
            )
            for c in campaigns
        ] or [ctx.t("recruit.campaign.none")]
        return [ctx.text(ctx.t("recruit.campaign.list", lines="\n".join(lines)))]
    if not await _may(ctx, "people.manage"):
        return [ctx.say("recruit.campaign.not_staff")]
    if len(args) < 4:
        return [ctx.say("recruit.campaign.usage")]
    start, end = _parse_date(args[1]), _parse_date(args[2])
    if start is None or end is None or end < start:
        return [ctx.say("recruit.campaign.bad_dates")]
    code, name = repo.campaign_code(args[0]), " ".join(args[3:])[:200]
    if code is None:
        return [ctx.say("recruit.campaign.bad_code", limit=repo.CAMPAIGN_CODE_MAX)]
    campaign = await repo.save_campaign(
        ctx.session, code=code, name=name, starts_on=start, ends_on=end, source="staff"
    )
    return [
        ctx.say(
            "recruit.campaign.saved",
            code=campaign.code,
            name=campaign.name,
            start=fmt_date(start),
            end=fmt_date(end),
        )
    ]


# -- one-time role invites ------------------------------------------------------------------------


def _area_names(areas: AreaIndex, codes: list[str]) -> str:
    return "; ".join(a.name for a in (areas.by_code(c) for c in codes) if a is not None)


def _recipient_key(ctx: Ctx, family: str, user_id: str) -> str:
    """A keyed hash of the account an invite is meant for ("telegram" or "zalo" and its id)."""
    return str(ctx.services.crypto.lookup_hash(f"invite-recipient:{family}:{user_id}"))


def _family(channel: str) -> str:
    return "zalo" if channel.startswith("zalo") else channel


def _invite_hash(ctx: Ctx, code: str) -> str:
    return str(ctx.services.crypto.lookup_hash("invite-code:" + code))


async def invite_member(ctx: Ctx) -> list[Outgoing]:
    """/moithanhvien <role> [areas] [cho <id>]: a one-time code for a new volunteer or
    collaborator; with "cho <Telegram id>" or "cho zalo <Zalo id>" only that account can use it."""
    if not await _may(ctx, "people.manage"):
        return [ctx.say("recruit.people.not_staff")]
    word, _, rest = ctx.inbound.args.strip().partition(" ")
    role = ROLE_WORDS.get(fold(word).replace(" ", ""))
    if role is None:
        return [ctx.say("recruit.people.usage")]
    recipient = None
    for_whom = ""
    named = _RECIPIENT.search(rest)
    if named is not None:
        family = "zalo" if (named[1] or "").lower() == "zalo" else "telegram"
        recipient = _recipient_key(ctx, family, named[2])
        for_whom = ctx.t(f"recruit.people.for_{family}", id=named[2])
        rest = rest[: named.start()]
    areas: AreaIndex = ctx.services.areas
    area_codes = []
    for raw in re.split(r"[;,]", rest):
        name = raw.strip()
        if not name:
            continue
        area = areas.by_name(name)
        if area is None:
            guesses = [a.name for a in areas.search(name, limit=3)]
            hint = ctx.t("recruit.people.area_hint", names=", ".join(guesses)) if guesses else ""
            return [ctx.say("recruit.people.bad_area", name=name[:60], hint=hint)]
        area_codes.append(area.code)
    hours = invite_config(ctx.services).invite_hours
    _invite, code = await repo.create_invite(
        ctx.session,
        role=role,
        area_codes=area_codes,
        created_by=f"{ctx.inbound.channel}:{ctx.inbound.user_id}",
        now=ctx.now,
        hash_code=lambda c: _invite_hash(ctx, c),
        valid_for=timedelta(hours=hours),
        recipient=recipient,
    )
    names = ""
    if area_codes:
        names = ctx.t("recruit.people.areas", names=_area_names(areas, area_codes))
    return [
        ctx.say(
            "recruit.people.code",
            role=ctx.t(f"recruit.role.{role}"),
            areas=names,
            code=codes.shown(code),
            hours=hours,
            for_whom=for_whom,
        )
    ]


async def join_with_code(ctx: Ctx) -> list[Outgoing]:
    """/thamgia <code>: register this account in the role the code was made for.

    Wrong codes are limited per account and per channel (bot/core/code_guard.py)."""
    arg = ctx.inbound.args.strip()
    if not arg:
        return [ctx.say("recruit.people.usage_join")]
    minutes = int(INVITE_LIMITS.window.total_seconds() // 60)
    limit = await code_guard.blocked(ctx, repo.INVITE_PURPOSE, INVITE_LIMITS)
    if limit is not None:
        return [ctx.say(f"recruit.people.too_many_{limit}", minutes=minutes)]
    code = codes.clean(arg)
    if not codes.well_formed(code):
        return [ctx.say("recruit.people.bad_format", length=codes.CODE_LENGTH)]
    recipient = _recipient_key(ctx, _family(ctx.inbound.channel), ctx.inbound.user_id)
    invite = await repo.redeem_invite(ctx.session, _invite_hash(ctx, code), ctx.now, recipient)
    if invite is None:
        await code_guard.failed(
            ctx, repo.INVITE_PURPOSE, INVITE_LIMITS, "recruit.people.guard_what"
        )
        return [ctx.say("recruit.people.bad_code")]
    display = " ".join(ctx.inbound.display_name.split())
    person = await people_repo.add_person(
        ctx.session,
        role=invite.role,
        channel=ctx.inbound.channel,
        external_id=ctx.inbound.user_id,
        name_enc=ctx.services.crypto.encrypt(display) if display else None,
        area_codes=invite.areas,
    )
    invite.used_by_person_id = person.id
    areas: AreaIndex = ctx.services.areas
    names = ctx.t("recruit.people.areas", names=_area_names(areas, invite.areas))
    if invite.role == "volunteer":
        next_step = ctx.t("recruit.people.next_volunteer")
    elif invite.role == "collaborator":
        next_step = ctx.t("recruit.people.next_collaborator")
    else:
        next_step = ctx.t("recruit.people.next_other")
    return [
        ctx.say(
            "recruit.people.joined",
            role=ctx.t(f"recruit.role.{invite.role}"),
            areas=names if invite.areas else "",
            next=next_step,
        )
    ]


# -- the staff group ------------------------------------------------------------------------------

_GROUP_COMMANDS: dict[str, Callable[[Ctx], Awaitable[list[Outgoing]]]] = {
    "moithanhvien": invite_member,
    "chiendich": campaigns_command,
    "bangxephang": leaderboard_command,
}


async def group_command(ctx: Ctx) -> list[Outgoing] | None:
    """The same staff commands in a group chat; from anyone but staff they are not ours."""
    inbound = ctx.inbound
    if inbound.kind is not Kind.COMMAND or inbound.command not in _GROUP_COMMANDS:
        return None
    if not await _may(ctx, "people.manage"):
        return None
    return await _GROUP_COMMANDS[inbound.command](ctx)


def register() -> Feature:
    return Feature(
        name=__name__,
        commands={
            "moiban": invite_command,
            "bangxephang": leaderboard_command,
            "chiendich": campaigns_command,
            "moithanhvien": invite_member,
            "thamgia": join_with_code,
        },
        group=(group_command,),
        jobs=(Job("recruit.standings", STANDINGS_JOB_SECONDS, standings_job),),
        # Before other free-text handlers (the FAQ matcher would take "MA K7M2QX" for a
        # question); it answers only when the text is a code that exists, or is clearly one.
        text=(TextHandler(on_text, PRIORITY_CODES),),
        offers={"start_payload": on_start_payload, "arrival": on_arrival},
        cli_commands=(
            CliCommand("export", export_cli.HELP, export_cli.add_arguments, export_cli.run),
        ),
        config=(InviteConfig,),
    )
