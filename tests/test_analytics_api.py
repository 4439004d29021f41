"""Delivery analytics through the API: Product.velocity, Product.cycleTime and Product.throughput."""

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.helpers import Account, assert_not_found, create_product, create_requirement, create_sprint
from tests.test_sprints import CLOSE, finish, start

ANALYTICS = """query($id: ID!) {
  product(id: $id) {
    velocity(lastSprints: 3) {
      sprints { sprint { id name } committedPoints completedPoints }
      meanCompletedPoints completedPointsStandardDeviation
    }
    cycleTime(unit: HOURS) { finished unit cycleTime { count p50 p85 p95 } leadTime { count p50 } }
    stories: cycleTime(kind: STORY) { finished }
    later: cycleTime(since: "2999-01-01T00:00:00Z") { finished cycleTime { count p50 } }
    throughput(weeks: 2) { weekStart count }
  }
}"""


async def close(account: Account, sprint: dict[str, Any]) -> None:
    data = await account(CLOSE, {"input": {"id": sprint["id"], "version": sprint["version"]}})
    assert data["closeSprint"]["userErrors"] == [], data


async def test_a_product_reports_its_velocity_cycle_time_and_throughput(account: Account) -> None:
    product = await create_product(account)
    sprint = await create_sprint(account, product["id"])
    done = await create_requirement(account, product["id"], sprintId=sprint["id"], estimate=3)
    await create_requirement(account, product["id"], sprintId=sprint["id"], estimate=5)  # carried over
    canceled = await create_requirement(account, product["id"], sprintId=sprint["id"], estimate=2, kind="TASK")
    sprint = await start(account, sprint)
    await finish(account, done)
    await finish(account, canceled, "CANCELED")
    await close(account, sprint)

    found = (await account(ANALYTICS, {"id": product["id"]}))["product"]
    [closed] = found["velocity"]["sprints"]
    assert closed["sprint"]["id"] == sprint["id"]
    assert (closed["committedPoints"], closed["completedPoints"]) == (10, 3)
    assert found["velocity"]["meanCompletedPoints"] == 3
    assert found["velocity"]["completedPointsStandardDeviation"] == 0
    times = found["cycleTime"]
    assert (times["finished"], times["unit"], times["cycleTime"]["count"], times["leadTime"]["count"]) == (
        1,
        "HOURS",
        1,
        1,
    )
    assert 0 <= times["cycleTime"]["p50"] == times["cycleTime"]["p95"] < 1
    assert found["stories"]["finished"] == 1  # the finished requirement is a story; the canceled task is left out
    assert found["later"] == {"finished": 0, "cycleTime": {"count": 0, "p50": None}}
    this_week = datetime.now(UTC).date() - timedelta(days=datetime.now(UTC).weekday())
    assert found["throughput"] == [
        {"weekStart": (this_week - timedelta(weeks=1)).isoformat(), "count": 0},
        {"weekStart": this_week.isoformat(), "count": 1},
    ]


async def test_a_product_without_closed_sprints_has_no_velocity_figures(account: Account) -> None:
    product = await create_product(account)
    found = await account(
        "query($id: ID!) { product(id: $id) { velocity { sprints { completedPoints } meanCompletedPoints } } }",
        {"id": product["id"]},
    )
    assert found["product"]["velocity"] == {"sprints": [], "meanCompletedPoints": None}


async def test_out_of_range_arguments_are_refused_with_a_code(account: Account) -> None:
    product = await create_product(account)
    for field in (
        "velocity(lastSprints: 0) { meanCompletedPoints }",
        "velocity(lastSprints: 51) { meanCompletedPoints }",
        "throughput(weeks: 0) { count }",
        "throughput(weeks: 105) { count }",
        'cycleTime(since: "2026-03-01T00:00:00") { finished }',
    ):
        result = await account.run(f"query($id: ID!) {{ product(id: $id) {{ {field} }} }}", {"id": product["id"]})
        assert result.codes == ["BAD_USER_INPUT"], result.body


async def test_another_organizations_product_analytics_are_not_found(account: Account, other_account: Account) -> None:
    foreign = await create_product(other_account, key="OTHER")
    await assert_not_found(
        account,
        "query($id: ID!) { product(id: $id) { velocity { meanCompletedPoints } throughput { count } "
        "cycleTime { finished } } }",
        {"id": foreign["id"]},
        "product",
    )


async def test_a_requirement_reopened_after_done_counts_once_and_only_while_done(account: Account) -> None:
    product = await create_product(account)
    story = await create_requirement(account, product["id"])
    query = "query($id: ID!) { product(id: $id) { cycleTime { finished } throughput(weeks: 1) { count } } }"
    transition = """mutation($input: TransitionRequirementInput!) {
      transitionRequirement(input: $input) { requirement { version } userErrors { code } }
    }"""
    version = story["version"]
    for step, finished in (("IN_PROGRESS", 0), ("DONE", 1), ("IN_PROGRESS", 0), ("DONE", 1)):
        data = await account(transition, {"input": {"id": story["id"], "version": version, "status": step}})
        assert data["transitionRequirement"]["userErrors"] == [], data
        version = data["transitionRequirement"]["requirement"]["version"]
        found = (await account(query, {"id": product["id"]}))["product"]
        assert (found["cycleTime"]["finished"], found["throughput"][0]["count"]) == (finished, finished), step
