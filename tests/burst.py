"""A burst of workers' messages through real `congdoan-bot run` processes, and what must hold.

Shared by the crash test (one process on SQLite, killed mid-burst) and the scale-out test
(three processes on PostgreSQL and Redis): each worker presses Start, reads the welcome, then
sends a cycle of commands; every answer must arrive once, in order, with at most a gap where a
reply was on the wire at a kill (Telegram has no idempotency key, so such a reply is never sent
again and the bot logs it as possibly lost).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.core.texts import Texts
from tests.cluster import BotProcess
from tests.fakes.telegram import FakeTelegram

MAYBE_LOST = "a reply was being sent when its process stopped"
CYCLE = [("/menu", "menu.text"), ("/trogiup", "help.text"), ("/huy", "common.nothing_to_cancel")]


def shipped_texts() -> Texts:
    from bot.config import load_settings

    settings = load_settings({})
    constants = {"hotline": settings.hotline, "federation": settings.federation}
    return Texts.load(settings.content_dir / "vi", constants)


@dataclass
class Burst:
    """Each user's /start, then ``per_user - 1`` messages and the answers they must get."""

    starts: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    updates: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    expected: dict[int, list[str]] = field(default_factory=dict)

    @classmethod
    def plan(cls, fake: FakeTelegram, texts: Texts, first_user: int, users: int, per_user: int):
        burst = cls()
        for n in range(users):
            user = first_user + n
            fake.add_user(user)
            sequence = [CYCLE[(n + i) % len(CYCLE)] for i in range(per_user - 1)]
            burst.starts[user] = [fake.send_text(user, "/start", queue=False)]
            burst.updates[user] = [fake.send_text(user, text, queue=False) for text, _ in sequence]
            burst.expected[user] = [texts(key) for _, key in sequence]
        return burst

    @property
    def total(self) -> int:
        return sum(1 + len(wanted) for wanted in self.expected.values())

    def short(self, fake: FakeTelegram) -> int:
        return sum(len(fake.sent_to(u)) < 1 + len(w) for u, w in self.expected.items())


async def until(
    done: Callable[[], bool], fake: FakeTelegram, seconds: float, progress: Any
) -> None:
    try:
        await fake.wait_until(done, timeout=seconds)
    except TimeoutError:
        raise AssertionError(f"stuck after {seconds} s: {progress()}") from None


def reported_lost(processes: Iterable[BotProcess]) -> int:
    """Replies the bots said were on the wire at a kill (every start's log of every process)."""
    return sum(p.log_text().count(MAYBE_LOST) for p in processes)


async def settle(
    fake: FakeTelegram, total: int, processes: list[BotProcess], seconds: float, progress: Any
) -> int:
    """Wait until every reply arrived but those reported possibly lost; returns that count.

    The report is read again while waiting: the process that takes a killed one's events over
    writes it only when the inbox lease (30 s) has run out, which may be after the last webhook
    was acknowledged."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        lost = reported_lost(processes)
        if len(fake.sent) >= total - lost:
            break
        if loop.time() > deadline:
            raise AssertionError(f"stuck after {seconds} s: {progress()}, {lost} reported lost")
        await asyncio.sleep(0.5)
    await asyncio.sleep(2)  # anything sent twice would arrive now
    return reported_lost(processes)


def missing_answers(fake: FakeTelegram, burst: Burst) -> int:
    """How many answers did not arrive; fails on one sent twice or out of order."""
    missing = 0
    for user, wanted in burst.expected.items():
        replies = fake.sent_to(user)
        assert "1800.888864" in replies[0].text, f"user {user}: no welcome first"
        got = [r.text for r in replies[1:]]
        assert not Counter(got) - Counter(wanted), f"user {user}: an answer sent twice"
        it = iter(wanted)  # in order, with at most a gap where a reply was on the wire
        assert all(text in it for text in got), f"user {user}: answers out of order"
        missing += len(wanted) - len(got)
    return missing
