"""Composing, previewing and sending announcements: exactly once per person, at the platform's pace.

The sender (``Broadcaster``) never decides pace itself: each channel adapter waits for its own
throttle (Telegram: ``bot/channels/throttle.py``, 30 messages a second overall and 1 a second per
chat by default) and reports 429s it could not absorb as ``rate_limited`` with ``retry_after``;
the row then goes back to the queue, due after that wait. The sender keeps enough messages in
flight to fill the pace (a pool of workers fed from small claimed batches) and writes outcomes
in batches.

Exactly once: the recipients are written once (one row per person, unique), then rows are
claimed (``sending``, committed) in batches of about half a second of sending before any of them
goes out. Ctrl+C returns the claimed rows not yet sent to the queue; a crash (SIGKILL) leaves
them ``sending``, and the next run counts those ``unknown`` and never sends them again, because
nobody can know whether the message left. Just before each batch, subscriptions are read again,
so a "Dừng nhận tin" during the run stops that person's copy.

Zalo OA: inside the worker's 48-hour window the announcement is a consultation message (the
adapter counts the 8 free replies and holds what it may not send). Outside it, a promotion goes
only when a monthly quota is configured and a slot is free (``zalo_promotion_slots``: quota per
follower per month, one a day); otherwise the copy is held for the worker's next message or
skipped, as configured — always counted, never sent against a quota.

Quiet hours (21:00–07:00 Asia/Ho_Chi_Minh by default): nothing is claimed in them; the run
sleeps until they end and continues.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, ClassVar, Protocol, Self
from zoneinfo import ZoneInfo

from bot.config import ConfigError, ConfigReader
from bot.core.answers import NewsPayload
from bot.core.events import Address, Choice, Choices, Content, Outgoing, Photo, Receipt
from bot.core.payloads import Payload
from bot.core.texts import Texts
from storage import broadcasts as repo
from storage import contacts as contacts_repo
from storage.db import Database
from storage.models import ChannelIdentity

log = logging.getLogger(__name__)

TELEGRAM_LIMIT, ZALO_LIMIT = 4096, 2000
DEFAULT_LIMITS = {"telegram": TELEGRAM_LIMIT, "zalo_oa": ZALO_LIMIT, "zalo_bot": ZALO_LIMIT}
ZALO_WINDOW = timedelta(hours=48)
MAX_ATTEMPTS = 6
STALE_CLAIM = timedelta(minutes=2)  # a live process finishes a claimed row well within this
Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


class Sender(Protocol):
    """What the sender needs of a channel adapter (bot/channels/base.py ``Channel``)."""

    name: str
    capabilities: Any

    async def send(self, out: Outgoing) -> Receipt: ...


def _system_clock() -> datetime:
    return datetime.now(UTC)


def _hhmm(text: str) -> time:
    hours, minutes = str(text).strip().split(":")
    return time(int(hours), int(minutes))


@dataclass(frozen=True)
class BroadcastConfig:
    """``[broadcast]`` in config.toml."""

    quiet_start: time = time(21, 0)
    quiet_end: time = time(7, 0)
    timezone: str = "Asia/Ho_Chi_Minh"
    approval_over: int = 10_000  # a bigger audience needs a second staff member's approval
    zalo_oa_outside_window: str = "hold"  # hold | skip
    zalo_oa_promotions_per_month: int = 0  # 4 for a verified OA as of 2024; 0 = none
    telegram_per_second: float = 30.0  # sizes the batches; the adapter's throttle paces
    paid_broadcast: bool = False  # Telegram paid broadcasts (allow_paid_broadcast, up to 1,000/s)
    paid_per_second: float = 1000.0

    SECTION: ClassVar[str] = "broadcast"

    @classmethod
    def from_config(cls, reader: ConfigReader) -> Self:
        quiet = reader.text("quiet_hours", "21:00-07:00")
        start, _, end = quiet.partition("-")
        try:
            quiet_start, quiet_end = _hhmm(start), _hhmm(end)
        except ValueError as e:
            raise ConfigError(reader.key("quiet_hours"), quiet, '"HH:MM-HH:MM"') from e
        outside = reader.text("zalo_oa_outside_window", "hold")
        if outside not in ("hold", "skip"):
            raise ConfigError(reader.key("zalo_oa_outside_window"), outside, '"hold" or "skip"')
        return cls(
            quiet_start=quiet_start,
            quiet_end=quiet_end,
            timezone=reader.text("timezone", "Asia/Ho_Chi_Minh"),
            approval_over=reader.integer("approval_over", 10_000, minimum=1),
            zalo_oa_outside_window=outside,
            zalo_oa_promotions_per_month=reader.integer("zalo_oa_promotions_per_month", 0),
            telegram_per_second=float(reader.settings.telegram_messages_per_second),
            paid_broadcast=reader.flag("paid_broadcast", False),
            paid_per_second=float(reader.settings.telegram_paid_per_second),
        )

    def quiet_for(self, now: datetime) -> float:
        """Seconds until quiet hours end, or 0.0 outside them."""
        if self.quiet_start == self.quiet_end:
            return 0.0
        local = now.astimezone(ZoneInfo(self.timezone))
        clock = local.time()
        start, end = self.quiet_start, self.quiet_end
        inside = (start <= clock or clock < end) if start > end else (start <= clock < end)
        if not inside:
            return 0.0
        ends = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
        if ends <= local:
            ends += timedelta(days=1)
        return (ends - local).total_seconds()

    def month_and_day(self, now: datetime) -> tuple[str, str]:
        local = now.astimezone(ZoneInfo(self.timezone))
        return local.strftime("%Y-%m"), local.strftime("%Y-%m-%d")


# -- composing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnnouncementPayload(Payload, prefix="bc"):
    """The buttons under an announcement: its own button, or a poll answer (1-based)."""

    action: str  # btn | poll
    broadcast_id: int
    option: int = 0


STOP_PAYLOAD = NewsPayload("stop").pack()


BUTTONS = ("join", "rights", "ask")


def check_button(button: str | None) -> str | None:
    if button is None or button in BUTTONS:
        return button
    if button.startswith("https://") and len(button) <= 512 and " " not in button:
        return button
    raise ValueError("button is join, rights, ask or an https:// link")


def check_poll(question: str | None, options: list[str]) -> list[str] | None:
    if question is None:
        if options:
            raise ValueError("answers (--option) need a question (--poll)")
        return None
    options = [o.strip() for o in options if o.strip()]
    if not 2 <= len(options) <= 5:
        raise ValueError("a quick poll has 2 to 5 answers")
    if any(len(o) > 40 for o in options):
        raise ValueError("a poll answer is at most 40 characters (it is a button)")
    return options


def resolve_audience(text: str, areas: Any = None) -> repo.Audience:
    """Parse an audience; an area is looked up by name (as in content/areas.csv)."""
    audience = repo.parse_audience(text)
    if audience.kind == "area":
        area = areas.by_name(audience.value) if areas is not None else None
        if area is None:
            raise ValueError(f"no commune or ward named {audience.value!r}")
        return repo.Audience("area", area.code)
    return audience


def _button_label(texts: Texts, button: str) -> str:
    kind = button if button in BUTTONS else "link"
    return texts(f"news.button.{kind}")


def render(broadcast: repo.Broadcast, texts: Texts, *, photos: bool = True) -> list[Content]:
    """What one recipient gets: an optional photo, then the text with its buttons, always ending
    with "Dừng nhận tin"."""
    body = broadcast.text.strip()
    options: list[Choice] = []
    if broadcast.poll_question:
        body = f"{body}\n\n{broadcast.poll_question.strip()}" if body else broadcast.poll_question
        options += [
            Choice(label, AnnouncementPayload("poll", broadcast.id, n).pack())
            for n, label in enumerate(broadcast.poll_options or [], 1)
        ]
    elif broadcast.button:
        button = AnnouncementPayload("btn", broadcast.id).pack()
        options.append(Choice(_button_label(texts, broadcast.button), button))
    options.append(Choice(texts("news.stop"), STOP_PAYLOAD))
    items: list[Content] = []
    if broadcast.photo and photos:
        items.append(Photo(broadcast.photo, "", broadcast.photo_name or "image.jpg"))
    items.append(Choices(body, tuple(options)))
    return items


async def audience_size(
    db: Database, broadcast: repo.Broadcast, areas: Any = None
) -> dict[str, int]:
    """How many people the announcement would reach now, per channel (one each, on the
    channel they used last)."""
    async with db.session() as session:
        addresses = await _addresses(session, broadcast, areas)
    sizes: dict[str, int] = {}
    for channel, _ in addresses.values():
        sizes[channel] = sizes.get(channel, 0) + 1
    return sizes


async def _addresses(
    session: Any, broadcast: repo.Broadcast, areas: Any
) -> dict[int, tuple[str, str]]:
    audience = resolve_audience(broadcast.audience, areas)
    exclude = resolve_audience(broadcast.exclude, areas) if broadcast.exclude else None
    contacts = await repo.audience_contacts(session, repo.audience_query(audience, exclude))
    return await repo.reachable_addresses(session, contacts)


def topic_of(broadcast: repo.Broadcast) -> str | None:
    """The topic whose consent the announcement needs (None: any topic)."""
    audience = repo.parse_audience(broadcast.audience)
    return audience.value if audience.kind == "topic" else None


# -- sending ----------------------------------------------------------------------------------


@dataclass
class Progress:
    total: int = 0
    done: int = 0
    sent: int = 0
    rate_limited: int = 0  # 429s the adapter could not absorb, put back in the queue
    quiet_waits: int = 0


class NeedsApproval(Exception):
    """The audience is over the approval threshold and nobody else approved it yet."""


@dataclass
class _Claimed:
    id: int
    contact_id: int
    channel: str
    chat_id: str
    window_open: bool = True


@dataclass
class Broadcaster:
    db: Database
    texts: Texts
    channels: Mapping[str, Sender]
    config: BroadcastConfig = field(default_factory=BroadcastConfig)
    areas: Any = None
    clock: Clock = _system_clock
    sleep: Sleep = asyncio.sleep
    promote: Callable[[Outgoing], Awaitable[Receipt]] | None = None
    on_progress: Callable[[Progress], None] | None = None

    async def queue(self, broadcast_id: int) -> int:
        """Write one row per recipient (once; a second call or process adds nobody)."""
        async with self.db.transaction() as session:
            broadcast = await repo.get(session, broadcast_id)
            if broadcast is None:
                raise LookupError(f"no announcement {broadcast_id}")
            if broadcast.queued_at is not None:
                return 0
            addresses = await _addresses(session, broadcast, self.areas)
            if len(addresses) > self.config.approval_over and not broadcast.approved_by:
                broadcast.status = repo.AWAITING_APPROVAL
                raise NeedsApproval(len(addresses))
            return await repo.queue_recipients(session, broadcast, addresses, self.clock())

    async def run(self, broadcast_id: int, stop: asyncio.Event | None = None) -> Progress:
        """Send until every row is final (or ``stop`` is set: then the claimed rows not yet
        sent go back to the queue). Safe to run again and in several processes at once."""
        stop = stop or asyncio.Event()
        started = self.clock()
        try:
            await self.queue(broadcast_id)
        except NeedsApproval:
            async with self.db.transaction() as session:  # the status change must persist
                broadcast = await repo.get(session, broadcast_id)
                if broadcast is not None and not broadcast.approved_by:
                    broadcast.status = repo.AWAITING_APPROVAL
            raise
        async with self.db.transaction() as session:
            broadcast = await repo.get(session, broadcast_id)
            assert broadcast is not None
            await repo.mark_crashed_unknown(session, broadcast_id, started - STALE_CLAIM)
            contents = {
                name: render(broadcast, self.texts, photos=ch.capabilities.photos)
                for name, ch in self.channels.items()
            }
            topic = topic_of(broadcast)
        progress = Progress()
        await self._refresh(broadcast_id, progress)
        batch = self._batch_size()
        queue: asyncio.Queue[_Claimed | None] = asyncio.Queue()
        results: list[dict[str, Any]] = []
        workers = [
            asyncio.create_task(self._worker(broadcast_id, queue, contents, results, progress))
            for _ in range(batch)
        ]
        try:
            while not stop.is_set():
                if queue.qsize() > batch // 2:
                    await self._flush(results, progress)
                    await asyncio.sleep(0.05)
                    continue
                quiet = self.config.quiet_for(self.clock())
                if quiet > 0:
                    await self._flush(results, progress)
                    progress.quiet_waits += 1
                    if self.on_progress:
                        self.on_progress(progress)
                    log.info("broadcast %d: quiet hours, pausing %.0f s", broadcast_id, quiet)
                    await self._sleep_or_stop(min(quiet, 600.0), stop)
                    continue
                claimed = await self._claim(broadcast_id, topic, batch, progress)
                if claimed:
                    for row in claimed:
                        queue.put_nowait(row)
                    continue
                await queue.join()
                await self._flush(results, progress)
                async with self.db.session() as session:
                    left, due = await repo.remaining(session, broadcast_id)
                if left == 0:
                    break
                wait = (due - self.clock()).total_seconds() if due else 0.5
                await self._sleep_or_stop(max(0.05, min(wait, 5.0)), stop)
        finally:
            unsent = []
            while not queue.empty():
                row = queue.get_nowait()
                queue.task_done()
                if row is not None:
                    unsent.append(row.id)
            for _ in workers:
                queue.put_nowait(None)
            await asyncio.gather(*workers, return_exceptions=True)
            await self._flush(results, progress)
            async with self.db.transaction() as session:
                await self._requeue(session, unsent)
                if not stop.is_set():
                    await self._finish_run(session, broadcast_id, started)
        await self._refresh(broadcast_id, progress)
        return progress

    def _batch_size(self) -> int:
        """About half a second of sending: what a crash may leave "unknown"."""
        config = self.config
        rate = config.paid_per_second if config.paid_broadcast else config.telegram_per_second
        return max(8, math.ceil(rate * 0.5))

    async def _sleep_or_stop(self, seconds: float, stop: asyncio.Event) -> None:
        sleeper = asyncio.ensure_future(self.sleep(seconds))
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (sleeper, stopper):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _claim(
        self, broadcast_id: int, topic: str | None, limit: int, progress: Progress
    ) -> list[_Claimed]:
        now = self.clock()
        async with self.db.transaction() as session:
            rows = await repo.claim(session, broadcast_id, now, limit)
            if not rows:
                return []
            subscribed = await repo.still_subscribed(session, [r.contact_id for r in rows], topic)
            claimed, final = [], []
            for row in rows:
                if row.contact_id not in subscribed:
                    final.append({"id": row.id, "status": repo.OPTED_OUT})
                elif row.channel not in self.channels:
                    final.append({"id": row.id, "status": repo.SKIPPED, "error": "no channel"})
                else:
                    claimed.append(_Claimed(row.id, row.contact_id, row.channel, row.chat_id))
            await self._zalo_windows(session, claimed, now)
            await repo.finish(session, final)
        progress.done += len(final)
        return claimed

    async def _zalo_windows(self, session: Any, rows: list[_Claimed], now: datetime) -> None:
        zalo = [r for r in rows if r.channel == "zalo_oa"]
        if not zalo:
            return
        from sqlalchemy import select

        seen = dict(
            (
                await session.execute(
                    select(ChannelIdentity.chat_id, ChannelIdentity.last_inbound_at).where(
                        ChannelIdentity.channel == "zalo_oa",
                        ChannelIdentity.chat_id.in_([r.chat_id for r in zalo]),
                    )
                )
            ).all()
        )
        for row in zalo:
            last = seen.get(row.chat_id)
            row.window_open = last is not None and now - last <= ZALO_WINDOW

    async def _worker(
        self,
        broadcast_id: int,
        queue: asyncio.Queue[_Claimed | None],
        contents: dict[str, list[Content]],
        results: list[dict[str, Any]],
        progress: Progress,
    ) -> None:
        while True:
            row = await queue.get()
            try:
                if row is None:
                    return
                result = await self._deliver(broadcast_id, row, contents[row.channel])
                if result.get("status") == repo.QUEUED:
                    progress.rate_limited += "rate_limited" in str(result.get("error"))
                else:
                    progress.done += 1
                    progress.sent += result.get("status") == repo.SENT
                results.append(result)
            except Exception:  # one recipient's failure never stops the run
                log.exception("broadcast %d: sending row failed", broadcast_id)
                if row is not None:
                    results.append({"id": row.id, "status": repo.FAILED, "error": "internal"})
            finally:
                queue.task_done()

    async def _deliver(
        self, broadcast_id: int, row: _Claimed, items: list[Content]
    ) -> dict[str, Any]:
        now = self.clock()
        address = Address(row.channel, row.chat_id)
        kind: str | None = None
        send = self.channels[row.channel].send
        if row.channel == "zalo_oa":
            kind = "cs"
            if not row.window_open:
                if self.promote is not None and await self._promotion_slot(broadcast_id, row):
                    kind, send = "promotion", self.promote
                elif self.config.zalo_oa_outside_window == "skip":
                    return {"id": row.id, "status": repo.SKIPPED, "error": "outside window"}
        paid = self.config.paid_broadcast and row.channel == "telegram"
        for index, item in enumerate(items):
            receipt = await send(Outgoing(address, item, paid_broadcast=paid))
            for _ in range(3):  # a photo went already: finish here rather than send it twice
                if index == 0 or receipt.error != "rate_limited":
                    break
                await self.sleep(float(receipt.extra.get("retry_after", "1")))
                receipt = await send(Outgoing(address, item, paid_broadcast=paid))
            if not receipt.ok:
                return self._failure(row, receipt, now, kind)
        return {"id": row.id, "status": repo.SENT, "sent_at": self.clock(), "kind": kind,
                "contact_id": row.contact_id, "channel": row.channel}  # fmt: skip

    def _failure(
        self, row: _Claimed, receipt: Receipt, now: datetime, kind: str | None
    ) -> dict[str, Any]:
        error = (receipt.error or "")[:300]
        if receipt.error == "blocked":
            return {"id": row.id, "status": repo.BLOCKED, "error": error,
                    "unreachable": (row.channel, row.chat_id)}  # fmt: skip
        if receipt.extra.get("held_id"):
            return {"id": row.id, "status": repo.HELD, "error": error, "kind": kind}
        if receipt.error == "rate_limited":
            wait = float(receipt.extra.get("retry_after", "1"))
            return {"id": row.id, "status": repo.QUEUED, "error": error,
                    "due_at": now + timedelta(seconds=wait)}  # fmt: skip
        transient = "network" in error or "TelegramNetworkError" in error or "Server" in error
        if transient:
            return {"id": row.id, "status": repo.QUEUED, "error": error, "retry": True,
                    "due_at": now + timedelta(seconds=5)}  # fmt: skip
        return {"id": row.id, "status": repo.FAILED, "error": error}

    async def _promotion_slot(self, broadcast_id: int, row: _Claimed) -> bool:
        quota = self.config.zalo_oa_promotions_per_month
        if quota <= 0:
            return False
        now = self.clock()
        month, day = self.config.month_and_day(now)
        async with self.db.transaction() as session:
            return await repo.take_promotion_slot(
                session, chat_id=row.chat_id, month=month, day=day, quota=quota,
                broadcast_id=broadcast_id, now=now,
            )  # fmt: skip

    async def _flush(self, results: list[dict[str, Any]], progress: Progress) -> None:
        if not results:
            return
        batch, results[:] = list(results), []
        buttonless = {n for n, ch in self.channels.items() if not ch.capabilities.buttons}
        async with self.db.transaction() as session:
            rows = []
            for result in batch:
                values = dict(result)
                unreachable = values.pop("unreachable", None)
                contact_id = values.pop("contact_id", None)
                channel = values.pop("channel", None)
                values.pop("retry", None)
                if unreachable:
                    await contacts_repo.mark_unreachable(session, *unreachable)
                if channel in buttonless and contact_id is not None:
                    payloads = await self._typed_payloads(session, result["id"])
                    await repo.set_typed_choices(session, contact_id, payloads)
                rows.append(values)
            await repo.finish(session, rows)
        if self.on_progress:
            self.on_progress(progress)

    async def _typed_payloads(self, session: Any, recipient_id: int) -> list[str]:
        row = await session.get(repo.Recipient, recipient_id)
        broadcast = await repo.get(session, row.broadcast_id)
        choices = [c for c in render(broadcast, self.texts, photos=False) if isinstance(c, Choices)]
        return [o.payload for o in choices[-1].options] if choices else []

    async def _requeue(self, session: Any, ids: list[int]) -> None:
        """Claimed but never handed to a channel (Ctrl+C): back in the queue."""
        if ids:
            await repo.finish(session, [{"id": i, "status": repo.QUEUED} for i in ids])

    async def _finish_run(self, session: Any, broadcast_id: int, started: datetime) -> None:
        left, _ = await repo.remaining(session, broadcast_id)
        if left:
            return
        await repo.mark_crashed_unknown(session, broadcast_id, started)
        broadcast = await repo.get(session, broadcast_id)
        if broadcast is not None and broadcast.status == repo.RUNNING:
            broadcast.status = repo.DONE
            broadcast.finished_at = self.clock()

    async def _refresh(self, broadcast_id: int, progress: Progress) -> None:
        async with self.db.session() as session:
            counts = await repo.counts(session, broadcast_id)
        progress.total = counts["total"]
        progress.done = counts["total"] - counts[repo.QUEUED] - counts[repo.SENDING]
        progress.sent = counts[repo.SENT]
        if self.on_progress:
            self.on_progress(progress)
