"""The shared store: Redis and the in-process fallback keep the same contract."""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from prism.kv import KeyValueStore, MemoryStore, RedisStore

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[KeyValueStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    redis = RedisStore(REDIS_URL, prefix=f"prism-test-{uuid.uuid4().hex[:8]}:")
    try:
        await redis.ping()
    except OSError as error:
        await redis.close()
        if os.environ.get("PRISM_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(f"Redis at {REDIS_URL} is required (PRISM_TEST_REQUIRE_SERVICES=1): {error}")
        pytest.skip(f"Redis at {REDIS_URL} is not reachable")
    try:
        yield redis
    finally:
        await redis.close()


async def test_values_expire_and_can_be_deleted(store: KeyValueStore) -> None:
    await store.set("a", "1", ttl_seconds=0.2)
    await store.set("b", "2")
    assert await store.get("a") == "1"
    await asyncio.sleep(0.3)
    assert await store.get("a") is None
    assert await store.get("b") == "2"
    await store.delete("b")
    assert await store.get("b") is None


async def test_counters_are_atomic_and_keep_their_first_expiry(store: KeyValueStore) -> None:
    values = await asyncio.gather(*(store.incr("hits", ttl_seconds=0.5) for _ in range(20)))
    assert sorted(values) == list(range(1, 21))
    await asyncio.sleep(0.6)
    assert await store.incr("hits", ttl_seconds=0.5) == 1


async def test_the_memory_store_sweeps_expired_entries_nobody_reads_again() -> None:
    from prism.kv import MemoryStore

    store = MemoryStore()
    for n in range(MemoryStore.SWEEP_EVERY - 1):
        await store.set(f"gone:{n}", "x", ttl_seconds=0)
    await store.set("kept", "x")
    assert len(store) == 1
    assert await store.get("kept") == "x"


async def test_a_counter_given_back_keeps_its_expiry_and_a_missing_one_stays_missing(store: KeyValueStore) -> None:
    await asyncio.gather(*(store.incr("tries", ttl_seconds=0.5) for _ in range(5)))
    assert sorted(await asyncio.gather(*(store.decr("tries") for _ in range(3)))) == [2, 3, 4]
    assert await store.get("tries") == "2"
    await asyncio.sleep(0.6)
    assert await store.get("tries") is None, "giving back does not extend the counter's life"
    assert await store.decr("never-counted") == 0
    assert await store.get("never-counted") is None


async def test_several_values_are_read_in_one_call_in_the_order_asked(store: KeyValueStore) -> None:
    await store.set("one", "1")
    await store.set("three", "3")
    assert await store.get_many(["three", "two", "one"]) == ["3", None, "1"]
    assert await store.get_many([]) == []


class CountingStore(MemoryStore):
    """The in-process store, counting the reads that reach it."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[list[str]] = []

    async def get_many(self, keys: Sequence[str]) -> list[str | None]:
        self.reads.append(list(keys))
        return await super().get_many(keys)


async def test_revocation_checks_made_together_read_the_store_once() -> None:
    from prism.auth.revocation import mark_session_revoked, session_revoked

    store = CountingStore()
    sessions = [uuid.uuid4() for _ in range(50)]
    await mark_session_revoked(store, sessions[7], access_token_ttl_seconds=60)
    answers = await asyncio.gather(*(session_revoked(store, session) for session in [*sessions, sessions[7]]))
    assert answers == [i == 7 for i in range(50)] + [True]
    assert [len(keys) for keys in store.reads] == [50]  # one read, each session once
    assert await session_revoked(store, sessions[0]) is False  # a later check is a read of its own
    assert len(store.reads) == 2


async def test_the_redis_store_reconnects_after_redis_restarted(tmp_path: Path) -> None:
    from tests.processes import running_redis

    async with running_redis(tmp_path) as redis:
        store = RedisStore(redis.url)
        try:
            await store.set("before", "1")
            redis.kill()
            await redis.start()  # same port, nothing kept
            # The pooled connection died with the old server: the first command reconnects instead of failing.
            assert await store.get("before") is None
            assert await store.incr("after", ttl_seconds=60) == 1
        finally:
            await store.close()


async def test_a_revocation_check_whose_read_goes_wrong_fails_instead_of_waiting_for_ever() -> None:
    from prism.auth.revocation import session_revoked

    class ShortStore(MemoryStore):
        """Answers one value fewer than asked: a broken store must not leave its callers waiting."""

        async def get_many(self, keys: Sequence[str]) -> list[str | None]:
            return (await super().get_many(keys))[:-1]

    store = ShortStore()
    results = await asyncio.wait_for(
        asyncio.gather(*(session_revoked(store, uuid.uuid4()) for _ in range(3)), return_exceptions=True), timeout=5
    )
    assert [type(result) for result in results] == [RuntimeError] * 3
