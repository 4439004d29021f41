"""Each AI feature answers on a pool of one connection: it reads through the request's unit of work and meters the
model call (budget check, `ai_run` row) through that same unit, never a second connection (docs/architecture.md, "One
unit of work per request"). Found by review: these features used to hold two pooled connections at once, so a pool
of one waited for itself until the pool timed out (tests/test_ai_connections.py covers the concurrent case)."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from prism.app import build_app
from prism.config import Settings
from tests.helpers import GraphQLClient, create_product, create_requirement, create_sprint, sign_up

GENERATE = """query($p: ID!) {
  generateStories(productId: $p, brief: "Managers need to export the sprint report as a PDF.", count: 1) {
    stories { title }
  }
}"""
ANALYZE = """query($id: ID!) { analyzeRequirement(id: $id) { summary } }"""
PLAN = """query($s: ID!) { planSprint(sprintId: $s, capacity: 10) { plannedPoints } }"""


@pytest.fixture
async def one_connection(settings: Settings) -> AsyncIterator[GraphQLClient]:
    app = build_app(
        settings.model_copy(
            update={
                "database_pool_size": 1,
                "database_max_overflow": 0,
                "database_pool_timeout_seconds": 3,
                "rate_limit_enabled": False,
                "ai_cache_ttl_seconds": 0,
            }
        )
    )
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://prism.test") as http,
    ):
        yield GraphQLClient(http)


def _codes(body: dict[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors") or []]


async def test_generate_stories_needs_one_connection(one_connection: GraphQLClient) -> None:
    account = await sign_up(one_connection)
    product = await create_product(account)
    result = await account.run(GENERATE, {"p": product["id"]})
    assert _codes(result.body) == [], result.body
    assert len(result.data["generateStories"]["stories"]) == 1


async def test_analyze_requirement_needs_one_connection(one_connection: GraphQLClient) -> None:
    account = await sign_up(one_connection)
    product = await create_product(account)
    requirement = await create_requirement(account, product["id"], "Export the sprint report")
    result = await account.run(ANALYZE, {"id": requirement["id"]})
    assert _codes(result.body) == [], result.body
    assert result.data["analyzeRequirement"]["summary"]


async def test_plan_sprint_needs_one_connection(one_connection: GraphQLClient) -> None:
    account = await sign_up(one_connection)
    product = await create_product(account)
    await create_requirement(account, product["id"], "Export the sprint report", estimate=3)
    sprint = await create_sprint(account, product["id"])
    result = await account.run(PLAN, {"s": sprint["id"]})
    assert _codes(result.body) == [], result.body
