"""Outbound rate limits for Telegram: a global pace plus one token bucket per chat.

Telegram answers 429 when a bot sends too fast (about 30 msg/s overall, 1 msg/s per chat,
20 msg/min per group, up to 1,000 msg/s for paid broadcasts; ../shared/PLATFORMS.md §1) and
aiogram has no limiter of its own, so the adapter asks a throttle before every send. Per-chat
buckets use the generic cell rate algorithm (GCRA); the global limit hands out time slots of
1/rate seconds and fills earlier free slots, so a chat waiting for its own bucket never holds up
other chats. Each request *reserves* its slot at once and then sleeps until it, so callers are
served in arrival order and the order of one chat's messages is kept.

Two implementations of the same algorithm:

- ``Throttle`` keeps the buckets in this process. Right for one bot process (SQLite, or one
  process on PostgreSQL). Clock and sleep are injectable so tests run without waiting.
- ``RedisThrottle`` keeps them in Redis and books a slot in one atomic Lua script, on Redis's own
  clock, so any number of processes on any number of machines together stay under the cap.
  Used whenever ``REDIS_URL`` is set (see ``throttle_for``). If Redis stops answering, the
  process falls back to its own in-process pace (logged) rather than stop sending.

The limiter libraries on PyPI (``limits`` and others) answer "may I send now?" and leave the
caller to poll; reserving a future slot is what keeps a chat's messages in order without
polling, so this module keeps its own small GCRA and runs it in Redis as a script.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

PAID_BROADCAST_LIMIT = 1000.0  # Telegram's ceiling with allow_paid_broadcast


@dataclass(frozen=True)
class Rate:
    """``per_second`` sustained, with up to ``burst`` requests allowed back to back."""

    per_second: float
    burst: int = 1

    @property
    def interval(self) -> float:
        return 1.0 / self.per_second

    @property
    def tolerance(self) -> float:
        return (self.burst - 1) * self.interval


@dataclass(frozen=True)
class Pace:
    """The limits one bot keeps, across all its processes: ``[telegram]`` in config.toml.

    ``messages_per_second`` is the overall pace of ordinary messages; ``paid_per_second`` the
    pace of messages sent with ``allow_paid_broadcast`` (charged in Telegram Stars, so only
    announcements that ask for it use it); ``private`` and ``group`` are per chat. A bucket
    admits at most ``burst + per_second * window`` requests in any window (rounded down), so
    the group rate keeps every sliding minute within Telegram's published 20 messages.
    """

    messages_per_second: float = 30.0
    paid_per_second: float = PAID_BROADCAST_LIMIT
    private: Rate = Rate(1, 3)  # 1 msg/s per private chat, a short burst of 3 allowed
    group: Rate = Rate(18 / 60, 3)  # at most 20 messages in any minute per group

    @classmethod
    def of(
        cls,
        messages_per_second: float = 30.0,
        per_chat_per_second: float = 1.0,
        paid_per_second: float = PAID_BROADCAST_LIMIT,
    ) -> Pace:
        """The pace from the two numbers the federation configures (and the paid one).

        The group rate follows ``per_chat_per_second`` only when that is lifted above
        Telegram's (tests and benchmarks against a fake server); otherwise it stays at 20/min.
        """
        for name, value in (
            ("messages_per_second", messages_per_second),
            ("per_chat_per_second", per_chat_per_second),
            ("paid_per_second", paid_per_second),
        ):
            if not value > 0:
                raise ValueError(f"[telegram] {name} must be a positive number, not {value!r}")
        group = cls.group if per_chat_per_second <= 1 else Rate(per_chat_per_second, 3)
        return cls(messages_per_second, paid_per_second, Rate(per_chat_per_second, 3), group)

    def rate(self, group: bool) -> Rate:
        return self.group if group else self.private


# Compatibility names for the defaults (tests and callers that read them).
DEFAULT_PACE = Pace()
GLOBAL_PER_SECOND = DEFAULT_PACE.messages_per_second
PRIVATE_RATE = DEFAULT_PACE.private
GROUP_RATE = DEFAULT_PACE.group


class Limiter(Protocol):
    """What the Telegram adapter needs from a throttle."""

    async def acquire(self, chat_id: str, *, group: bool, paid: bool = False) -> float: ...

    async def pause(self, chat_id: str, seconds: float, *, group: bool) -> None: ...

    async def close(self) -> None: ...


class Bucket:
    """One GCRA bucket; ``tat`` is the theoretical arrival time of the next request."""

    def __init__(self, rate: Rate) -> None:
        self.rate = rate
        self.tat = float("-inf")

    def earliest(self, now: float) -> float:
        """When a request arriving at ``now`` may go."""
        return max(now, max(self.tat, now) - self.rate.tolerance)

    def take(self, at: float) -> None:
        self.tat = max(self.tat, at) + self.rate.interval

    def idle(self, now: float) -> bool:
        return self.tat <= now


class Slots:
    """At most one request per ``1/per_second`` slot: never more than ``per_second`` a second."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self._taken: set[int] = set()

    def book(self, earliest: float, now: float) -> float:
        """Take the first free slot at or after ``earliest``; return its time."""
        if len(self._taken) > 4096:
            floor = int(now / self.interval)
            self._taken = {slot for slot in self._taken if slot >= floor}
        slot = math.ceil(earliest / self.interval - 1e-9)
        while slot in self._taken:
            slot += 1
        self._taken.add(slot)
        return max(earliest, slot * self.interval)


class Throttle:
    """The pace kept in this process: global slots plus per-chat buckets; order-preserving."""

    def __init__(
        self,
        pace: Pace = DEFAULT_PACE,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.pace = pace
        self._global = Slots(pace.messages_per_second)
        self._paid = Slots(pace.paid_per_second)
        self._chats: dict[str, Bucket] = {}
        self._clock = clock
        self._sleep = sleep

    def _bucket(self, chat_id: str, group: bool, now: float) -> Bucket:
        if len(self._chats) > 10_000:
            self._chats = {k: b for k, b in self._chats.items() if not b.idle(now)}
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = Bucket(self.pace.rate(group))
        return chat

    def reserve(self, chat_id: str, *, group: bool, paid: bool = False) -> float:
        """Book the next slot for ``chat_id`` and return how long the caller must wait."""
        now = self._clock()
        chat = self._bucket(chat_id, group, now)
        at = (self._paid if paid else self._global).book(chat.earliest(now), now)
        chat.take(at)
        return at - now

    async def acquire(self, chat_id: str, *, group: bool, paid: bool = False) -> float:
        """Wait for this chat's next slot; returns the seconds waited (0.0 when free)."""
        delay = self.reserve(chat_id, group=group, paid=paid)
        if delay > 0:
            await self._sleep(delay)
        return delay

    def hold(self, chat_id: str, seconds: float, *, group: bool) -> None:
        """Nothing more goes to this chat for ``seconds``."""
        now = self._clock()
        chat = self._bucket(chat_id, group, now)
        chat.tat = max(chat.tat, now + seconds + chat.rate.tolerance)

    async def pause(self, chat_id: str, seconds: float, *, group: bool) -> None:
        """After a 429: hold the chat for ``retry_after``."""
        self.hold(chat_id, seconds, group=group)

    async def close(self) -> None:
        return None


def unlimited() -> Throttle:
    """A throttle that never waits, for tests and benchmarks against a fake server."""
    return Throttle(Pace.of(1e9, 1e9, 1e9))


# One atomic booking, on Redis's clock (microseconds). KEYS[1]: the chat's theoretical arrival
# time; KEYS[2]: the sorted set of taken global slots (member = score = slot number).
# ARGV: chat interval, chat tolerance, slot interval (all µs), and a hold in µs (> 0: only push
# the chat's arrival time back, after a 429). Returns the wait and the booked time, in µs.
_BOOK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local hold = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if hold > 0 then
  tat = math.max(tat, now + hold + tolerance)
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
  return 0
end
local slot_us = tonumber(ARGV[3])
local earliest = math.max(now, math.max(tat, now) - tolerance)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. math.floor(now / slot_us))
local slot = math.ceil(earliest / slot_us)
while redis.call('ZSCORE', KEYS[2], slot) do
  slot = slot + 1
end
redis.call('ZADD', KEYS[2], slot, slot)
local at = math.max(earliest, slot * slot_us)
local keep = math.ceil((at - now) / 1000) + 2000
if redis.call('PTTL', KEYS[2]) < keep then
  redis.call('PEXPIRE', KEYS[2], keep)
end
tat = math.max(tat, at) + interval
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
return {math.floor(at - now), math.floor(at)}
"""

_US = 1_000_000


class RedisThrottle:
    """The same pace kept in Redis, shared by every process that uses the same ``prefix``.

    ``prefix`` names the bot (one per bot token), so two bots on one Redis do not share a cap.
    When Redis fails, this process continues on a local ``Throttle`` and says so in the log.
    """

    def __init__(
        self,
        client: Any,
        pace: Pace = DEFAULT_PACE,
        *,
        prefix: str = "congdoan:pace",
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.pace = pace
        self.prefix = prefix
        self._client = client
        self._script = client.register_script(_BOOK)
        self._sleep = sleep
        self._fallback = Throttle(pace, sleep=sleep)
        self._warned = False

    @classmethod
    def from_url(cls, url: str, pace: Pace = DEFAULT_PACE, **kwargs: Any) -> RedisThrottle:
        import redis.asyncio as redis

        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        return cls(client, pace, **kwargs)

    def _keys(self, chat_id: str, paid: bool) -> list[str]:
        lane = "paid" if paid else "slots"
        return [f"{self.prefix}:chat:{chat_id}", f"{self.prefix}:{lane}"]

    def _args(self, group: bool, paid: bool, hold: float) -> list[int]:
        rate = self.pace.rate(group)
        per_second = self.pace.paid_per_second if paid else self.pace.messages_per_second
        # Rounded up, never down: 30/s must not become 30 slots in 0.99999 s.
        return [
            max(1, math.ceil(rate.interval * _US)),
            math.floor(rate.tolerance * _US),
            max(1, math.ceil(_US / per_second)),
            math.ceil(hold * _US),
        ]

    async def book(self, chat_id: str, *, group: bool, paid: bool = False) -> tuple[float, float]:
        """Book the next slot in Redis: (seconds to wait, the slot's time on Redis's clock).

        On the local fallback the second is this process's monotonic time: there is no shared
        clock then."""
        try:
            wait_us, at_us = await self._script(
                keys=self._keys(chat_id, paid), args=self._args(group, paid, 0)
            )
        except Exception as exc:  # redis.RedisError, OSError: keep sending, at this process's pace
            self._degraded(exc)
            wait = self._fallback.reserve(chat_id, group=group, paid=paid)
            return wait, time.monotonic() + wait
        self._warned = False
        return int(wait_us) / _US, int(at_us) / _US

    async def reserve(self, chat_id: str, *, group: bool, paid: bool = False) -> float:
        """Book the next slot; the seconds to wait before sending."""
        wait, _ = await self.book(chat_id, group=group, paid=paid)
        return wait

    async def acquire(self, chat_id: str, *, group: bool, paid: bool = False) -> float:
        delay = await self.reserve(chat_id, group=group, paid=paid)
        if delay > 0:
            await self._sleep(delay)
        return delay

    async def pause(self, chat_id: str, seconds: float, *, group: bool) -> None:
        self._fallback.hold(chat_id, seconds, group=group)
        try:
            await self._script(
                keys=self._keys(chat_id, False), args=self._args(group, False, seconds)
            )
        except Exception as exc:
            self._degraded(exc)

    def _degraded(self, exc: Exception) -> None:
        if not self._warned:
            log.warning(
                "throttle: Redis unreachable (%s); pacing this process alone until it is back",
                type(exc).__name__,
            )
            self._warned = True

    async def ping(self) -> bool:
        """For the readiness check."""
        try:
            return bool(await self._client.ping())
        except Exception:
            return False

    async def close(self) -> None:
        await self._client.aclose()


def throttle_for(
    pace: Pace, redis_url: str | None, *, bot_id: str = "bot"
) -> Throttle | RedisThrottle:
    """One process: the pace in memory. ``REDIS_URL`` set: the pace shared through Redis."""
    if redis_url:
        return RedisThrottle.from_url(redis_url, pace, prefix=f"congdoan:pace:{bot_id}")
    return Throttle(pace)
