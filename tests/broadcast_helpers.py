"""Shared set-up for the announcement tests: subscribers in bulk, an announcement, a sender."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert

from handlers.broadcast_send import BroadcastConfig, Broadcaster
from storage import broadcasts as repo
from storage.models import ChannelIdentity, Contact

NO_QUIET = BroadcastConfig(
    quiet_start=BroadcastConfig().quiet_end, quiet_end=BroadcastConfig().quiet_end
)


async def seed_subscribers(
    db: Any,
    user_ids: list[int],
    *,
    channel: str = "telegram",
    topic: str = "campaign",
    now: datetime,
    seen: datetime | None = None,
) -> dict[int, int]:
    """Contacts with one identity each and an active subscription; returns user id -> contact."""
    async with db.transaction() as session:
        contacts: dict[int, int] = {}
        for user_id in user_ids:
            result = await session.execute(insert(Contact).values(created_at=now, last_seen_at=now))
            contacts[user_id] = result.inserted_primary_key[0]
        await session.execute(
            insert(ChannelIdentity),
            [
                {
                    "contact_id": c,
                    "channel": channel,
                    "external_id": str(u),
                    "chat_id": str(u),
                    "last_inbound_at": seen or now - timedelta(hours=1),
                    "unreachable": False,
                    "created_at": now,
                    "last_message_id": f"m{u}",
                }
                for u, c in contacts.items()
            ],
        )
        await session.execute(
            insert(repo.Subscription),
            [
                {
                    "contact_id": c,
                    "topic": topic,
                    "notice_version": "test",
                    "channel": channel,
                    "given_at": now,
                }
                for c in contacts.values()
            ],
        )
    return contacts


async def new_broadcast(db: Any, now: datetime, **values: Any) -> int:
    fields = {"text": "Tháng Công nhân 2027 bắt đầu!", "audience": "all", "created_by": "test",
              "created_at": now, **values}  # fmt: skip
    async with db.transaction() as session:
        return (await repo.create(session, **fields)).id


def sender(app: Any, channels: dict[str, Any] | None = None, **kwargs: Any) -> Broadcaster:
    kwargs.setdefault("config", NO_QUIET)
    return Broadcaster(
        app.db,
        app.texts,
        channels if channels is not None else app.channels,
        areas=app.engine.services.areas,
        clock=app.engine.clock,
        **kwargs,
    )


async def counts(db: Any, broadcast_id: int) -> dict[str, int]:
    async with db.session() as session:
        return await repo.counts(session, broadcast_id)
