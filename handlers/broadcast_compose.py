"""What staff decide about an announcement, written once for the CLI, the chat and the dashboard.

- Who: staff are named by their platform account, ``telegram:7501`` (``staff_ref``); the CLI's
  ``--by 7501`` means the same account. Only holders of a role that may ``broadcast.send``
  (city staff) compose, send or approve.
- Preview: what each channel shows (numbered answers where there are no buttons) and how many
  people it reaches there; text over a channel's limit is a problem that refuses sending.
- Send: the announcement is scheduled (now, or at its time) and the running bot's scheduler
  starts it; an audience over ``[broadcast] approval_over`` (10,000) first waits for a second
  staff member: someone holding the role who is not the author.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.events import Address, Choices, Photo
from bot.core.roles import Roles, Who
from bot.core.texts import Texts
from bot.core.wording import numbered_list
from handlers.broadcast_send import DEFAULT_LIMITS, BroadcastConfig, render, resolve_audience
from storage import broadcasts as repo
from storage.people import people_with_role

ACTION = "broadcast.send"
TEXT_MAX = 2000  # the strictest channel (Zalo); the preview checks each channel exactly
CLOSED = (repo.RUNNING, repo.DONE, repo.CANCELLED)


def staff_ref(who: Who) -> str:
    """How an announcement names its author and approver: the platform account."""
    return f"{who.channel}:{who.user_id}"


def staff_who(text: str) -> Who:
    """``7501`` (a Telegram id, as `congdoan-bot people` takes) or ``telegram:7501``."""
    channel, _, user = text.strip().rpartition(":")
    if not user:
        raise ValueError("a staff account is a Telegram id such as 7501")
    return Who(channel or "telegram", user)


def address_of(who: Who) -> Address:
    """A staff account's private chat with the bot (on Telegram the chat id is the user id)."""
    return Address(who.channel, who.user_id)


async def is_staff(session: AsyncSession, roles: Roles, who: Who) -> bool:
    return await roles.may(session, who, ACTION)


# -- preview ---------------------------------------------------------------------------------


@dataclass
class ChannelView:
    """One channel's view of an announcement: what it shows, to how many, and what is wrong."""

    name: str
    size: int
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def channel_views(
    broadcast: repo.Broadcast,
    texts: Texts,
    channels: Mapping[str, Any],
    sizes: Mapping[str, int],
) -> list[ChannelView]:
    """Every known channel (the configured ones and the three the bot speaks), in name order."""
    limits: dict[str, tuple[int, bool, bool]] = {
        name: (limit, name != "zalo_bot", name != "zalo_bot")
        for name, limit in DEFAULT_LIMITS.items()
    }
    for name, channel in channels.items():
        caps = channel.capabilities
        limits[name] = (caps.max_text, bool(caps.buttons), bool(getattr(caps, "photos", True)))
    views = []
    for name, (limit, buttons, photos) in sorted(limits.items()):
        view = ChannelView(name, int(sizes.get(name, 0)))
        for item in render(broadcast, texts, photos=photos):
            if isinstance(item, Photo):
                view.lines.append(f"[ảnh {item.filename}, {len(item.data) // 1024} KB]")
                continue
            assert isinstance(item, Choices)
            if buttons:
                shown = item.text
                view.lines += [shown, *(f"[{o.label}]" for o in item.options)]
            else:
                shown = numbered_list(item.text, item.options)
                view.lines.append(shown)
            if len(shown) > limit:
                view.problems.append(f"{name}: {len(shown)} ký tự, quá giới hạn {limit}")
        views.append(view)
    return views


async def sizes_in(session: AsyncSession, broadcast: repo.Broadcast, areas: Any) -> dict[str, int]:
    """How many people it reaches now, per channel, read in the caller's session."""
    audience = resolve_audience(broadcast.audience, areas)
    exclude = resolve_audience(broadcast.exclude, areas) if broadcast.exclude else None
    contacts = await repo.audience_contacts(session, repo.audience_query(audience, exclude))
    sizes: dict[str, int] = {}
    for channel, _ in (await repo.reachable_addresses(session, contacts)).values():
        sizes[channel] = sizes.get(channel, 0) + 1
    return sizes


# -- decisions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """What happened: ``outcome`` is a word the caller turns into its own message."""

    outcome: str
    broadcast: repo.Broadcast | None = None
    size: int = 0


async def request_send(
    session: AsyncSession,
    broadcast_id: int,
    *,
    roles: Roles,
    who: Who,
    config: BroadcastConfig,
    areas: Any,
    problems: list[str],
    now: datetime,
) -> Decision:
    """The author's "Gửi": scheduled (the scheduler starts it), or waiting for a second staff
    member. Outcomes: ``not_staff``, ``missing``, ``closed``, ``too_long``, ``empty``,
    ``needs_approval``, ``scheduled``."""
    if not await is_staff(session, roles, who):
        return Decision("not_staff")
    broadcast = await repo.get_for_update(session, broadcast_id)
    if broadcast is None:
        return Decision("missing")
    if broadcast.status != repo.DRAFT:
        return Decision("closed", broadcast)
    if problems:
        return Decision("too_long", broadcast)
    size = sum((await sizes_in(session, broadcast, areas)).values())
    if size == 0:
        return Decision("empty", broadcast)
    if broadcast.scheduled_at is None or broadcast.scheduled_at < now:
        broadcast.scheduled_at = now
    if size > config.approval_over and not broadcast.approved_by:
        broadcast.status = repo.AWAITING_APPROVAL
        return Decision("needs_approval", broadcast, size)
    broadcast.status = repo.SCHEDULED
    return Decision("scheduled", broadcast, size)


async def approve(
    session: AsyncSession, broadcast_id: int, *, roles: Roles, who: Who, now: datetime
) -> Decision:
    """A second staff member's approval. Outcomes: ``not_staff`` (no staff role), ``missing``,
    ``own`` (the author cannot approve their own), ``closed`` (sent, sending or cancelled),
    ``already`` (approved before), ``approved``. An announcement that was waiting is then
    scheduled when it has a time (the author pressed "Gửi", or gave ``--at``), otherwise it
    stays a draft for ``congdoan-bot broadcast send``."""
    if not await is_staff(session, roles, who):
        return Decision("not_staff")
    broadcast = await repo.get_for_update(session, broadcast_id)
    if broadcast is None:
        return Decision("missing")
    if staff_ref(who) == broadcast.created_by:
        return Decision("own", broadcast)
    if broadcast.status in CLOSED:
        return Decision("closed", broadcast)
    if broadcast.approved_by:
        return Decision("already", broadcast)
    broadcast.approved_by = staff_ref(who)
    if broadcast.status == repo.AWAITING_APPROVAL:
        broadcast.status = repo.SCHEDULED if broadcast.scheduled_at else repo.DRAFT
        if broadcast.scheduled_at is not None and broadcast.scheduled_at < now:
            broadcast.scheduled_at = now
    return Decision("approved", broadcast)


async def cancel(session: AsyncSession, broadcast_id: int, *, roles: Roles, who: Who) -> Decision:
    """Drop an announcement that has not started (the author's "Hủy", or "Không duyệt")."""
    if not await is_staff(session, roles, who):
        return Decision("not_staff")
    broadcast = await repo.get_for_update(session, broadcast_id)
    if broadcast is None:
        return Decision("missing")
    if broadcast.status in CLOSED:
        return Decision("closed", broadcast)
    broadcast.status = repo.CANCELLED
    return Decision("cancelled", broadcast)


async def staff_accounts(session: AsyncSession, roles: Roles) -> list[Who]:
    """Every account holding the staff role on Telegram (to ask for an approval)."""
    found = {Who("telegram", i) for i in roles.configured_ids("staff")}
    for person in await people_with_role(session, "staff"):
        found.add(Who(person.channel, person.external_id))
    return sorted((w for w in found if w.channel == "telegram"), key=lambda w: w.user_id)
