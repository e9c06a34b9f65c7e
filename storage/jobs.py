"""Periodic jobs run once across processes: a lease per job, taken with one UPDATE.

Every process runs the same job loops; whichever first finds a job due and its lease free
runs it, and the others see the next run time moved and wait for it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.events import insert_for
from storage.models import JobRun


async def take_turn(
    session: AsyncSession, name: str, owner: str, now: datetime, lease: timedelta, every: float
) -> bool:
    """True when this process is to run ``name`` now (its lease taken until ``now + lease``)."""
    await session.execute(
        insert_for(session)(JobRun)
        .values(name=name, next_run_at=now + timedelta(seconds=every))
        .on_conflict_do_nothing(index_elements=["name"])
    )
    won = await session.execute(
        update(JobRun)
        .where(
            JobRun.name == name,
            JobRun.next_run_at <= now,
            or_(JobRun.lease_until.is_(None), JobRun.lease_until < now),
        )
        .values(lease_owner=owner, lease_until=now + lease)
    )
    return won.rowcount == 1


async def turn_done(
    session: AsyncSession, name: str, owner: str, now: datetime, every: float
) -> None:
    await session.execute(
        update(JobRun)
        .where(JobRun.name == name, JobRun.lease_owner == owner)
        .values(
            lease_owner=None,
            lease_until=None,
            last_run_at=now,
            next_run_at=now + timedelta(seconds=every),
        )
    )


async def next_run(session: AsyncSession, name: str) -> datetime | None:
    return await session.scalar(select(JobRun.next_run_at).where(JobRun.name == name))
