"""The outbound throttle keeps Telegram's published rates in every window, in arrival order."""

from __future__ import annotations

import asyncio

import pytest

from bot.channels.throttle import GROUP_RATE, Rate, Throttle, unlimited


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

    throttle = Throttle(private_rate=Rate(1, 1), clock=clock, sleep=real_sleep)

    async def send(n: int) -> None:
        await throttle.acquire("42", group=False)
        order.append(n)

    await asyncio.gather(*(send(n) for n in range(6)))
    assert order == list(range(6))


def test_pause_after_429_holds_the_chat_for_retry_after() -> None:
    clock = FakeClock()
    throttle = Throttle(clock=clock, sleep=clock.sleep)
    throttle.pause("42", 7, group=False)
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
