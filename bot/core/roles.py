"""One answer to "may this person do X, and in which scope": for the chat and the dashboard.

Roles come from the database (`congdoan-bot people add`, invite codes) and from ``[staff]`` in
config.toml (the first administrators), whose ids hold only on their own channel: a Zalo account
whose id happens to equal a configured Telegram id gets nothing. An action names the roles that
may do it; the grant says where: ``areas`` (commune codes of content/areas.csv) and
``union_bodies`` (the body an application is routed to), each None for "everywhere". Staff
act everywhere they may act. Every staff feature asks here, so a rule is written once and the
web dashboard asks the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage import membership as membership_repo
from storage import people as people_repo
from storage import recruitment as recruit_repo

# action -> the roles that may do it, in the order their registration is looked up
ACTIONS: dict[str, tuple[str, ...]] = {
    "membership.review": ("staff", "membership"),  # /donmoi: admit or return applications
    "leads.work": ("volunteer", "staff"),  # /leads: claim and visit enterprises without a union
    "legal.answer": ("legal",),  # answer workers' questions (lawyers only, not all staff)
    "recruit.invite": ("collaborator", "volunteer", "staff"),  # /moiban, /bangxephang
    "people.manage": ("staff",),  # /moithanhvien, /chiendich changes, staff-group commands
    "broadcast.send": ("staff",),  # announcements: compose, send, approve another's big one
}
STAFF = "staff"
# roles that may sign in to the staff dashboard (collaborators only invite, from the chat)
DASHBOARD_ROLES = ("staff", "membership", "legal", "volunteer")


@dataclass(frozen=True)
class Who:
    """A platform account asking (the chat sender, or a dashboard login)."""

    channel: str
    user_id: str


@dataclass(frozen=True)
class Grant:
    """What a person may do for one action: ``None`` areas or bodies mean all of them."""

    action: str
    roles: frozenset[str]
    areas: frozenset[str] | None = None
    union_bodies: frozenset[str] | None = None
    person: people_repo.Person | None = None  # their registration for the action, if any

    @property
    def everywhere(self) -> bool:
        return self.areas is None and self.union_bodies is None

    def covers(self, *, area: str | None = None, union_body: str | None = None) -> bool:
        """True when the grant reaches this area and this union body (None = not asked)."""
        if area is not None and self.areas is not None and area not in self.areas:
            return False
        return not (
            union_body is not None
            and self.union_bodies is not None
            and union_body not in self.union_bodies
        )


DEFAULT_CHANNEL = "telegram"  # ``[staff] role = [ids]`` without a channel: Telegram ids
# role -> ids, or channel -> {role -> ids}
Configured = Mapping[str, Iterable[Any] | Mapping[str, Iterable[Any]]]


def _per_channel(configured: Configured | None) -> dict[str, dict[str, set[str]]]:
    """channel -> role -> ids, from ``{role: ids}`` (Telegram) and ``{channel: {role: ids}}``."""
    found: dict[str, dict[str, set[str]]] = {}
    for key, value in (configured or {}).items():
        if isinstance(value, Mapping):
            for role, ids in value.items():
                found.setdefault(str(key), {}).setdefault(str(role), set()).update(
                    str(i) for i in ids
                )
        else:
            found.setdefault(DEFAULT_CHANNEL, {}).setdefault(str(key), set()).update(
                str(i) for i in value
            )
    return found


class Roles:
    """The roles service; built once in ``build_app`` from the configured ``[staff]`` table:
    ``{role: [Telegram ids]}`` and/or ``{channel: {role: [ids]}}`` (see bot/config.staff_ids)."""

    def __init__(self, configured: Configured | None = None) -> None:
        self.channels = _per_channel(configured)

    def configured_ids(self, role: str, channel: str = DEFAULT_CHANNEL) -> list[str]:
        """Accounts given a role in config.toml on one channel (Telegram by default)."""
        return sorted(self.channels.get(channel, {}).get(role, ()))

    def configured_accounts(self, role: str) -> list[Who]:
        """Every account given a role in config.toml, on every channel, e.g. to notify them."""
        found = [
            Who(channel, i) for channel, roles in self.channels.items() for i in roles.get(role, ())
        ]
        return sorted(found, key=lambda w: (w.channel, w.user_id))

    async def accounts_with(self, session: AsyncSession, role: str) -> list[Who]:
        """Configured and registered accounts holding ``role`` (registered: active ones)."""
        found = set(self.configured_accounts(role))
        for person in await people_repo.people_with_role(session, role):
            found.add(Who(person.channel, person.external_id))
        return sorted(found, key=lambda w: (w.channel, w.user_id))

    def configured_roles(self, who: Who) -> set[str]:
        roles = self.channels.get(who.channel, {})
        return {role for role, ids in roles.items() if str(who.user_id) in ids}

    async def roles_of(self, session: AsyncSession, who: Who) -> set[str]:
        roles = await people_repo.roles_of(session, who.channel, who.user_id)
        return roles | self.configured_roles(who)

    async def grant(self, session: AsyncSession, who: Who, action: str) -> Grant | None:
        """The person's grant for ``action``, or None when they may not do it at all."""
        if action not in ACTIONS:
            raise KeyError(f"unknown action {action!r}; known: {', '.join(sorted(ACTIONS))}")
        held = await self.roles_of(session, who)
        roles = frozenset(held & set(ACTIONS[action]))
        if not roles:
            return None
        person = await recruit_repo.person_for(
            session, who.channel, who.user_id, [r for r in ACTIONS[action] if r in roles]
        )
        if STAFF in roles:
            return Grant(action, roles, person=person)
        areas: frozenset[str] | None = None
        bodies: frozenset[str] | None = None
        if "volunteer" in roles and action == "leads.work":
            # a configured volunteer without a registration covers no area yet
            codes = await people_repo.areas_of(session, person.id) if person else []
            areas = frozenset(codes)
        if "membership" in roles:
            found = await membership_repo.staff_union_bodies(session, who.channel, who.user_id)
            bodies = frozenset(found) or None  # an officer without a body sees every body
        return Grant(action, roles, areas, bodies, person)

    async def may(
        self,
        session: AsyncSession,
        who: Who,
        action: str,
        *,
        area: str | None = None,
        union_body: str | None = None,
    ) -> bool:
        """May ``who`` do ``action`` (in this area / for this union body)?"""
        grant = await self.grant(session, who, action)
        return grant is not None and grant.covers(area=area, union_body=union_body)
