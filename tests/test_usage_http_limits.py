"""POST /api/v1/usage-events is held to the same limits as /graphql: the anonymous per-address request limit for
requests without a valid key, and the per-caller cap on requests in progress."""

import asyncio
import uuid
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from prism.app import build_app
from prism.config import Settings
from tests.helpers import GraphQLClient, create_product, sign_up
from tests.test_feature_adoption import create_feature, usage_key

ENDPOINT = "/api/v1/usage-events"


def _batch(product: str) -> dict[str, Any]:
    return {
        "events": [
            {
                "eventId": uuid.uuid4().hex,
                "product": product,
                "feature": "search",
                "userId": "u-1",
                "occurredAt": "2026-11-03T10:00:00Z",
            }
        ]
    }


def _address() -> str:
    """An address no other test uses, so that its anonymous counter starts at zero."""
    number = uuid.uuid4().int
    return f"10.{number % 250}.{(number >> 8) % 250}.{(number >> 16) % 250}"


def _app_with_three_anonymous_requests_a_minute(settings: Settings) -> Any:
    return build_app(settings.model_copy(update={"rate_limit_anonymous_per_ip": "3/minute"}))


async def test_requests_with_a_made_up_key_are_limited_per_address_as_on_graphql(settings: Settings) -> None:
    app = _app_with_three_anonymous_requests_a_minute(settings)
    made_up = {"Authorization": "Bearer prism_0000000f_" + "x" * 43}
    statuses: dict[str, list[int]] = {}
    async with LifespanManager(app):
        for path, body in (("/graphql", {"query": "{ __typename }"}), (ENDPOINT, _batch("NOPE"))):
            transport = httpx.ASGITransport(app=app, client=(_address(), 5555))
            async with httpx.AsyncClient(transport=transport, base_url="http://prism.test") as http:
                statuses[path] = [(await http.post(path, json=body, headers=made_up)).status_code for _ in range(6)]
                refused = await http.post(path, json=body, headers=made_up)
            assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED", path
            assert int(refused.headers["Retry-After"]) >= 1
    assert statuses["/graphql"][3:] == [429, 429, 429]
    assert statuses[ENDPOINT] == [401, 401, 401, 429, 429, 429]


async def test_requests_without_a_key_are_limited_per_address(settings: Settings) -> None:
    app = _app_with_three_anonymous_requests_a_minute(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, client=(_address(), 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://prism.test") as http:
            statuses = [(await http.post(ENDPOINT, json=_batch("NOPE"))).status_code for _ in range(6)]
    assert statuses == [401, 401, 401, 429, 429, 429]


async def test_a_valid_key_is_not_held_to_the_anonymous_limit(settings: Settings) -> None:
    app = _app_with_three_anonymous_requests_a_minute(settings)
    transport = httpx.ASGITransport(app=app, client=(_address(), 5555))
    async with LifespanManager(app), httpx.AsyncClient(transport=transport, base_url="http://prism.test") as http:
        account = await sign_up(GraphQLClient(http))
        product = await create_product(account, key="LIMKEY")
        await create_feature(account, product["id"], "search")
        headers = {"Authorization": f"Bearer {await usage_key(account)}"}
        answers = [await http.post(ENDPOINT, json=_batch("LIMKEY"), headers=headers) for _ in range(5)]
    assert [answer.status_code for answer in answers] == [200] * 5
    assert sum(answer.json()["accepted"] for answer in answers) == 5


async def test_a_key_past_its_share_of_requests_in_progress_gets_429_on_the_usage_endpoint(
    settings: Settings,
) -> None:
    app = build_app(
        settings.model_copy(
            update={
                "database_pool_size": 1,
                "database_max_overflow": 0,
                "database_pool_timeout_seconds": 30,
                "max_requests_in_progress_per_caller": 1,
                "request_queue_wait_seconds": 0.2,
                "rate_limit_enabled": False,
            }
        )
    )
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://prism.test") as http,
    ):
        account = await sign_up(GraphQLClient(http))
        product = await create_product(account, key="LIMCONC")
        await create_feature(account, product["id"], "search")
        headers = {"Authorization": f"Bearer {await usage_key(account)}"}

        engine = app.state.runtime().engine
        held = await engine.connect()  # the pool's only connection: the first batch waits for it, holding its slot
        try:
            first = asyncio.create_task(http.post(ENDPOINT, json=_batch("LIMCONC"), headers=headers))
            await asyncio.sleep(0.05)
            second = asyncio.create_task(http.post(ENDPOINT, json=_batch("LIMCONC"), headers=headers))
            refused = await second  # waits request_queue_wait_seconds for the slot, then gives up
        finally:
            await held.close()
        served = await first
    assert refused.status_code == 429
    assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert refused.headers["Retry-After"] == "1"
    assert served.status_code == 200, served.text
    assert served.json()["accepted"] == 1
