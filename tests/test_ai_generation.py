"""Structured generation through LiteLLM: against a local OpenAI-compatible server, and offline by default."""

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import BaseModel, Field, SecretStr
from starlette.applications import Starlette

from prism.ai.completion import GenerationRequest, Generator
from prism.config import Settings
from prism.db.unit_of_work import UnitOfWork
from prism.errors import AiBudgetExhaustedError, Code
from tests.helpers import Account, uuid_of
from tests.model_server import GOOD, FakeModelServer, running_model_server


@pytest.fixture(scope="module")
def model_server() -> Iterator[FakeModelServer]:
    with running_model_server() as fake:
        yield fake


class Story(BaseModel):
    """What the tests ask for: a small structured answer."""

    title: str = Field(min_length=3)
    points: int = Field(ge=0, le=100)
    criteria: list[str]


def generator_for(
    app: Starlette, settings: Settings, server: FakeModelServer | None, account: Account, **overrides: Any
) -> Generator:
    if server is not None:
        overrides.setdefault("llm_api_base", f"http://127.0.0.1:{server.port}/v1")
        overrides.setdefault("llm_api_key", SecretStr("test-key"))
    overrides.setdefault("llm_retry_base_seconds", 0.01)
    uow = UnitOfWork(app.state.runtime().engine, uuid_of(account.organization_id))
    return Generator(settings.model_copy(update=overrides), uow)


def request_for(
    account: Account, text: str = "Managers print the sprint report. They need a PDF."
) -> GenerationRequest:
    return GenerationRequest(
        feature="generate_stories",
        prompt_version="test-1",
        organization_id=uuid_of(account.organization_id),
        messages=[{"role": "user", "content": text}],
    )


async def runs_of(app: Starlette, account: Account) -> list[Any]:
    async with app.state.runtime().engine.connect() as conn:
        await conn.execute(
            sa.text("SELECT set_config('prism.org_id', :o, true)"),
            {"o": str(uuid_of(account.organization_id))},
        )
        rows = (
            await conn.execute(
                sa.text(  # unscoped: the test reads its own organization's runs
                    "SELECT model, offline, succeeded, repaired, input_tokens, output_tokens FROM ai_run "
                    "ORDER BY created_at"
                )
            )
        ).all()
        await conn.rollback()
    return list(rows)


async def test_a_configured_model_answers_through_litellm_and_the_run_is_recorded(
    app: Starlette, settings: Settings, account: Account, model_server: FakeModelServer
) -> None:
    generator = generator_for(app, settings, model_server, account, llm_model="openai/normal")
    result = await generator.generate(request_for(account), Story)
    assert result.output == Story(**GOOD)
    assert (result.model, result.offline, result.repaired) == ("openai/normal", False, False)
    assert (result.input_tokens, result.output_tokens) == (40, 10)
    assert [tuple(r) for r in await runs_of(app, account)] == [("openai/normal", False, True, False, 40, 10)]


async def test_json_mode_sends_the_schema_beside_json_object_for_servers_without_structured_outputs(
    app: Starlette, settings: Settings, account: Account, model_server: FakeModelServer
) -> None:
    default = generator_for(app, settings, model_server, account, llm_model="openai/structured")
    await default.generate(request_for(account), Story)
    json_mode = generator_for(
        app, settings, model_server, account, llm_model="openai/json-mode", llm_response_format="json_object"
    )
    result = await json_mode.generate(request_for(account), Story)
    assert result.output == Story(**GOOD)
    asked = {body["model"]: body.get("response_format") for body in model_server.requests}
    assert asked["structured"]["type"] == "json_schema"
    assert asked["structured"]["json_schema"]["schema"] == Story.model_json_schema()
    assert asked["json-mode"] == {"type": "json_object", "schema": Story.model_json_schema()}


async def test_malformed_json_gets_one_repair_attempt(
    app: Starlette, settings: Settings, account: Account, model_server: FakeModelServer
) -> None:
    model_server.scripts["malformed"] = [(200, '{"title": "Export", "points": "many"'), (200, json.dumps(GOOD))]
    generator = generator_for(app, settings, model_server, account, llm_model="openai/malformed")
    result = await generator.generate(request_for(account), Story)
    assert result.repaired is True
    assert result.output.points == 5
    assert result.input_tokens == 80


async def test_a_429_is_retried_with_backoff_then_succeeds(
    app: Starlette, settings: Settings, account: Account, model_server: FakeModelServer
) -> None:
    model_server.scripts["busy"] = [(429, "slow down"), (200, json.dumps(GOOD))]
    before = model_server.calls.count("busy")
    generator = generator_for(app, settings, model_server, account, llm_model="openai/busy")
    result = await generator.generate(request_for(account), Story)
    assert result.model == "openai/busy"
    assert model_server.calls.count("busy") - before == 2


async def test_a_failing_model_falls_back_to_the_next_one(
    app: Starlette, settings: Settings, account: Account, model_server: FakeModelServer
) -> None:
    model_server.scripts["broken"] = [(500, "internal error")]
    before = model_server.calls.count("broken")
    generator = generator_for(
        app,
        settings,
        model_server,
        account,
        llm_model="openai/cheap",
        llm_feature_models={"generate_stories": "openai/broken"},
        llm_fallback_models=["openai/normal"],
        llm_max_retries=1,
    )
    result = await generator.generate(request_for(account), Story)
    assert result.model == "openai/normal"
    assert model_server.calls.count("broken") - before == 2  # the call and its one retry
    assert "openai/cheap" not in model_server.calls


async def test_the_offline_provider_answers_from_the_input_and_says_it_is_offline(
    app: Starlette, settings: Settings, account: Account
) -> None:
    generator = generator_for(app, settings, None, account)
    first = await generator.generate(
        request_for(account, "Invoices are emailed monthly. Customers pay by card."), Story
    )
    again = await generator.generate(
        request_for(account, "Invoices are emailed monthly. Customers pay by card."), Story
    )
    other = await generator.generate(request_for(account, "Teams plan sprints together. Velocity guides them."), Story)
    assert first.offline is True
    assert first.model == "prism-offline/offline"
    assert first.output == again.output  # deterministic
    assert first.output != other.output  # derived from the input, not canned
    assert first.output.title.startswith("[offline] ")
    assert any(word in first.output.title for word in ("Invoices", "Customers"))
    assert first.cost_usd == 0


async def test_an_organization_past_its_budget_gets_a_coded_error(
    app: Starlette, settings: Settings, account: Account, other_account: Account
) -> None:
    generator = generator_for(app, settings, None, account, ai_monthly_token_budget=30)
    await generator.generate(request_for(account), Story)
    with pytest.raises(AiBudgetExhaustedError) as raised:
        await generator.generate(request_for(account), Story)
    assert raised.value.code == Code.AI_BUDGET_EXHAUSTED
    assert "budget" in raised.value.message
    theirs = generator_for(app, settings, None, other_account, ai_monthly_token_budget=30)
    await theirs.generate(request_for(other_account), Story)  # another organization's budget is its own


def test_litellm_is_not_imported_by_starting_prism() -> None:
    code = "import sys, prism.app, resolvers.schema; sys.exit(1 if 'litellm' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_offline_model_keeps_what_it_derives_within_the_schemas_limits() -> None:
    """A run-on request (no full stop) gives sentences longer than a field allows: the offline answer is cut to
    each string's maxLength (at a word, with an ellipsis) and each list's maxItems, at every depth, so it validates."""
    from prism.ai.offline_provider import offline_reply

    class Item(BaseModel):
        label: str = Field(max_length=40)

    class Answer(BaseModel):
        summary: str = Field(max_length=120)
        items: list[Item] = Field(max_length=2)
        note: str | None = Field(default=None, max_length=30)

    run_on = " ".join(["managers export the sprint report as a pdf for stakeholders"] * 60)
    messages = [{"role": "user", "content": f"{run_on}\n{run_on} again\n{run_on} once more"}]
    reply = offline_reply(messages, {"response_format": {"json_schema": {"schema": Answer.model_json_schema()}}})
    answer = Answer.model_validate_json(reply)
    assert answer.summary.startswith("[offline] managers export")
    assert answer.summary.endswith("…")
    assert len(answer.summary) <= 120
    assert all(len(item.label) <= 40 for item in answer.items)
