"""planSprint and acceptSprintPlan through the API: a proposal from the ranked backlog, accepted all or nothing."""

from typing import Any

import pytest
from starlette.applications import Starlette

from prism.config import Settings
from tests.helpers import Account, GraphQLClient, create_product, create_requirement, create_sprint, join_organization
from tests.test_sprints import CLOSE, REQUIREMENT, finish, start

PLAN = """query($s: ID!, $c: Float) {
  planSprint(sprintId: $s, capacity: $c) {
    capacity capacitySource alreadyPlannedPoints plannedPoints offline aiRuns
    items { key version position points rationale risks { kind message } requirement { id title } }
    leftOut { key reason }
    sources { kind label score }
  }
}"""
ACCEPT = """mutation($i: AcceptSprintPlanInput!) {
  acceptSprintPlan(input: $i) {
    sprint { id } requirements { id key sprint { id } } userErrors { field message code }
  }
}"""
UPDATE_REQUIREMENT = """mutation($i: UpdateRequirementInput!) {
  updateRequirement(input: $i) { requirement { version } userErrors { code } }
}"""


async def plan(account: Account, sprint_id: str, capacity: float | None = None) -> dict[str, Any]:
    return (await account(PLAN, {"s": sprint_id, "c": capacity}))["planSprint"]  # type: ignore[no-any-return]


async def test_a_plan_takes_the_ranked_backlog_within_capacity_children_first_and_flags_risks(
    account: Account,
) -> None:
    product = await create_product(account)
    sprint = await create_sprint(account, product["id"], goal="Let managers print the sprint report.")
    epic = await create_requirement(account, product["id"], "Reporting", kind="EPIC", estimate=40)
    report = await create_requirement(
        account, product["id"], "Export the sprint report as PDF", estimate=5, parentId=epic["id"]
    )
    await create_requirement(account, product["id"], "Rewrite the billing engine", estimate=13)
    unknown = await create_requirement(account, product["id"], "Email the report weekly")
    story = await create_requirement(account, product["id"], "Print the burndown", estimate=2)
    task = await create_requirement(
        account, product["id"], "Render the chart", kind="TASK", parentId=story["id"], estimate=1
    )
    done = await create_requirement(account, product["id"], "Old work", estimate=1)
    await finish(account, done)

    proposal = await plan(account, sprint["id"], 10)
    assert proposal["capacity"] == 10
    assert proposal["capacitySource"] == "GIVEN"
    assert [item["key"] for item in proposal["items"]] == [report["key"], unknown["key"], task["key"], story["key"]]
    assert [item["position"] for item in proposal["items"]] == [1, 2, 3, 4]
    assert proposal["plannedPoints"] == 8
    assert {item["key"]: [r["kind"] for r in item["risks"]] for item in proposal["items"]} == {
        report["key"]: [],
        unknown["key"]: ["UNESTIMATED"],
        task["key"]: [],
        story["key"]: [],
    }
    left_out = {out["key"]: out["reason"] for out in proposal["leftOut"]}
    assert left_out[epic["key"]] == "CONTAINER"
    assert left_out.get(done["key"]) is None  # finished work is not considered
    assert "OVER_CAPACITY" in left_out.values()  # the 13-point rewrite
    rationale = proposal["items"][0]["rationale"]
    assert rationale.startswith("Place 1 of 4 in the plan; 5 points; 5 of 10 points planned with it.")
    assert "[offline]" in rationale
    assert proposal["offline"] is True
    assert proposal["aiRuns"] == 4
    assert [s["label"] for s in proposal["sources"] if s["kind"] == "REQUIREMENT"] == [
        item["key"] for item in proposal["items"]
    ]
    assert await plan(account, sprint["id"], 10) == proposal  # deterministic, offline

    big = await plan(account, sprint["id"], 20)
    risks = {item["key"]: [r["kind"] for r in item["risks"]] for item in big["items"]}
    assert risks[next(i for i in big["items"] if i["points"] == 13)["key"]] == ["OVER_HALF_CAPACITY"]


async def test_capacity_defaults_to_velocity_then_the_sprints_own_else_it_is_required(account: Account) -> None:
    product = await create_product(account)
    first = await create_sprint(account, product["id"], "Sprint 1")
    refused = await account.run(PLAN, {"s": first["id"]})
    assert refused.codes == ["BAD_USER_INPUT"], refused.body
    assert refused.errors[0]["extensions"]["field"] == "capacity"
    assert (await account.run(PLAN, {"s": first["id"], "c": 0})).codes == ["OUT_OF_RANGE"]

    own = await create_sprint(account, product["id"], "Sprint 0", capacity=12)
    assert (await plan(account, own["id"]))["capacitySource"] == "SPRINT"

    work = await create_requirement(account, product["id"], "Velocity work", estimate=7, sprintId=first["id"])
    started = await start(account, first)
    await finish(account, work)
    closed = await account(CLOSE, {"input": {"id": first["id"], "version": started["version"]}})
    assert closed["closeSprint"]["userErrors"] == []
    second = await create_sprint(account, product["id"], "Sprint 2", capacity=30)
    by_velocity = await plan(account, second["id"])
    assert (by_velocity["capacity"], by_velocity["capacitySource"]) == (7, "VELOCITY")
    assert [s["kind"] for s in by_velocity["sources"]] == ["SPRINT"]
    closed_plan = await account.run(PLAN, {"s": first["id"], "c": 5})
    assert closed_plan.codes == ["INVALID_STATE"]


async def test_accepting_a_plan_assigns_every_item_or_none_when_one_changed(account: Account) -> None:
    product = await create_product(account)
    sprint = await create_sprint(account, product["id"])
    one = await create_requirement(account, product["id"], "First", estimate=1)
    two = await create_requirement(account, product["id"], "Second", estimate=2)
    proposal = await plan(account, sprint["id"], 5)
    items = [{"requirementId": i["requirement"]["id"], "version": i["version"]} for i in proposal["items"]]
    assert [i["requirementId"] for i in items] == [one["id"], two["id"]]

    changed = await account(UPDATE_REQUIREMENT, {"i": {"id": two["id"], "version": two["version"], "estimate": 8}})
    assert changed["updateRequirement"]["userErrors"] == []
    stale = (await account(ACCEPT, {"i": {"sprintId": sprint["id"], "items": items}}))["acceptSprintPlan"]
    assert stale["sprint"] is None
    assert [e["code"] for e in stale["userErrors"]] == ["CONFLICT"]
    assert stale["userErrors"][0]["field"] == ["input", "items.1.version"]
    first = (await account(REQUIREMENT, {"id": one["id"]}))["requirement"]
    assert first["sprint"] is None  # the first item was not assigned either
    assert first["version"] == one["version"]

    fresh = await plan(account, sprint["id"], 20)
    items = [{"requirementId": i["requirement"]["id"], "version": i["version"]} for i in fresh["items"]]
    accepted = (await account(ACCEPT, {"i": {"sprintId": sprint["id"], "items": items}}))["acceptSprintPlan"]
    assert accepted["userErrors"] == []
    assert [r["key"] for r in accepted["requirements"]] == [one["key"], two["key"]]
    assert {r["sprint"]["id"] for r in accepted["requirements"]} == {sprint["id"]}
    history = (await account(REQUIREMENT, {"id": one["id"]}))["requirement"]["history"]["nodes"]
    assert [(h["kind"], (h["toSprint"] or {}).get("id")) for h in history if h["kind"] == "SPRINT"] == [
        ("SPRINT", sprint["id"])
    ]
    again = await plan(account, sprint["id"], 20)
    assert (again["alreadyPlannedPoints"], again["items"]) == (9, [])


async def test_an_item_of_another_product_or_finished_is_refused_and_nothing_is_assigned(account: Account) -> None:
    product = await create_product(account)
    sprint = await create_sprint(account, product["id"])
    mine = await create_requirement(account, product["id"], "Mine", estimate=1)
    elsewhere = await create_requirement(account, (await create_product(account))["id"], "Elsewhere", estimate=1)
    done = await create_requirement(account, product["id"], "Done already", estimate=1)
    await finish(account, done)
    done_version = (await account(REQUIREMENT, {"id": done["id"]}))["requirement"]["version"]
    for other, version, code in (
        (elsewhere, elsewhere["version"], "BAD_USER_INPUT"),
        (done, done_version, "INVALID_STATE"),
    ):
        items = [
            {"requirementId": mine["id"], "version": mine["version"]},
            {"requirementId": other["id"], "version": version},
        ]
        refused = (await account(ACCEPT, {"i": {"sprintId": sprint["id"], "items": items}}))["acceptSprintPlan"]
        assert [e["code"] for e in refused["userErrors"]] == [code], refused
        assert refused["userErrors"][0]["field"][1].startswith("items.1.")
    assert (await account(REQUIREMENT, {"id": mine["id"]}))["requirement"]["sprint"] is None
    twice = [{"requirementId": mine["id"], "version": mine["version"]}] * 2
    assert [
        e["code"]
        for e in (await account(ACCEPT, {"i": {"sprintId": sprint["id"], "items": twice}}))["acceptSprintPlan"][
            "userErrors"
        ]
    ] == ["BAD_USER_INPUT"]


async def test_another_organization_gets_not_found_and_a_viewer_may_plan_but_not_accept(
    gql: GraphQLClient, database_url: str, account: Account, other_account: Account
) -> None:
    product = await create_product(account)
    sprint = await create_sprint(account, product["id"])
    secret = await create_requirement(account, product["id"], "Acquire Globex quietly", estimate=3)
    foreign = await other_account.run(PLAN, {"s": sprint["id"], "c": 10})
    assert foreign.codes == ["NOT_FOUND"]
    assert "Globex" not in str(foreign.body)
    other_product = await create_product(other_account)
    other_sprint = await create_sprint(other_account, other_product["id"])
    stolen = await other_account(
        ACCEPT, {"i": {"sprintId": other_sprint["id"], "items": [{"requirementId": secret["id"], "version": 1}]}}
    )
    assert [e["code"] for e in stolen["acceptSprintPlan"]["userErrors"]] == ["NOT_FOUND"]
    mine = await other_account(ACCEPT, {"i": {"sprintId": sprint["id"], "items": []}})
    assert [e["code"] for e in mine["acceptSprintPlan"]["userErrors"]] in (["NOT_FOUND"], ["BAD_USER_INPUT"])

    viewer = await join_organization(gql, database_url, account, role="VIEWER")
    # A VIEWER may not spend the AI budget on a plan (test_ai_permissions), nor accept one.
    assert (await viewer.run(PLAN, {"s": sprint["id"], "c": 10})).codes == ["FORBIDDEN"]
    assert [i["key"] for i in (await plan(account, sprint["id"], 10))["items"]] == [secret["key"]]
    refused = await viewer.run(
        ACCEPT, {"i": {"sprintId": sprint["id"], "items": [{"requirementId": secret["id"], "version": 1}]}}
    )
    assert refused.codes == ["FORBIDDEN"]


async def test_an_exhausted_budget_gives_the_coded_error(
    app: Starlette, settings: Settings, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    product = await create_product(account)
    sprint = await create_sprint(account, product["id"])
    await create_requirement(account, product["id"], "Webhooks for status changes", estimate=2)
    runtime = app.state.runtime()
    monkeypatch.setattr(runtime, "settings", settings.model_copy(update={"ai_monthly_token_budget": 0}))
    result = await account.run(PLAN, {"s": sprint["id"], "c": 5})
    assert result.codes == ["AI_BUDGET_EXHAUSTED"], result.body
