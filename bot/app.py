"""Composition root: config -> storage -> content -> engine -> features -> channels.

The only module that knows every part. It also owns the delivery pipeline: inbound events are
recorded durably (inbox) before a webhook is acknowledged, processed in arrival order per person,
and replies are sent through the channel adapters; notifications go through the outbox, which
survives a crash and honours a blocked user.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import secrets
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from bot.channels.base import Channel
from bot.config import Settings, staff_ids, unknown_keys
from bot.core.areas import load_areas
from bot.core.context import JobContext, Services
from bot.core.engine import Engine, _KeyedLocks, system_clock
from bot.core.events import (
    Address,
    Inbound,
    Outgoing,
    Receipt,
    SendStatus,
    TryLater,
    content_from_json,
    inbound_from_json,
    inbound_to_json,
)
from bot.core.feature import Composition, Feature, Job, StartupError, compose
from bot.core.forms import FormRunner, load_forms
from bot.core.roles import Roles
from bot.core.texts import Texts
from bot.logs import quiet_payload_loggers
from bot.tables import load_models
from storage import contacts as contacts_repo
from storage import events as events_repo
from storage import health as health_repo
from storage import jobs as jobs_repo
from storage import outbox as outbox_repo
from storage.crypto import DataCipher
from storage.db import Database, is_unavailable
from storage.inbox_writer import InboxWriter
from storage.models import utcnow

log = logging.getLogger(__name__)

MAX_CONCURRENT = 8  # events handled at once; more wait their turn in arrival order
INBOX_LEASE = timedelta(seconds=30)  # a process that holds an event longer has died or hung
INBOX_SWEEP_SECONDS = 2.0  # how often events nobody works on are looked for
# A fresh event is its receiver's for this long. Under a burst an event waits its turn in the
# receiver's queue for seconds; at 2 s the other processes' sweeps took such events over (and
# scanned every pending row to find them): 3 processes spent 1.5x the CPU per event of one.
# Only an event whose receiver died between recording and leasing it waits this long.
INBOX_SETTLE = timedelta(seconds=10)
OUTBOX_BATCH = 50
OUTBOX_IDLE_SECONDS = 2.0  # with nothing due, how long the sender sleeps unless woken
JOB_LEASE_MIN_SECONDS = 60.0
LISTEN_BACKLOG = 2048  # connections waiting to be accepted (the kernel caps it at somaxconn)

# Feature modules, composed in this order. Each exposes register() -> Feature
# (bot/core/feature.py); the order breaks ties between free-text handlers of equal priority.
FEATURES: tuple[str, ...] = (
    "handlers.start",
    "handlers.rights",
    "handlers.consent",
    "handlers.join",
    "handlers.correction",
    "handlers.data_rights",
    "handlers.membership_staff",
    "handlers.leads",
    "handlers.volunteers",
    "handlers.referral",
    "handlers.broadcast",  # before relay and ask: typed "dừng" stops announcements
    "handlers.relay",
    "handlers.ask",
    "handlers.faq_misses",
    "handlers.link",
    "handlers.dashboard_login",
    "handlers.employer",
    "handlers.weekly_report",
    "handlers.card",
)


def process_name() -> str:
    """Who holds a lease: host, pid and a random suffix (a restarted process is someone new)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{secrets.token_hex(3)}"


def person_key(inbound: Inbound) -> str:
    """Whose events must keep their order: a private chat's sender, or a whole group chat."""
    if inbound.chat_type == "private":
        return f"{inbound.channel}:{inbound.user_id}"
    return f"{inbound.channel}:chat:{inbound.address.chat_id}"


@dataclass
class App:
    settings: Settings
    db: Database
    engine: Engine
    texts: Texts
    composition: Composition
    channels: dict[str, Channel] = field(default_factory=dict)
    web_app: web.Application | None = None
    owner: str = field(default_factory=process_name)
    inbox_lease: timedelta = INBOX_LEASE
    outbox_lease: timedelta = outbox_repo.LEASE
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _locks: _KeyedLocks = field(default_factory=_KeyedLocks)
    _outbox_kick: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    _inbox_writer: InboxWriter | None = None  # webhooks arriving together share a commit
    _slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_CONCURRENT))
    dashboard: Any = None  # bot.dashboard.site.Dashboard; served when serve_dashboard is set
    serve_dashboard: bool = False  # the CLI sets it (`run`, `dashboard`); tests start it by hand
    draining: bool = False  # set by stop(): /readyz answers 503 so the balancer looks elsewhere
    _draining: dict[str, bool] = field(default_factory=dict)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    # -- inbound ---------------------------------------------------------------------------
    async def process(self, inbound: Inbound) -> list[Outgoing]:
        """Handle one event and send its replies, in order per person.

        At most ``MAX_CONCURRENT`` events are handled at once: a burst then queues in memory
        instead of taking every database connection, so webhooks stay quick to acknowledge.
        The replies were committed with the event; once sent they are forgotten.
        """
        try:
            async with self._locks.hold(person_key(inbound)), self._slots:
                outs = await self.engine.handle(inbound)
                await self.send(outs, inbound)
                if outs:
                    await self.engine.replies_sent(inbound)
        except Exception as exc:
            if is_unavailable(exc):
                raise TryLater(f"database unavailable: {exc!r}"[:300]) from exc
            raise
        return outs

    async def ingest(self, inbound: Inbound) -> None:
        """Record the event durably, then process it in the background.

        Returns once the event is committed, so a webhook acknowledged after this call never
        loses an update; a duplicate delivery is recognised here and dropped. Events arriving
        together are committed together (``InboxWriter``).
        """
        key = person_key(inbound)
        if self._inbox_writer is None:
            self._inbox_writer = InboxWriter(self.db)
        event_id = await self._inbox_writer.record(
            inbound.dedupe_key,
            inbound.channel,
            inbound_to_json(inbound),
            user_key=key,
            sequence=inbound.sequence,
        )
        if event_id is None:
            log.info("duplicate delivery %s acknowledged, not processed", inbound.dedupe_key)
            return
        self._drain_soon(key)

    def _drain_soon(self, user_key: str) -> None:
        """Make sure this process works through the person's recorded events."""
        if user_key in self._draining:
            self._draining[user_key] = True  # the running drain looks once more before it ends
            return
        self._draining[user_key] = False
        self._spawn(self._drain(user_key), name=f"process:{user_key}")

    async def _drain(self, user_key: str) -> None:
        try:
            while True:
                self._draining[user_key] = False
                try:
                    await self._drain_person(user_key)
                except Exception:  # the database went away between events: the sweep retries
                    log.exception("inbox: working through %s failed", user_key)
                    return
                if not self._draining.get(user_key):
                    return
        finally:
            self._draining.pop(user_key, None)

    async def _drain_person(self, user_key: str) -> int:
        """Handle the person's pending events one by one, earliest first, while this process
        can lease them; returns how many were handled. Finishing one event and leasing the
        next share a transaction."""
        await self._acknowledgements_first()
        # The first lease takes a turn too: a burst spawns a drain per person, and unbounded
        # they took a database connection each (PostgreSQL's pool then opened and closed
        # overflow connections, the costliest thing a process did under load).
        async with self._slots, self.db.short_transaction() as session:
            claimed = await events_repo.claim_next(
                session, user_key, self.owner, self.engine.clock(), self.inbox_lease
            )
        handled = 0
        while claimed is not None:
            event_id, payload = claimed
            if payload is None:
                log.error("inbox event %s cannot be opened (data key changed?)", event_id)
                async with self.db.short_transaction() as session:
                    await events_repo.finish_inbox(session, event_id, error="sealed", give_up=True)
                return handled
            inbound = inbound_from_json(payload)
            sent = False
            try:
                async with self._locks.hold(user_key), self._slots:
                    await self._acknowledgements_first()
                    outs = await self.engine.handle(inbound)
                    await self.send(outs, inbound)
                    sent = True
                    handled += 1
                    # Finished in the same turn, so a process never holds more connections
                    # than turns (and PostgreSQL's pool never opens overflow connections).
                    async with self.db.short_transaction() as session:
                        await events_repo.finish_inbox(session, event_id)
                        if outs:
                            await self.engine.replies_sent(inbound, session)
                        claimed = await events_repo.claim_next(
                            session, user_key, self.owner, self.engine.clock(), self.inbox_lease
                        )
            except Exception as exc:
                if sent:
                    raise  # processed and sent, not finished: the sweep finds it (a duplicate)
                log.warning("inbox event %s failed, tried again later: %r", event_id, exc)
                async with self.db.short_transaction() as session:
                    await events_repo.retry_inbox(session, event_id, repr(exc), self.engine.clock())
                return handled
        return handled

    async def _acknowledgements_first(self) -> None:
        """Webhooks waiting to be acknowledged go before the next event is taken up."""
        if self._inbox_writer is not None:
            await self._inbox_writer.calm()

    async def recover_inbox(self, *, settle: timedelta = timedelta(0)) -> int:
        """Work through every event nobody is working on (left by a crash, waiting for a
        retry, or recorded more than ``settle`` ago and not picked up); no cap. Returns how
        many were handled."""
        total = 0
        while True:
            async with self.db.session() as session:
                people = await events_repo.people_waiting(
                    session, self.engine.clock(), utcnow() - settle
                )
            people = [p for p in people if p not in self._draining]
            if not people:
                return total
            done = await asyncio.gather(*(self._recover_person(p) for p in people))
            if not any(done):
                return total
            total += sum(done)

    async def _recover_person(self, user_key: str) -> int:
        if user_key in self._draining:
            return 0
        self._draining[user_key] = False
        try:
            return await self._drain_person(user_key)
        except Exception:
            log.exception("inbox: recovering %s failed", user_key)
            return 0
        finally:
            self._draining.pop(user_key, None)

    async def _inbox_loop(self) -> None:
        """While the bot runs: take over events of crashed processes and retry failed ones."""
        while True:
            try:
                await self.recover_inbox(settle=INBOX_SETTLE)
            except Exception:
                log.exception("inbox sweep failed")
            await asyncio.sleep(INBOX_SWEEP_SECONDS)

    # -- outbound --------------------------------------------------------------------------
    async def send(self, outs: Iterable[Outgoing], inbound: Inbound | None = None) -> list[Receipt]:
        """Send replies in order. With the ``inbound`` they answer, each is struck off the
        event's stored replies right before its platform call (``_ReplyMark``), so a process
        taking the event over after a crash never sends one twice."""
        outs = list(outs)
        receipts = []
        for index, out in enumerate(outs):
            mark = _ReplyMark(self.engine, inbound, outs, index) if inbound else None
            receipt = await self._send_one(out, mark)
            receipts.append(receipt)
        return receipts

    async def _send_one(self, out: Outgoing, mark: _Mark | None = None) -> Receipt:
        channel = self.channels.get(out.address.channel)
        if channel is None:
            log.warning("no channel %s for an outgoing message", out.address.channel)
            return Receipt(ok=False, error="no channel", status=SendStatus.NO_CHANNEL)
        try:
            receipt = await (channel.send(out) if mark is None else channel.send_marked(out, mark))
        except Exception as exc:  # adapters should not raise; never let one kill delivery
            if mark is not None and mark.broken:
                raise  # the mark could not be written (database gone): nothing was sent
            log.exception("channel %s failed to send", out.address.channel)
            receipt = Receipt(ok=False, error=repr(exc))
        if receipt.outcome is SendStatus.BLOCKED:
            async with self.db.transaction() as session:
                await contacts_repo.mark_unreachable(
                    session, out.address.channel, out.address.chat_id
                )
        try:
            await self.engine.delivered(out, receipt)
        except Exception:
            log.exception("delivery hook failed for tag %s", out.tag)
        return receipt

    async def flush_outbox(self, now: datetime | None = None) -> int:
        """Send one batch of due outbox messages; returns how many were sent."""
        _claimed, sent = await self._flush_batch(now)
        return sent

    async def _flush_batch(
        self, now: datetime | None = None, *, look_first: bool = True
    ) -> tuple[int, int]:
        """Lease a batch, send it in order, and settle each row; (claimed, sent).

        A row is settled only while it is still ours: if the lease ran out and another process
        took the row over, that process settles it. A long batch renews its lease. With
        ``look_first`` a read tells first whether there is anything to claim (the sender
        skips it while draining full batches)."""
        now = now or self.engine.clock()
        if look_first:
            async with self.db.session() as session:
                if not await outbox_repo.anything_to_do(session, now):
                    return 0, 0
        async with self.db.transaction() as session:
            rows = await outbox_repo.claim_due(
                session, now, OUTBOX_BATCH, owner=self.owner, lease=self.outbox_lease
            )
            batch = [
                (row.id, row.channel, row.chat_id, row.thread_id,
                 outbox_repo.content_of(session, row), row.tag)
                for row in rows
            ]  # fmt: skip
        renew_at = now + self.outbox_lease / 2
        sent = 0
        for index, (row_id, channel, chat_id, thread_id, content, tag) in enumerate(batch):
            if self._stopping.is_set():  # a graceful stop hands the rest back at once
                async with self.db.transaction() as session:
                    await outbox_repo.release(session, [b[0] for b in batch[index:]], self.owner)
                break
            if self.engine.clock() >= renew_at:
                renew_at = self.engine.clock() + self.outbox_lease / 2
                async with self.db.transaction() as session:
                    await outbox_repo.extend_lease(
                        session, [b[0] for b in batch[index:]], self.owner,
                        self.engine.clock() + self.outbox_lease,
                    )  # fmt: skip
            out = Outgoing(Address(channel, chat_id, thread_id), content_from_json(content), tag)
            receipt = await self._send_one(out, _OutboxMark(self, row_id))
            kind = str(content.get("type", ""))
            async with self.db.transaction() as session:
                row = await session.get(outbox_repo.OutboxMessage, row_id)
                if row is None or not outbox_repo.still_mine(row, self.owner):
                    log.warning("outbox row %s was taken over while being sent", row_id)
                    continue
                if receipt.ok:
                    outbox_repo.mark_sent(row, self.engine.clock(), kind)
                    sent += 1
                else:
                    outbox_repo.mark_failed(
                        row,
                        self.engine.clock(),
                        receipt.error or "",
                        final=receipt.outcome.final,
                        kind=kind,
                    )
        return len(batch), sent

    async def _outbox_loop(self) -> None:
        """Drain continuously while rows are due; otherwise wait for a commit to wake it (or a
        short pause, for rows due later and leases that run out)."""
        claimed = 0
        while not self._stopping.is_set():
            try:
                claimed, _sent = await self._flush_batch(look_first=claimed < OUTBOX_BATCH)
            except Exception:
                log.exception("outbox dispatch failed")
                claimed = 0
            if claimed >= OUTBOX_BATCH:
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox_kick.wait(), timeout=OUTBOX_IDLE_SECONDS)
            self._outbox_kick.clear()

    async def _job_loop(self, job: Job) -> None:
        while True:
            pause = job.seconds
            try:
                if await self.run_job_if_due(job.name, job.seconds):
                    self._outbox_kick.set()
                else:
                    async with self.db.session() as session:
                        due = await jobs_repo.next_run(session, job.name)
                    if due is not None:
                        pause = (due - self.engine.clock()).total_seconds()
            except Exception:
                log.exception("job %s failed", job.name)
            await asyncio.sleep(min(job.seconds, max(1.0, pause)) + random.uniform(0, 0.5))

    async def run_job(self, name: str, now: datetime | None = None) -> None:
        """Run a declared job once, here and now (tests call it with a chosen time)."""
        await self.engine.run_job(name, now)
        self._outbox_kick.set()

    async def run_job_if_due(self, name: str, seconds: float) -> bool:
        """Run a periodic job if it is due and no other process holds its lease; True when it
        ran here. With several processes each job then runs once per period, not once each."""
        now = self.engine.clock()
        lease = timedelta(seconds=max(seconds, JOB_LEASE_MIN_SECONDS))
        async with self.db.transaction() as session:
            if not await jobs_repo.take_turn(session, name, self.owner, now, lease, seconds):
                return False
        try:
            await self.engine.run_job(name, now)
        finally:
            async with self.db.transaction() as session:
                await jobs_repo.turn_done(session, name, self.owner, self.engine.clock(), seconds)
        return True

    async def ready(self) -> bool:
        """Readiness for the load balancer: the database takes a write now."""
        try:
            async with self.db.transaction() as session:
                await health_repo.probe_write(session, self.owner, utcnow())
        except Exception:
            log.exception("readiness: the database does not take writes")
            return False
        return True

    # -- lifecycle -------------------------------------------------------------------------
    def _spawn(self, coro: Any, name: str | None = None) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.append(task)
        task.add_done_callback(self._forget_task)

    def _forget_task(self, task: asyncio.Task[Any]) -> None:
        if task in self._tasks:
            self._tasks.remove(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    def deliver_for(self, channel: Channel) -> Callable[[Inbound], Any]:
        """How a channel hands over events.

        Webhooks must be acknowledged fast and never lose an update, so their events are
        recorded in the inbox first (ingest), and so are polled events from a platform that
        forgets them once fetched (Zalo Bot). Telegram polling confirms an update only after
        delivery returns, so Telegram keeps it until then: it is processed directly, which saves
        two write transactions per update.
        """
        if channel.name == "console" or channel.redelivers_until_confirmed:
            return self.process
        return self.ingest

    async def start(self, *, background: bool = True) -> None:
        """Serve webhooks, start channels and the background loops.

        Nothing is reset at start-up: outbox rows another live process is sending stay its
        own until their lease runs out, and a crashed process's rows are taken over then."""
        webhooks = [c for c in self.channels.values() if getattr(c, "uses_webhook", False)]
        if webhooks or self.serve_dashboard or self.composition.web_routes:
            from bot.dashboard.site import RedactingAccessLogger

            self.web_app = build_web_app(self)
            self._runner = web.AppRunner(self.web_app, access_log_class=RedactingAccessLogger)
            await self._runner.setup()
            # A burst opens many connections at once (Zalo posts each event on its own): with
            # aiohttp's backlog of 128 the rest are dropped and retried a second later.
            site = web.TCPSite(
                self._runner,
                self.settings.http_host,
                self.settings.http_port,
                backlog=LISTEN_BACKLOG,
            )
            await site.start()
            log.info("HTTP on %s", self.http_url)
        for channel in self.channels.values():
            if channel.name != "console":
                await channel.start(self.deliver_for(channel))
        if background:
            self._spawn(self._inbox_loop(), name="inbox-sweep")
            self._spawn(self._outbox_loop(), name="outbox")
            for job in self.engine.jobs:
                self._spawn(self._job_loop(job), name=f"job:{job.name}")

    @property
    def http_url(self) -> str | None:
        """Where the HTTP server listens (the real port when configured as 0), or None."""
        if self._runner is None or not self._runner.addresses:
            return None
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}/"

    async def stop(self, grace: float = 5.0) -> None:
        """Let events in flight finish (up to ``grace`` seconds), then stop channels and close.

        Channels stop after the wait because finishing an event may still need to send."""
        self.draining = True
        self._stopping.set()
        self._outbox_kick.set()
        finishing = [
            t for t in self._tasks if (t.get_name() or "").startswith(("process:", "outbox"))
        ]
        if finishing:
            await asyncio.wait(finishing, timeout=grace)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for channel in self.channels.values():
            with contextlib.suppress(Exception):
                await channel.stop()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        await self.db.dispose()

    async def prune_job(self, job: JobContext) -> None:
        await self.prune(job.now)

    async def prune(self, now: datetime, keep: timedelta = timedelta(days=7)) -> None:
        """Telegram may resend for about a day and re-randomises ids after a week idle, so a
        week of dedupe keys is enough; older ones only cost space."""
        async with self.db.transaction() as session:
            await events_repo.prune_events(session, now - keep)


class _Mark:
    """What ``Channel.send_marked`` tells (bot/channels/base.py ``SendMark``): the message is
    recorded as under way right before the platform call, so after a crash it is never sent
    again. Telegram has no idempotency key, so a message whose call had begun when the process
    died is at most once (it may not have arrived; it is logged or counted ``unknown``), and
    every message whose call had not begun is at least once: nothing is ever sent twice."""

    under_way = False
    arrived = False
    broken = False

    async def starting(self) -> None:
        if self.under_way:
            return
        try:
            await self._record(True)
        except Exception:
            self.broken = True
            raise
        self.under_way = True

    def delivered(self) -> None:
        self.arrived = True

    async def refused(self) -> None:
        if self.under_way and not self.arrived:  # nothing of it reached the platform
            await self._record(False)
            self.under_way = False

    async def _record(self, under_way: bool) -> None:
        raise NotImplementedError


class _ReplyMark(_Mark):
    """A reply to an event: struck off the replies stored with its dedupe key."""

    def __init__(self, engine: Engine, inbound: Inbound, outs: list[Outgoing], index: int):
        self.engine, self.inbound, self.outs, self.index = engine, inbound, outs, index

    async def _record(self, under_way: bool) -> None:
        left = self.outs[self.index + 1 :] if under_way else self.outs[self.index :]
        await self.engine.reply_starting(self.inbound, left, in_flight=under_way)


class _OutboxMark(_Mark):
    """An outbox row: its send's start written on the row (``outbox.sending_started``)."""

    def __init__(self, app: App, row_id: int) -> None:
        self.app, self.row_id = app, row_id

    async def _record(self, under_way: bool) -> None:
        at = self.app.engine.clock() if under_way else None
        async with self.app.db.transaction() as session:
            await outbox_repo.sending_started(session, self.row_id, self.app.owner, at)


def build_web_app(app: App) -> web.Application:
    """The webhook server; its readiness covers the database and Redis when a channel uses it."""
    from bot.web import make_web_app

    install = [app.dashboard.install] if app.dashboard is not None else []
    # A full disk or a read-only file system still answers SELECT 1: readiness needs a write.
    checks = {"writes": app.ready}
    for channel in app.channels.values():
        ping = getattr(getattr(channel, "throttle", None), "ping", None)
        if ping is not None:
            checks["redis"] = ping
    return make_web_app(
        app.channels.values(),
        app.deliver_for,
        app.db,
        install,
        routes=app.composition.web_routes,
        services=app.engine.services,
        checks=checks,
        draining=lambda: app.draining,
    )


def build_channels(
    settings: Settings, db: Database | None = None, cipher: DataCipher | None = None
) -> list[Channel]:
    """The channels configured in ``settings``; stores that channels keep (Zalo OA's tokens
    and reply windows) use the app's own database and cipher (``build_app`` passes them), not
    a second pool; without them (a tool building channels alone) the store opens its own."""
    channels: list[Channel] = []
    if settings.telegram_token:
        from bot.channels.telegram import TelegramChannel
        from bot.channels.throttle import Pace, throttle_for

        pace = Pace.of(
            settings.telegram_messages_per_second,
            settings.telegram_per_chat_per_second,
            settings.telegram_paid_per_second,
        )
        bot_id = settings.telegram_token.split(":", 1)[0]
        channels.append(
            TelegramChannel(
                settings.telegram_token,
                api_base=settings.telegram_api_base,
                webhook_url=settings.telegram_webhook_url,
                webhook_secret=settings.telegram_webhook_secret,
                throttle=throttle_for(pace, settings.redis_url, bot_id=bot_id),
            )
        )
    if settings.extra.get("zalo_oa_app_id"):
        from bot.channels.zalo_oa import ZaloOAChannel
        from storage.zalo import ZaloOAStore

        store = (
            ZaloOAStore(db, cipher=cipher)
            if db is not None
            else ZaloOAStore.for_url(settings.database_url, settings.data_key)
        )
        channels.append(ZaloOAChannel.from_settings(settings.extra, store))
    if settings.extra.get("zalo_bot_token"):
        from bot.channels.zalo_bot import ZaloBotChannel

        channels.append(ZaloBotChannel.from_settings(settings.extra))
    return channels


def load_feature(name: str) -> Feature:
    """A feature module's declaration: its ``register()``."""
    import importlib

    feature: Feature = importlib.import_module(name).register()
    return feature


def _refuse_unknown_config(settings: Settings, services: Services, composed: set[str]) -> None:
    """A misspelt table or key (``review_day``) would silently fall back to a default: stop.

    The tables of features left out of a subset (tests, benchmarks) are taken as they are."""
    problems = unknown_keys(settings, services.read_keys, _all_sections() - composed)
    if problems:
        raise StartupError("config.toml: " + "; ".join(problems) + ".")


@functools.cache
def _all_sections() -> frozenset[str]:
    return frozenset(kind.SECTION for name in FEATURES for kind in load_feature(name).config)


def features_except(*left_out: str) -> tuple[str, ...]:
    """``FEATURES`` without some modules, for tests and benchmarks of a subset (in order)."""
    unknown = set(left_out) - set(FEATURES)
    if unknown:
        raise ValueError(f"not in FEATURES: {', '.join(sorted(unknown))}")
    return tuple(name for name in FEATURES if name not in left_out)


def features_upto(*kept: str) -> tuple[str, ...]:
    """Only the named modules of ``FEATURES``, in FEATURES' order (a documented subset)."""
    unknown = set(kept) - set(FEATURES)
    if unknown:
        raise ValueError(f"not in FEATURES: {', '.join(sorted(unknown))}")
    return tuple(name for name in FEATURES if name in kept)


async def build_app(
    settings: Settings,
    *,
    channels: Iterable[Channel] | None = None,
    clock: Callable[[], datetime] = system_clock,
    create_schema: bool = False,
    features: Iterable[str | Feature] = FEATURES,
) -> App:
    """Assemble the bot. ``create_schema`` creates tables directly (in-memory test databases);
    real databases are migrated with Alembic (`congdoan-bot db upgrade`).

    Raises ``StartupError`` (two features claim one command, payload prefix, flow, route…) or
    ``ConfigError`` (a config.toml value that cannot be used) before anything is opened."""
    load_models()  # every feature's tables, before anything creates or erases rows
    texts_dir = settings.content_dir / "vi"
    constants = {"hotline": settings.hotline, "federation": settings.federation}
    texts = Texts.load(texts_dir, constants)
    cipher = DataCipher(settings.data_key) if settings.data_key else DataCipher.ephemeral()
    quiet_payload_loggers()  # whoever set up logging, SQL parameters never reach the log
    forms = FormRunner(load_forms(settings.content_dir / "flows"), cipher)
    loaded = [f if isinstance(f, Feature) else load_feature(f) for f in features]
    comp = compose([forms.feature(), *loaded])
    db = Database(settings.database_url, cipher=cipher)
    services = Services(
        settings=settings,
        db=db,
        texts=texts,
        crypto=cipher,
        areas=load_areas(settings.content_dir / "areas.csv"),
        forms=forms,
        roles=Roles(staff_ids(settings)),
        clock=clock,
        personal_data=list(comp.personal_data),
        hooks=comp.hooks,
    )
    for kind in comp.config:
        services.config(kind)  # a bad value stops the start here, with key and value
    _refuse_unknown_config(settings, services, {kind.SECTION for kind in comp.config})
    forms.install(comp.validators, comp.submitters, comp.form_media)
    if create_schema:
        await db.create_all()
    channel_list = list(channels) if channels is not None else build_channels(settings, db, cipher)
    buttonless = {c.name for c in channel_list if not c.capabilities.buttons} | {"console"}
    reply_window = {c.name for c in channel_list if not c.capabilities.can_message_first}
    engine = Engine(
        db,
        texts,
        clock=clock,
        buttonless_channels=buttonless,
        reply_window_channels=reply_window,
        services=services,
    )
    engine.install(comp)
    app = App(settings, db, engine, texts, comp, {c.name: c for c in channel_list})
    services.channels = app.channels
    engine.after_commit.append(app._outbox_kick.set)
    from bot.dashboard import build_dashboard

    app.dashboard = build_dashboard(
        engine, db, after_commit=app._outbox_kick.set, pages=comp.dashboard_pages
    )
    await app.dashboard.load_area_mapping()
    engine.jobs.append(Job("prune-dedupe-keys", 3600, app.prune_job))
    return app
