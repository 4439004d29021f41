"""Presence: who is viewing or editing what, on every replica, gone when a client leaves or vanishes."""

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from prism.events.presence import MemoryPresence, Presence, RedisPresence
from tests.helpers import (
    TEST_REDIS_URL,
    Account,
    GraphQLClient,
    create_product,
    create_requirement,
    join_organization,
    sign_up,
)
from tests.test_subscriptions import acked, connect, serve
from tests.test_subscriptions import subscribed as subscribed
from tests.test_subscriptions import ws_url as ws_url


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Presence]:
    if request.param == "memory":
        yield MemoryPresence()
        return
    redis = RedisPresence(TEST_REDIS_URL, prefix=f"prism-test-{uuid.uuid4().hex}:")
    try:
        await redis.present(uuid.uuid4(), "probe")
    except OSError as error:
        await redis.close()
        if os.environ.get("PRISM_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(f"Redis at {TEST_REDIS_URL} is required (PRISM_TEST_REQUIRE_SERVICES=1): {error}")
        pytest.skip(f"Redis at {TEST_REDIS_URL} is not reachable")
    yield redis
    await redis.close()


async def test_entries_join_switch_mode_leave_and_stay_in_their_organization(store: Presence) -> None:
    org, other_org, target = uuid.uuid4(), uuid.uuid4(), "Requirement:1"
    ann, bob = uuid.uuid4(), uuid.uuid4()
    await store.touch(org, target, ann, "c1", "VIEWING", 30)
    await store.touch(org, target, bob, "c2", "VIEWING", 30)
    await store.touch(org, target, bob, "c2", "EDITING", 30)  # the same connection changes mode: one entry
    await store.touch(other_org, target, uuid.uuid4(), "c3", "VIEWING", 30)
    found = sorted((e.user_id, e.connection, e.mode) for e in await store.present(org, target))
    assert found == sorted([(ann, "c1", "VIEWING"), (bob, "c2", "EDITING")])
    await store.leave(org, target, bob, "c2")
    assert [(e.user_id, e.mode) for e in await store.present(org, target)] == [(ann, "VIEWING")]
    assert len(await store.present(other_org, target)) == 1


async def test_an_entry_not_renewed_expires(store: Presence) -> None:
    org, target, user = uuid.uuid4(), "Document:1", uuid.uuid4()
    await store.touch(org, target, user, "gone", "VIEWING", 0.2)
    await store.touch(org, target, user, "kept", "VIEWING", 30)
    await asyncio.sleep(0.4)  # past the first entry's lifetime (a bounded wait, not a timing assertion)
    assert [e.connection for e in await store.present(org, target)] == ["kept"]


PRESENCE = """subscription($t: ID!, $m: PresenceMode) { presence(targetId: $t, mode: $m) { mode user { name } } }"""


async def names(subscriber: Any) -> list[tuple[str, str]]:
    message = await subscriber.receive()
    assert message["type"] == "next", message
    return [(p["user"]["name"], p["mode"]) for p in message["payload"]["data"]["presence"]]


async def test_subscribers_see_each_other_arrive_and_leave(
    account: Account, gql: GraphQLClient, database_url: str, ws_url: str
) -> None:
    product = await create_product(account)
    requirement = await create_requirement(account, product["id"])
    teammate = await join_organization(gql, database_url, account, name="Teammate")
    async with connect(ws_url, account.token) as raw:
        owner = await acked(raw)
        await owner.subscribe(PRESENCE, {"t": requirement["id"]})
        assert await names(owner) == [("Test User", "VIEWING")]
        async with connect(ws_url, teammate.token) as raw_teammate:
            editor = await acked(raw_teammate)
            await editor.subscribe(PRESENCE, {"t": requirement["id"], "m": "EDITING"})
            expected = [("Teammate", "EDITING"), ("Test User", "VIEWING")]
            assert await names(editor) == expected
            assert await names(owner) == expected
            queried = await account(
                "query($t: ID!) { presence(targetId: $t) { mode user { name } } }", {"t": requirement["id"]}
            )
            assert [(p["user"]["name"], p["mode"]) for p in queried["presence"]] == expected
        # The teammate's connection closed: the server ended its subscription, which left.
        assert await names(owner) == [("Test User", "VIEWING")]


async def test_presence_on_another_organizations_object_is_not_found(
    account: Account, other_account: Account, ws_url: str
) -> None:
    theirs = await create_requirement(other_account, (await create_product(other_account))["id"])
    result = await account.run("query($t: ID!) { presence(targetId: $t) { mode } }", {"t": theirs["id"]})
    assert result.codes == ["NOT_FOUND"]
    async with connect(ws_url, account.token) as raw:
        subscriber = await acked(raw)
        await subscriber.subscribe(PRESENCE, {"t": theirs["id"]})
        message = await subscriber.receive()
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["NOT_FOUND"]
    assert json.dumps(message).count("Test User") == 0


async def test_presence_is_shared_by_replicas_through_redis(settings: Any, database_url: str) -> None:
    import httpx
    import redis
    from asgi_lifespan import LifespanManager

    from prism.app import build_app
    from prism.auth.mailer import RecordingMailer
    from prism.config import Settings

    try:
        redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2).ping()
    except (redis.ConnectionError, OSError) as error:
        if os.environ.get("PRISM_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(f"Redis at {TEST_REDIS_URL} is required (PRISM_TEST_REQUIRE_SERVICES=1): {error}")
        pytest.skip(f"Redis at {TEST_REDIS_URL} is not reachable")
    overrides = {k: v for k, v in settings.model_dump().items() if k in Settings.model_fields}
    # Short heartbeats: what an announcement does not bring (one lost while a replica starts), a re-read does.
    shared = {"redis_url": TEST_REDIS_URL, "presence_heartbeat_seconds": 0.5, "presence_ttl_seconds": 5}
    first_app, second_app = (build_app(Settings(**(overrides | shared))) for _ in range(2))
    async with LifespanManager(first_app), LifespanManager(second_app):
        for app in (first_app, second_app):
            app.state.runtime().mailer = RecordingMailer()
        transport = httpx.ASGITransport(app=first_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://prism.test") as http:
            owner = await sign_up(GraphQLClient(http))
            requirement = await create_requirement(owner, (await create_product(owner))["id"])
            teammate = await join_organization(GraphQLClient(http), database_url, owner, name="Teammate")
            async with (
                serve(first_app) as first_url,
                serve(second_app) as second_url,
                connect(first_url, owner.token) as raw_owner,
            ):
                watcher = await acked(raw_owner)
                await watcher.subscribe(PRESENCE, {"t": requirement["id"]})
                assert await names(watcher) == [("Test User", "VIEWING")]
                async with connect(second_url, teammate.token) as raw_teammate:
                    editor = await acked(raw_teammate)
                    await editor.subscribe(PRESENCE, {"t": requirement["id"], "m": "EDITING"})
                    assert await names(watcher) == [("Teammate", "EDITING"), ("Test User", "VIEWING")]
                assert await names(watcher) == [("Test User", "VIEWING")]
