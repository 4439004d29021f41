"""The broker's contract, held by the in-process broker and by Redis pub/sub alike (prism/events/broker.py)."""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from prism.events.broker import Broker, BrokerDisconnectedError, InProcessBroker, RedisBroker
from tests.helpers import TEST_REDIS_URL


@pytest.fixture(params=["memory", "redis"])
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    if request.param == "memory":
        memory = InProcessBroker()
        yield memory
        await memory.close()
        return
    redis = RedisBroker(TEST_REDIS_URL, prefix=f"prism-test-{uuid.uuid4().hex}:")
    try:
        await redis.ping()
    except OSError as error:
        await redis.close()
        if os.environ.get("PRISM_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(f"Redis at {TEST_REDIS_URL} is required (PRISM_TEST_REQUIRE_SERVICES=1): {error}")
        pytest.skip(f"Redis at {TEST_REDIS_URL} is not reachable")
    yield redis
    await redis.close()


async def take(messages: AsyncIterator[bytes], count: int) -> list[bytes]:
    return [await asyncio.wait_for(anext(messages), timeout=10) for _ in range(count)]


async def test_a_subscriber_gets_what_is_published_after_it_subscribed_in_order(broker: Broker) -> None:
    await broker.publish("t", b"before anyone listened")
    async with broker.subscribe("t") as messages:
        for i in range(50):
            await broker.publish("t", f"m{i}".encode())
        assert await take(messages, 50) == [f"m{i}".encode() for i in range(50)]


async def test_every_subscriber_of_a_topic_gets_every_message_and_no_other_topics(broker: Broker) -> None:
    async with broker.subscribe("a") as first, broker.subscribe("a") as second, broker.subscribe("b") as other:
        await broker.publish("a", b"one")
        await broker.publish("b", b"two")
        assert await take(first, 1) == [b"one"]
        assert await take(second, 1) == [b"one"]
        assert await take(other, 1) == [b"two"]


async def test_a_closed_subscription_gets_nothing_more(broker: Broker) -> None:
    async with broker.subscribe("t") as messages:
        await broker.publish("t", b"kept")
        assert await take(messages, 1) == [b"kept"]
    async with broker.subscribe("t") as later:
        await broker.publish("t", b"new")
        assert await take(later, 1) == [b"new"]
    if isinstance(broker, InProcessBroker):
        assert broker._subscribers == {}  # nothing left behind per closed subscription


async def test_messages_are_bytes_carried_verbatim(broker: Broker) -> None:
    payload = "é✓\x00\n".encode() + bytes(range(256))
    async with broker.subscribe("t") as messages:
        await broker.publish("t", payload)
        assert await take(messages, 1) == [payload]


async def test_publishing_to_an_unreachable_redis_is_a_clear_disconnection() -> None:
    unreachable = RedisBroker("redis://127.0.0.1:1/0")
    try:
        with pytest.raises(BrokerDisconnectedError, match="unreachable"):
            await unreachable.publish("t", b"lost")
        with pytest.raises(BrokerDisconnectedError):
            async with unreachable.subscribe("t"):
                pass
    finally:
        await unreachable.close()


async def test_a_batch_is_delivered_in_order_like_single_messages(broker: Broker) -> None:
    async with broker.subscribe("t") as messages:
        await broker.publish("t", b"first")
        await broker.publish_many("t", [b"second", b"third", b"fourth"])
        await broker.publish_many("t", [])
        assert await take(messages, 4) == [b"first", b"second", b"third", b"fourth"]


async def test_a_publish_right_after_a_redis_restart_goes_out_on_a_fresh_connection(tmp_path: Path) -> None:
    from tests.processes import running_redis

    async with running_redis(tmp_path) as redis:
        broker = RedisBroker(redis.url, prefix=f"prism-test-{uuid.uuid4().hex}:")
        try:
            await broker.publish("topic", b"before")  # a pooled connection, which dies with the server
            redis.kill()
            await redis.start()  # same port
            await broker.publish_many("topic", [b"after"])  # no BrokerDisconnectedError: the commit path publishes
            await broker.publish("topic", b"again")
        finally:
            await broker.close()
