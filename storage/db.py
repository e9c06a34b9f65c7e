"""Engine and sessions for SQLite (default) and PostgreSQL (scale-out).

SQLite gets WAL and a busy timeout so the console, the scheduler and webhook processing can share
one file; PostgreSQL gets a pool. Both speak through the same repositories.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import StaticPool

from storage.loop_sqlite import LOOP_BUSY_TIMEOUT_S, inline_creator

if TYPE_CHECKING:
    from storage.crypto import DataCipher


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL; None for in-memory databases and other engines."""
    if not is_sqlite(url):
        return None
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def create_owner_only(path: Path) -> None:
    """Create the SQLite file (and its folder) readable by the bot's user only, before SQLite
    opens it: SQLite gives its WAL and shared-memory files the database file's mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def is_unavailable(exc: BaseException) -> bool:
    """True for failures of the database itself (gone, disk full, read-only), not of the data.

    The engine turns a handler's error into a polite reply; these instead propagate, so the
    delivery pipeline keeps the event and retries it once the database is back."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, ConnectionError | OSError) and not isinstance(exc, FileNotFoundError)


def make_engine(url: str, *, echo: bool = False, on_loop: bool = False) -> AsyncEngine:
    """The engine for ``url``; ``on_loop`` (a SQLite file only) runs its statements on the
    event loop's thread instead of aiosqlite's (``storage.loop_sqlite``)."""
    path = sqlite_path(url)
    if path is not None:
        create_owner_only(path)
    kwargs: dict[str, Any] = {"echo": echo}
    if on_loop:
        if path is None:
            raise ValueError("only a SQLite file runs on the loop's thread")
        # One connection: every user is on this thread, and the writer's turn is taken first.
        kwargs.update(async_creator=inline_creator(path), pool_size=1, max_overflow=4)
    elif is_sqlite(url):
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
            busy_ms = int(LOOP_BUSY_TIMEOUT_S * 1000) if on_loop else 30000
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()

    return engine


class WriterTurns:
    """SQLite's one writer, taken in turn, first come first served, except that an urgent
    writer goes before every other waiting one.

    Urgent is a webhook's acknowledgement (``storage.inbox_writer``): Zalo waits 2 s for it,
    and behind the events being processed a burst of 500 waited 4 s. Urgent turns are short
    (one commit records every event that arrived meanwhile), so processing waits briefly."""

    def __init__(self) -> None:
        self._held = False
        self.owner: asyncio.Task[object] | None = None  # the task holding it, for re-entry
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._normal: deque[asyncio.Future[None]] = deque()

    async def acquire(self, *, urgent: bool = False) -> None:
        if not self._held and not self._urgent and not self._normal:
            self._held = True
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._normal).append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # handed the turn, then cancelled
                self.release()
            raise

    def release(self) -> None:
        for waiting in (self._urgent, self._normal):
            while waiting:
                turn = waiting.popleft()
                if not turn.done():
                    turn.set_result(None)  # the turn passes on; the writer stays held
                    return
        self._held = False


# One set of turns per SQLite file in this process, shared by every Database opened on it (the
# tests run three apps on one file; a second Database would otherwise wait in SQLite's busy
# handler, which on the loop's thread stops the loop, and the holder with it).
_TURNS: weakref.WeakValueDictionary[str, WriterTurns] = weakref.WeakValueDictionary()


def writer_turns(url: str) -> WriterTurns:
    path = sqlite_path(url)
    if path is None:
        return WriterTurns()  # in memory: the database is this handle's alone
    key = str(path.resolve())
    turns = _TURNS.get(key)
    if turns is None:
        turns = WriterTurns()
        _TURNS[key] = turns
    return turns


@asynccontextmanager
async def _closing(make: Callable[[], Any], *, on_loop: bool) -> AsyncIterator[Any]:
    """A session or connection from ``make``, closed at the end. Their ``__aexit__`` closes
    through a new task under ``asyncio.shield`` (so a cancellation cannot interrupt the close):
    three turns of the loop and about 40 µs a transaction, a sixth of a button press. On the
    loop's thread the close never suspends, so nothing can interrupt it: awaited directly."""
    if not on_loop:
        async with make() as handle:
            yield handle
        return
    handle = make()
    if isinstance(handle, AsyncConnection):
        await handle.start()
    try:
        yield handle
    finally:
        await handle.close()


_NOTHING_PENDING = frozenset({"new", "dirty", "deleted"})


class StepSession:
    """The ORM session of one event's step, opened on the step's connection only when a
    handler first uses it. Most steps (a menu, a form's button) read and write only the state
    and the dedupe key, in plain statements on the connection, and a session with its
    transaction costs about 80 µs more than the connection's own. ``info``, ``bind`` and what is
    pending answer without opening it (the repositories ask for the cipher, the dialect and
    whether to flush)."""

    __slots__ = ("_conn", "_info", "opened")

    def __init__(self, conn: AsyncConnection, info: dict[str, Any]) -> None:
        self._conn = conn
        self._info = info
        self.opened: AsyncSession | None = None

    @property
    def info(self) -> dict[str, Any]:
        return self._info

    @property
    def bind(self) -> AsyncConnection:
        return self._conn

    def __getattr__(self, name: str) -> Any:
        if self.opened is None:
            if name in _NOTHING_PENDING:  # ``flush_pending`` asks: nothing, without opening it
                return ()
            # Joined to the connection's transaction: the step commits or rolls back the
            # connection; the session's own commit would not end it, its rollback would.
            self.opened = AsyncSession(
                bind=self._conn,
                expire_on_commit=False,
                info=self._info,
                join_transaction_mode="rollback_only",
            )
        return getattr(self.opened, name)

    async def flush(self) -> None:
        """Write what a handler left pending, before the step's own statements."""
        if self.opened is not None:
            await self.opened.flush()


class Database:
    """The one handle the app passes around: an engine and a session factory."""

    def __init__(self, url: str, *, echo: bool = False, cipher: DataCipher | None = None) -> None:
        self.url = url
        self.cipher = cipher
        self.engine = make_engine(url, echo=echo)
        # Repositories that must never write personal data in plaintext (inbox payloads, outbox
        # messages, stored replies) find the cipher in ``session.info``.
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, info={"cipher": cipher}
        )
        # SQLite allows one writer; queueing writers here is far cheaper than SQLite's busy
        # handler, which sleeps and retries. PostgreSQL needs no such lock.
        self._write_lock = writer_turns(url) if is_sqlite(url) else None
        # The short transactions of one event (the dedupe key, state, replies, inbox rows) run
        # on the loop's thread on a SQLite file; elsewhere they are ordinary sessions.
        self.loop_engine: AsyncEngine | None = None
        self.short_sessions = self.sessions
        if sqlite_path(url) is not None:
            self.loop_engine = make_engine(url, echo=echo, on_loop=True)
            self.short_sessions = async_sessionmaker(
                self.loop_engine, expire_on_commit=False, info={"cipher": cipher}
            )

    def use_cipher(self, cipher: DataCipher) -> None:
        """Seal what the repositories store transiently with the app's data key."""
        self.cipher = cipher
        self.sessions.kw["info"] = {"cipher": cipher}
        self.short_sessions.kw["info"] = {"cipher": cipher}

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    @asynccontextmanager
    async def short_session(self) -> AsyncIterator[AsyncSession]:
        """A read of a few rows by key, on the loop's thread (a SQLite file): no thread hop."""
        async with _closing(self.short_sessions, on_loop=self.loop_engine is not None) as session:
            yield session

    @asynccontextmanager
    async def transaction(self, *, urgent: bool = False) -> AsyncIterator[AsyncSession]:
        """A write transaction; on SQLite it waits for the writer's turn (``urgent`` first)."""
        async with self._writer(self.sessions, urgent=urgent) as session:
            yield session

    @asynccontextmanager
    async def short_transaction(self, *, urgent: bool = False) -> AsyncIterator[AsyncSession]:
        """A write transaction of a few statements by key — one event's step, an inbox or
        outbox row — on the loop's thread when the database is a SQLite file. What it runs
        holds the loop as well as the writer: no report belongs in it."""
        async with self._writer(self.short_sessions, urgent=urgent) as session:
            yield session

    @asynccontextmanager
    async def short_statements(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction of a prebuilt statement or two and no ORM session — a reply's
        mark before it goes out, the mark cleared after — at about half a session's cost
        (120 against 210 µs here). Sealing is the caller's: ``cipher``."""
        engine = self.loop_engine or self.engine
        async with self._turn(urgent=False):
            async with _closing(engine.connect, on_loop=engine is self.loop_engine) as conn:
                async with conn.begin():
                    yield conn

    @asynccontextmanager
    async def step(self) -> AsyncIterator[tuple[AsyncConnection, StepSession]]:
        """One event's write transaction: a connection for the step's plain statements and,
        on the same transaction, the handlers' ORM session, opened only if one uses it."""
        async with self.short_statements() as conn:
            session = StepSession(conn, {"cipher": self.cipher})
            try:
                yield conn, session
            finally:
                if session.opened is not None:
                    await session.opened.close()

    @asynccontextmanager
    async def _writer(
        self, sessions: async_sessionmaker[AsyncSession], *, urgent: bool
    ) -> AsyncIterator[AsyncSession]:
        on_loop = sessions is self.short_sessions and self.loop_engine is not None
        async with self._turn(urgent=urgent):
            async with _closing(sessions, on_loop=on_loop) as session, session.begin():
                yield session

    @asynccontextmanager
    async def _turn(self, *, urgent: bool) -> AsyncIterator[None]:
        """The SQLite writer's turn (re-entered by the task holding it); nothing elsewhere."""
        lock = self._write_lock
        me = asyncio.current_task()
        if lock is None or lock.owner is me:
            yield
            return
        await lock.acquire(urgent=urgent)
        lock.owner = me
        try:
            yield
        finally:
            lock.owner = None
            lock.release()

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
        from storage.models import complete_metadata

        metadata = complete_metadata()
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.loop_engine is not None:
            await self.loop_engine.dispose()
