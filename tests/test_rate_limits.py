"""Rate limits per identity and per IP, and the query-cost budget: 429, RATE_LIMITED and Retry-After, in Redis too."""

import os
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette

from prism.app import build_app
from prism.config import Settings
from prism.ratelimit import RateLimiter
from tests.helpers import TEST_REDIS_URL, GraphQLClient, GraphQLResult, client_from, sign_up

VIEWER = "{ viewer { user { email } } }"


async def _require_redis() -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except OSError as error:
        if os.environ.get("PRISM_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(f"Redis at {TEST_REDIS_URL} is required (PRISM_TEST_REQUIRE_SERVICES=1): {error}")
        pytest.skip(f"Redis at {TEST_REDIS_URL} is not reachable")
    finally:
        await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> str | None:
    """Where the counters live: in process, or in Redis (REDIS_URL) as every replica would share them."""
    if request.param == "redis":
        await _require_redis()
        return TEST_REDIS_URL
    return None


@asynccontextmanager
async def limited_app(settings: Settings, redis_url: str | None, **limits: Any) -> AsyncIterator[Starlette]:
    app = build_app(
        Settings(
            database_url=settings.database_url,
            home=settings.home,
            environment="test",
            auto_migrate=False,
            log_format="console",
            secret_key=settings.secret_key,
            redis_url=redis_url,
            **limits,
        )
    )
    async with LifespanManager(app):
        yield app


def fresh_ip() -> str:
    """An address no earlier run has used this minute (counters in Redis outlive a test run)."""
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def assert_rate_limited(result: GraphQLResult) -> int:
    """The request was refused with 429, RATE_LIMITED and a Retry-After in seconds, which is returned."""
    assert result.status == 429, result.body
    assert result.codes == ["RATE_LIMITED"]
    retry_after = int(result.headers["retry-after"])
    assert 1 <= retry_after <= 60
    return retry_after


async def test_anonymous_requests_over_the_per_ip_limit_get_429_with_retry_after(
    settings: Settings, store: str | None
) -> None:
    async with limited_app(settings, store, rate_limit_anonymous_per_ip="3/minute") as app:
        async with client_from(app, fresh_ip()) as gql:
            answered = [await gql.run("{ __typename }") for _ in range(3)]
            refused = await gql.run("{ __typename }")
        async with client_from(app, fresh_ip()) as elsewhere:
            other_address = await elsewhere.run("{ __typename }")

    assert [r.status for r in answered] == [200, 200, 200]
    assert_rate_limited(refused)
    assert other_address.status == 200


async def test_guessing_tokens_from_one_address_is_stopped_by_the_anonymous_limit(
    settings: Settings, store: str | None
) -> None:
    async with (
        limited_app(settings, store, rate_limit_anonymous_per_ip="5/minute") as app,
        client_from(app, fresh_ip()) as gql,
    ):
        guesses = [await gql.run(VIEWER, token=f"guess-{n}-{uuid.uuid4().hex}") for n in range(8)]

    assert [g.codes for g in guesses[:5]] == [["UNAUTHENTICATED"]] * 5
    for guess in guesses[5:]:
        assert_rate_limited(guess)


async def test_a_signed_in_identity_over_its_limit_is_refused_while_others_on_the_same_address_are_not(
    settings: Settings, store: str | None
) -> None:
    async with limited_app(settings, store, rate_limit_per_identity="3/minute") as app:
        ip = fresh_ip()
        async with client_from(app, fresh_ip()) as signup:
            busy, quiet = await sign_up(signup), await sign_up(signup)
        async with client_from(app, ip) as gql:
            answered = [await gql.run(VIEWER, token=busy.token) for _ in range(3)]
            refused = await gql.run(VIEWER, token=busy.token)
            neighbour = await gql.run(VIEWER, token=quiet.token)

    assert all(r.data == {"viewer": {"user": {"email": busy.email}}} for r in answered)
    assert_rate_limited(refused)
    assert refused.data is None
    assert neighbour.data == {"viewer": {"user": {"email": quiet.email}}}


async def test_every_answer_says_how_many_requests_are_left_and_when_the_window_frees_up(
    settings: Settings, store: str | None
) -> None:
    import math
    import time

    async with limited_app(settings, store, rate_limit_per_identity="3/minute") as app:
        async with client_from(app, fresh_ip()) as signup:
            account = await sign_up(signup)
        async with client_from(app, fresh_ip()) as gql:
            started = time.time()
            answers = [await gql.run(VIEWER, token=account.token) for _ in range(4)]

    assert [a.headers["x-ratelimit-requests-limit"] for a in answers] == ["3"] * 4
    assert [a.headers["x-ratelimit-requests-remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert answers[3].status == 429
    reset = int(answers[0].headers["x-ratelimit-requests-reset"])
    # Within the sliding minute. The sliding window frees capacity when its current fixed minute rolls over, which
    # may be within the second of the request (Redis reports whole seconds): not before the request's second.
    assert math.floor(started) <= reset <= time.time() + 120


async def test_a_signed_in_request_costs_five_calls_to_the_counters(
    settings: Settings, store: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each call is a round trip when the counters are in Redis: its address's and its identity's limits are hit,
    the identity's window is read for the headers, the cost budget is read before the operation runs and charged
    after, without being read again (it was, before: six calls)."""
    from limits.aio.strategies import SlidingWindowCounterRateLimiter

    calls: list[str] = []
    for name in ("hit", "get_window_stats", "test", "clear"):
        method = getattr(SlidingWindowCounterRateLimiter, name)

        def counting(method: Any = method, name: str = name) -> Any:
            async def call(self: Any, *args: Any, **kwargs: Any) -> Any:
                calls.append(name)
                return await method(self, *args, **kwargs)

            return call

        monkeypatch.setattr(SlidingWindowCounterRateLimiter, name, counting())
    async with limited_app(settings, store) as app:
        async with client_from(app, fresh_ip()) as signup:
            account = await sign_up(signup)
        async with client_from(app, fresh_ip()) as gql:
            calls.clear()
            answer = await gql.run(VIEWER, token=account.token)

    assert answer.data == {"viewer": {"user": {"email": account.email}}}
    assert sorted(calls) == ["get_window_stats", "get_window_stats", "hit", "hit", "hit"]


async def test_many_identities_from_one_address_hit_the_per_ip_ceiling(settings: Settings, store: str | None) -> None:
    async with limited_app(settings, store, rate_limit_per_ip="4/minute") as app:
        async with client_from(app, fresh_ip()) as signup:
            accounts = [await sign_up(signup) for _ in range(5)]
        async with client_from(app, fresh_ip()) as gql:
            results = [await gql.run(VIEWER, token=account.token) for account in accounts]

    assert [r.status for r in results[:4]] == [200] * 4
    assert_rate_limited(results[4])


async def test_an_identity_that_spent_its_cost_budget_is_refused_until_the_window_frees_up(
    settings: Settings, store: str | None
) -> None:
    query = "{ products(first: 10) { nodes { id name key } } }"  # may cost 1 + 10 * (1 + 3) = 41
    async with limited_app(settings, store, query_cost_budget_per_minute=100) as app:
        async with client_from(app, fresh_ip()) as signup:
            spender, other = await sign_up(signup), await sign_up(signup)
        async with client_from(app, fresh_ip()) as gql:
            first = await gql.http.post(
                "/graphql",
                json={"query": query, "extensions": {"cost": True}},
                headers={"authorization": f"Bearer {spender.token}"},
            )
            # Each answer resolves two fields (`products`, empty `nodes`) and is charged 2; the bound of 41 must fit
            # in what is left: 98, 96, ... 42 are enough (29 more answers), 40 is not.
            answers = [await gql.run(query, token=spender.token) for _ in range(40)]
            other_identity = await gql.run(query, token=other.token)

    cost = first.json()["extensions"]["cost"]
    assert cost == {"requested": 41, "maximum": 1_000_000, "limit": 100, "remaining": 98, "actual": 2}
    refused = [a for a in answers if a.status != 200]
    assert len(answers) - len(refused) == 29
    retry_after = assert_rate_limited(refused[0])
    extensions = refused[0].errors[0]["extensions"]
    assert extensions["cost"] == 41
    assert extensions["remaining"] < 41
    assert extensions["retryAfter"] == retry_after
    assert other_identity.status == 200


async def test_two_replicas_sharing_redis_count_against_the_same_limits() -> None:
    await _require_redis()
    prefix = f"prism-test-{uuid.uuid4().hex[:8]}"
    replicas = [
        RateLimiter(
            per_identity="3/minute",
            per_ip="100/minute",
            anonymous_per_ip="100/minute",
            cost_budget_per_minute=10,
            redis_url=TEST_REDIS_URL,
            key_prefix=prefix,
        )
        for _ in range(2)
    ]
    for replica in replicas:
        replica.start()
    try:
        from prism.auth.rbac import Viewer
        from prism.domain.enums import Role

        viewer = Viewer(user_id=uuid.uuid4(), organization_id=uuid.uuid4(), role=Role.MEMBER)
        outcomes = [await replicas[n % 2].check_request(viewer, "10.0.0.1") for n in range(4)]
        await replicas[0].charge("user:x", 7)
        left = await replicas[1].budget("user:x")
    finally:
        for replica in replicas:
            await replica.close()

    assert outcomes[:3] == [None, None, None]
    assert outcomes[3] is not None
    assert outcomes[3].retry_after >= 1
    assert left.remaining == 3


async def test_with_rate_limits_turned_off_nothing_is_counted(settings: Settings, gql: GraphQLClient) -> None:
    async with (
        limited_app(settings, None, rate_limit_enabled=False, rate_limit_anonymous_per_ip="1/minute") as app,
        client_from(app, fresh_ip()) as client,
    ):
        results = [await client.run("{ __typename }") for _ in range(3)]

    assert [r.status for r in results] == [200, 200, 200]


async def test_requests_are_let_through_when_the_rate_limit_store_is_down() -> None:
    # Nothing listens on port 1: every Redis call fails, as during a Redis restart.
    limiter = RateLimiter(
        per_identity="2/minute",
        per_ip="2/minute",
        anonymous_per_ip="2/minute",
        cost_budget_per_minute=10,
        redis_url="redis://127.0.0.1:1/0",
    )
    limiter.start()
    try:
        for _ in range(5):
            assert await limiter.check_request(None, "198.51.100.7") is None
        budget = await limiter.charge("user:someone", 50)
        assert budget.remaining == 10
    finally:
        await limiter.close()


async def test_a_charge_reads_the_budget_once_and_answers_what_is_left() -> None:
    """Charging the query-cost budget reads the window once (every request charges it: with Redis, each read is a
    round trip), and answers what was left less the charge; a charge over what is left takes what is left."""
    limiter = RateLimiter(
        per_identity="100/minute", per_ip="100/minute", anonymous_per_ip="100/minute", cost_budget_per_minute=100
    )
    limiter.start()
    reads = 0
    strategy = limiter._limiter
    read_window = strategy.get_window_stats

    async def counting(*args: Any) -> Any:
        nonlocal reads
        reads += 1
        return await read_window(*args)

    strategy.get_window_stats = counting  # type: ignore[method-assign]
    try:
        after = await limiter.charge("user:one", 30)
        assert (after.limit, after.remaining, reads) == (100, 70, 1)
        after = await limiter.charge("user:one", 90)
        assert (after.remaining, reads) == (0, 2)
        assert (await limiter.budget("user:one")).remaining == 0
        assert (await limiter.charge("user:one", 5)).remaining == 0  # nothing left: nothing charged
    finally:
        await limiter.close()


async def test_a_charge_over_a_budget_spent_meanwhile_takes_what_is_left() -> None:
    """The budget is read before the operation runs and charged after it; a concurrent request of the same identity
    may spend in between. The charge then no longer fits what was read and the store refuses it: the operation is
    charged what is left instead of nothing (review: the stale read let a burst of concurrent requests go uncharged)."""
    limiter = RateLimiter(
        per_identity="100/minute", per_ip="100/minute", anonymous_per_ip="100/minute", cost_budget_per_minute=100
    )
    limiter.start()
    try:
        before = await limiter.budget("user:one")  # this operation's read, before it runs
        assert before.remaining == 100
        await limiter.charge("user:one", 80)  # a concurrent operation finishes first
        after = await limiter.charge("user:one", 50, left=before)
        assert after.remaining == 0
        assert (await limiter.budget("user:one")).remaining == 0
    finally:
        await limiter.close()
