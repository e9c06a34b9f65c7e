"""Contacts, their channel identities and their conversation state."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Row, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from storage.events import dialect_name, insert_for
from storage.models import ChannelIdentity, Contact, ConversationState, utcnow

# The event path reads and writes these tables with plain statements, no ORM objects: a
# button press is then a handful of statements rather than a unit of work (issue #16).
_IDENTITIES = ChannelIdentity.__table__
_STATES = ConversationState.__table__

# Built once: building a statement costs about as much as running it on the loop's thread.
_I = _IDENTITIES.c
_CONTACTS = Contact.__table__
_FIND_IDS = select(_I.id, _I.contact_id).where(
    _I.channel == bindparam("b_channel"), _I.external_id == bindparam("b_ext")
)
_TOUCH = (
    update(_IDENTITIES)
    .where(_I.id == bindparam("b_id"))
    .values(last_inbound_at=bindparam("b_now", type_=_I.last_inbound_at.type), unreachable=False)
)
_TOUCH_WITH_MESSAGE = _TOUCH.values(last_message_id=bindparam("b_message"))
_S = _STATES.c
_STATE_ROW = select(_S.flow, _S.step, _S.flow_version, _S.data).where(
    _S.contact_id == bindparam("b_contact")
)
# The identity with its contact's state, one read at every event (``state_contact`` is None
# while the contact has no state row yet).
_IDENTITY_ROW = (
    select(_I.contact_id, _I.last_inbound_at, _I.unreachable, _S.contact_id.label("state_contact"),
           _S.flow, _S.step, _S.flow_version, _S.data)
    .select_from(_IDENTITIES.outerjoin(_STATES, _S.contact_id == _I.contact_id))
    .where(_I.id == bindparam("b_id"))
)  # fmt: skip
_WRITE_STATE = (
    update(_STATES)
    .where(_S.contact_id == bindparam("b_contact"))
    .values(
        flow=bindparam("b_flow", type_=_S.flow.type),
        step=bindparam("b_step", type_=_S.step.type),
        data=bindparam("b_data", type_=_S.data.type),
        flow_version=bindparam("b_version", type_=_S.flow_version.type),
        updated_at=bindparam("b_now", type_=_S.updated_at.type),
    )
)


async def identity_ids(
    session: AsyncSession, channel: str, external_id: str
) -> tuple[int, int] | None:
    """(identity id, contact id) of a channel account, if known: the engine's look-up."""
    row = (await session.execute(_FIND_IDS, {"b_channel": channel, "b_ext": external_id})).first()
    return (row.id, row.contact_id) if row is not None else None


_LOCK_CONTACT = select(_CONTACTS.c.id).where(_CONTACTS.c.id == bindparam("b_id")).with_for_update()
_NOW = bindparam("b_now", type_=_CONTACTS.c.created_at.type)
_NEW_CONTACT = (
    insert(_CONTACTS).values(created_at=_NOW, last_seen_at=_NOW).returning(_CONTACTS.c.id)
)


@cache
def _new_identity_statement(insert: Any) -> Any:
    """Built once per dialect's INSERT (``insert_for``), as the first contact's others."""
    return (
        insert(_IDENTITIES)
        .values(contact_id=bindparam("b_contact"), channel=bindparam("b_channel"),
                external_id=bindparam("b_ext"), chat_id=bindparam("b_chat"), unreachable=False,
                created_at=bindparam("b_now", type_=_I.created_at.type))
        .on_conflict_do_nothing(index_elements=["channel", "external_id"])
        .returning(_I.id)
    )  # fmt: skip


async def resolve_identity_ids(
    session: AsyncSession, channel: str, external_id: str, chat_id: str
) -> tuple[int, int]:
    """(identity id, contact id), the contact and identity created on first contact.

    Two first messages racing (two processes on PostgreSQL): the identity's insert does
    nothing on the unique (channel, account) and waits for the other's commit, so the loser
    removes the contact it made and takes the winner's. Plain statements, no savepoint: a QR
    poster at a factory gate brings a thousand first contacts at once."""
    found = await identity_ids(session, channel, external_id)
    if found is not None:
        return found
    now = utcnow()
    contact_id = (await session.execute(_NEW_CONTACT, {"b_now": now})).scalar_one()
    params = {"b_contact": contact_id, "b_channel": channel, "b_ext": external_id,
              "b_chat": chat_id, "b_now": now}  # fmt: skip
    identity_id = (
        await session.execute(_new_identity_statement(insert_for(session)), params)
    ).scalar_one_or_none()
    if identity_id is not None:
        return identity_id, contact_id
    await session.execute(delete(_CONTACTS).where(_CONTACTS.c.id == contact_id))
    found = await identity_ids(session, channel, external_id)
    assert found is not None, "the identity that won the race is committed"
    return found


async def resolve_identity(
    session: AsyncSession, channel: str, external_id: str, chat_id: str
) -> ChannelIdentity:
    """``resolve_identity_ids`` for callers that want the identity as an object."""
    identity_id, _contact_id = await resolve_identity_ids(session, channel, external_id, chat_id)
    identity = await session.get(ChannelIdentity, identity_id)
    assert identity is not None
    return identity


async def lock_contact(session: AsyncSession | AsyncConnection, contact_id: int) -> None:
    """Row lock that serialises work per contact across processes.

    SQLite has no row locks and a single writer, so there is nothing to take there.
    """
    if dialect_name(session) == "sqlite":
        return
    await session.execute(_LOCK_CONTACT, {"b_id": contact_id})


async def identities_of(session: AsyncSession, contact_id: int) -> list[ChannelIdentity]:
    rows = await session.scalars(
        select(ChannelIdentity)
        .where(ChannelIdentity.contact_id == contact_id)
        .order_by(ChannelIdentity.last_inbound_at.desc().nulls_last(), ChannelIdentity.id.desc())
    )
    return list(rows)


async def mark_unreachable(session: AsyncSession, channel: str, chat_id: str) -> None:
    rows = await session.scalars(
        select(ChannelIdentity).where(
            ChannelIdentity.channel == channel, ChannelIdentity.chat_id == chat_id
        )
    )
    for identity in rows:
        identity.unreachable = True


async def identity_row(session: AsyncSession, identity_id: int) -> Row[Any] | None:
    """(contact_id, last_inbound_at, unreachable) of an identity, with its contact's state
    for ``state_of``; None once it is gone."""
    return (await session.execute(_IDENTITY_ROW, {"b_id": identity_id})).first()


async def touch_identity_row(
    session: AsyncSession, identity_id: int, message_id: str | None, now: datetime
) -> None:
    """Seen now on this identity: last seen now, reachable again, the message id kept
    (Zalo OA answers within a window of the last message)."""
    if message_id:
        params = {"b_id": identity_id, "b_now": now, "b_message": message_id}
        await session.execute(_TOUCH_WITH_MESSAGE, params)
    else:
        await session.execute(_TOUCH, {"b_id": identity_id, "b_now": now})


@dataclass
class StateRow:
    """A contact's conversation state as the engine read it, written back only if changed.

    The comparison is with the data as read (``snapshot``), not with ``data`` itself: a
    handler may change a nested part of the copy it was given, which is shared with it."""

    contact_id: int
    flow: str | None = None
    step: str | None = None
    flow_version: int = 0
    data: dict[str, Any] = field(default_factory=dict)
    snapshot: str = field(init=False)

    def __post_init__(self) -> None:
        self.snapshot = _canonical(self.data)

    def unchanged(
        self, flow: str | None, step: str | None, data: dict[str, Any], flow_version: int
    ) -> bool:
        return (self.flow, self.step, self.flow_version) == (flow, step, flow_version) and (
            self.snapshot == _canonical(data)
        )


def _canonical(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)


async def state_of(
    session: AsyncSession, contact_id: int, *, read: Row[Any] | None = None
) -> StateRow:
    """The contact's state (from ``read``, the ``identity_row`` of this contact, when given);
    a first one is inserted at once, so that the write at the end of the event is always an
    UPDATE (which finds nothing, harmlessly, when the event merged this contact into another
    and deleted it)."""
    if read is None:
        row = (await session.execute(_STATE_ROW, {"b_contact": contact_id})).first()
    else:
        row = read if read.state_contact is not None else None
    if row is not None:
        return StateRow(contact_id, row.flow, row.step, row.flow_version or 0, row.data or {})
    await session.execute(
        insert_for(session)(_STATES)
        .values(contact_id=contact_id, data={}, flow_version=0, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["contact_id"])
    )
    return StateRow(contact_id)


async def write_state(
    session: AsyncSession,
    state: StateRow,
    *,
    flow: str | None,
    step: str | None,
    data: dict[str, Any],
    flow_version: int,
) -> None:
    if state.unchanged(flow, step, data, flow_version):
        return  # no UPDATE for a step that changed nothing (reading, browsing)
    params = {"b_contact": state.contact_id, "b_flow": flow, "b_step": step,
              "b_data": dict(data), "b_version": flow_version, "b_now": utcnow()}  # fmt: skip
    await session.execute(_WRITE_STATE, params)


async def load_state(session: AsyncSession, contact_id: int) -> ConversationState:
    """The state as an ORM object (tests inspect it; the engine uses ``state_of``)."""
    state = await session.get(ConversationState, contact_id)
    if state is None:
        state = ConversationState(contact_id=contact_id, data={}, flow_version=0)
        session.add(state)
    return state
