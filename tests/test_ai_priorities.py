"""recommendPriorities through GraphQL: offline estimates, given inputs, ranking, permissions, tenants, budgets."""

import pytest
from starlette.applications import Starlette

from prism.config import Settings
from tests.helpers import Account, GraphQLClient, create_product, create_requirement, join_organization

RECOMMEND = """query($p: ID!, $f: PriorityFramework!, $first: Int) {
  recommendPriorities(productId: $p, framework: $f, first: $first) {
    framework offline aiRuns
    items { key rank score category rationale requirement { id title }
            inputs { name value category estimated } }
  }
}"""


async def test_rice_scores_the_open_backlog_offline_with_estimates_marked(account: Account) -> None:
    product = await create_product(account)
    export = await create_requirement(
        account, product["id"], "Export the sprint report as a PDF", description="Managers print it weekly."
    )
    await create_requirement(account, product["id"], "Reset a forgotten password by email", estimate=0.5)
    dropped = await create_requirement(account, product["id"], "Dropped idea")
    canceled = await account(
        """mutation($i: TransitionRequirementInput!) { transitionRequirement(input: $i) { userErrors { code } } }""",
        {"i": {"id": dropped["id"], "version": dropped["version"], "status": "CANCELED"}},
    )
    assert canceled["transitionRequirement"]["userErrors"] == []

    result = (await account(RECOMMEND, {"p": product["id"], "f": "RICE"}))["recommendPriorities"]
    assert (result["framework"], result["offline"], result["aiRuns"]) == ("RICE", True, 2)
    assert len(result["items"]) == 2  # the CANCELED item is not open backlog
    assert [item["rank"] for item in result["items"]] == [1, 2]
    assert result["items"][0]["score"] >= result["items"][1]["score"]
    by_title = {item["requirement"]["title"]: item for item in result["items"]}
    password = by_title["Reset a forgotten password by email"]
    inputs = {i["name"]: i for i in password["inputs"]}
    assert [i["name"] for i in password["inputs"]] == ["reach", "impact", "confidence", "effort"]
    assert (inputs["effort"]["value"], inputs["effort"]["estimated"]) == (0.5, False)
    assert all(inputs[name]["estimated"] for name in ("reach", "impact", "confidence"))
    expected = inputs["reach"]["value"] * inputs["impact"]["value"] * inputs["confidence"]["value"] / 0.5
    assert password["score"] == round(expected, 4)
    assert password["rationale"].startswith("RICE = ")
    assert "Estimated: reach, impact, confidence." in password["rationale"]
    export_item = by_title["Export the sprint report as a PDF"]
    assert all(i["estimated"] for i in export_item["inputs"])
    assert export_item["key"] == export["key"]

    again = (await account(RECOMMEND, {"p": product["id"], "f": "RICE"}))["recommendPriorities"]
    assert again["items"] == result["items"]  # offline estimates are deterministic


async def test_moscow_takes_the_priority_as_given_and_wsjf_the_estimate_as_job_size(account: Account) -> None:
    product = await create_product(account)
    await create_requirement(account, product["id"], "Single sign-on with SAML", priority="URGENT", estimate=8)
    await create_requirement(account, product["id"], "Dark mode for the board", priority="NONE")

    moscow = (await account(RECOMMEND, {"p": product["id"], "f": "MOSCOW"}))["recommendPriorities"]
    assert moscow["aiRuns"] == 1  # only the unprioritised item needs an estimate
    first = moscow["items"][0]
    assert (first["requirement"]["title"], first["category"], first["score"]) == ("Single sign-on with SAML", "MUST", 4)
    assert first["inputs"] == [{"name": "category", "value": None, "category": "MUST", "estimated": False}]
    assert moscow["items"][1]["inputs"][0]["estimated"] is True

    wsjf = (await account(RECOMMEND, {"p": product["id"], "f": "WSJF", "first": 1}))["recommendPriorities"]
    (only,) = wsjf["items"]
    inputs = {i["name"]: i for i in only["inputs"]}
    assert (inputs["job_size"]["value"], inputs["job_size"]["estimated"]) == (8, False)
    cost_of_delay = sum(inputs[n]["value"] for n in ("business_value", "time_criticality", "risk_reduction"))
    assert only["score"] == round(cost_of_delay / 8, 4)


async def test_a_zero_estimate_is_refused_with_a_clear_error(account: Account) -> None:
    product = await create_product(account)
    zero = await create_requirement(account, product["id"], "Rename a button", estimate=0)
    result = await account.run(RECOMMEND, {"p": product["id"], "f": "RICE"})
    assert result.codes == ["BAD_USER_INPUT"], result.body
    assert f"{zero['key']} cannot be scored by RICE: effort must be greater than 0" in str(result.body)


async def test_a_member_may_ask_a_viewer_may_not_and_another_organization_gets_not_found(
    gql: GraphQLClient, database_url: str, account: Account, other_account: Account
) -> None:
    product = await create_product(account)
    await create_requirement(account, product["id"], "Audit log export")
    member = await join_organization(gql, database_url, account, role="MEMBER")
    items = (await member(RECOMMEND, {"p": product["id"], "f": "WSJF"}))["recommendPriorities"]["items"]
    assert [item["requirement"]["title"] for item in items] == ["Audit log export"]
    viewer = await join_organization(gql, database_url, account, role="VIEWER", name="Reader")
    assert (await viewer.run(RECOMMEND, {"p": product["id"], "f": "WSJF"})).codes == ["FORBIDDEN"]
    foreign = await other_account.run(RECOMMEND, {"p": product["id"], "f": "RICE"})
    assert foreign.codes == ["NOT_FOUND"], foreign.body
    assert "Audit log export" not in str(foreign.body)


async def test_an_exhausted_budget_gives_the_coded_error(
    app: Starlette, settings: Settings, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    product = await create_product(account)
    await create_requirement(account, product["id"], "Webhooks for status changes")
    runtime = app.state.runtime()
    monkeypatch.setattr(runtime, "settings", settings.model_copy(update={"ai_monthly_token_budget": 0}))
    result = await account.run(RECOMMEND, {"p": product["id"], "f": "RICE"})
    assert result.codes == ["AI_BUDGET_EXHAUSTED"], result.body
    assert "budget" in str(result.body)
