"""SQLite called on the event loop's own thread, for the short transactions of one event.

aiosqlite runs every statement on a worker thread and hands the result back through the
loop: on this machine each hop costs 145–370 µs against about 27 µs of SQLite's own work, and
a button press makes fifteen of them. A statement of the event path touches a few rows by key
in a WAL file whose commits do not fsync (``synchronous=NORMAL``), so running it right here
costs less than the hop. SQLAlchemy's aiosqlite dialect stays in charge; only the connection
under it is swapped (``create_async_engine(async_creator=...)``) for one whose coroutines
finish without suspending.

What must not come here: long reads (reports, dashboard pages, exports). They would stop the
loop for their whole length, so they keep aiosqlite's thread (``Database.sessions``).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

# Waiting for another process's write lock blocks the loop, so it is short here: a CLI command
# writing beside the bot holds it for milliseconds. Longer, and the statement fails as
# "database is locked", which the delivery pipeline treats as the database being unavailable:
# the event is kept and tried again.
LOOP_BUSY_TIMEOUT_S = 2.0


class InlineCursor:
    """An aiosqlite-shaped cursor whose coroutines run sqlite3 at once."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> Any:
        self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, seq: Iterable[Any]) -> Any:
        self._cursor.executemany(sql, seq)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size or self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class _Immediate:
    """Stands in for aiosqlite's request queue, which SQLAlchemy's dialect uses to set the
    isolation level: the request is carried out on the spot."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:  # handed back to the caller through the future
            future.set_exception(exc)


class InlineConnection:
    """An aiosqlite-shaped connection over a sqlite3 connection owned by the loop's thread."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._connection: sqlite3.Connection | None = conn  # aiosqlite's "still open" mark
        self._tx = _Immediate()

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor())

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Close at once (also SQLAlchemy's forced close): nothing runs elsewhere to stop."""
        if self._connection is not None:
            self._connection = None
            self._conn.close()


def inline_creator(path: Path) -> Callable[[], Any]:
    """The ``async_creator`` for ``create_async_engine``: opens the file on this thread."""

    async def connect() -> InlineConnection:
        conn = sqlite3.connect(
            str(path),
            timeout=LOOP_BUSY_TIMEOUT_S,
            check_same_thread=False,  # closed by the pool, possibly from a finaliser
            isolation_level="",  # sqlite3's implicit BEGIN before writes, as aiosqlite's
        )
        return InlineConnection(conn)

    return connect
