"""Delivery analytics through the API on one constructed history, against figures computed by hand.

The history is played out by the data builder (prism.seed.DataBuilder: the services' invariants, a clock given with
every change) and written in bulk; every figure below is worked out in the comments from the story told here.

Two sprints of one product. Sprint 1 runs from Monday 2 March 2026 09:00 to its close on Thursday 12 March 17:00
(last day 12 March: ten days, so its ideal line falls by 2 points a day); it commits A 3, B 5, D 3, E 5, F 2 and G 2
(20 points). While it runs: A is done on the 4th; B's estimate goes from 5 to 8 on the 5th and B is done on the 7th;
F is done on the 5th and reopened on the 11th; C (a bug, 2 points) is created and added on the 6th and done on the
9th; G is taken out to the backlog on the 9th; D is canceled on the 10th; E is started on the 4th and never finished.
The close moves E and F to Sprint 2, which also gets H (4 points) and starts on Monday 16 March with E, F and H
(11 points). F is done on the 18th, E on the 19th; H is started on the 17th, re-estimated to 6 on the 20th, and
moved to the backlog when Sprint 2 closes on Thursday 26 March 17:00. Release 1.0 holds A (done), D (canceled) and
H (open).
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette

from loaders.analytics import VelocityByProductLoader, VelocityKey
from prism.db.tables import Requirement
from prism.db.unit_of_work import UnitOfWork
from prism.domain.enums import RequirementEventKind, RequirementKind, RequirementStatus
from prism.seed import DataBuilder, write_rows
from tests.helpers import Account, assert_not_found, create_product, create_requirement, global_id, uuid_of

K = RequirementEventKind
S = RequirementStatus


def at(day: int, hour: int, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


@dataclass
class History:
    product: str
    sprints: list[str]
    release: str
    requirements: dict[str, str]


async def build_history(app: Starlette, account: Account) -> History:
    b = DataBuilder(organization_id=uuid_of(account.organization_id))  # the account's people exist already
    me = uuid_of(account.user_id)
    product = b.product("FLOW", "Flow", "", at(20, 9, month=2))
    first = b.sprint(product, "Sprint 1", starts_on=date(2026, 3, 2), ends_on=date(2026, 3, 12), at=at(20, 9, 2))
    second = b.sprint(product, "Sprint 2", starts_on=date(2026, 3, 16), ends_on=date(2026, 3, 26), at=at(20, 9, 2))
    release = b.release(product, "1.0", "", date(2026, 4, 13), at(20, 9, 2))

    def story(
        name: str, points: float, kind: RequirementKind = RequirementKind.STORY, when: datetime | None = None
    ) -> Requirement:
        return b.requirement(product, kind, name, at=when or at(23, 9, 2), reporter_id=me, estimate=points)

    a, bee, d, e, f, g, h = (
        story(n, p) for n, p in (("A", 3), ("B", 5), ("D", 3), ("E", 5), ("F", 2), ("G", 2), ("H", 4))
    )
    for item in (a, bee, d, e, f, g):
        b.change(item, K.SPRINT, first.id, at(27, 10, 2), me)
        b.transition(item, S.TODO, at(27, 10, 2), me)
    for item in (a, d, h):
        b.change(item, K.RELEASE, release.id, at(27, 11, 2), me)
    b.start(first, at(2, 9))
    b.transition(f, S.IN_PROGRESS, at(3, 10), me)
    b.transition(a, S.IN_PROGRESS, at(3, 10), me)
    b.transition(a, S.DONE, at(4, 15), me)
    b.transition(e, S.IN_PROGRESS, at(4, 10), me)
    b.change(bee, K.ESTIMATE, 8, at(5, 10), me)  # estimate changed mid-sprint
    b.transition(bee, S.IN_PROGRESS, at(5, 11), me)
    b.transition(f, S.DONE, at(5, 12), me)
    c = story("C", 2, RequirementKind.BUG, at(6, 10))  # scope added mid-sprint
    b.change(c, K.SPRINT, first.id, at(6, 11), me)
    b.transition(c, S.IN_PROGRESS, at(6, 12), me)
    b.transition(bee, S.DONE, at(7, 12), me)
    b.transition(c, S.DONE, at(9, 10), me)
    b.change(g, K.SPRINT, None, at(9, 12), me)  # scope removed mid-sprint
    b.transition(d, S.CANCELED, at(10, 10), me)
    b.transition(f, S.IN_PROGRESS, at(11, 10), me)  # reopened after DONE
    b.close(first, at(12, 17), move_to=second, actor_id=me)  # carries E and F over
    b.change(h, K.SPRINT, second.id, at(13, 10), me)
    b.start(second, at(16, 9))
    b.transition(h, S.IN_PROGRESS, at(17, 10), me)
    b.transition(f, S.DONE, at(18, 10), me)
    b.transition(e, S.DONE, at(19, 10), me)
    b.change(h, K.ESTIMATE, 6, at(20, 10), me)
    b.close(second, at(26, 17), move_to=None, actor_id=me)  # H back to the backlog
    await write_rows(app.state.runtime().engine, b)
    rows: list[Requirement] = [a, bee, c, d, e, f, g, h]
    return History(
        product=global_id("Product", product.id),
        sprints=[global_id("Sprint", first.id), global_id("Sprint", second.id)],
        release=global_id("Release", release.id),
        requirements={row.title: global_id("Requirement", row.id) for row in rows},
    )


@pytest.fixture
async def history(app: Starlette, account: Account) -> History:
    return await build_history(app, account)


SPRINT_CHARTS = """query($id: ID!) {
  node(id: $id) {
    ... on Sprint {
      burndown { date scopePoints donePoints remainingPoints idealPoints scopeAddedPoints scopeRemovedPoints }
      burnup { date scopePoints donePoints idealPoints committedPoints scopeAddedPoints scopeRemovedPoints }
      report { committed { points } added { count points } removed { count points } completed { points }
               canceled { points } carriedOver { count points } }
    }
  }
}"""


async def test_burndown_and_burnup_show_scope_added_and_removed_mid_sprint(account: Account, history: History) -> None:
    sprint = (await account(SPRINT_CHARTS, {"id": history.sprints[0]}))["node"]
    days = [date(2026, 3, 2) + timedelta(days=n) for n in range(11)]
    # End of each day:            2   3   4   5   6   7   8   9  10  11  12
    scope = [20, 20, 20, 23, 25, 25, 25, 23, 23, 23, 23]  # B 5->8 on the 5th, C +2 on the 6th, G -2 on the 9th
    done = [0, 0, 3, 5, 5, 13, 13, 15, 15, 13, 13]  # A, F, B, C done; F reopened on the 11th
    remaining = [20, 20, 17, 18, 20, 12, 12, 8, 5, 7, 7]  # D canceled on the 10th leaves scope, not remaining
    added = [0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2]
    removed = [0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2]
    down = sprint["burndown"]
    assert [d["date"] for d in down] == [d.isoformat() for d in days]
    assert [d["scopePoints"] for d in down] == scope
    assert [d["donePoints"] for d in down] == done
    assert [d["remainingPoints"] for d in down] == remaining
    assert [d["idealPoints"] for d in down] == [20 - 2 * n for n in range(11)]
    assert [d["scopeAddedPoints"] for d in down] == added
    assert [d["scopeRemovedPoints"] for d in down] == removed
    up = sprint["burnup"]
    assert [d["date"] for d in up] == [d.isoformat() for d in days]
    assert [d["scopePoints"] for d in up] == scope
    assert [d["donePoints"] for d in up] == done
    assert [d["idealPoints"] for d in up] == [2 * n for n in range(11)]
    assert {d["committedPoints"] for d in up} == {20}
    assert [d["scopeAddedPoints"] for d in up] == added
    assert [d["scopeRemovedPoints"] for d in up] == removed
    # The last day agrees with the report: completed A 3 + B at its new 8 + C 2, canceled D, carried over E and F.
    assert sprint["report"] == {
        "committed": {"points": 20},
        "added": {"count": 1, "points": 2},
        "removed": {"count": 1, "points": 2},
        "completed": {"points": 13},
        "canceled": {"points": 3},
        "carriedOver": {"count": 2, "points": 7},
    }


PRODUCT_ANALYTICS = """query($id: ID!) {
  product(id: $id) {
    velocity(lastSprints: 6) { sprints { sprint { name } committedPoints completedPoints }
                               meanCompletedPoints completedPointsStandardDeviation }
    carryOver(lastSprints: 6) {
      sprints { sprint { name } carriedOver { count points } movedTo { name }
                movedToNextSprint { count points } movedToBacklog { count points } carriedIn { count points } }
      carriedOver { count points }
    }
    cycleTime(unit: HOURS) { finished cycleTime { count p50 p85 p95 } leadTime { count p50 p85 p95 } }
    stories: cycleTime(kind: STORY) { finished cycleTime { p50 p85 } }
    bugs: cycleTime(kind: BUG) { finished cycleTime { p50 } leadTime { p50 } }
  }
}"""


async def test_velocity_carry_over_and_flow_times_count_as_jira_users_expect(
    account: Account, history: History
) -> None:
    found = (await account(PRODUCT_ANALYTICS, {"id": history.product}))["product"]
    # Sprint 1: committed 20, completed 13 (see the report). Sprint 2: committed E 5 + F 2 + H 4 = 11, completed E and
    # F (7): the reopened F counts once, in the sprint whose close finds it DONE. Mean 10, population deviation 3.
    assert found["velocity"] == {
        "sprints": [
            {"sprint": {"name": "Sprint 1"}, "committedPoints": 20, "completedPoints": 13},
            {"sprint": {"name": "Sprint 2"}, "committedPoints": 11, "completedPoints": 7},
        ],
        "meanCompletedPoints": 10,
        "completedPointsStandardDeviation": 3,
    }
    # Sprint 1 carries E 5 and F 2 into Sprint 2; Sprint 2 received those two (at their estimates when it started)
    # and sends H to the backlog at its estimate at the close, 6.
    assert found["carryOver"] == {
        "sprints": [
            {
                "sprint": {"name": "Sprint 1"},
                "carriedOver": {"count": 2, "points": 7},
                "movedTo": {"name": "Sprint 2"},
                "movedToNextSprint": {"count": 2, "points": 7},
                "movedToBacklog": {"count": 0, "points": 0},
                "carriedIn": {"count": 0, "points": 0},
            },
            {
                "sprint": {"name": "Sprint 2"},
                "carriedOver": {"count": 1, "points": 6},
                "movedTo": None,
                "movedToNextSprint": {"count": 0, "points": 0},
                "movedToBacklog": {"count": 1, "points": 6},
                "carriedIn": {"count": 2, "points": 7},
            },
        ],
        "carriedOver": {"count": 3, "points": 13},
    }
    # Finished (last status DONE): A, B, C, E, F. Cycle time from the first IN_PROGRESS to the last DONE, in hours:
    # A 29 (3rd 10:00 to 4th 15:00), B 49, C 70, E 360 and F 360 (from the 3rd, before its reopening, to the 18th).
    # Nearest rank of 5: p50 the 3rd (70), p85 and p95 the 5th (360).
    # Lead time from creation (23 Feb 09:00; C 6 Mar 10:00): A 222, B 291, C 72, E 577, F 553.
    assert found["cycleTime"] == {
        "finished": 5,
        "cycleTime": {"count": 5, "p50": 70, "p85": 360, "p95": 360},
        "leadTime": {"count": 5, "p50": 291, "p85": 577, "p95": 577},
    }
    # Stories A, B, E, F: 29, 49, 360, 360 -> p50 the 2nd (49), p85 the 4th. The bug C alone.
    assert found["stories"] == {"finished": 4, "cycleTime": {"p50": 49, "p85": 360}}
    assert found["bugs"] == {"finished": 1, "cycleTime": {"p50": 70}, "leadTime": {"p50": 72}}


CUMULATIVE_FLOW = """query($id: ID!, $since: Date, $until: Date, $interval: FlowInterval!) {
  product(id: $id) {
    cumulativeFlow(since: $since, until: $until, interval: $interval) { date total counts { status count } }
  }
}"""


def flow_counts(found: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    return {day["date"]: tuple(c["count"] for c in day["counts"]) for day in found["product"]["cumulativeFlow"]}


async def test_cumulative_flow_counts_each_status_at_the_end_of_each_point(account: Account, history: History) -> None:
    variables = {"id": history.product, "since": "2026-02-23", "until": "2026-03-30", "interval": "WEEK"}
    found = await account(CUMULATIVE_FLOW, variables)
    statuses = [c["status"] for c in found["product"]["cumulativeFlow"][0]["counts"]]
    assert statuses == ["BACKLOG", "TODO", "IN_PROGRESS", "IN_REVIEW", "DONE", "CANCELED"]
    # BACKLOG, TODO, IN_PROGRESS, IN_REVIEW, DONE, CANCELED at the end of each Monday:
    assert flow_counts(found) == {
        "2026-02-23": (7, 0, 0, 0, 0, 0),  # all seven created that morning (C comes on 6 March)
        "2026-03-02": (1, 6, 0, 0, 0, 0),  # six planned on the 27th; A and F start on the 3rd
        "2026-03-09": (1, 2, 1, 0, 4, 0),  # A, B, C, F done; E started; D and G still to do
        "2026-03-16": (1, 1, 2, 0, 3, 1),  # F reopened; D canceled
        "2026-03-23": (0, 1, 1, 0, 5, 1),  # H started; F and E done
        "2026-03-30": (0, 1, 1, 0, 5, 1),  # closing Sprint 2 moved H out of it, not out of IN_PROGRESS
    }
    assert {day["total"] for day in found["product"]["cumulativeFlow"][2:]} == {8}
    daily = await account(
        CUMULATIVE_FLOW, {**variables, "since": "2026-03-04", "until": "2026-03-06", "interval": "DAY"}
    )
    assert flow_counts(daily) == {
        "2026-03-04": (1, 3, 2, 0, 1, 0),  # A done; E and F in progress
        "2026-03-05": (1, 2, 2, 0, 2, 0),  # B started, F done
        "2026-03-06": (1, 2, 3, 0, 2, 0),  # C created and started the same day
    }


FORECASTS = """query($release: ID!, $product: ID!, $ids: [ID!]!, $options: ForecastOptions) {
  release: node(id: $release) { ... on Release { forecast(options: $options) { ...figures } } }
  product: node(id: $product) { ... on Product { forecast(requirementIds: $ids, options: $options) { ...figures } } }
}
fragment figures on Forecast {
  remaining trials seed startDate weeklyThroughput completionDate50 completionDate85 completionDate95
  targetDate probabilityOnTarget
}"""


async def test_a_release_forecast_samples_the_weekly_throughput_reproducibly(
    account: Account, history: History
) -> None:
    options = {"startDate": "2026-03-30", "historyWeeks": 4, "seed": 7}
    variables = {
        "release": history.release,
        "product": history.product,
        "ids": [history.requirements["H"], history.requirements["E"]],
        "options": options,
    }
    found = await account(FORECASTS, variables)
    release = found["release"]["forecast"]
    # Full weeks before 30 March: A and B finished in the week of 2 March (F's DONE on the 5th was not its last), C in
    # the week of 9 March, F and E in the week of 16 March, none in the week of 23 March.
    assert release["weeklyThroughput"] == [2, 1, 2, 0]
    # Left in the release: H (A is done, D canceled). A week finishes it unless it draws 0 (1 in 4): P(1 week) = 3/4,
    # P(2 weeks or fewer) = 15/16, P(3 or fewer) = 63/64. So 50% by 6 April, 85% by 13 April, 95% by 20 April.
    assert (release["remaining"], release["trials"], release["seed"], release["startDate"]) == (
        1,
        10000,
        7,
        "2026-03-30",
    )
    assert (release["completionDate50"], release["completionDate85"], release["completionDate95"]) == (
        "2026-04-06",
        "2026-04-13",
        "2026-04-20",
    )
    # The release's own target, 13 April, two weeks on: 15/16 = 0.9375 of the trials make it.
    assert release["targetDate"] == "2026-04-13"
    assert abs(release["probabilityOnTarget"] - 0.9375) < 0.01
    # The same set as ids (H open, E done), the same seed: the same draws, so the same dates (no target here).
    by_ids = found["product"]["forecast"]
    assert by_ids == {**release, "targetDate": None, "probabilityOnTarget": None}
    again = await account(FORECASTS, variables)
    assert again == found
    other = await account(FORECASTS, {**variables, "options": {**options, "targetDate": "2026-04-06"}})
    assert abs(other["product"]["forecast"]["probabilityOnTarget"] - 0.75) < 0.02


async def test_a_forecast_without_history_is_refused_with_insufficient_history(
    account: Account, history: History
) -> None:
    query = """query($id: ID!, $ids: [ID!]!, $options: ForecastOptions) {
      product(id: $id) { forecast(requirementIds: $ids, options: $options) { remaining } }
    }"""
    variables = {"id": history.product, "ids": [history.requirements["H"]]}
    result = await account.run(query, {**variables, "options": {"startDate": "2026-03-02", "historyWeeks": 1}})
    assert result.codes == ["INSUFFICIENT_HISTORY"], result.body
    for options in ({"trials": 99}, {"trials": 100_001}, {"historyWeeks": 0}, {"historyWeeks": 105}, {"seed": -1}):
        result = await account.run(query, {**variables, "options": options})
        assert result.codes == ["BAD_USER_INPUT"], (options, result.body)
    result = await account.run(query, {**variables, "ids": []})
    assert result.codes == ["BAD_USER_INPUT"], result.body


async def test_cumulative_flow_arguments_out_of_range_are_refused(account: Account, history: History) -> None:
    for since, until in (("2026-03-10", "2026-03-09"), ("2025-08-21", "2026-03-09")):
        variables = {"id": history.product, "since": since, "until": until, "interval": "DAY"}
        result = await account.run(CUMULATIVE_FLOW, variables)
        assert result.codes == ["BAD_USER_INPUT"], result.body


async def test_another_organizations_analytics_and_requirements_are_not_found(
    account: Account, other_account: Account, history: History
) -> None:
    await assert_not_found(
        other_account,
        "query($id: ID!) { product(id: $id) { carryOver { carriedOver { count } } cumulativeFlow { total } } }",
        {"id": history.product},
        "product",
    )
    await assert_not_found(
        other_account,
        "query($id: ID!) { release(id: $id) { forecast { remaining } } }",
        {"id": history.release},
        "release",
    )
    # Their own product cannot forecast our requirements: an id of another organization is NOT_FOUND.
    theirs = await create_product(other_account, key="THEIRS")
    await create_requirement(other_account, theirs["id"])
    result = await other_account.run(
        "query($id: ID!, $ids: [ID!]!) { product(id: $id) { forecast(requirementIds: $ids) { remaining } } }",
        {"id": theirs["id"], "ids": [history.requirements["H"]]},
    )
    assert result.codes == ["NOT_FOUND"], result.body


async def test_the_velocity_loader_other_readers_use_agrees_with_product_velocity(
    app: Starlette, account: Account, history: History
) -> None:
    organization_id = uuid_of(account.organization_id)
    async with UnitOfWork(app.state.runtime().engine, organization_id) as reader:
        found = await VelocityByProductLoader(reader, organization_id).load(VelocityKey(uuid_of(history.product), 6))
    assert [(s.committed, s.completed) for s in found.sprints] == [(20, 13), (11, 7)]
    assert (found.mean_completed, found.standard_deviation) == (10, 3)


async def test_the_figures_stored_at_each_close_are_what_replaying_the_history_gives(
    app: Starlette, account: Account, history: History
) -> None:
    from tests.test_sprint_figures import replayed, stored_figures

    organization_id = uuid_of(account.organization_id)
    found = await stored_figures(app, organization_id)
    first, second = (uuid_of(sprint) for sprint in history.sprints)
    assert set(found) == {first, second}
    for sprint in (first, second):
        assert found[sprint] == await replayed(app, organization_id, sprint)
    # The figures worked out above: Sprint 1 committed 20, added C 2, removed G 2, completed A, B and C (13),
    # canceled D 3, carried E 5 and F 2 into Sprint 2; Sprint 2 committed 11, carried in 7, sent H 6 to the backlog.
    one, two = found[first], found[second]
    assert (one.committed.points, one.added.points, one.removed.points, one.completed.points) == (20, 2, 2, 13)
    assert (one.canceled.points, one.carried_over.points, one.moved_to_sprint_id) == (3, 7, second)
    assert (two.committed.points, two.completed.points, two.carried_in.points) == (11, 7, 7)
    assert (two.moved_to_backlog.count, two.moved_to_backlog.points, two.moved_to_sprint_id) == (1, 6, None)
