"""Three `congdoan-bot run` processes behave as one bot: PostgreSQL, Redis, webhooks, nginx-style.

The processes are the production command in webhook mode on one PostgreSQL and one Redis; a
round-robin balancer (tests/cluster.py, what deploy/nginx does) spreads Telegram's webhooks over
them. The fake Bot API enforces a flood cap and answers 429 above it. The cap and the bot's pace
are scaled together (200/s and 180/s instead of 30/s) so 3,000 replies take seconds, not
minutes; what is tested — one pace for all processes, every 429 retried — does not change.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from pathlib import Path
from typing import Any

import pytest

from storage.crypto import new_key
from tests.burst import Burst, missing_answers, settle, shipped_texts, until
from tests.cluster import (
    Balancer,
    BotProcess,
    deliver_in_order,
    forget_pace,
    redis_reachable,
)
from tests.conftest import PG_AVAILABLE
from tests.fakes.telegram import FakeTelegram, RateCap, skip_without_spec
from tests.pgdb import PG_ADMIN_URL, fresh_pg_database

REDIS_URL = "redis://127.0.0.1:6379/0"
SECRET = "scale-out-secret"
USERS = 300
PER_USER = 10
CAP = RateCap(per_second=200, per_chat_per_second=10)
PACE = {"TELEGRAM_MESSAGES_PER_SECOND": "180", "TELEGRAM_PER_CHAT_PER_SECOND": "5"}


def _max_in_window(times: list[float], window: float = 1.0) -> int:
    times, best, start = sorted(times), 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - window:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.mark.parametrize(
    "crash",
    ["steady", "sigkill"],
)
async def test_three_processes_answer_every_update_once_in_order_under_one_cap(
    tmp_path: Path, crash: str
) -> None:
    skip_without_spec()
    if not PG_AVAILABLE:
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: the scale-out test did not run")
    if not await redis_reachable(REDIS_URL):
        pytest.skip(f"Redis not reachable at {REDIS_URL}: the scale-out test did not run")
    # A bot id of its own: the shared pace lives under congdoan:pace:<bot id> in Redis, so
    # suites running at once on one Redis never share a cap.
    token = f"{random.randint(10**8, 10**9)}:scale-{uuid.uuid4().hex[:12]}"
    async with fresh_pg_database() as db_url, FakeTelegram(token, rate_cap=CAP) as fake:
        burst = Burst.plan(fake, shipped_texts(), 810_000, USERS, PER_USER)
        processes: list[BotProcess] = []
        balancer: Balancer | None = None
        try:
            balancer = await _start(fake, db_url, tmp_path, processes)
            killed_at = await _run_burst(fake, balancer, processes, burst, kill=crash == "sigkill")
            progress = lambda: _progress(fake, burst, balancer)  # noqa: E731
            maybe_lost = await settle(fake, burst.total, processes, 120, progress)
            if crash == "steady":
                assert maybe_lost == 0, "a reply reported lost with no process killed"
        finally:
            for process in processes:
                process.stop()
            if balancer is not None:
                await balancer.stop()
            await forget_pace(REDIS_URL, token)
        sent_at_kill, acked_at_kill = killed_at
        assert sent_at_kill < burst.total and acked_at_kill < burst.total - USERS, "not in it"
        assert balancer.forwarded["bot0"] > 0
        missing = missing_answers(fake, burst)
        assert missing <= maybe_lost, f"{missing} answers lost, {maybe_lost} reported lost"
        assert len(fake.sent) == burst.total - missing  # nothing to anyone else, nothing twice
        # One pace for the three processes: the cap was kept, by the bot, not by the fake.
        refused = [r for r in fake.rate_limited if r.limit == "overall"]
        attempts = [*fake._cap.accepted, *(r.at for r in fake.rate_limited)]
        assert fake.max_in_window() <= CAP.per_second
        assert len(refused) <= burst.total * 0.02, f"{len(refused)} sends over the overall cap"
        assert _max_in_window(attempts) <= CAP.per_second * 1.1
        fake.assert_clean()


async def _start(
    fake: FakeTelegram, db_url: str, tmp_path: Path, out: list[BotProcess]
) -> Balancer:
    balancer = Balancer(out)
    env = {
        "DATABASE_URL": db_url,
        "REDIS_URL": REDIS_URL,
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_BASE": fake.base_url,
        "TELEGRAM_WEBHOOK_URL": balancer.url,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "CONGDOAN_DATA_KEY": new_key(),
        **PACE,
    }
    out.extend(BotProcess(env, tmp_path, f"bot{n}") for n in range(3))
    for process in out:
        process.start()  # all at once: they migrate in turn (an advisory lock)
    await asyncio.gather(*(p.ready() for p in out))
    await balancer.start()
    return balancer


def _progress(fake: FakeTelegram, burst: Burst, balancer: Balancer, stats: Any = None) -> str:
    return (
        f"{len(fake.sent)} of {burst.total} sent, {burst.short(fake)} users short, "
        f"posts {stats}, forwarded {dict(balancer.forwarded)}, 429s {len(fake.rate_limited)}"
    )


async def _run_burst(
    fake: FakeTelegram, balancer: Balancer, processes: list[BotProcess], burst: Burst, *, kill: bool
) -> tuple[int, int]:
    """Each worker presses Start and reads the welcome, then sends nine messages quickly; with
    ``kill`` the first process is killed a third of the way in. Returns how many replies were
    sent and webhooks acknowledged at that point."""
    stats: dict[str, int] = {"posts": 0, "retries": 0, "acknowledged": 0}
    await deliver_in_order(fake, burst.starts, balancer.url, SECRET)
    await until(lambda: len(fake.sent) >= USERS, fake, 120, lambda: f"{len(fake.sent)} welcomes")
    in_burst = burst.total - USERS
    delivery = asyncio.create_task(
        deliver_in_order(fake, burst.updates, balancer.url, SECRET, stats)
    )
    progress = lambda: _progress(fake, burst, balancer, stats)  # noqa: E731
    await until(lambda: stats["acknowledged"] >= in_burst // 3, fake, 120, progress)
    killed_at = len(fake.sent), stats["acknowledged"]
    if kill:
        processes[0].kill()  # mid-burst: requests in flight, acknowledged events, replies unsent
        await asyncio.sleep(1)
        processes[0].start()  # systemd's Restart=always
    await until(delivery.done, fake, 180, progress)
    delivery.result()
    return killed_at
