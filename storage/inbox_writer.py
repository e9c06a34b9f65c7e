"""Webhook events that arrive together are recorded in one transaction (group commit).

A webhook is acknowledged only once its event is committed, and Zalo gives 2 s for that. On
SQLite every write transaction waits for the one writer, behind the events being processed: 500
events posted at once, each in a transaction of its own, took 4 s for the last acknowledgement.
Here the events that arrive while a write is waiting for its turn join it, and one commit
records them all; each caller still gets its own row id (or None for a repeated delivery).

While events are being recorded, processing waits before it takes up its next event (``calm``,
at most ``YIELD_SECONDS``): on PostgreSQL there is no single writer to queue behind, and the
acknowledgements then compete with processing for the CPU and the connections; a 500-event
burst waited 4.8 s for its last acknowledgement.

A batch that fails is written again one event at a time, so one bad event fails only its own
webhook (answered with an error, and the platform delivers it again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from storage import events as events_repo
from storage.db import Database

log = logging.getLogger(__name__)

MAX_BATCH = 200  # events per commit; a larger burst is written in several
YIELD_SECONDS = 1.0  # the longest processing waits for acknowledgements before it goes on


@dataclass
class _Pending:
    key: str
    channel: str
    payload: dict[str, Any]
    user_key: str
    sequence: int
    done: asyncio.Future[int | None] = field(repr=False)


class InboxWriter:
    """Records inbound events durably, many per commit when many arrive at once."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pending: list[_Pending] = []
        self._flushing: asyncio.Task[None] | None = None
        self.batches = 0  # commits made (tests and benchmarks read it)
        self._quiet = asyncio.Event()
        self._quiet.set()

    async def record(
        self,
        key: str,
        channel: str,
        payload: dict[str, Any],
        *,
        user_key: str = "",
        sequence: int = 0,
    ) -> int | None:
        """The event's inbox row id once committed; None when it was delivered before."""
        item = _Pending(key, channel, payload, user_key, sequence, _future())
        item.done.add_done_callback(_observed)  # a caller that went away leaves no warning
        self._pending.append(item)
        if self._flushing is None:
            self._quiet.clear()
            self._flushing = asyncio.create_task(self._flush(), name="inbox-writer")
        return await asyncio.shield(item.done)

    async def _flush(self) -> None:
        try:
            while self._pending:
                await self._write_turn()
        except BaseException as exc:  # cancelled at shutdown: nobody is left waiting
            for item in self._pending:
                _fail(item, RuntimeError(f"inbox writer stopped: {exc!r}"))
            self._pending = []
            raise
        finally:
            self._flushing = None
            self._quiet.set()

    async def calm(self) -> None:
        """Return once no event is being recorded, or after ``YIELD_SECONDS`` at the most (a
        steady stream of webhooks must not stop processing altogether)."""
        if self._quiet.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._quiet.wait(), YIELD_SECONDS)

    async def _write_turn(self) -> None:
        batch: list[_Pending] = []
        try:
            async with self.db.transaction(urgent=True) as session:
                # Everything queued while this write waited for the database joins it.
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                ids = [await self._insert(session, item) for item in batch]
        except Exception as exc:
            if not batch:  # the database could not be opened: the webhooks are answered 5xx
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                for item in batch:
                    _fail(item, exc)
            elif len(batch) == 1:
                _fail(batch[0], exc)
            else:
                log.warning("inbox: a batch of %d events failed, recorded one by one", len(batch))
                for item in batch:
                    await self._one(item)
            return
        self.batches += 1
        for item, row_id in zip(batch, ids, strict=True):
            if not item.done.done():
                item.done.set_result(row_id)

    async def _one(self, item: _Pending) -> None:
        try:
            async with self.db.transaction(urgent=True) as session:
                row_id = await self._insert(session, item)
        except Exception as exc:
            _fail(item, exc)
            return
        self.batches += 1
        if not item.done.done():
            item.done.set_result(row_id)

    @staticmethod
    async def _insert(session: Any, item: _Pending) -> int | None:
        return await events_repo.record_inbox(
            session,
            item.key,
            item.channel,
            item.payload,
            user_key=item.user_key,
            sequence=item.sequence,
        )


def _fail(item: _Pending, exc: BaseException) -> None:
    if not item.done.done():
        item.done.set_exception(exc)


def _observed(done: asyncio.Future[int | None]) -> None:
    if not done.cancelled():
        done.exception()


def _future() -> asyncio.Future[int | None]:
    return asyncio.get_running_loop().create_future()
