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
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bot.core.texts import Texts
from storage.crypto import new_key
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
MAYBE_LOST = "a reply was being sent when its process stopped"
CYCLE = [("/menu", "menu.text"), ("/trogiup", "help.text"), ("/huy", "common.nothing_to_cancel")]


def _texts() -> Texts:
    from bot.config import load_settings

    settings = load_settings({})
    constants = {"hotline": settings.hotline, "federation": settings.federation}
    return Texts.load(settings.content_dir / "vi", constants)


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
    texts = _texts()
    # A bot id of its own: the shared pace lives under congdoan:pace:<bot id> in Redis, so
    # suites running at once on one Redis never share a cap.
    token = f"{random.randint(10**8, 10**9)}:scale-{uuid.uuid4().hex[:12]}"
    async with fresh_pg_database() as db_url, FakeTelegram(token, rate_cap=CAP) as fake:
        processes: list[BotProcess] = []
        balancer: Balancer | None = None
        try:
            balancer = await _start(fake, db_url, tmp_path, processes)
            await _run_burst(fake, balancer, processes, texts, kill=crash == "sigkill")
        finally:
            for process in processes:
                process.stop()
            if balancer is not None:
                await balancer.stop()
            await forget_pace(REDIS_URL, token)


async def _start(fake: FakeTelegram, db_url: str, tmp_path: Path, out: list[BotProcess]) -> Any:
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


async def _run_burst(
    fake: FakeTelegram,
    balancer: Balancer,
    processes: list[BotProcess],
    texts: Texts,
    *,
    kill: bool,
) -> None:
    starts: dict[int, list[dict[str, Any]]] = {}
    updates: dict[int, list[dict[str, Any]]] = {}
    expected: dict[int, list[str]] = {}
    for n in range(USERS):
        user = 810_000 + n
        fake.add_user(user)
        sequence = [("/start", None)] + [CYCLE[(n + i) % len(CYCLE)] for i in range(PER_USER - 1)]
        starts[user] = [fake.send_text(user, "/start", queue=False)]
        updates[user] = [fake.send_text(user, text, queue=False) for text, _ in sequence[1:]]
        expected[user] = [texts(key) for _, key in sequence[1:]]
    total = USERS * PER_USER

    stats: dict[str, int] = {"posts": 0, "retries": 0, "acknowledged": 0}
    # Each worker presses Start and reads the welcome, then sends nine messages quickly.
    await deliver_in_order(fake, starts, balancer.url, SECRET)
    await _until(fake, lambda: len(fake.sent) >= USERS, 120, lambda: f"{len(fake.sent)} welcomes")
    burst = total - USERS
    delivery = asyncio.create_task(deliver_in_order(fake, updates, balancer.url, SECRET, stats))

    def progress() -> str:
        short = sum(len(fake.sent_to(u)) < PER_USER for u in updates)
        return (
            f"{len(fake.sent)} of {total} sent, {short} users short, posts {stats}, "
            f"forwarded {dict(balancer.forwarded)}, 429s {len(fake.rate_limited)}"
        )

    victim = processes[0]
    await _until(fake, lambda: stats["acknowledged"] >= burst // 3, 120, progress)
    sent_at_kill, acked_at_kill = len(fake.sent), stats["acknowledged"]
    if kill:
        victim.kill()  # mid-burst: requests in flight, acknowledged events, replies not sent
        await asyncio.sleep(1)
        victim.start()  # systemd's Restart=always
    await _until(fake, delivery.done, 180, progress)
    delivery.result()
    # A reply on the wire at the kill is never sent again (Telegram has no idempotency key):
    # the bot that takes its event over says so, and only such a reply may be missing.
    maybe_lost = sum(p.log_text().count(MAYBE_LOST) for p in processes) if kill else 0
    await _until(fake, lambda: len(fake.sent) >= total - maybe_lost, 120, progress)
    await asyncio.sleep(2)  # anything sent twice would arrive now

    assert sent_at_kill < total and acked_at_kill < burst, "killed after the burst, not in it"
    assert balancer.forwarded["bot0"] > 0
    missing = 0
    for user, wanted in expected.items():
        replies = fake.sent_to(user)
        assert "1800.888864" in replies[0].text, f"user {user}: no welcome first"
        got = [r.text for r in replies[1:]]
        assert not Counter(got) - Counter(wanted), f"user {user}: an answer sent twice"
        it = iter(wanted)  # in order, with at most a gap where a reply was on the wire
        assert all(text in it for text in got), f"user {user}: answers out of order"
        missing += len(wanted) - len(got)
    assert missing <= maybe_lost, f"{missing} answers lost, {maybe_lost} reported possibly lost"
    assert len(fake.sent) == total - missing  # nothing to anyone else, nothing twice
    # One pace for the three processes: the cap was kept, by the bot, not by the fake refusing.
    refused = [r for r in fake.rate_limited if r.limit == "overall"]
    attempts = [*fake._cap.accepted, *(r.at for r in fake.rate_limited)]
    assert fake.max_in_window() <= CAP.per_second
    assert len(refused) <= total * 0.02, f"{len(refused)} sends over the overall cap"
    assert _max_in_window(attempts) <= CAP.per_second * 1.1
    fake.assert_clean()


async def _until(fake: FakeTelegram, done: Any, seconds: float, progress: Any) -> None:
    try:
        await fake.wait_until(done, timeout=seconds)
    except TimeoutError:
        raise AssertionError(f"stuck after {seconds} s: {progress()}") from None
