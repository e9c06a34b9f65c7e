"""Composition root: config -> storage -> content -> engine -> features -> channels.

The only module that knows every part. It also owns the delivery pipeline: inbound events are
recorded durably (inbox) before a webhook is acknowledged, processed in arrival order per person,
and replies are sent through the channel adapters; notifications go through the outbox, which
survives a crash and honours a blocked user.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from bot.channels.base import Channel
from bot.config import Settings, staff_ids
from bot.core.areas import load_areas
from bot.core.engine import Engine, JobContext, _KeyedLocks, system_clock
from bot.core.events import (
    Address,
    Inbound,
    Outgoing,
    Receipt,
    SendStatus,
    content_from_json,
    inbound_from_json,
    inbound_to_json,
)
from bot.core.feature import Composition, Feature, Job, compose
from bot.core.forms import FormRunner, load_forms
from bot.core.roles import Roles
from bot.core.services import Services
from bot.core.texts import Texts
from bot.logs import quiet_payload_loggers
from storage import contacts as contacts_repo
from storage import events as events_repo
from storage import outbox as outbox_repo
from storage.crypto import DataCipher
from storage.db import Database

log = logging.getLogger(__name__)

MAX_CONCURRENT = 8  # events handled at once; more wait their turn in arrival order

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


@dataclass
class App:
    settings: Settings
    db: Database
    engine: Engine
    texts: Texts
    composition: Composition
    channels: dict[str, Channel] = field(default_factory=dict)
    web_app: web.Application | None = None
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _locks: _KeyedLocks = field(default_factory=_KeyedLocks)
    _outbox_kick: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    _slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_CONCURRENT))
    dashboard: Any = None  # bot.dashboard.site.Dashboard; served when serve_dashboard is set
    serve_dashboard: bool = False  # the CLI sets it (`run`, `dashboard`); tests start it by hand
    draining: bool = False  # set by stop(): /readyz answers 503 so the balancer looks elsewhere

    # -- inbound ---------------------------------------------------------------------------
    async def process(self, inbound: Inbound) -> list[Outgoing]:
        """Handle one event and send its replies, in order per person.

        At most ``MAX_CONCURRENT`` events are handled at once: a burst then queues in memory
        instead of taking every database connection, so webhooks stay quick to acknowledge.
        """
        async with self._locks.hold((inbound.channel, inbound.user_id)), self._slots:
            outs = await self.engine.handle(inbound)
            await self.send(outs)
        return outs

    async def ingest(self, inbound: Inbound) -> None:
        """Record the event durably, then process it in the background.

        Returns once the event is committed, so a webhook acknowledged after this call never
        loses an update; a duplicate delivery is recognised here and dropped.
        """
        async with self.db.transaction() as session:
            event_id = await events_repo.record_inbox(
                session, inbound.dedupe_key, inbound.channel, inbound_to_json(inbound)
            )
        if event_id is None:
            log.info("duplicate delivery %s acknowledged, not processed", inbound.dedupe_key)
            return
        self._spawn(self._process_recorded(event_id, inbound), name=f"process:{event_id}")

    async def _process_recorded(self, event_id: int, inbound: Inbound) -> None:
        try:
            await self.process(inbound)
        except Exception as exc:  # the engine already answers errors; this is delivery
            log.exception("processing %s failed", inbound.dedupe_key)
            async with self.db.transaction() as session:
                await events_repo.finish_inbox(session, event_id, error=repr(exc), give_up=True)
            return
        async with self.db.transaction() as session:
            await events_repo.finish_inbox(session, event_id)

    async def recover_inbox(self) -> int:
        """Process events recorded before a crash but never finished."""
        async with self.db.transaction() as session:
            rows = await events_repo.pending_inbox(session, limit=1000)
            pending = [(row.id, inbound_from_json(row.payload)) for row in rows]
        for event_id, inbound in pending:
            await self._process_recorded(event_id, inbound)
        return len(pending)

    # -- outbound --------------------------------------------------------------------------
    async def send(self, outs: Iterable[Outgoing]) -> list[Receipt]:
        receipts = []
        for out in outs:
            receipt = await self._send_one(out)
            receipts.append(receipt)
        return receipts

    async def _send_one(self, out: Outgoing) -> Receipt:
        channel = self.channels.get(out.address.channel)
        if channel is None:
            log.warning("no channel %s for an outgoing message", out.address.channel)
            return Receipt(ok=False, error="no channel", status=SendStatus.NO_CHANNEL)
        try:
            receipt = await channel.send(out)
        except Exception as exc:  # adapters should not raise; never let one kill delivery
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
        """Send every due outbox message once; returns how many were sent."""
        now = now or self.engine.clock()
        async with self.db.transaction() as session:
            rows = await outbox_repo.claim_due(session, now)
            batch = [(row.id, row.channel, row.chat_id, row.thread_id, row.content, row.tag)
                     for row in rows]  # fmt: skip
        sent = 0
        for row_id, channel, chat_id, thread_id, content, tag in batch:
            out = Outgoing(Address(channel, chat_id, thread_id), content_from_json(content), tag)
            receipt = await self._send_one(out)
            async with self.db.transaction() as session:
                row = await session.get(outbox_repo.OutboxMessage, row_id)
                if row is None:
                    continue
                if receipt.ok:
                    outbox_repo.mark_sent(row, self.engine.clock())
                    sent += 1
                else:
                    row.status = "pending"
                    outbox_repo.mark_failed(
                        row, self.engine.clock(), receipt.error or "", final=receipt.outcome.final
                    )
        return sent

    async def _outbox_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox_kick.wait(), timeout=5)
            self._outbox_kick.clear()
            try:
                await self.flush_outbox()
            except Exception:
                log.exception("outbox dispatch failed")

    async def _job_loop(self, job: Job) -> None:
        while True:
            await asyncio.sleep(job.seconds)
            try:
                await self.run_job(job.name)
            except Exception:
                log.exception("job %s failed", job.name)

    async def run_job(self, name: str, now: datetime | None = None) -> None:
        """Run a declared job once (the loop above; tests call it with a chosen time)."""
        await self.engine.run_job(name, now)
        self._outbox_kick.set()

    # -- lifecycle -------------------------------------------------------------------------
    def _spawn(self, coro: Any, name: str | None = None) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.append(task)
        task.add_done_callback(lambda t: self._tasks.remove(t) if t in self._tasks else None)

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
        async with self.db.transaction() as session:
            await session.execute(
                outbox_repo.OutboxMessage.__table__.update()
                .where(outbox_repo.OutboxMessage.status == "sending")
                .values(status="pending")
            )
        webhooks = [c for c in self.channels.values() if getattr(c, "uses_webhook", False)]
        if webhooks or self.serve_dashboard or self.composition.web_routes:
            from bot.dashboard.site import RedactingAccessLogger

            self.web_app = build_web_app(self)
            self._runner = web.AppRunner(self.web_app, access_log_class=RedactingAccessLogger)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.settings.http_host, self.settings.http_port)
            await site.start()
            log.info("HTTP on %s", self.http_url)
        for channel in self.channels.values():
            if channel.name != "console":
                await channel.start(self.deliver_for(channel))
        if background:
            self._spawn(self.recover_inbox())
            self._spawn(self._outbox_loop())
            for job in self.engine.jobs:
                self._spawn(self._job_loop(job))

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
        in_flight = [t for t in self._tasks if (t.get_name() or "").startswith("process:")]
        if in_flight:
            await asyncio.wait(in_flight, timeout=grace)
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


def build_web_app(app: App) -> web.Application:
    """The webhook server; its readiness covers the database and Redis when a channel uses it."""
    from bot.web import make_web_app

    install = [app.dashboard.install] if app.dashboard is not None else []
    checks = {}
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


def build_channels(settings: Settings) -> list[Channel]:
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

        store = ZaloOAStore.for_url(settings.database_url, settings.data_key)
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
    texts_dir = settings.content_dir / "vi"
    constants = {"hotline": settings.hotline, "federation": settings.federation}
    texts = Texts.load(texts_dir, constants)
    cipher = DataCipher(settings.data_key) if settings.data_key else DataCipher.ephemeral()
    quiet_payload_loggers()  # whoever set up logging, SQL parameters never reach the log
    forms = FormRunner(load_forms(settings.content_dir / "flows"), cipher)
    loaded = [f if isinstance(f, Feature) else load_feature(f) for f in features]
    comp = compose([forms.feature(), *loaded])
    db = Database(settings.database_url)
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
    forms.install(comp.validators, comp.submitters, comp.form_media)
    if create_schema:
        await db.create_all()
    channel_list = list(channels) if channels is not None else build_channels(settings)
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
