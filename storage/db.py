"""Engine and sessions for SQLite (default) and PostgreSQL (scale-out).

SQLite gets WAL and a busy timeout so the console, the scheduler and webhook processing can share
one file; PostgreSQL gets a pool. Both speak through the same repositories.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import StaticPool


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    kwargs: dict[str, Any] = {"echo": echo}
    if is_sqlite(url):
        if ":memory:" in url or url.rstrip("/").endswith("sqlite+aiosqlite:"):
            # One shared connection, or each session would see its own empty database.
            kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            kwargs.update(connect_args={"timeout": 30})
    else:
        kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
    engine = create_async_engine(url, **kwargs)
    if is_sqlite(url):

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()

    return engine


class Database:
    """The one handle the app passes around: an engine and a session factory."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite allows one writer; queueing writers here is far cheaper than SQLite's busy
        # handler, which sleeps and retries. PostgreSQL needs no such lock.
        self._write_lock = asyncio.Lock() if is_sqlite(url) else None
        self._lock_owner: asyncio.Task[object] | None = None

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        lock = self._write_lock
        me = asyncio.current_task()
        if lock is None or self._lock_owner is me:
            async with self.sessions() as session, session.begin():
                yield session
            return
        async with lock:
            self._lock_owner = me
            try:
                async with self.sessions() as session, session.begin():
                    yield session
            finally:
                self._lock_owner = None

    async def reachable(self) -> bool:
        """``SELECT 1`` answers: for the readiness check."""
        try:
            async with self.sessions() as session:
                await session.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def create_all(self) -> None:
        """Create every table without Alembic: for in-memory test databases only."""
        from storage.models import Base
        from storage.registry import import_all_models

        import_all_models()
        async with self.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)

    async def dispose(self) -> None:
        await self.engine.dispose()
