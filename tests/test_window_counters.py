"""The in-process counters of the request limits and the cost budget (prism.window_counters) against the `limits`
library's own in-process storage: the same answers for the same hits at the same moments, expired counters
dropped without anyone reading them, and no task or lock per hit."""

import asyncio
import random
import time
from typing import Any

import pytest
from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from prism.kv import close_limits_storage, open_limits_storage
from prism.window_counters import LocalWindowCounters


class Clock:
    """`time.time()` for both storages, moved on by the test."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.25

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(time, "time", fake)
    return fake


ITEMS: list[RateLimitItem] = [
    RateLimitItemPerMinute(5),
    RateLimitItemPerMinute(100),
    RateLimitItemPerSecond(3, 10),
    parse("40/hour"),
]


@pytest.mark.parametrize("seed", range(6))
async def test_the_local_counters_answer_as_the_librarys_memory_storage(clock: Clock, seed: int) -> None:
    rng = random.Random(seed)
    theirs, ours = MemoryStorage(), LocalWindowCounters()
    reference, candidate = SlidingWindowCounterRateLimiter(theirs), SlidingWindowCounterRateLimiter(ours)
    answers: list[tuple[Any, Any]] = []
    try:
        for _ in range(1500):
            item = rng.choice(ITEMS)
            key = rng.choice(["ip:1", "ip:2", "user:a", "user:b"])
            action = rng.random()
            if action < 0.6:
                cost = rng.choice([1, 1, 1, 2, 7, 120])
                answers.append(
                    (await reference.hit(item, "k", key, cost=cost), await candidate.hit(item, "k", key, cost=cost))
                )
            elif action < 0.8:
                answers.append(
                    (
                        tuple(await reference.get_window_stats(item, "k", key)),
                        tuple(await candidate.get_window_stats(item, "k", key)),
                    )
                )
            elif action < 0.9:
                answers.append((await reference.test(item, "k", key), await candidate.test(item, "k", key)))
            else:
                await reference.clear(item, "k", key)
                await candidate.clear(item, "k", key)
            clock.now += rng.choice([0.0, 0.01, 0.5, 2.0, 9.0, 31.0, 65.0, 400.0])
    finally:
        await close_limits_storage(theirs)
        await close_limits_storage(ours)

    assert len(answers) > 1000
    assert [a for a, _ in answers] == [b for _, b in answers]
    assert {a for a, _ in answers if isinstance(a, bool)} == {True, False}  # the limits were reached, and freed


async def test_expired_counters_are_swept_without_being_read_again(clock: Clock) -> None:
    counters = LocalWindowCounters(sweep_every=30)
    limiter = SlidingWindowCounterRateLimiter(counters)
    item = RateLimitItemPerMinute(10)
    for n in range(1000):
        assert await limiter.hit(item, "ip", f"10.0.{n // 256}.{n % 256}")
    assert len(counters._counts) == 1000

    clock.now += 2 * 60 + 31  # every counter has expired (two windows), and a sweep is due
    assert await limiter.hit(item, "ip", "192.0.2.1")

    current = counters.sliding_window_keys(item.key_for("ip", "192.0.2.1"), 60, clock.now)[1]
    assert list(counters._counts) == [current]
    assert len(counters._expires) == 1


async def test_a_hit_makes_no_task_and_awaits_nothing(clock: Clock) -> None:
    counters = LocalWindowCounters()
    limiter = SlidingWindowCounterRateLimiter(counters)
    item = RateLimitItemPerMinute(1000)
    tasks = len(asyncio.all_tasks())
    hit = limiter.hit(item, "user", "a")
    # A coroutine that never suspends finishes on its first step.
    with pytest.raises(StopIteration) as done:
        hit.send(None)
    assert done.value.value is True
    assert len(asyncio.all_tasks()) == tasks


async def test_decrementing_a_missing_counter_leaves_it_missing_and_the_rest_as_the_storage_contract_says(
    clock: Clock,
) -> None:
    counters = LocalWindowCounters()
    assert await counters.decr("nothing") == 0
    assert await counters.get("nothing") == 0
    assert "nothing" not in counters._counts

    assert await counters.incr("k", 10, amount=3) == 3
    assert await counters.get_expiry("k") == clock.now + 10
    assert await counters.decr("k", 5) == 0
    assert await counters.incr("k", 10) == 1
    clock.now += 10
    assert await counters.get("k") == 0
    assert await counters.get_expiry("k") == clock.now
    assert await counters.incr("a", 10) == await counters.incr("b", 10) == 1
    assert await counters.reset() == 2
    assert await counters.check()


async def test_the_rate_limiter_counts_in_the_local_counters_and_the_login_throttle_in_moving_windows() -> None:
    sliding = open_limits_storage(None, "prism-limits", wrap_exceptions=True, sliding_counters_only=True)
    moving = open_limits_storage(None, "prism-attempts")
    try:
        assert isinstance(sliding, LocalWindowCounters)
        assert sliding.wrap_exceptions
        assert isinstance(moving, MemoryStorage)
    finally:
        await close_limits_storage(sliding)
        await close_limits_storage(moving)
