"""Readiness: a process is ready when the database takes a write, not only a read.

A full disk or a read-only file system still answers ``SELECT 1``; rewriting one small row
per process shows whether an event could be recorded now.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from storage.events import insert_for
from storage.models import HealthProbe


async def probe_write(session: AsyncSession, owner: str, now: datetime) -> None:
    insert = insert_for(session)(HealthProbe).values(owner=owner, at=now)
    await session.execute(insert.on_conflict_do_update(index_elements=["owner"], set_={"at": now}))
