"""The event hub: each organization's events reach its subscriptions in order, once, across gaps and outages.

The events are real (written to the log by real mutations); what reaches the hub's broker is controlled by the test,
so duplicates, gaps, reordering and a dropped Redis connection can be produced on purpose.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from starlette.applications import Starlette

from prism.db.engine import set_tenant
from prism.db.outbox import read_events
from prism.domain.events import DomainEvent
from prism.events.broker import EVENTS_TOPIC, Broker, InProcessBroker, RedisBroker
from prism.events.hub import CursorExpiredError, EventHub, EventSubscription, SlowConsumerError
from prism.events.leases import Leases, MemoryLeases, RedisLeases
from tests.helpers import TEST_REDIS_URL, Account, create_product, create_requirement, uuid_of


class BrokenPublisher:
    async def __call__(self, events: Any) -> None:
        raise ConnectionError("not published: the test publishes what it wants the hub to see")


@pytest.fixture
async def quiet(app: Starlette) -> AsyncIterator[None]:
    """Mutations commit their events to the log but publish nothing: the test decides what the hub receives."""
    runtime = app.state.runtime()
    working, runtime.publisher = runtime.publisher, BrokenPublisher()
    try:
        yield
    finally:
        runtime.publisher = working


async def logged(app: Starlette, account: Account, after: int = 0) -> list[DomainEvent]:
    organization_id = uuid_of(account.organization_id)
    async with app.state.runtime().engine.connect() as conn, conn.begin():
        await set_tenant(conn, organization_id)
        return await read_events(conn, organization_id, after=after, limit=1000)


async def new_events(app: Starlette, account: Account, product_id: str, count: int) -> list[DomainEvent]:
    before = await logged(app, account)
    after = before[-1].sequence if before else 0
    for i in range(count):
        await create_requirement(account, product_id, title=f"Story {i}")
    return await logged(app, account, after)


async def take(subscription: EventSubscription, count: int) -> list[DomainEvent]:
    return [await asyncio.wait_for(anext(subscription), timeout=10) for _ in range(count)]


@pytest.fixture
async def hub(app: Starlette) -> AsyncIterator[tuple[EventHub, InProcessBroker]]:
    broker = InProcessBroker()
    event_hub = EventHub(broker, app.state.runtime().engine, buffer=8)
    await event_hub.start()
    try:
        yield event_hub, broker
    finally:
        await event_hub.stop()


async def publish(broker: Broker, *events: DomainEvent) -> None:
    for event in events:
        await broker.publish(EVENTS_TOPIC, event.to_message())


async def test_a_subscriber_gets_its_organizations_events_in_order_and_once(
    app: Starlette, account: Account, other_account: Account, hub: Any, quiet: None
) -> None:
    event_hub, broker = hub
    product = await create_product(account)
    theirs = await create_product(other_account)
    async with event_hub.subscribe(uuid_of(account.organization_id)) as subscription:
        mine = await new_events(app, account, product["id"], 3)
        other = await new_events(app, other_account, theirs["id"], 1)
        await publish(broker, *other, mine[0], mine[0], mine[1], mine[0], mine[2], mine[1])
        got = await take(subscription, 3)
    assert [e.sequence for e in got] == [e.sequence for e in mine]
    assert subscription.delivered == 3
    assert all(e.organization_id == uuid_of(account.organization_id) for e in got)


async def test_an_event_after_a_gap_waits_for_the_missing_ones_read_from_the_log(
    app: Starlette, account: Account, hub: Any, quiet: None
) -> None:
    event_hub, broker = hub
    product = await create_product(account)
    async with event_hub.subscribe(uuid_of(account.organization_id)) as subscription:
        events = await new_events(app, account, product["id"], 4)
        # Only the last one reaches the broker (the others were lost with a crashed replica, say).
        await publish(broker, events[-1])
        got = await take(subscription, 4)
    assert [e.id for e in got] == [e.id for e in events]


async def test_a_predicate_filters_but_the_cursor_still_advances(
    app: Starlette, account: Account, hub: Any, quiet: None
) -> None:
    event_hub, broker = hub
    first, second = await create_product(account), await create_product(account)
    wanted = uuid_of(second["id"])
    async with event_hub.subscribe(
        uuid_of(account.organization_id), predicate=lambda e: e.product_id == wanted
    ) as subscription:
        skipped = await new_events(app, account, first["id"], 2)
        kept = await new_events(app, account, second["id"], 1)
        await publish(broker, *skipped, *kept)
        [got] = await take(subscription, 1)
    assert got.id == kept[0].id
    assert subscription.last == kept[0].sequence


async def test_resuming_since_a_cursor_replays_the_log_then_goes_live_without_gap_or_duplicate(
    app: Starlette, account: Account, hub: Any, quiet: None
) -> None:
    event_hub, broker = hub
    product = await create_product(account)
    missed = await new_events(app, account, product["id"], 3)
    cursor = missed[0].sequence - 1
    async with event_hub.subscribe(uuid_of(account.organization_id), since=cursor) as subscription:
        live = await new_events(app, account, product["id"], 2)
        # The relay republishes the missed ones while live ones arrive: duplicates at the seam.
        await publish(broker, *missed, *live, *missed)
        got = await take(subscription, 5)
    assert [e.sequence for e in got] == [e.sequence for e in (*missed, *live)]


async def test_a_cursor_the_log_no_longer_covers_is_refused(
    app: Starlette, account: Account, hub: Any, database_url: str, quiet: None
) -> None:
    event_hub, _ = hub
    product = await create_product(account)
    events = await new_events(app, account, product["id"], 3)
    organization = uuid_of(account.organization_id)
    with pytest.raises(CursorExpiredError):
        async with event_hub.subscribe(organization, since=events[-1].sequence + 10):
            pass
    conn = await asyncpg.connect(database_url)
    try:  # what a retention job will do: drop the oldest events
        await conn.execute(
            "DELETE FROM event WHERE organization_id = $1 AND sequence < $2", organization, events[-1].sequence
        )
    finally:
        await conn.close()
    with pytest.raises(CursorExpiredError, match="no longer kept"):
        async with event_hub.subscribe(organization, since=0):
            pass
    async with event_hub.subscribe(organization, since=events[-1].sequence - 1) as subscription:
        [got] = await take(subscription, 1)
    assert got.id == events[-1].id
    assert event_hub.subscriptions == 0


async def test_a_slow_consumer_is_disconnected_instead_of_growing_memory(
    app: Starlette, account: Account, hub: Any, quiet: None
) -> None:
    event_hub, broker = hub  # buffer: 8 events
    product = await create_product(account)
    async with event_hub.subscribe(uuid_of(account.organization_id)) as subscription:
        first = await new_events(app, account, product["id"], 1)
        await publish(broker, *first)
        assert [e.id for e in await take(subscription, 1)] == [first[0].id]  # caught up: live from here
        events = await new_events(app, account, product["id"], 10)
        await publish(broker, *events)
        for _ in range(50):
            if subscription._closed is not None:
                break
            await asyncio.sleep(0.01)
        with pytest.raises(SlowConsumerError, match="reconnect with `since`"):
            await anext(subscription)
    assert len(subscription._queue) == 0


async def test_an_idle_subscription_holds_one_waiting_future_and_nothing_per_subscription_besides(
    app: Starlette, account: Account, hub: Any, quiet: None
) -> None:
    event_hub, broker = hub
    product = await create_product(account)
    async with event_hub.subscribe(uuid_of(account.organization_id)) as subscription:
        assert not hasattr(subscription, "__dict__")  # slots: no attribute dict per subscription
        assert isinstance(subscription._queue, list)  # not a deque (760 bytes even when empty)
        waiting = asyncio.ensure_future(anext(subscription))
        for _ in range(1000):  # it first catches up from the log, then waits
            if subscription._waiter is not None:
                break
            await asyncio.sleep(0.01)
        waiter = subscription._waiter
        assert waiter is not None  # one future while it waits, none kept otherwise
        assert not waiter.done()
        [event] = await new_events(app, account, product["id"], 1)
        await publish(broker, event)
        got = await asyncio.wait_for(waiting, timeout=10)
        assert got.id == event.id
        assert subscription._waiter is None
        assert waiter.done()
        waiting = asyncio.ensure_future(anext(subscription))
        await asyncio.sleep(0.01)
        waiting.cancel()  # a cancelled consumer leaves no waiter behind
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert subscription._waiter is None


@pytest.fixture
async def redis_broker() -> AsyncIterator[RedisBroker]:
    name = f"prism-test-hub-{uuid.uuid4().hex[:8]}"
    broker = RedisBroker(TEST_REDIS_URL, prefix=f"prism-test-{uuid.uuid4().hex}:", client_name=name)
    try:
        await broker.ping()
    except OSError as error:
        await broker.close()
        if os.environ.get("PRISM_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(f"Redis at {TEST_REDIS_URL} is required (PRISM_TEST_REQUIRE_SERVICES=1): {error}")
        pytest.skip(f"Redis at {TEST_REDIS_URL} is not reachable")
    broker.client_name = name  # type: ignore[attr-defined]
    yield broker
    await broker.close()


async def test_events_committed_while_the_hubs_redis_connection_is_down_arrive_after_it_reconnects(
    app: Starlette, account: Account, redis_broker: RedisBroker, quiet: None
) -> None:
    from redis.asyncio import Redis

    event_hub = EventHub(redis_broker, app.state.runtime().engine)
    await event_hub.start()
    admin = Redis.from_url(TEST_REDIS_URL)
    try:
        product = await create_product(account)
        async with event_hub.subscribe(uuid_of(account.organization_id)) as subscription:
            before = await new_events(app, account, product["id"], 1)
            await publish(redis_broker, *before)
            assert [e.id for e in await take(subscription, 1)] == [before[0].id]

            # Redis drops the hub's subscription (as a restart would); changes go on meanwhile.
            clients = await admin.client_list(_type="pubsub")
            killed = [c for c in clients if c.get("name") == redis_broker.client_name]  # type: ignore[attr-defined]
            assert killed, clients
            for client in killed:
                await admin.client_kill_filter(_id=client["id"])
            during = await new_events(app, account, product["id"], 3)

            got = await take(subscription, 3)
        assert [e.id for e in got] == [e.id for e in during]
        assert event_hub.reconnects >= 1
    finally:
        await admin.aclose()
        await event_hub.stop()


async def test_live_events_during_a_catch_up_are_neither_lost_nor_doubled(
    app: Starlette, account: Account, hub: Any, quiet: None
) -> None:
    event_hub, broker = hub
    product = await create_product(account)
    missed = await new_events(app, account, product["id"], 3)
    live: list[DomainEvent] = []
    original = event_hub._read_batch

    async def read_while_changes_land(organization_id: Any, **kwargs: Any) -> Any:
        if not live:
            # A change commits and is published while the catch-up's read is in flight.
            live.extend(await new_events(app, account, product["id"], 1))
            await publish(broker, *live)
        return await original(organization_id, **kwargs)

    event_hub._read_batch = read_while_changes_land  # type: ignore[method-assign]
    async with event_hub.subscribe(uuid_of(account.organization_id), since=missed[0].sequence - 1) as subscription:
        got = await take(subscription, 4)
        later = await new_events(app, account, product["id"], 1)
        await publish(broker, *later, *live)
        got += await take(subscription, 1)
    assert [e.sequence for e in got] == [e.sequence for e in (*missed, *live, *later)]


async def test_a_catch_up_longer_than_the_buffer_is_read_a_batch_at_a_time(
    app: Starlette, account: Account, hub: Any, quiet: None
) -> None:
    event_hub, _ = hub  # buffer: 8
    product = await create_product(account)
    missed = await new_events(app, account, product["id"], 20)
    async with event_hub.subscribe(uuid_of(account.organization_id), since=missed[0].sequence - 1) as subscription:
        first = await take(subscription, 1)
        assert len(subscription._queue) <= 8  # never more than a batch in memory
        rest = await take(subscription, 19)
    assert [e.id for e in (*first, *rest)] == [e.id for e in missed]


async def test_a_product_subscription_catches_up_past_other_products_events_and_goes_live(
    app: Starlette, account: Account, hub: Any, quiet: None
) -> None:
    event_hub, broker = hub
    mine, other = await create_product(account), await create_product(account)
    wanted = uuid_of(mine["id"])
    mine_before = await new_events(app, account, mine["id"], 1)
    noise = await new_events(app, account, other["id"], 30)  # more than a batch of someone else's events
    async with event_hub.subscribe(
        uuid_of(account.organization_id),
        since=mine_before[0].sequence - 1,
        predicate=lambda e: e.product_id == wanted,
        product_id=wanted,
    ) as subscription:
        got = await take(subscription, 1)
        assert subscription.read_from_log == 1  # the product's index: none of the 30 others was read
        live = await new_events(app, account, mine["id"], 1)
        await publish(broker, *noise, *live)
        got += await take(subscription, 1)
    assert [e.id for e in got] == [mine_before[0].id, live[0].id]


@pytest.fixture
async def redis_leases(redis_broker: RedisBroker) -> AsyncIterator[RedisLeases]:
    """Leases in the test Redis (reachable: `redis_broker` checked), under a prefix of their own."""
    store = RedisLeases(TEST_REDIS_URL, prefix=f"prism-test-{uuid.uuid4().hex}:")
    yield store
    await store.close()


@pytest.fixture(params=["memory", "redis"])
def leases(request: pytest.FixtureRequest) -> Leases:
    """The subscription leases, in process and in Redis: one contract."""
    if request.param == "memory":
        return MemoryLeases()
    return request.getfixturevalue("redis_leases")  # type: ignore[no-any-return]


async def test_leases_stop_at_the_limit_and_free_a_place_when_one_is_given_back_or_lapses(leases: Leases) -> None:
    owner = uuid.uuid4().hex
    assert [await leases.acquire(owner, name, 2, ttl=30) for name in ("a", "b", "c")] == [True, True, False]
    assert await leases.acquire(uuid.uuid4().hex, "other owner", 2, ttl=30)  # owners are counted apart
    await leases.release(owner, "a")
    assert await leases.acquire(owner, "c", 2, ttl=30)
    await leases.renew(owner, ["b"], ttl=0.2)  # "b" now lapses soon, unless renewed again
    await asyncio.sleep(0.3)
    assert await leases.acquire(owner, "d", 2, ttl=30)
    assert not await leases.acquire(owner, "e", 2, ttl=30)


async def test_renewing_adds_back_the_leases_a_store_lost(leases: Leases) -> None:
    owner = uuid.uuid4().hex
    assert await leases.acquire(owner, "a", 2, ttl=0.2)
    await asyncio.sleep(0.3)  # lapsed, as every lease does when Redis restarts empty
    await leases.renew(owner, ["a", "b"], ttl=30)  # the hub still holds both: both count again
    assert not await leases.acquire(owner, "c", 2, ttl=30)


async def test_two_hubs_sharing_leases_count_one_identitys_subscriptions_together(
    app: Starlette, account: Account, redis_leases: RedisLeases
) -> None:
    from prism.events.hub import TooManySubscriptionsError

    runtime = app.state.runtime()
    one = EventHub(InProcessBroker(), runtime.engine, leases=redis_leases)
    two = EventHub(InProcessBroker(), runtime.engine, leases=redis_leases)
    organization, owner = uuid_of(account.organization_id), uuid.uuid4()
    async with (
        one.subscribe(organization, owner=owner, limit_per_owner=2),
        two.subscribe(organization, owner=owner, limit_per_owner=2),
    ):
        with pytest.raises(TooManySubscriptionsError):
            async with one.subscribe(organization, owner=owner, limit_per_owner=2):
                pass
    async with two.subscribe(organization, owner=owner, limit_per_owner=2):  # both ended: places are free
        pass


async def test_a_subscription_cancelled_while_its_lease_goes_back_leaves_the_hub(
    app: Starlette, account: Account
) -> None:
    class SlowLeases(MemoryLeases):
        """Leases whose release waits, as one to a Redis that does not answer does."""

        async def release(self, owner: str, lease: str) -> None:
            await asyncio.sleep(3600)

    hub = EventHub(InProcessBroker(), app.state.runtime().engine, leases=SlowLeases())
    organization = uuid_of(account.organization_id)

    async def hold() -> None:
        async with hub.subscribe(organization, owner=uuid.uuid4(), limit_per_owner=5):
            await asyncio.Event().wait()

    task = asyncio.ensure_future(hold())
    for _ in range(1000):  # bounded
        if hub.subscriptions == 1:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.sleep(0)
    task.cancel()  # a second cancellation, while the lease is being given back
    with pytest.raises(asyncio.CancelledError):
        await task
    assert hub.subscriptions == 0
    for releasing in list(hub._releasing):
        releasing.cancel()
