"""Contacts, their channel identities and their conversation state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ChannelIdentity, Contact, ConversationState, utcnow


async def find_identity(
    session: AsyncSession, channel: str, external_id: str
) -> ChannelIdentity | None:
    return await session.scalar(
        select(ChannelIdentity).where(
            ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
        )
    )


async def resolve_identity(
    session: AsyncSession, channel: str, external_id: str, chat_id: str
) -> ChannelIdentity:
    """Find or create the identity (and its contact). Safe against two first messages racing."""
    found = await session.scalar(
        select(ChannelIdentity).where(
            ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
        )
    )
    if found is not None:
        return found
    try:
        async with session.begin_nested():
            contact = Contact()
            session.add(contact)
            await session.flush()
            identity = ChannelIdentity(
                contact_id=contact.id, channel=channel, external_id=external_id, chat_id=chat_id
            )
            session.add(identity)
            await session.flush()
            return identity
    except IntegrityError:
        found = await session.scalar(
            select(ChannelIdentity).where(
                ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
            )
        )
        assert found is not None
        return found


async def lock_contact(session: AsyncSession, contact_id: int) -> Contact | None:
    """Row lock that serialises work per contact across processes.

    SQLite has no row locks and a single writer, so there is nothing to take there.
    """
    if session.bind.dialect.name == "sqlite":
        return None
    return await session.scalar(select(Contact).where(Contact.id == contact_id).with_for_update())


async def identities_of(session: AsyncSession, contact_id: int) -> list[ChannelIdentity]:
    rows = await session.scalars(
        select(ChannelIdentity)
        .where(ChannelIdentity.contact_id == contact_id)
        .order_by(ChannelIdentity.last_inbound_at.desc().nulls_last(), ChannelIdentity.id.desc())
    )
    return list(rows)


async def touch_identity(
    session: AsyncSession, identity: ChannelIdentity, message_id: str | None, now: datetime
) -> None:
    identity.last_inbound_at = now
    identity.unreachable = False
    if message_id:
        identity.last_message_id = message_id


async def mark_unreachable(session: AsyncSession, channel: str, chat_id: str) -> None:
    rows = await session.scalars(
        select(ChannelIdentity).where(
            ChannelIdentity.channel == channel, ChannelIdentity.chat_id == chat_id
        )
    )
    for identity in rows:
        identity.unreachable = True


async def load_state(session: AsyncSession, contact_id: int) -> ConversationState:
    state = await session.get(ConversationState, contact_id)
    if state is None:
        state = ConversationState(contact_id=contact_id, data={}, flow_version=0)
        session.add(state)
    return state


def save_state(
    state: ConversationState,
    *,
    flow: str | None,
    step: str | None,
    data: dict[str, Any],
    flow_version: int,
) -> None:
    unchanged = (state.flow, state.step, state.data, state.flow_version) == (
        flow,
        step,
        data,
        flow_version,
    )
    if unchanged and state.updated_at is not None:
        return  # no UPDATE for a step that changed nothing (reading, browsing)
    state.flow = flow
    state.step = step
    state.data = dict(data)  # a new object so the JSON column is marked dirty
    state.flow_version = flow_version
    state.updated_at = utcnow()
