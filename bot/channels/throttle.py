"""Outbound rate limits for Telegram: a global pace plus one token bucket per chat.

Telegram answers 429 when a bot sends too fast (about 30 msg/s overall, 1 msg/s per chat,
20 msg/min per group; ../shared/PLATFORMS.md §1) and aiogram has no limiter of its own, so the
adapter asks this throttle before every send. Per-chat buckets use the generic cell rate
algorithm; the global limit hands out time slots of 1/30 s and fills earlier free slots, so a
chat waiting for its own bucket never holds up other chats. Each request *reserves* its slot at
once and then sleeps until it, so callers are served in arrival order and the order of one
chat's messages is kept. Clock and sleep are injectable so tests run without waiting.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


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


# A bucket admits at most ``burst + per_second * window`` requests in any window (rounded
# down), so these keep every sliding minute within Telegram's published group limit.
GLOBAL_PER_SECOND = 30.0  # across all chats
PRIVATE_RATE = Rate(1, 3)  # 1 msg/s per private chat, a short burst of 3 allowed
GROUP_RATE = Rate(18 / 60, 3)  # at most 20 messages in any minute per group


class Throttle:
    """A global pace plus per-private-chat and per-group buckets; async and order-preserving."""

    def __init__(
        self,
        *,
        global_per_second: float = GLOBAL_PER_SECOND,
        private_rate: Rate = PRIVATE_RATE,
        group_rate: Rate = GROUP_RATE,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._global = Slots(global_per_second)
        self._private_rate = private_rate
        self._group_rate = group_rate
        self._chats: dict[str, Bucket] = {}
        self._clock = clock
        self._sleep = sleep

    def _bucket(self, chat_id: str, group: bool, now: float) -> Bucket:
        if len(self._chats) > 10_000:
            self._chats = {k: b for k, b in self._chats.items() if not b.idle(now)}
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = Bucket(self._group_rate if group else self._private_rate)
        return chat

    def reserve(self, chat_id: str, *, group: bool) -> float:
        """Book the next slot for ``chat_id`` and return how long the caller must wait."""
        now = self._clock()
        chat = self._bucket(chat_id, group, now)
        at = self._global.book(chat.earliest(now), now)
        chat.take(at)
        return at - now

    async def acquire(self, chat_id: str, *, group: bool) -> float:
        """Wait for this chat's next slot; returns the seconds waited (0.0 when free)."""
        delay = self.reserve(chat_id, group=group)
        if delay > 0:
            await self._sleep(delay)
        return delay

    def pause(self, chat_id: str, seconds: float, *, group: bool) -> None:
        """After a 429: nothing more goes to this chat for ``seconds`` (retry_after)."""
        now = self._clock()
        chat = self._bucket(chat_id, group, now)
        chat.tat = max(chat.tat, now + seconds + chat.rate.tolerance)


def unlimited() -> Throttle:
    """A throttle that never waits, for tests and benchmarks against a fake server."""
    fast = Rate(1e9, 1_000_000)
    return Throttle(global_per_second=1e9, private_rate=fast, group_rate=fast)
