"""Who may spend the organization's AI budget: VIEWERs search, MEMBERs and up (and `ai`-scoped keys) run models."""

from typing import Any

import pytest
from starlette.applications import Starlette

from prism.config import Settings
from tests.helpers import (
    Account,
    GraphQLClient,
    create_api_key,
    create_product,
    create_requirement,
    create_sprint,
    join_organization,
)

SIMILAR = """query($text: String) { similarRequirements(text: $text) { offline matches { key } } }"""
SEARCH = """query($q: String!) { semanticSearch(query: $q) { offline matches { key } } }"""
STORIES = """query($p: ID!) { generateStories(productId: $p, brief: "Managers export the report.", count: 1) {
  stories { title } } }"""
PRIORITIES = """query($p: ID!) { recommendPriorities(productId: $p, framework: RICE) { aiRuns items { key } } }"""
PLAN = """query($s: ID!) { planSprint(sprintId: $s, capacity: 5) { items { key } } }"""
ANALYZE = """query($id: ID!) { analyzeRequirement(id: $id) { summary } }"""
PRD = """mutation($i: GeneratePrdInput!) { generatePrd(input: $i) { runId userErrors { code } } }"""
RUNS = """{ aiUsage(since: "2000-01-01T00:00:00Z", until: "2100-01-01T00:00:00Z") { runs } }"""


async def _fixtures(account: Account) -> dict[str, Any]:
    product = await create_product(account)
    requirement = await create_requirement(account, product["id"], "Export the sprint report as a PDF", estimate=2)
    sprint = await create_sprint(account, product["id"])
    return {"product": product["id"], "requirement": requirement["id"], "sprint": sprint["id"]}


def _spending_operations(ids: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    return {
        "generateStories": (STORIES, {"p": ids["product"]}),
        "recommendPriorities": (PRIORITIES, {"p": ids["product"]}),
        "planSprint": (PLAN, {"s": ids["sprint"]}),
        "analyzeRequirement": (ANALYZE, {"id": ids["requirement"]}),
        "generatePrd": (PRD, {"i": {"productId": ids["product"], "brief": "Export the sprint report."}}),
    }


async def test_a_viewer_may_search_but_not_run_the_features_that_spend_the_ai_budget(
    gql: GraphQLClient, database_url: str, account: Account
) -> None:
    ids = await _fixtures(account)
    viewer = await join_organization(gql, database_url, account, role="VIEWER")

    assert (await viewer(SIMILAR, {"text": "sprint report PDF"}))["similarRequirements"]["offline"] is True
    assert (await viewer(SEARCH, {"q": "sprint report PDF"}))["semanticSearch"]["offline"] is True
    for name, (query, variables) in _spending_operations(ids).items():
        refused = await viewer.run(query, variables)
        assert refused.codes == ["FORBIDDEN"], (name, refused.body)
        assert refused.data is None or refused.data.get(name) is None, (name, refused.body)
    messages = " ".join(str(e["message"]) for e in (await viewer.run(STORIES, {"p": ids["product"]})).errors)
    for said in ("organization role (VIEWER)", "AI budget", "ask an admin for the MEMBER role"):
        assert said in messages, messages
    # Nothing was spent: the organization has no AI run at all.
    assert (await account(RUNS))["aiUsage"] == []


async def test_a_member_runs_them(gql: GraphQLClient, database_url: str, account: Account) -> None:
    ids = await _fixtures(account)
    member = await join_organization(gql, database_url, account, role="MEMBER")
    for name, (query, variables) in _spending_operations(ids).items():
        answer = await member.run(query, variables)
        assert answer.errors == [], (name, answer.body)


async def test_an_organization_that_lets_viewers_use_models_lets_them(
    app: Starlette,
    settings: Settings,
    gql: GraphQLClient,
    database_url: str,
    account: Account,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = await _fixtures(account)
    viewer = await join_organization(gql, database_url, account, role="VIEWER")
    runtime = app.state.runtime()
    monkeypatch.setattr(runtime, "settings", settings.model_copy(update={"ai_viewers_may_use_models": True}))
    assert (await viewer(PRIORITIES, {"p": ids["product"]}))["recommendPriorities"]["aiRuns"] == 1
    assert len((await viewer(STORIES, {"p": ids["product"]}))["generateStories"]["stories"]) == 1
    # Still a VIEWER for everything else: a PRD writes a document, which needs the write permission.
    assert (await viewer.run(PRD, _spending_operations(ids)["generatePrd"][1])).codes == ["FORBIDDEN"]


async def test_an_api_key_needs_the_ai_scope_to_spend_the_budget(gql: GraphQLClient, account: Account) -> None:
    ids = await _fixtures(account)
    read_only = await create_api_key(account, ("READ",))
    refused = await gql.run(PRIORITIES, {"p": ids["product"]}, token=read_only["secret"])
    assert refused.codes == ["FORBIDDEN"], refused.body
    assert "`ai` scope" in str(refused.body)
    assert (await gql(SEARCH, {"q": "sprint report"}, token=read_only["secret"]))["semanticSearch"]["offline"]

    with_ai = await create_api_key(account, ("AI",), name="Assistant")
    answer = await gql(PRIORITIES, {"p": ids["product"]}, token=with_ai["secret"])
    assert answer["recommendPriorities"]["aiRuns"] == 1
