"""The sprint burndown's rules (prism.domain.burndown), on hand-made histories, and through the API."""

import uuid
from datetime import UTC, date, datetime, timedelta

from prism.domain.burndown import burndown
from prism.domain.enums import RequirementEventKind as K
from prism.domain.sprint_report import Change
from tests.helpers import Account, create_product, create_requirement, create_sprint

SPRINT = uuid.uuid4()
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(day: int, hour: int = 12) -> datetime:
    return START.replace(hour=hour) + timedelta(days=day)


def planned(requirement: uuid.UUID, points: float) -> list[Change]:
    """A requirement created, estimated and planned into the sprint before it started."""
    before = START - timedelta(days=1)
    return [
        Change(requirement, K.CREATED, None, "TODO", before),
        Change(requirement, K.ESTIMATE, None, str(points), before),
        Change(requirement, K.SPRINT, None, str(SPRINT), before),
    ]


def test_the_burndown_follows_work_done_and_scope_added_day_by_day() -> None:
    a, b, c, d = (uuid.uuid4() for _ in range(4))
    changes = [*planned(a, 3), *planned(b, 5), *planned(c, 2)]
    changes += [Change(a, K.STATUS, "TODO", "DONE", at(1))]  # day 1: 3 points done
    changes += [  # day 2: 4 points added mid-sprint
        Change(d, K.CREATED, None, "TODO", at(2, 10)),
        Change(d, K.ESTIMATE, None, "4", at(2, 10)),
        Change(d, K.SPRINT, None, str(SPRINT), at(2, 11)),
    ]
    changes += [Change(b, K.STATUS, "TODO", "DONE", at(3, 10))]  # day 3: 5 more done
    changes.sort(key=lambda change: change.at)
    days = burndown(
        SPRINT,
        START,
        None,
        (START + timedelta(days=4)).date(),
        {a: 3, b: 5, c: 2},
        changes,
        now=at(3, 15),
    )
    assert [day.day for day in days] == [date(2026, 3, 2) + timedelta(days=i) for i in range(4)]  # not the future
    assert [day.scope for day in days] == [10, 10, 14, 14]
    assert [day.done for day in days] == [0, 3, 3, 8]
    assert [day.remaining for day in days] == [10, 7, 11, 6]
    assert [day.ideal for day in days] == [10, 7.5, 5, 2.5]


def test_a_closed_sprint_ends_its_burndown_at_the_close_with_its_reports_figures() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    closed = at(2, 16)
    changes = [*planned(a, 3), *planned(b, 5), Change(a, K.STATUS, "TODO", "DONE", at(1))]
    # The close moves the unfinished one out, at the close itself: it still counts as remaining on the last day.
    changes.append(Change(b, K.SPRINT, str(SPRINT), None, closed))
    days = burndown(SPRINT, START, closed, None, {a: 3, b: 5}, changes, now=at(9))
    assert [(day.day.day, day.scope, day.done, day.remaining) for day in days] == [
        (2, 8, 0, 8),
        (3, 8, 3, 5),
        (4, 8, 3, 5),
    ]
    assert days[-1].ideal == 0


async def test_the_sprint_exposes_its_burndown_from_its_start(account: Account) -> None:
    product = await create_product(account)
    sprint = await create_sprint(account, product["id"])
    await create_requirement(account, product["id"], sprintId=sprint["id"], estimate=3)
    await create_requirement(account, product["id"], sprintId=sprint["id"], estimate=2)
    query = """query($id: ID!) {
      node(id: $id) { ... on Sprint { burndown { date scopePoints donePoints remainingPoints idealPoints } } }
    }"""
    assert (await account(query, {"id": sprint["id"]}))["node"]["burndown"] is None  # not started
    started = await account(
        "mutation($i: StartSprintInput!) { startSprint(input: $i) { userErrors { code } } }",
        {"i": {"id": sprint["id"], "version": sprint["version"]}},
    )
    assert started["startSprint"]["userErrors"] == []
    [today] = (await account(query, {"id": sprint["id"]}))["node"]["burndown"]
    assert (today["scopePoints"], today["donePoints"], today["remainingPoints"], today["idealPoints"]) == (5, 0, 5, 5)
