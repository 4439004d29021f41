"""AI features on a small pool: one connection per request at a time, and none held while the model thinks.

A slow model (the local OpenAI-compatible test server, made to wait) answers more concurrent AI queries than the
pool has connections. Each request is labelled; the pool's checkout and checkin events count the connections each
label holds, and the model server notes, as each call arrives, how many the request that made it holds then.
"""

import asyncio
import contextvars
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from pydantic import SecretStr
from starlette.applications import Starlette

from prism.ai.litellm_setup import litellm_module
from prism.app import build_app
from prism.config import Settings
from tests.helpers import Account, GraphQLClient, create_product, create_requirement, create_sprint, sign_up
from tests.model_server import FakeModelServer, running_model_server

ANALYZE = """query($id: ID!) { analyzeRequirement(id: $id) { offline summary requirement { title } } }"""
RECOMMEND = """query($p: ID!) {
  recommendPriorities(productId: $p, framework: MOSCOW) { offline aiRuns items { requirement { title } } }
}"""
PLAN = """query($s: ID!) { planSprint(sprintId: $s, capacity: 10) { offline aiRuns items { rationale } } }"""
CONCURRENT = 9
POOL = 2

_label: contextvars.ContextVar[str | None] = contextvars.ContextVar("ai_connections_label", default=None)


@pytest.fixture(scope="module")
def slow_model() -> Iterator[FakeModelServer]:
    with running_model_server() as fake:
        fake.scripts["slow-review"] = [(200, json.dumps({"findings": [], "summary": "Reviewed slowly."}))]
        fake.scripts["slow-priority"] = [(200, json.dumps({"category": "SHOULD", "rationale": "Estimated slowly."}))]
        fake.scripts["slow-plan"] = [(200, json.dumps({"rationale": "Fits the goal.", "risk_note": ""}))]
        fake.delay_seconds = {"slow-review": 0.4, "slow-priority": 0.4, "slow-plan": 0.4}
        yield fake


@pytest.fixture
async def small_ai_app(settings: Settings, slow_model: FakeModelServer) -> AsyncIterator[Starlette]:
    """The app on a pool of two connections, no overflow, with both features asking the slow model."""
    app_settings = settings.model_copy(
        update={
            "database_pool_size": POOL,
            "database_max_overflow": 0,
            "database_pool_timeout_seconds": 10,
            "rate_limit_enabled": False,
            "max_requests_in_progress_per_caller": 4 * CONCURRENT,
            "llm_model": "openai/slow-review",
            "llm_feature_models": {
                "analyze_requirement": "openai/slow-review",
                "recommend_priorities": "openai/slow-priority",
                "plan_sprint": "openai/slow-plan",
            },
            "llm_api_base": f"http://127.0.0.1:{slow_model.port}/v1",
            "llm_api_key": SecretStr("test-key"),
            "llm_max_retries": 0,
            "llm_retry_base_seconds": 0.01,
            "ai_cache_ttl_seconds": 0,
        }
    )
    app = build_app(app_settings)
    litellm_module()  # its import takes seconds and blocks the event loop: not while requests wait for the pool
    async with LifespanManager(app):
        yield app


class ConnectionsPerRequest:
    """The connections each labelled request holds now, and the most it ever held at once."""

    def __init__(self) -> None:
        self.held: Counter[str] = Counter()
        self.most: Counter[str] = Counter()
        self._owner: dict[int, str] = {}

    def checkout(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        label = _label.get()
        if label is None:
            return
        self._owner[id(record)] = label
        self.held[label] += 1
        self.most[label] = max(self.most[label], self.held[label])

    def checkin(self, dbapi_connection: Any, record: Any) -> None:
        label = self._owner.pop(id(record), None)
        if label is not None:
            self.held[label] -= 1


async def test_more_concurrent_ai_queries_than_pool_connections_all_complete_one_connection_each(
    small_ai_app: Starlette, slow_model: FakeModelServer
) -> None:
    engine = small_ai_app.state.runtime().engine
    transport = httpx.ASGITransport(app=small_ai_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://prism.test", timeout=60) as http:
        gql = GraphQLClient(http)
        account: Account = await sign_up(gql)
        work: list[tuple[str, str, dict[str, Any]]] = []
        for n in range(CONCURRENT):
            label = f"label{n}x"
            product = await create_product(account)
            requirement = await create_requirement(account, product["id"], f"Export report {label}", priority="NONE")
            if n % 3 == 0:
                work.append((label, ANALYZE, {"id": requirement["id"]}))
            elif n % 3 == 1:
                work.append((label, RECOMMEND, {"p": product["id"]}))
            else:
                sprint = await create_sprint(account, product["id"], goal="Ship the report.")
                work.append((label, PLAN, {"s": sprint["id"]}))

        counts = ConnectionsPerRequest()
        at_model_call: list[tuple[str, int]] = []

        def note_model_call(body: dict[str, Any]) -> None:
            # The model server runs in its own thread: read what the request that called holds at this moment.
            text = " ".join(str(message.get("content")) for message in body["messages"])
            label = next(label for label, _, _ in work if label in text)
            at_model_call.append((label, counts.held[label]))

        sa.event.listen(engine.sync_engine.pool, "checkout", counts.checkout)
        sa.event.listen(engine.sync_engine.pool, "checkin", counts.checkin)
        slow_model.on_request = note_model_call
        try:

            async def ask(label: str, query: str, variables: dict[str, Any]) -> Any:
                _label.set(label)
                return await gql.run(query, variables, token=account.token)

            results = await asyncio.gather(*(ask(*item) for item in work))
        finally:
            slow_model.on_request = None
            sa.event.remove(engine.sync_engine.pool, "checkout", counts.checkout)
            sa.event.remove(engine.sync_engine.pool, "checkin", counts.checkin)

    assert [r.status for r in results] == [200] * CONCURRENT, [r.body for r in results]
    assert [r.errors for r in results] == [[]] * CONCURRENT
    for (_, query, _), result in zip(work, results, strict=True):
        if query is ANALYZE:
            assert result.data["analyzeRequirement"]["summary"] == "Reviewed slowly."
            assert result.data["analyzeRequirement"]["offline"] is False
        elif query is RECOMMEND:
            assert result.data["recommendPriorities"]["aiRuns"] == 1
            assert result.data["recommendPriorities"]["offline"] is False
        else:
            assert result.data["planSprint"]["aiRuns"] == 1
            assert result.data["planSprint"]["items"][0]["rationale"].endswith("Fits the goal.")
    # Every request used the database (reads, the budget, its run) on one connection at a time ...
    assert sorted(counts.most) == sorted(label for label, _, _ in work)
    assert set(counts.most.values()) == {1}
    # ... and held none while the model thought.
    assert sorted(label for label, _ in at_model_call) == sorted(label for label, _, _ in work)
    assert [held for _, held in at_model_call] == [0] * CONCURRENT
    assert sum(counts.held.values()) == 0
