"""Several bot processes behind a load balancer share one PostgreSQL: the same guarantees hold.

Two apps with their own engines and connection pools stand in for two processes.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from bot.core.events import Address, Inbound, Kind
from storage.migrate import upgrade_async
from storage.models import ChannelIdentity, Contact, ProcessedEvent
from tests.driver import CaptureChannel


def _press(key: str, payload: str, user: str = "4242") -> Inbound:
    return Inbound(Address("test", user), user, Kind.BUTTON, dedupe_key=key, payload=payload)


async def _two_apps(make_app, url: str):
    await upgrade_async(url)
    channels = [CaptureChannel(), CaptureChannel()]
    apps = [await make_app(c, url=url, create_schema=False) for c in channels]
    return apps, channels


async def test_the_same_update_reaching_two_processes_is_answered_once(make_app, pg_url) -> None:
    (first, second), channels = await _two_apps(make_app, pg_url)
    await first.process(_press("warm", "menu:main"))
    event = _press("test:77", "rights:who")
    sent_before = sum(len(c.sent) for c in channels)
    results = await asyncio.gather(first.process(event), second.process(event))
    assert sorted(len(r) for r in results) == [0, 1]  # one answered, the other saw a duplicate
    assert sum(len(c.sent) for c in channels) == sent_before + 1
    async with first.db.session() as session:
        keys = await session.scalar(select(func.count()).select_from(ProcessedEvent))
    assert keys == 2


async def test_first_messages_racing_on_two_processes_make_one_contact(make_app, pg_url) -> None:
    (first, second), _ = await _two_apps(make_app, pg_url)
    events = [_press(f"k{i}", "rights:index", user="5151") for i in range(10)]
    await asyncio.gather(*((first if i % 2 else second).process(e) for i, e in enumerate(events)))
    async with first.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Contact)) == 1
        assert await session.scalar(select(func.count()).select_from(ChannelIdentity)) == 1
        assert await session.scalar(select(func.count()).select_from(ProcessedEvent)) == 10
