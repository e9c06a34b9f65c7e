"""The engine: one Inbound in, the replies out, with the conversation state saved in between.

It resolves the person behind a channel account, serialises work per person (an in-process
lock plus a row lock for several processes on PostgreSQL), refuses a delivery it has already
processed, routes (global commands, the active flow, button payloads, free text), saves the
state and writes notifications for other people to the outbox — all in one transaction, so a
crash never leaves half a conversation step behind. The engine never sends: the caller does.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.core.context import (
    Clock,
    Ctx,
    DeliveryHook,
    Handler,
    JobContext,
    Services,
    enqueue_outgoing,
)
from bot.core.events import (
    Address,
    Choices,
    Inbound,
    Kind,
    Outgoing,
    Receipt,
    RequestContact,
    Text,
    outgoing_from_json,
    outgoing_to_json,
    pick_by_label,
    pick_by_number,
)
from bot.core.texts import Texts
from storage import contacts as contacts_repo
from storage import events as events_repo
from storage.db import Database, StepSession, is_unavailable
from storage.models import utcnow

if TYPE_CHECKING:
    from bot.core.feature import Composition, Job

log = logging.getLogger(__name__)

# How stale "last seen on this channel" may get before it is written again. Channels that reply
# within a window (Zalo OA) need every message id, and are written every time.
TOUCH_INTERVAL = timedelta(minutes=10)
REPLY_LEASE = timedelta(seconds=30)  # how long unsent replies are left to the process sending
IDENTITY_CACHE = 100_000  # (channel, user) -> (identity, contact) entries kept in memory
MAX_TEXT = 4000  # longer input is cut before routing; nobody types more on a phone


def system_clock() -> datetime:
    return datetime.now(UTC)


async def reachable_address(session: AsyncSession, contact_id: int) -> Address | None:
    """Where to reach a person later: the channel they used most recently that still works."""
    for identity in await contacts_repo.identities_of(session, contact_id):
        if not identity.unreachable:
            return Address(identity.channel, identity.chat_id)
    return None


class _Duplicate(Exception):
    """The event's dedupe key was already processed; roll back and answer nothing."""


class _Retry(Exception):
    """The sender's identity moved to another contact (account linking) mid-event."""


class _KeyedLocks:
    """One asyncio.Lock per key (FIFO for waiters), dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Any, list[Any]] = {}

    @asynccontextmanager
    async def hold(self, key: Any) -> AsyncIterator[None]:
        entry = self._locks.setdefault(key, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._locks.pop(key, None)


class Engine:
    def __init__(
        self,
        db: Database,
        texts: Texts,
        *,
        clock: Clock = system_clock,
        buttonless_channels: set[str] | None = None,
        reply_window_channels: set[str] | None = None,
        services: Services,
    ) -> None:
        self.db = db
        self.texts = texts
        self.clock = clock
        self.buttonless_channels = set(buttonless_channels or ())
        self.reply_window_channels = set(reply_window_channels or ())
        self.services = services
        self.commands: dict[str, Handler] = {}
        self.payloads: dict[str, Handler] = {}
        self.flows: dict[str, Handler] = {}
        self.text_handlers: list[Handler] = []
        self.group_handlers: list[Handler] = []
        self.first_contact_handler: Handler | None = None
        self.fallback: Handler | None = None
        self.delivery_hooks: dict[str, DeliveryHook] = {}
        self.jobs: list[Job] = []
        self.after_commit: list[Callable[[], None]] = []
        self.reply_lease = REPLY_LEASE
        self._user_locks = _KeyedLocks()
        self._contact_locks = _KeyedLocks()
        self._identities: OrderedDict[tuple[str, str], tuple[int, int]] = OrderedDict()
        self.unknown_replies = 0  # replies found mid-send after a crash, not sent again

    # -- wiring (build_app installs the composed features) ------------------------------------
    def install(self, comp: Composition) -> None:
        """Route what the features declared (``bot/core/feature.py`` checked the duplicates)."""
        self.commands = dict(comp.commands)
        self.payloads = dict(comp.payloads)
        self.flows = dict(comp.flows)
        self.text_handlers = list(comp.text)
        self.group_handlers = list(comp.group)
        self.first_contact_handler = comp.first_contact
        self.fallback = comp.fallback
        self.delivery_hooks = dict(comp.delivery_hooks)
        self.jobs = list(comp.jobs)

    def job_context(self, now: datetime | None = None) -> JobContext:
        return JobContext(self.services, now or self.clock())

    async def run_job(self, name: str, now: datetime | None = None) -> bool:
        """Run one declared job now; True when it queued messages (tests, the app's loop)."""
        job = next((j for j in self.jobs if j.name == name), None)
        if job is None:
            raise KeyError(f"no job {name!r}; declared: {', '.join(j.name for j in self.jobs)}")
        ctx = self.job_context(now)
        await job.run(ctx)
        self._fire_after_commit(ctx.queued)
        return ctx.queued

    # -- the contract -------------------------------------------------------------------------
    async def handle(self, inbound: Inbound) -> list[Outgoing]:
        """Process one event; returns replies to send. Never raises for bad input."""
        inbound = self._sanitise(inbound)
        async with self._user_locks.hold((inbound.channel, inbound.user_id)):
            try:
                return await self._handle_locked(inbound)
            except Exception as exc:
                if is_unavailable(exc):
                    raise  # the database is down or full: the caller keeps the event and retries
                log.exception("engine failed on %s", inbound.dedupe_key)
                return self._error_reply(inbound)

    async def delivered(self, out: Outgoing, receipt: Receipt) -> None:
        if not out.tag:
            return
        hook = self.delivery_hooks.get(out.tag.split(":", 1)[0])
        if hook is None:
            return
        ctx = self.job_context()
        async with self.db.transaction() as session:
            await hook(ctx, session, out, receipt)
        self._fire_after_commit(ctx.queued)

    # -- internals -----------------------------------------------------------------------------
    def _sanitise(self, inbound: Inbound) -> Inbound:
        text = (inbound.text or "").strip()[:MAX_TEXT]
        return inbound if text == inbound.text else replace(inbound, text=text)

    def _error_reply(self, inbound: Inbound) -> list[Outgoing]:
        """The worker's apology; in a (staff) group a short line, and only to what was meant
        for the bot (a command, a button, a reply to one of its posts): the transaction was
        rolled back, so the case is as it was before."""
        if inbound.chat_type == "private":
            return [Outgoing(inbound.address, Text(self.texts("common.error")))]
        if inbound.kind in (Kind.COMMAND, Kind.BUTTON) or inbound.reply_to:
            return [Outgoing(inbound.address, Text(self.texts("common.error_staff")))]
        return []

    def _ctx(
        self,
        inbound: Inbound,
        contact_id: int,
        session: AsyncSession | StepSession,
        state: contacts_repo.StateRow,
    ) -> Ctx:
        return Ctx(
            inbound=inbound,
            contact_id=contact_id,
            session=session,
            texts=self.texts,
            now=self.clock(),
            services=self.services,
            flow=state.flow,
            step=state.step,
            flow_version=state.flow_version,
            data=dict(state.data),
        )

    async def _identity_id(self, inbound: Inbound) -> tuple[int, int]:
        """(identity id, contact id) for the sender, creating them on first contact.

        Cached in memory: an identity never changes except when accounts are linked, and the
        transaction re-checks the contact, dropping a stale entry (``_Retry``).
        """
        key = (inbound.channel, inbound.user_id)
        cached = self._identities.get(key)
        if cached is not None:
            self._identities.move_to_end(key)
            return cached
        found = await self._load_identity(inbound)
        self._identities[key] = found
        if len(self._identities) > IDENTITY_CACHE:
            self._identities.popitem(last=False)
        return found

    async def _load_identity(self, inbound: Inbound) -> tuple[int, int]:
        async with self.db.short_session() as session:
            found = await contacts_repo.identity_ids(session, inbound.channel, inbound.user_id)
            if found is not None:
                return found
        async with self.db.short_transaction() as session:
            return await contacts_repo.resolve_identity_ids(
                session, inbound.channel, inbound.user_id, inbound.address.chat_id
            )

    async def _handle_locked(self, inbound: Inbound) -> list[Outgoing]:
        if inbound.chat_type != "private":
            return await self._handle_group(inbound)
        identity_id, contact_id = await self._identity_id(inbound)
        try:
            async with self._contact_locks.hold(contact_id), self.db.step() as (conn, session):
                await contacts_repo.lock_contact(conn, contact_id)
                identity = await contacts_repo.identity_row(conn, identity_id)
                if identity is None or identity.contact_id != contact_id:
                    self._identities.pop((inbound.channel, inbound.user_id), None)
                    raise _Retry  # linked to another contact (or erased) meanwhile
                first = identity.last_inbound_at is None
                now = self.clock()
                if (
                    first
                    or identity.unreachable
                    or inbound.channel in self.reply_window_channels
                    or now - identity.last_inbound_at > TOUCH_INTERVAL
                ):
                    await contacts_repo.touch_identity_row(
                        conn, identity_id, inbound.message_id, now
                    )
                state = await contacts_repo.state_of(conn, contact_id, read=identity)
                ctx = self._ctx(self._map_number(inbound, state.data), contact_id, session, state)
                ctx.first_contact = first
                outs = await self._route(ctx)
                await session.flush()  # the handler's ORM writes first, as before
                await self._save(ctx, state, outs, conn)
                queued = self._write_outbox(session, ctx.notifications)
                if queued:
                    await session.flush()
                await self._claim(conn, inbound, outs)
        except (IntegrityError, _Duplicate):
            # Already processed (or another process committed the same key first).
            return await self._replies_of_duplicate(inbound)
        except _Retry:
            return await self._handle_locked(inbound)
        self._fire_after_commit(queued)
        return outs

    async def _handle_group(self, inbound: Inbound) -> list[Outgoing]:
        if not self.group_handlers:
            return []
        outs: list[Outgoing] | None = None
        try:
            # Groups are staff's (/baocao counts the whole city): their step runs on the
            # database's worker thread, not the loop's, which the workers' chats need.
            async with self.db.transaction() as session:
                ctx = Ctx(inbound, 0, session, self.texts, self.clock(), self.services)
                for handler in self.group_handlers:
                    outs = await handler(ctx)
                    if outs is not None:
                        break
                queued = self._write_outbox(session, ctx.notifications)
                await self._claim(session, inbound, list(outs or []))
        except (IntegrityError, _Duplicate):
            return await self._replies_of_duplicate(inbound)
        self._fire_after_commit(queued)
        return list(outs or [])

    async def _claim(
        self, session: AsyncSession | AsyncConnection, inbound: Inbound, outs: list[Outgoing]
    ) -> None:
        """Record the dedupe key with the replies, last in the event's transaction: they are
        sent after the commit, and sent again if a crash came first and the platform (or the
        inbox) delivers the event once more. A key already there (a redelivery, or another
        process that finished the same event first) rolls the whole event back."""
        if inbound.dedupe_key and not await events_repo.record_processed(
            session, self.db.cipher, inbound.dedupe_key, [outgoing_to_json(o) for o in outs]
        ):
            raise _Duplicate

    async def _replies_of_duplicate(self, inbound: Inbound) -> list[Outgoing]:
        """A delivery already processed: re-send its replies that were never sent.

        Replies younger than ``reply_lease`` may still be on their way from the process that
        made them (a duplicate racing the original): wait until they are confirmed sent, or
        old enough that their process must have died. A reply whose send was under way when
        that process died is not sent again (it may well have arrived): it is logged as
        unknown, and only the replies after it are sent."""
        deadline = asyncio.get_running_loop().time() + self.reply_lease.total_seconds()
        while True:
            async with self.db.short_session() as session:
                stored, made_at, in_flight = await events_repo.unsent_replies(
                    session, inbound.dedupe_key
                )
            if not stored and not in_flight:
                log.info("duplicate delivery %s skipped", inbound.dedupe_key)
                return []
            left = deadline - asyncio.get_running_loop().time()
            if made_at is None or utcnow() - made_at >= self.reply_lease or left <= 0:
                if in_flight:
                    self.unknown_replies += 1
                    log.warning(
                        "redelivery of %s: a reply was being sent when its process stopped; "
                        "not sent again (it may not have arrived)",
                        inbound.dedupe_key,
                    )
                log.info("redelivery of %s: re-sending %d unsent replies", inbound.dedupe_key,
                         len(stored))  # fmt: skip
                return [outgoing_from_json(o) for o in stored]
            await asyncio.sleep(min(0.2, left))

    async def reply_starting(
        self, inbound: Inbound, left: list[Outgoing], *, in_flight: bool = True
    ) -> None:
        """Before a reply goes to the platform: it is no longer unsent (``left`` are the ones
        after it), and a send is under way; ``in_flight`` False puts a refused one back."""
        if not inbound.dedupe_key:
            return
        async with self.db.short_statements() as conn:
            await events_repo.reply_starting(
                conn, self.db.cipher, inbound.dedupe_key, [outgoing_to_json(o) for o in left],
                in_flight=in_flight,
            )  # fmt: skip

    async def replies_sent(self, inbound: Inbound, session: AsyncSession | None = None) -> None:
        """The event's replies went out: forget them (they may hold a worker's own words)."""
        if not inbound.dedupe_key:
            return
        if session is not None:
            await events_repo.replies_sent(session, inbound.dedupe_key)
            return
        async with self.db.short_statements() as conn:
            await events_repo.replies_sent(conn, inbound.dedupe_key)

    def _map_number(self, inbound: Inbound, data: dict[str, Any]) -> Inbound:
        """A typed label presses the button shown last; on channels without buttons a typed
        number picks the option too. An edited message presses nothing."""
        if inbound.edited:
            return inbound
        inbound = pick_by_label(inbound, data.get("_choices"), data.get("_labels"))
        if inbound.channel not in self.buttonless_channels:
            return inbound
        return pick_by_number(inbound, data.get("_choices"))

    async def _route(self, ctx: Ctx) -> list[Outgoing]:
        inbound = ctx.inbound
        if inbound.kind is Kind.COMMAND and inbound.command in self.commands:
            return list(await self.commands[inbound.command](ctx) or [])
        arrival = self.services.hooks.arrival
        if ctx.first_contact and inbound.kind is not Kind.BUTTON:
            if self.first_contact_handler is not None or arrival:
                first = self.first_contact_handler
                outs = list(await first(ctx) or []) if first is not None else []
                for hook in arrival:  # e.g. an invitation code typed as the very first message
                    outs += await hook(ctx) or []
                return outs
        if ctx.flow and ctx.flow in self.flows:
            if inbound.edited and inbound.kind is not Kind.COMMAND:
                return self.services.forms.edited(ctx)  # never the answer to the question now
            outs = await self.flows[ctx.flow](ctx)
            if outs is not None:
                return list(outs)
        if inbound.kind is Kind.BUTTON and inbound.payload:
            handler = self.payloads.get(inbound.payload.split(":", 1)[0])
            if handler is not None:
                outs = await handler(ctx)
                if outs is not None:
                    return list(outs)
        if inbound.kind is Kind.TEXT and inbound.text:
            for handler in self.text_handlers:
                outs = await handler(ctx)
                if outs is not None:
                    return list(outs)
        if self.fallback is not None:
            return list(await self.fallback(ctx) or [])
        return []

    async def _save(
        self, ctx: Ctx, state: contacts_repo.StateRow, outs: list[Outgoing], conn: AsyncConnection
    ) -> None:
        data = dict(ctx.data)
        last_choices = [o.content for o in outs if isinstance(o.content, Choices | RequestContact)]
        if last_choices:
            data["_choices"] = [c.payload for c in last_choices[-1].options]
            data["_labels"] = [c.label for c in last_choices[-1].options]
        else:
            data.pop("_choices", None)
            data.pop("_labels", None)
        await contacts_repo.write_state(
            conn, state, flow=ctx.flow, step=ctx.step, data=data,
            flow_version=ctx.flow_version,
        )  # fmt: skip

    def _write_outbox(self, session: AsyncSession, outs: list[Outgoing]) -> bool:
        """Queue notifications; True when there is something for the outbox sender."""
        enqueue_outgoing(session, outs, self.clock())
        return bool(outs)

    def _fire_after_commit(self, queued: bool) -> None:
        """Wake the outbox sender, only after the commit made the rows visible."""
        if queued:
            for callback in self.after_commit:
                callback()
