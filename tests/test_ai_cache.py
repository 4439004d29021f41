"""The AI response cache: a repeated question costs nothing, and no organization is served another's answer."""

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from starlette.applications import Starlette

from prism.ai.completion import GenerationRequest, Generator
from prism.config import Settings
from prism.db.unit_of_work import UnitOfWork
from prism.kv import KeyValueStore, MemoryStore, RedisStore
from tests.helpers import Account, create_product, create_requirement, uuid_of
from tests.model_server import GOOD, FakeModelServer, running_model_server
from tests.test_ai_generation import Story

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="module")
def model_server() -> Iterator[FakeModelServer]:
    with running_model_server() as fake:
        yield fake


@pytest.fixture
async def redis_cache() -> AsyncIterator[KeyValueStore]:
    """The shared Redis, under a prefix of this test's own (the server is shared: nothing else is touched)."""
    store = RedisStore(REDIS_URL, prefix=f"test-aigen-{uuid.uuid4().hex}:")
    yield store
    await store.close()


def generator(
    app: Starlette,
    settings: Settings,
    server: FakeModelServer,
    cache: KeyValueStore | None,
    account: Account,
    **more: Any,
) -> Generator:
    overrides: dict[str, Any] = {
        "llm_api_base": f"http://127.0.0.1:{server.port}/v1",
        "llm_api_key": SecretStr("test-key"),
        "llm_retry_base_seconds": 0.01,
        "llm_max_retries": 0,
        **more,
    }
    uow = UnitOfWork(app.state.runtime().engine, uuid_of(account.organization_id))
    return Generator(settings.model_copy(update=overrides), uow, cache=cache)


def ask(account: Account, text: str, version: str = "stories-1") -> GenerationRequest:
    return GenerationRequest(
        feature="generate_stories",
        prompt_key="generate_stories",
        prompt_version=version,
        organization_id=uuid_of(account.organization_id),
        messages=[{"role": "user", "content": text}],
    )


async def runs_of(app: Starlette, account: Account) -> list[tuple[Any, ...]]:
    async with app.state.runtime().engine.connect() as conn:
        await conn.execute(
            sa.text("SELECT set_config('prism.org_id', :o, true)"), {"o": str(uuid_of(account.organization_id))}
        )
        rows = (
            await conn.execute(
                sa.text(  # unscoped: the test reads its own organization's runs
                    "SELECT cached, input_tokens, output_tokens, cost_usd, prompt_version FROM ai_run "
                    "ORDER BY created_at"
                )
            )
        ).all()
        await conn.rollback()
    return [tuple(row) for row in rows]


def answer(title: str) -> tuple[int, str]:
    return (200, json.dumps({**GOOD, "title": title}))


async def test_a_repeated_question_is_answered_from_the_cache_at_no_cost(
    app: Starlette, settings: Settings, account: Account, model_server: FakeModelServer
) -> None:
    model_server.scripts["cached"] = [answer("First answer"), answer("Second answer")]
    ai = generator(app, settings, model_server, MemoryStore(), account, llm_model="openai/cached")
    first = await ai.generate(ask(account, "Managers print the sprint report."), Story)
    again = await ai.generate(ask(account, "Managers print the sprint report."), Story)
    assert (first.cached, again.cached) == (False, True)
    assert again.output == first.output
    assert again.output.title == "First answer"
    assert model_server.calls.count("cached") == 1
    assert (again.input_tokens, again.output_tokens, again.cost_usd) == (0, 0, 0.0)

    other_version = await ai.generate(ask(account, "Managers print the sprint report.", "stories-org-1"), Story)
    assert other_version.cached is False  # another prompt version is another question
    assert other_version.output.title == "Second answer"
    assert await runs_of(app, account) == [
        (False, 40, 10, 0.0, "stories-1"),
        (True, 0, 0, 0.0, "stories-1"),
        (False, 40, 10, 0.0, "stories-org-1"),
    ]


async def test_organization_b_never_gets_organization_a_cached_answer_in_redis(
    app: Starlette,
    settings: Settings,
    account: Account,
    other_account: Account,
    model_server: FakeModelServer,
    redis_cache: KeyValueStore,
) -> None:
    model_server.scripts["tenants"] = [answer("A's confidential answer"), answer("B's own answer")]
    ai = generator(app, settings, model_server, redis_cache, account, llm_model="openai/tenants")
    other = generator(app, settings, model_server, redis_cache, other_account, llm_model="openai/tenants")
    question = "Plan the acquisition of Globex."
    mine = await ai.generate(ask(account, question), Story)
    theirs = await other.generate(ask(other_account, question), Story)
    assert theirs.cached is False
    assert theirs.output.title == "B's own answer"
    assert model_server.calls.count("tenants") == 2
    mine_again = await ai.generate(ask(account, question), Story)
    assert (mine_again.cached, mine_again.output.title) == (True, mine.output.title)
    assert ai.cache_key(ask(account, question), Story.model_json_schema()).startswith(
        f"ai-cache:{uuid_of(account.organization_id)}:"
    )


async def test_a_cache_that_does_not_answer_is_skipped_and_a_ttl_of_zero_turns_it_off(
    app: Starlette, settings: Settings, account: Account, model_server: FakeModelServer
) -> None:
    unreachable = RedisStore("redis://127.0.0.1:1/0")
    ai = generator(app, settings, model_server, unreachable, account, llm_model="openai/down")
    assert (await ai.generate(ask(account, "Invoices are emailed monthly."), Story)).cached is False
    await unreachable.close()

    store = MemoryStore()
    off = generator(app, settings, model_server, store, account, llm_model="openai/off", ai_cache_ttl_seconds=0)
    await off.generate(ask(account, "Customers pay by card."), Story)
    assert (await off.generate(ask(account, "Customers pay by card."), Story)).cached is False
    assert len(store) == 0


async def test_recommend_priorities_asked_twice_is_served_from_the_cache(account: Account) -> None:
    product = await create_product(account)
    await create_requirement(account, product["id"], "Export the sprint report as a PDF")
    query = """query($p: ID!) { recommendPriorities(productId: $p, framework: WSJF) { aiRuns items { score } } }"""
    first = (await account(query, {"p": product["id"]}))["recommendPriorities"]
    second = (await account(query, {"p": product["id"]}))["recommendPriorities"]
    assert second == first
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    usage = await account("query($s: DateTime!) { aiUsage(since: $s) { runs cachedRuns costUsd } }", {"s": since})
    assert usage["aiUsage"] == [{"runs": 2, "cachedRuns": 1, "costUsd": 0.0}]
