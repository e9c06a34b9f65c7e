"""The outbound throttle keeps Telegram's published rates in every window, in arrival order.

The in-process throttle runs on a fake clock; the Redis one runs on the real Redis at
127.0.0.1:6379 (or REDIS_URL) under a random key prefix, several clients standing in for
several processes, and is skipped, saying so, when no Redis answers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.channels.throttle import (
    GROUP_RATE,
    Pace,
    RedisThrottle,
    Throttle,
    throttle_for,
    unlimited,
)
from bot.config import load_settings


class FakeClock:
    """Time that moves only when someone sleeps, so the tests never wait."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _max_in_window(times: list[float], window: float) -> int:
    """The largest number of sends inside any half-open window of the given length."""
    times = sorted(times)
    best = 0
    for i, start in enumerate(times):
        best = max(best, sum(1 for t in times[i:] if t < start + window - 1e-9))
    return best


def _send_times(throttle: Throttle, chat_of: list[tuple[str, bool]]) -> list[float]:
    """Reserve a slot for each (chat, is_group) arriving all at t=0; return the send times."""
    return [throttle.reserve(chat, group=group) for chat, group in chat_of]


def test_private_chat_allows_a_burst_of_three_then_one_per_second() -> None:
    clock = FakeClock()
    throttle = Throttle(clock=clock, sleep=clock.sleep)
    times = _send_times(throttle, [("42", False)] * 8)
    assert max(times[:3]) < 0.1  # the burst goes out at the global pace (1/30 s apart)
    assert times[3:] == pytest.approx([1.0, 2.0, 3.0, 4.0, 5.0])
    assert _max_in_window(times, 1.0) == 3


def test_group_never_exceeds_twenty_messages_in_any_minute() -> None:
    clock = FakeClock()
    throttle = Throttle(clock=clock, sleep=clock.sleep)
    times = _send_times(throttle, [("-1001", True)] * 100)
    assert _max_in_window(times, 60.0) <= 20
    assert max(times[:3]) < 0.1  # a staff topic, its first message and a photo go at once
    assert times[-1] < 100 / (GROUP_RATE.per_second * 0.9)  # and the queue does drain


def test_global_bucket_caps_all_chats_at_thirty_per_second() -> None:
    clock = FakeClock()
    throttle = Throttle(clock=clock, sleep=clock.sleep)
    times = _send_times(throttle, [(str(user), False) for user in range(1, 301)])
    assert _max_in_window(times, 1.0) <= 30
    assert max(times) == pytest.approx(299 / 30)  # 300 messages to 300 people: 30 per second


def test_chats_do_not_wait_for_each_other_below_the_global_rate() -> None:
    clock = FakeClock()
    throttle = Throttle(clock=clock, sleep=clock.sleep)
    for _ in range(3):
        throttle.reserve("1", group=False)
    assert throttle.reserve("1", group=False) == pytest.approx(1.0)
    assert throttle.reserve("2", group=False) < 0.2  # not behind chat 1's wait


def test_slots_are_given_in_arrival_order_per_chat() -> None:
    clock = FakeClock()
    throttle = Throttle(clock=clock, sleep=clock.sleep)
    times = _send_times(throttle, [("7", False), ("8", False)] * 10)
    mine = times[0::2]
    assert mine == sorted(mine)
    assert len(set(mine[3:])) == len(mine[3:])  # no two later sends share a slot


async def test_acquire_sleeps_for_the_reserved_delay() -> None:
    clock = FakeClock()
    throttle = Throttle(clock=clock, sleep=clock.sleep)
    sent_at = []
    for _ in range(5):
        await throttle.acquire("42", group=False)
        sent_at.append(clock.now)
    assert sent_at == pytest.approx([0.0, 1 / 30, 2 / 30, 1.0, 2.0])
    assert sum(clock.sleeps) == pytest.approx(2.0)


async def test_concurrent_acquires_keep_their_order() -> None:
    clock = FakeClock()
    order: list[int] = []

    async def real_sleep(seconds: float) -> None:
        await asyncio.sleep(seconds / 1000)

    throttle = Throttle(Pace.of(30, 1), clock=clock, sleep=real_sleep)

    async def send(n: int) -> None:
        await throttle.acquire("42", group=False)
        order.append(n)

    await asyncio.gather(*(send(n) for n in range(6)))
    assert order == list(range(6))


def test_pause_after_429_holds_the_chat_for_retry_after() -> None:
    clock = FakeClock()
    throttle = Throttle(clock=clock, sleep=clock.sleep)
    throttle.hold("42", 7, group=False)
    assert throttle.reserve("42", group=False) == pytest.approx(7.0)
    assert throttle.reserve("43", group=False) == 0.0
    clock.now = 20.0
    assert throttle.reserve("42", group=False) == 0.0


def test_refilled_buckets_allow_a_new_burst() -> None:
    clock = FakeClock()
    throttle = Throttle(clock=clock, sleep=clock.sleep)
    _send_times(throttle, [("42", False)] * 3)
    clock.now = 10.0
    assert max(_send_times(throttle, [("42", False)] * 3)) < 0.1


def test_unlimited_never_waits() -> None:
    throttle = unlimited()
    assert max(_send_times(throttle, [("42", False)] * 1000)) < 0.01


def test_pace_from_config_numbers() -> None:
    pace = Pace.of(20, 0.5)
    assert (pace.messages_per_second, pace.private.per_second) == (20, 0.5)
    assert pace.group == GROUP_RATE  # groups keep Telegram's 20 a minute
    assert Pace.of(100, 50).group.per_second == 50  # lifted for a fake server
    with pytest.raises(ValueError, match="messages_per_second"):
        Pace.of(0, 1)


def test_configured_pace_caps_all_chats() -> None:
    clock = FakeClock()
    throttle = Throttle(Pace.of(10, 1), clock=clock, sleep=clock.sleep)
    times = _send_times(throttle, [(str(user), False) for user in range(1, 101)])
    assert _max_in_window(times, 1.0) == 10
    assert max(times) == pytest.approx(99 / 10)


def test_paid_broadcasts_have_their_own_faster_lane() -> None:
    clock = FakeClock()
    throttle = Throttle(Pace.of(30, 1, paid_per_second=1000), clock=clock, sleep=clock.sleep)
    paid = [throttle.reserve(str(u), group=False, paid=True) for u in range(1000)]
    assert max(paid) == pytest.approx(0.999)  # 1,000 people in one second
    assert throttle.reserve("x", group=False) == 0.0  # ordinary replies are not behind them
    # the per-chat limit still holds for a paid message
    assert [throttle.reserve("0", group=False, paid=True) for _ in range(3)][-1] >= 1.0


# ----------------------------------------------------------------- shared through Redis

REDIS_URL = os.environ.get("CONGDOAN_TEST_REDIS", "redis://127.0.0.1:6379/0")


async def _redis_or_skip() -> Any:
    import redis.asyncio as redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        await client.ping()
    except (redis.RedisError, OSError):
        await client.aclose()
        pytest.skip(f"Redis not reachable at {REDIS_URL}: the shared-pace tests did not run")
    await client.aclose()


@pytest.fixture
async def processes() -> AsyncIterator[list[RedisThrottle]]:
    """Three throttles with their own Redis connections, one bot: three processes' view."""
    await _redis_or_skip()
    prefix = f"test:pace:{uuid.uuid4().hex}"
    pace = Pace.of(30, 1)
    throttles = [RedisThrottle.from_url(REDIS_URL, pace, prefix=prefix) for _ in range(3)]
    yield throttles
    keys = [k async for k in throttles[0]._client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await throttles[0]._client.delete(*keys)
    for throttle in throttles:
        await throttle.close()


async def test_three_processes_together_stay_under_the_global_cap(processes) -> None:
    async def book(n: int) -> float:
        _, at = await processes[n % 3].book(str(1000 + n), group=False)
        return at

    times = await asyncio.gather(*(book(n) for n in range(300)))
    assert _max_in_window(times, 1.0) <= 30
    assert max(times) - min(times) == pytest.approx(299 / 30, abs=0.2)  # and no slower


async def test_one_chat_keeps_its_pace_across_processes(processes) -> None:
    times = [(await processes[n % 3].book("4242", group=False))[1] for n in range(6)]
    first = times[0]
    assert max(times[:3]) - first < 0.2  # the burst of three
    assert [t - first for t in times[3:]] == pytest.approx([1.0, 2.0, 3.0], abs=0.1)
    assert _max_in_window(times, 1.0) <= 3


async def test_a_429_seen_by_one_process_holds_the_chat_for_all(processes) -> None:
    await processes[0].pause("77", 5, group=False)
    assert await processes[1].reserve("77", group=False) == pytest.approx(5.0, abs=0.2)
    assert await processes[2].reserve("78", group=False) < 0.1


async def test_without_redis_a_process_keeps_its_own_pace(caplog) -> None:
    throttle = RedisThrottle.from_url("redis://127.0.0.1:1/0", Pace.of(10, 1), prefix="x")
    with caplog.at_level(logging.WARNING, logger="bot.channels.throttle"):
        waits = [await throttle.reserve(str(n), group=False) for n in range(20)]
    await throttle.close()
    assert max(waits) == pytest.approx(1.9, abs=0.1)  # 10/s, kept locally
    assert sum("Redis unreachable" in r.message for r in caplog.records) == 1


def test_redis_url_selects_the_shared_throttle() -> None:
    assert isinstance(throttle_for(Pace(), None), Throttle)
    shared = throttle_for(Pace(), "redis://127.0.0.1:6379/0", bot_id="123")
    assert isinstance(shared, RedisThrottle) and shared.prefix == "congdoan:pace:123"


# ----------------------------------------------------------------- configuration


def test_pace_comes_from_config_toml_and_the_environment_wins(tmp_path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        "[telegram]\nmessages_per_second = 20\nper_chat_per_second = 0.5\n"
        '[redis]\nurl = "redis://cache:6379/1"\n',
        "utf-8",
    )
    from_file = load_settings({}, config)
    assert (from_file.telegram_messages_per_second, from_file.telegram_per_chat_per_second) == (
        20.0,
        0.5,
    )
    assert from_file.redis_url == "redis://cache:6379/1"
    env = {"TELEGRAM_MESSAGES_PER_SECOND": "12", "TELEGRAM_PER_CHAT_PER_SECOND": "2"}
    from_env = load_settings(env, config)
    assert (from_env.telegram_messages_per_second, from_env.telegram_per_chat_per_second) == (
        12.0,
        2.0,
    )
    defaults = load_settings({}, tmp_path / "none.toml")
    assert (defaults.telegram_messages_per_second, defaults.telegram_per_chat_per_second) == (
        30.0,
        1.0,
    )
    assert defaults.redis_url is None


@pytest.mark.parametrize("bad", ["0", "-3", "nhanh", "inf"])
def test_a_wrong_pace_is_refused_with_its_name(tmp_path, bad: str) -> None:
    with pytest.raises(ValueError, match="TELEGRAM_MESSAGES_PER_SECOND"):
        load_settings({"TELEGRAM_MESSAGES_PER_SECOND": bad}, tmp_path / "none.toml")


async def test_the_app_builds_its_telegram_channel_with_the_configured_pace(settings) -> None:
    from bot.app import build_channels

    configured = settings.with_(
        telegram_token="123:abc", telegram_messages_per_second=7.0, redis_url=None
    )
    (channel,) = [c for c in build_channels(configured) if c.name == "telegram"]
    assert isinstance(channel._throttle, Throttle)
    assert channel._throttle.pace.messages_per_second == 7.0
    await channel.bot.session.close()
    shared = build_channels(configured.with_(redis_url="redis://127.0.0.1:6379/0"))
    assert isinstance(shared[0]._throttle, RedisThrottle)
    assert shared[0]._throttle.prefix == "congdoan:pace:123"
    await shared[0].stop()
