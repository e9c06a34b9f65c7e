"""Zalo Official Account state that must outlive a process: tokens, reply windows, held messages.

Three things live here (../shared/PLATFORMS.md §3):

- ``zalo_oa_tokens``: one row per OA with the access/refresh token pair. Zalo refresh tokens are
  single-use, so exactly one process may spend one: the refresher locks the row (``SELECT ... FOR
  UPDATE`` on PostgreSQL; a write that takes SQLite's database lock first, like ``BEGIN
  IMMEDIATE``), re-reads it, and only calls the refresh endpoint if nobody rotated the pair in the
  meantime. The new pair is written in the same transaction, before anyone uses it.
- ``zalo_oa_windows``: per worker, how many of the 8 free replies of the current 48-hour window
  were used. The window itself is the worker's last message as the engine records it on the
  channel identity (``last_inbound_at``, ``last_message_id``): a reply must carry that message id
  to count as a reply; after 48 hours or 8 replies the OA may not answer until the worker writes
  again. Nothing is written here when a webhook is acknowledged, only when a reply is sent.
- ``zalo_oa_undelivered``: what could not be sent inside the window. Nothing is dropped: the row
  stays ``queued`` (staff see it, see ``list_undelivered``) and goes out first, in order, the
  next time the bot answers the worker (who has written again, opening a new window). A held
  message is personal data (a lawyer's answer, a membership card with the member's name): its
  content is sealed like the outbox's (``seal_json``) and dropped once it was delivered or
  superseded; staff read it with ``undelivered_content``.

``ZaloOAStore`` is the object the OA adapter talks to (it matches the ``TokenStore`` and
``WindowStore`` protocols of bot/channels/zalo_oa.py without importing it: storage depends on no
other part of the bot). Tokens are secrets: with a data key they are stored encrypted.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Integer, String, Text, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.crypto import DataCipher, open_json, seal_json, session_cipher
from storage.db import Database
from storage.models import Base, ChannelIdentity, utcnow

WINDOW = timedelta(hours=48)
FREE_REPLIES = 8
# A queued message delivered when the worker came back is not sent again when the outbox
# retries the original send within this time (the outbox gives up after about 25 minutes).
REDELIVERY_GUARD = timedelta(hours=2)
_SEALED = "enc:"
DROPPED: dict[str, Any] = {"redacted": True}  # a held message's content once it went out


class ZaloOAToken(Base):
    __tablename__ = "zalo_oa_tokens"

    oa_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    access_token: Mapped[str] = mapped_column(Text)
    refresh_token: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime]
    rotations: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ZaloOAWindow(Base):
    __tablename__ = "zalo_oa_windows"

    oa_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The worker's last message (ChannelIdentity.last_inbound_at, last_message_id) the count
    # belongs to: a newer message starts a new window and the count starts again.
    counted_since: Mapped[datetime | None] = mapped_column(default=None)
    counted_message_id: Mapped[str | None] = mapped_column(String(128), default=None)
    replies_used: Mapped[int] = mapped_column(Integer, default=0)
    # Payloads of the numbered list sent last (more options than Zalo's 5 buttons), so a typed
    # number can be mapped back; None when the last message was anything else.
    numbered: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ZaloOAUndelivered(Base):
    __tablename__ = "zalo_oa_undelivered"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    oa_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    tag: Mapped[str | None] = mapped_column(String(128), default=None)
    reason: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_at: datetime
    rotations: int = 0


@dataclass(frozen=True)
class Reservation:
    """The outcome of asking for reply slots: ``ok`` with the message id to reply to, or why not.

    ``reason`` is "window_closed" (no message in the last 48 hours), "quota_used" (the 8 free
    replies are spent) or "already_delivered" (this exact message went out from the queue).
    """

    ok: bool
    message_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class HeldMessage:
    id: int
    content: dict[str, Any]
    tag: str | None
    fingerprint: str


Refresher = Callable[[str], Awaitable[tuple[str, str, int]]]


def fingerprint(
    user_id: str, content: dict[str, Any], tag: str | None, cipher: DataCipher | None = None
) -> str:
    """Identifies one message to one worker, so a retried send is never queued twice.

    Keyed with the data key when there is one: a message may hold the worker's name or phone
    (a confirmation screen), and a plain hash of it could be checked against guesses by anyone
    who reads the table."""
    blob = json.dumps([user_id, content, tag], sort_keys=True, ensure_ascii=False)
    if cipher is not None:
        return cipher.lookup_hash(blob)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ZaloOAStore:
    """The OA adapter's database: token rotation, reply windows and the held-message queue."""

    def __init__(
        self, db: Database, *, cipher: DataCipher | None = None, owns_db: bool = False
    ) -> None:
        self.db = db
        self._cipher = cipher
        self._owns_db = owns_db
        self._closed = False
        self._rotating: dict[str, asyncio.Lock] = {}

    @classmethod
    def for_url(cls, url: str, data_key: str | None = None) -> ZaloOAStore:
        """A store with its own connection pool (the channel is built before the app's DB)."""
        cipher = DataCipher(data_key) if data_key else None
        return cls(Database(url), cipher=cipher, owns_db=True)

    async def close(self) -> None:
        """Release the pool. A send still finishing during shutdown may use the store once more:
        its connection is released again right after (see ``_transaction``)."""
        self._closed = True
        if self._owns_db:
            await self.db.dispose()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        try:
            async with self.db.transaction() as session:
                yield session
        finally:
            if self._closed and self._owns_db:
                await self.db.dispose()

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncSession]:
        try:
            async with self.db.session() as session:
                yield session
        finally:
            if self._closed and self._owns_db:
                await self.db.dispose()

    def _content_cipher(self, session: AsyncSession) -> DataCipher | None:
        """The store's cipher, else the one the app's sessions carry."""
        return self._cipher or session_cipher(session)

    # -- tokens ---------------------------------------------------------------------------
    def _seal(self, secret: str) -> str:
        return _SEALED + self._cipher.encrypt(secret) if self._cipher else secret

    def _open(self, stored: str) -> str:
        if stored.startswith(_SEALED):
            if self._cipher is None:
                raise ValueError("Zalo OA tokens are encrypted: set CONGDOAN_DATA_KEY")
            return self._cipher.decrypt(stored[len(_SEALED) :])
        return stored

    def _tokens(self, row: ZaloOAToken) -> Tokens:
        return Tokens(
            self._open(row.access_token),
            self._open(row.refresh_token),
            row.expires_at,
            row.rotations,
        )

    async def load_tokens(self, oa_id: str) -> Tokens | None:
        async with self._transaction() as session:
            row = await session.get(ZaloOAToken, oa_id)
            return self._tokens(row) if row is not None else None

    async def seed_tokens(
        self, oa_id: str, access_token: str, refresh_token: str, expires_at: datetime
    ) -> Tokens:
        """Store the configured pair once; afterwards the database is the source of truth.

        The refresh token in the environment is spent by the first rotation, so after a
        restart the stored pair must win over the (stale) configured one.
        """
        try:
            async with self._transaction() as session:
                row = await session.get(ZaloOAToken, oa_id)
                if row is None:
                    row = ZaloOAToken(
                        oa_id=oa_id,
                        access_token=self._seal(access_token),
                        refresh_token=self._seal(refresh_token),
                        expires_at=expires_at,
                        rotations=0,
                    )
                    session.add(row)
                    await session.flush()
                return self._tokens(row)
        except IntegrityError:  # another process seeded it at the same moment
            found = await self.load_tokens(oa_id)
            assert found is not None
            return found

    async def rotate_tokens(
        self, oa_id: str, stale_access_token: str, refresh: Refresher, now: datetime
    ) -> Tokens:
        """Replace ``stale_access_token`` by a fresh pair, calling ``refresh`` at most once.

        Under the row lock: if the stored access token is no longer the stale one, another
        process (or task) already rotated and its pair is returned without a refresh call.
        Otherwise ``refresh(refresh_token)`` returns (access, refresh, expires_in seconds) and
        the new pair is committed before it is returned. A failed refresh raises and leaves the
        stored pair untouched.
        """
        lock = self._rotating.setdefault(oa_id, asyncio.Lock())
        async with lock, self._transaction() as session:
            row = await _lock_token_row(session, oa_id)
            if row is None:
                raise LookupError(f"no Zalo OA tokens stored for OA {oa_id}")
            current = self._tokens(row)
            if current.access_token != stale_access_token:
                return current
            access, refresh_token, expires_in = await refresh(current.refresh_token)
            row.access_token = self._seal(access)
            row.refresh_token = self._seal(refresh_token)
            row.expires_at = now + timedelta(seconds=max(60, expires_in))
            row.rotations = (row.rotations or 0) + 1
            row.updated_at = now
            await session.flush()
            return self._tokens(row)

    # -- reply windows --------------------------------------------------------------------
    async def numbered_for(self, oa_id: str, user_id: str) -> list[str] | None:
        """The payloads of the numbered list the worker saw last, if the last message was one.

        A read only, so acknowledging a webhook takes no write lock for it.
        """
        async with self._reading() as session:
            numbered = await session.scalar(
                select(ZaloOAWindow.numbered).where(
                    ZaloOAWindow.oa_id == oa_id, ZaloOAWindow.user_id == user_id
                )
            )
            return list(numbered) if numbered else None

    async def reserve(
        self,
        oa_id: str,
        user_id: str,
        parts: int,
        now: datetime,
        *,
        channel: str = "zalo_oa",
        numbered: Sequence[str] | None = None,
        content: dict[str, Any] | None = None,
        tag: str | None = None,
        held_first: bool = True,
    ) -> Reservation:
        """Take ``parts`` free replies in the open window, atomically across processes.

        The window is the one the engine records on the worker's channel identity (time and
        id of their last message, in the same transaction that claims the event, so a replay
        never reopens it); the message id is returned as recorded. On success the numbered-list
        state is replaced (``numbered`` or None). With ``content`` (a normal send, not a
        delivery from the queue) a queued copy of the same message is superseded, and a message
        that already went out from the queue is not sent twice when the outbox retries it. With
        ``held_first``, messages held for the worker must go first: the answer is then
        "held_first" and nothing is taken.
        """
        async with self._transaction() as session:
            cipher = self._content_cipher(session)
            fp = fingerprint(user_id, content, tag, cipher) if content is not None else None
            identity = await session.scalar(
                select(ChannelIdentity).where(
                    ChannelIdentity.channel == channel, ChannelIdentity.external_id == user_id
                )
            )
            since = identity.last_inbound_at if identity is not None else None
            if fp is not None and await _recently_delivered(session, oa_id, user_id, fp, now):
                return Reservation(False, reason="already_delivered")
            if identity is None or since is None or now - since > WINDOW:
                return Reservation(False, reason="window_closed")
            row = await _window(session, oa_id, user_id)
            if (row.counted_since, row.counted_message_id) != (since, identity.last_message_id):
                row.counted_since, row.counted_message_id = since, identity.last_message_id
                row.replies_used = 0
            if held_first and await _has_held(session, oa_id, user_id):
                return Reservation(False, reason="held_first")
            if row.replies_used + parts > FREE_REPLIES:
                return Reservation(False, reason="quota_used")
            row.replies_used += parts
            row.numbered = list(numbered) if numbered else None
            row.updated_at = utcnow()
            if fp is not None:
                await session.execute(
                    update(ZaloOAUndelivered)
                    .where(
                        ZaloOAUndelivered.oa_id == oa_id,
                        ZaloOAUndelivered.user_id == user_id,
                        ZaloOAUndelivered.fingerprint == fp,
                        ZaloOAUndelivered.status == "queued",
                    )
                    .values(status="superseded", delivered_at=now, content=DROPPED)
                )
            return Reservation(True, message_id=identity.last_message_id)

    async def release(self, oa_id: str, user_id: str, parts: int) -> None:
        """Give back slots of a send the platform refused (it did not count as a reply)."""
        async with self._transaction() as session:
            row = await _window(session, oa_id, user_id)
            row.replies_used = max(0, row.replies_used - parts)

    # -- held messages --------------------------------------------------------------------
    async def hold(
        self,
        oa_id: str,
        user_id: str,
        content: dict[str, Any],
        tag: str | None,
        reason: str,
        now: datetime,
    ) -> int:
        """Queue a message that may not be sent now; the same message is queued only once."""
        async with self._transaction() as session:
            fp = fingerprint(user_id, content, tag, self._content_cipher(session))
            existing = await session.scalar(
                select(ZaloOAUndelivered).where(
                    ZaloOAUndelivered.oa_id == oa_id,
                    ZaloOAUndelivered.user_id == user_id,
                    ZaloOAUndelivered.fingerprint == fp,
                    ZaloOAUndelivered.status == "queued",
                )
            )
            if existing is not None:
                existing.reason = reason
                return existing.id
            row = ZaloOAUndelivered(
                oa_id=oa_id,
                user_id=user_id,
                fingerprint=fp,
                content=seal_json(self._content_cipher(session), content),
                tag=tag,
                reason=reason,
                created_at=now,
            )
            session.add(row)
            await session.flush()
            return row.id

    async def held_for(self, oa_id: str, user_id: str) -> list[HeldMessage]:
        """Queued messages for one worker, oldest first."""
        async with self._transaction() as session:
            rows = await session.scalars(
                select(ZaloOAUndelivered)
                .where(
                    ZaloOAUndelivered.oa_id == oa_id,
                    ZaloOAUndelivered.user_id == user_id,
                    ZaloOAUndelivered.status == "queued",
                )
                .order_by(ZaloOAUndelivered.id)
            )
            cipher = self._content_cipher(session)
            return [
                HeldMessage(r.id, dict(open_json(cipher, r.content)), r.tag, r.fingerprint)
                for r in rows
            ]

    async def mark_delivered(self, held_id: int, now: datetime) -> None:
        async with self._transaction() as session:
            await session.execute(
                update(ZaloOAUndelivered)
                .where(ZaloOAUndelivered.id == held_id)
                .values(status="delivered", delivered_at=now, content=DROPPED)
            )


# -- queries (also for staff tools) -----------------------------------------------------------
async def list_undelivered(
    session: AsyncSession, *, status: str = "queued", limit: int = 200
) -> list[ZaloOAUndelivered]:
    """Messages waiting for their worker to write again: what staff should follow up by phone."""
    rows = await session.scalars(
        select(ZaloOAUndelivered)
        .where(ZaloOAUndelivered.status == status)
        .order_by(ZaloOAUndelivered.created_at)
        .limit(limit)
    )
    return list(rows)


def undelivered_content(session: AsyncSession, row: ZaloOAUndelivered) -> dict[str, Any]:
    """A held message's content, unsealed (the app's data key)."""
    return dict(open_json(session_cipher(session), row.content))


async def _lock_token_row(session: AsyncSession, oa_id: str) -> ZaloOAToken | None:
    """The token row, locked for the rest of the transaction on every backend."""
    if session.bind.dialect.name == "sqlite":
        # SQLite has no row locks: a write first takes the database write lock (what BEGIN
        # IMMEDIATE does), so a second refresher waits here and then re-reads the new pair.
        await session.execute(
            update(ZaloOAToken)
            .where(ZaloOAToken.oa_id == oa_id)
            .values(rotations=ZaloOAToken.rotations)
        )
    row = await session.scalar(
        select(ZaloOAToken)
        .where(ZaloOAToken.oa_id == oa_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return row


async def _window(session: AsyncSession, oa_id: str, user_id: str) -> ZaloOAWindow:
    """The worker's window row, created when missing, locked for the transaction."""
    where = (ZaloOAWindow.oa_id == oa_id, ZaloOAWindow.user_id == user_id)
    if session.bind.dialect.name == "sqlite":
        # Take SQLite's write lock first (as BEGIN IMMEDIATE would): no row locks there.
        await session.execute(
            update(ZaloOAWindow).where(*where).values(replies_used=ZaloOAWindow.replies_used)
        )
    query = select(ZaloOAWindow).where(*where).with_for_update()
    row = await session.scalar(query.execution_options(populate_existing=True))
    if row is not None:
        return row
    try:
        async with session.begin_nested():
            row = ZaloOAWindow(oa_id=oa_id, user_id=user_id, replies_used=0)
            session.add(row)
            await session.flush()
            return row
    except IntegrityError:  # created by another process a moment ago
        row = await session.scalar(query.execution_options(populate_existing=True))
        assert row is not None
        return row


async def _has_held(session: AsyncSession, oa_id: str, user_id: str) -> bool:
    found = await session.scalar(
        select(ZaloOAUndelivered.id)
        .where(
            ZaloOAUndelivered.oa_id == oa_id,
            ZaloOAUndelivered.user_id == user_id,
            ZaloOAUndelivered.status == "queued",
        )
        .limit(1)
    )
    return found is not None


async def _recently_delivered(
    session: AsyncSession, oa_id: str, user_id: str, fp: str, now: datetime
) -> bool:
    found = await session.scalar(
        select(ZaloOAUndelivered.id)
        .where(
            ZaloOAUndelivered.oa_id == oa_id,
            ZaloOAUndelivered.user_id == user_id,
            ZaloOAUndelivered.fingerprint == fp,
            ZaloOAUndelivered.status == "delivered",
            ZaloOAUndelivered.delivered_at >= now - REDELIVERY_GUARD,
        )
        .limit(1)
    )
    return found is not None
