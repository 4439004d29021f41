"""Sprints: planning, editing, starting and closing the time-boxes of a product."""

from typing import Any

from tests.helpers import Account, assert_not_found, create_product, create_requirement, create_sprint

SPRINT_FIELDS = "id name goal startsOn endsOn capacity state startedAt closedAt version product { id }"

CREATE = f"""
mutation($input: CreateSprintInput!) {{
  createSprint(input: $input) {{ sprint {{ {SPRINT_FIELDS} }} userErrors {{ field message code }} }}
}}"""
UPDATE = f"""
mutation($input: UpdateSprintInput!) {{
  updateSprint(input: $input) {{ sprint {{ {SPRINT_FIELDS} }} userErrors {{ field message code }} }}
}}"""
START = f"""
mutation($input: StartSprintInput!) {{
  startSprint(input: $input) {{ sprint {{ {SPRINT_FIELDS} }} userErrors {{ field message code }} }}
}}"""
CLOSE = f"""
mutation($input: CloseSprintInput!) {{
  closeSprint(input: $input) {{ sprint {{ {SPRINT_FIELDS} }} movedCount userErrors {{ field message code }} }}
}}"""
SPRINT = f"query($id: ID!) {{ sprint(id: $id) {{ {SPRINT_FIELDS} }} }}"
SPRINT_COUNT = "query($id: ID!) { product(id: $id) { sprints { totalCount } } }"
REQUIREMENT = """
query($id: ID!) {
  requirement(id: $id) {
    version status sprint { id }
    history { nodes { kind fromValue toValue fromSprint { id } toSprint { id } actor { id } } }
  }
}"""
TRANSITION = """
mutation($input: TransitionRequirementInput!) {
  transitionRequirement(input: $input) { requirement { version status } userErrors { code } }
}"""


async def start(account: Account, sprint: dict[str, Any]) -> dict[str, Any]:
    data = await account(START, {"input": {"id": sprint["id"], "version": sprint["version"]}})
    assert data["startSprint"]["userErrors"] == [], data
    return data["startSprint"]["sprint"]  # type: ignore[no-any-return]


async def finish(account: Account, requirement: dict[str, Any], status: str = "DONE") -> None:
    """Walk a requirement through the workflow to DONE (or straight to CANCELED)."""
    version = requirement["version"]
    steps = ["IN_PROGRESS", "DONE"] if status == "DONE" else [status]
    for step in steps:
        data = await account(TRANSITION, {"input": {"id": requirement["id"], "version": version, "status": step}})
        assert data["transitionRequirement"]["userErrors"] == [], data
        version = data["transitionRequirement"]["requirement"]["version"]


async def read_sprint(account: Account, sprint_id: str) -> dict[str, Any]:
    return (await account(SPRINT, {"id": sprint_id}))["sprint"]  # type: ignore[no-any-return]


async def sprint_count(account: Account, product_id: str) -> int:
    return (await account(SPRINT_COUNT, {"id": product_id}))["product"]["sprints"]["totalCount"]  # type: ignore[no-any-return]


# Life cycle


async def test_a_sprint_is_planned_started_and_closed(account: Account) -> None:
    product = await create_product(account)
    data = await account(
        CREATE,
        {
            "input": {
                "productId": product["id"],
                "name": "  Sprint 14 ",
                "goal": "Ship log-in",
                "startsOn": "2025-03-03",
                "endsOn": "2025-03-14",
                "capacity": 30,
            }
        },
    )
    created = data["createSprint"]
    assert created["userErrors"] == []
    sprint = created["sprint"]
    assert sprint["name"] == "Sprint 14"
    assert sprint["goal"] == "Ship log-in"
    assert (sprint["startsOn"], sprint["endsOn"], sprint["capacity"]) == ("2025-03-03", "2025-03-14", 30.0)
    assert (sprint["state"], sprint["startedAt"], sprint["closedAt"], sprint["version"]) == ("PLANNED", None, None, 1)
    assert sprint["product"]["id"] == product["id"]

    started = await start(account, sprint)
    assert started["state"] == "ACTIVE"
    assert started["startedAt"] is not None
    assert started["version"] == 2

    data = await account(CLOSE, {"input": {"id": sprint["id"], "version": 2}})
    closed = data["closeSprint"]
    assert closed["userErrors"] == []
    assert closed["movedCount"] == 0
    assert closed["sprint"]["state"] == "CLOSED"
    assert closed["sprint"]["closedAt"] is not None
    assert closed["sprint"]["version"] == 3
    assert await read_sprint(account, sprint["id"]) == closed["sprint"]


async def test_updating_a_sprint_changes_only_the_fields_sent(account: Account) -> None:
    product = await create_product(account)
    sprint = await create_sprint(
        account, product["id"], goal="Old goal", startsOn="2025-03-03", endsOn="2025-03-14", capacity=20
    )
    data = await account(UPDATE, {"input": {"id": sprint["id"], "version": 1, "name": "Renamed", "capacity": None}})
    updated = data["updateSprint"]
    assert updated["userErrors"] == []
    assert updated["sprint"]["name"] == "Renamed"
    assert updated["sprint"]["goal"] == "Old goal"
    assert (updated["sprint"]["startsOn"], updated["sprint"]["endsOn"]) == ("2025-03-03", "2025-03-14")
    assert updated["sprint"]["capacity"] is None
    assert updated["sprint"]["version"] == 2


async def test_a_product_lists_its_sprints_by_start_date_and_filters_them_by_state(account: Account) -> None:
    product = await create_product(account)
    await create_sprint(account, product["id"], name="Later", startsOn="2025-04-01")
    await create_sprint(account, product["id"], name="Undated")
    earlier = await create_sprint(account, product["id"], name="Earlier", startsOn="2025-03-01")
    await start(account, earlier)
    query = """query($id: ID!, $filter: SprintFilter) {
      product(id: $id) { sprints(filter: $filter) { totalCount nodes { name state } } }
    }"""
    every = (await account(query, {"id": product["id"]}))["product"]["sprints"]
    assert every["totalCount"] == 3
    assert [n["name"] for n in every["nodes"]] == ["Earlier", "Later", "Undated"]
    planned = (await account(query, {"id": product["id"], "filter": {"states": ["PLANNED"]}}))["product"]["sprints"]
    assert planned == {
        "totalCount": 2,
        "nodes": [{"name": "Later", "state": "PLANNED"}, {"name": "Undated", "state": "PLANNED"}],
    }


async def test_a_sprint_lists_its_requirements_in_rank_order(account: Account) -> None:
    product = await create_product(account)
    sprint = await create_sprint(account, product["id"])
    first = await create_requirement(account, product["id"], title="First", sprintId=sprint["id"])
    await create_requirement(account, product["id"], title="Not planned")
    second = await create_requirement(account, product["id"], title="Second", sprintId=sprint["id"])
    data = await account(
        "query($id: ID!) { sprint(id: $id) { requirements(first: 10) { totalCount nodes { id title } } } }",
        {"id": sprint["id"]},
    )
    requirements = data["sprint"]["requirements"]
    assert requirements["totalCount"] == 2
    assert [n["id"] for n in requirements["nodes"]] == [first["id"], second["id"]]


# Starting


async def test_a_second_active_sprint_in_the_same_product_is_refused(account: Account) -> None:
    product = await create_product(account)
    first = await create_sprint(account, product["id"], name="One")
    second = await create_sprint(account, product["id"], name="Two")
    await start(account, first)
    data = await account(START, {"input": {"id": second["id"], "version": second["version"]}})
    assert data["startSprint"]["sprint"] is None
    assert [e["code"] for e in data["startSprint"]["userErrors"]] == ["INVALID_STATE"]
    unchanged = await read_sprint(account, second["id"])
    assert (unchanged["state"], unchanged["startedAt"], unchanged["version"]) == ("PLANNED", None, 1)


async def test_sprints_of_different_products_may_be_active_at_the_same_time(account: Account) -> None:
    one = await create_sprint(account, (await create_product(account))["id"])
    two = await create_sprint(account, (await create_product(account))["id"])
    assert (await start(account, one))["state"] == "ACTIVE"
    assert (await start(account, two))["state"] == "ACTIVE"


async def test_only_a_planned_sprint_can_be_started(account: Account) -> None:
    product = await create_product(account)
    sprint = await start(account, await create_sprint(account, product["id"]))
    data = await account(START, {"input": {"id": sprint["id"], "version": sprint["version"]}})
    assert [e["code"] for e in data["startSprint"]["userErrors"]] == ["INVALID_STATE"]
    await account(CLOSE, {"input": {"id": sprint["id"], "version": sprint["version"]}})
    data = await account(START, {"input": {"id": sprint["id"], "version": sprint["version"] + 1}})
    assert [e["code"] for e in data["startSprint"]["userErrors"]] == ["INVALID_STATE"]
    assert (await read_sprint(account, sprint["id"]))["state"] == "CLOSED"


async def test_only_an_active_sprint_can_be_closed(account: Account) -> None:
    product = await create_product(account)
    sprint = await create_sprint(account, product["id"])
    data = await account(CLOSE, {"input": {"id": sprint["id"], "version": 1}})
    assert data["closeSprint"]["sprint"] is None
    assert data["closeSprint"]["movedCount"] is None
    assert [e["code"] for e in data["closeSprint"]["userErrors"]] == ["INVALID_STATE"]
    assert (await read_sprint(account, sprint["id"]))["state"] == "PLANNED"


# Closing


async def test_closing_a_sprint_moves_unfinished_stories_to_the_backlog(account: Account) -> None:
    product = await create_product(account)
    sprint = await create_sprint(account, product["id"])
    open_story = await create_requirement(account, product["id"], title="Open", sprintId=sprint["id"])
    done_story = await create_requirement(account, product["id"], title="Done", sprintId=sprint["id"])
    canceled_story = await create_requirement(account, product["id"], title="Canceled", sprintId=sprint["id"])
    elsewhere = await create_requirement(account, product["id"], title="Backlog")
    await finish(account, done_story)
    await finish(account, canceled_story, "CANCELED")
    sprint = await start(account, sprint)

    data = await account(CLOSE, {"input": {"id": sprint["id"], "version": sprint["version"]}})
    assert data["closeSprint"]["userErrors"] == []
    assert data["closeSprint"]["movedCount"] == 1

    moved = (await account(REQUIREMENT, {"id": open_story["id"]}))["requirement"]
    assert moved["sprint"] is None
    assert moved["version"] == open_story["version"] + 1
    sprint_events = [e for e in moved["history"]["nodes"] if e["kind"] == "SPRINT"]
    assert sprint_events[-1] == {
        "kind": "SPRINT",
        "fromValue": sprint["id"],
        "toValue": None,
        "fromSprint": {"id": sprint["id"]},
        "toSprint": None,
        "actor": {"id": account.user_id},
    }
    for finished in (done_story, canceled_story):
        kept = (await account(REQUIREMENT, {"id": finished["id"]}))["requirement"]
        assert kept["sprint"] == {"id": sprint["id"]}
        assert [e for e in kept["history"]["nodes"] if e["kind"] == "SPRINT"] == [
            {
                "kind": "SPRINT",
                "fromValue": None,
                "toValue": sprint["id"],
                "fromSprint": None,
                "toSprint": {"id": sprint["id"]},
                "actor": {"id": account.user_id},
            }
        ]
    untouched = (await account(REQUIREMENT, {"id": elsewhere["id"]}))["requirement"]
    assert untouched["version"] == elsewhere["version"]


async def test_closing_a_sprint_can_move_unfinished_stories_to_a_named_sprint(account: Account) -> None:
    product = await create_product(account)
    sprint = await create_sprint(account, product["id"], name="Now")
    next_sprint = await create_sprint(account, product["id"], name="Next")
    stories = [await create_requirement(account, product["id"], title=t, sprintId=sprint["id"]) for t in "AB"]
    sprint = await start(account, sprint)

    data = await account(
        CLOSE, {"input": {"id": sprint["id"], "version": sprint["version"], "moveUnfinishedTo": next_sprint["id"]}}
    )
    assert data["closeSprint"]["userErrors"] == []
    assert data["closeSprint"]["movedCount"] == 2
    for story in stories:
        moved = (await account(REQUIREMENT, {"id": story["id"]}))["requirement"]
        assert moved["sprint"] == {"id": next_sprint["id"]}
        assert moved["version"] == story["version"] + 1
        assert [e["toSprint"] for e in moved["history"]["nodes"] if e["kind"] == "SPRINT"] == [
            {"id": sprint["id"]},
            {"id": next_sprint["id"]},
        ]
    listed = await account(
        "query($id: ID!) { sprint(id: $id) { state requirements { totalCount } } }", {"id": next_sprint["id"]}
    )
    assert listed["sprint"] == {"state": "PLANNED", "requirements": {"totalCount": 2}}


async def test_unfinished_work_cannot_move_to_a_closed_sprint_or_another_products_sprint(account: Account) -> None:
    product = await create_product(account)
    old = await start(account, await create_sprint(account, product["id"], name="Old"))
    await account(CLOSE, {"input": {"id": old["id"], "version": old["version"]}})
    sprint = await start(account, await create_sprint(account, product["id"], name="Current"))
    story = await create_requirement(account, product["id"], sprintId=sprint["id"])
    foreign = await create_sprint(account, (await create_product(account))["id"], name="Other product")

    for target, code in (
        (old["id"], "INVALID_STATE"),
        (foreign["id"], "BAD_USER_INPUT"),
        (sprint["id"], "BAD_USER_INPUT"),
    ):
        data = await account(
            CLOSE, {"input": {"id": sprint["id"], "version": sprint["version"], "moveUnfinishedTo": target}}
        )
        assert data["closeSprint"]["sprint"] is None
        assert [(e["field"], e["code"]) for e in data["closeSprint"]["userErrors"]] == [
            (["input", "moveUnfinishedTo"], code)
        ]
    assert (await read_sprint(account, sprint["id"]))["state"] == "ACTIVE"
    kept = (await account(REQUIREMENT, {"id": story["id"]}))["requirement"]
    assert kept["sprint"] == {"id": sprint["id"]}
    assert kept["version"] == story["version"]


# Bad input


async def test_a_sprint_cannot_end_before_it_starts(account: Account) -> None:
    product = await create_product(account)
    data = await account(
        CREATE,
        {"input": {"productId": product["id"], "name": "Backwards", "startsOn": "2025-03-14", "endsOn": "2025-03-03"}},
    )
    assert data["createSprint"]["sprint"] is None
    assert [(e["field"], e["code"]) for e in data["createSprint"]["userErrors"]] == [
        (["input", "endsOn"], "OUT_OF_RANGE")
    ]
    assert await sprint_count(account, product["id"]) == 0

    sprint = await create_sprint(account, product["id"], startsOn="2025-03-03", endsOn="2025-03-14")
    data = await account(UPDATE, {"input": {"id": sprint["id"], "version": 1, "startsOn": "2025-03-20"}})
    assert [(e["field"], e["code"]) for e in data["updateSprint"]["userErrors"]] == [
        (["input", "startsOn"], "OUT_OF_RANGE")
    ]
    unchanged = await read_sprint(account, sprint["id"])
    assert (unchanged["startsOn"], unchanged["version"]) == ("2025-03-03", 1)


async def test_sprint_names_goals_and_capacity_are_checked(account: Account) -> None:
    product = await create_product(account)
    cases = [
        ({"name": "   "}, "name", "BAD_USER_INPUT"),
        ({"name": "x" * 121}, "name", "TOO_LONG"),
        ({"goal": "g" * 2001}, "goal", "TOO_LONG"),
        ({"capacity": -1}, "capacity", "OUT_OF_RANGE"),
        ({"capacity": 10_001}, "capacity", "OUT_OF_RANGE"),
    ]
    for fields, field, code in cases:
        data = await account(CREATE, {"input": {"productId": product["id"], "name": "Sprint", **fields}})
        assert data["createSprint"]["sprint"] is None
        assert [(e["field"], e["code"]) for e in data["createSprint"]["userErrors"]] == [(["input", field], code)]
    assert await sprint_count(account, product["id"]) == 0
    edge = await create_sprint(account, product["id"], name="x" * 120, goal="g" * 2000, capacity=10_000)
    assert edge["name"] == "x" * 120


async def test_a_sprint_cannot_be_planned_in_an_archived_product(account: Account) -> None:
    product = await create_product(account)
    await account(
        "mutation($input: ArchiveProductInput!) { archiveProduct(input: $input) { userErrors { code } } }",
        {"input": {"id": product["id"], "version": product["version"]}},
    )
    data = await account(CREATE, {"input": {"productId": product["id"], "name": "Late"}})
    assert [(e["field"], e["code"]) for e in data["createSprint"]["userErrors"]] == [
        (["input", "productId"], "INVALID_STATE")
    ]
    assert await sprint_count(account, product["id"]) == 0


# Concurrency


async def test_a_stale_version_is_refused_with_conflict(account: Account) -> None:
    product = await create_product(account)
    sprint = await create_sprint(account, product["id"])
    await account(UPDATE, {"input": {"id": sprint["id"], "version": 1, "goal": "First edit"}})
    for mutation, name, extra in (
        (UPDATE, "updateSprint", {"goal": "Second edit"}),
        (START, "startSprint", {}),
    ):
        data = await account(mutation, {"input": {"id": sprint["id"], "version": 1, **extra}})
        assert data[name]["sprint"] is None
        assert [(e["field"], e["code"]) for e in data[name]["userErrors"]] == [(["input", "version"], "CONFLICT")]
    sprint = await start(account, {**sprint, "version": 2})
    data = await account(CLOSE, {"input": {"id": sprint["id"], "version": 2}})
    assert [e["code"] for e in data["closeSprint"]["userErrors"]] == ["CONFLICT"]
    current = await read_sprint(account, sprint["id"])
    assert (current["goal"], current["state"], current["version"]) == ("First edit", "ACTIVE", 3)


# Tenancy


async def test_another_organizations_product_and_sprints_are_not_found(
    account: Account, other_account: Account
) -> None:
    product = await create_product(account)
    planned = await create_sprint(account, product["id"], name="Planned")
    active = await start(account, await create_sprint(account, product["id"], name="Active"))
    story = await create_requirement(account, product["id"], sprintId=active["id"])
    own_product = await create_product(other_account)
    own_sprint = await start(other_account, await create_sprint(other_account, own_product["id"]))

    attempts: list[tuple[str, str, dict[str, Any]]] = [
        (CREATE, "createSprint", {"productId": product["id"], "name": "Intruder"}),
        (UPDATE, "updateSprint", {"id": planned["id"], "version": 1, "name": "Hijacked"}),
        (START, "startSprint", {"id": planned["id"], "version": 1}),
        (CLOSE, "closeSprint", {"id": active["id"], "version": active["version"]}),
    ]
    for mutation, name, values in attempts:
        data = await other_account(mutation, {"input": values})
        assert data[name]["sprint"] is None
        assert [e["code"] for e in data[name]["userErrors"]] == ["NOT_FOUND"]
    data = await other_account(
        CLOSE, {"input": {"id": own_sprint["id"], "version": own_sprint["version"], "moveUnfinishedTo": planned["id"]}}
    )
    assert [(e["field"], e["code"]) for e in data["closeSprint"]["userErrors"]] == [
        (["input", "moveUnfinishedTo"], "NOT_FOUND")
    ]

    await assert_not_found(other_account, SPRINT, {"id": planned["id"]}, "sprint")
    assert await sprint_count(account, product["id"]) == 2
    untouched = await read_sprint(account, planned["id"])
    assert (untouched["name"], untouched["state"], untouched["version"]) == ("Planned", "PLANNED", 1)
    assert (await read_sprint(account, active["id"]))["state"] == "ACTIVE"
    assert (await read_sprint(other_account, own_sprint["id"]))["state"] == "ACTIVE"
    kept = (await account(REQUIREMENT, {"id": story["id"]}))["requirement"]
    assert (kept["sprint"], kept["version"]) == ({"id": active["id"]}, story["version"])


async def test_a_sprint_query_answers_not_found_for_ids_that_are_not_sprints(account: Account) -> None:
    product = await create_product(account)
    await assert_not_found(account, SPRINT, {"id": product["id"]}, "sprint")


# Points


async def test_sprint_points_add_up_estimates_and_the_done_ones(account: Account) -> None:
    product = await create_product(account)
    sprint = await create_sprint(account, product["id"])
    empty = await create_sprint(account, product["id"], name="Empty")
    stories = [
        await create_requirement(account, product["id"], title=str(points), sprintId=sprint["id"], estimate=points)
        for points in (3, 5, 8)
    ]
    await create_requirement(account, product["id"], title="Unestimated", sprintId=sprint["id"])
    await create_requirement(account, product["id"], title="Outside", estimate=13)
    await finish(account, stories[1])
    query = "query($id: ID!) { sprint(id: $id) { committedPoints completedPoints } }"
    assert (await account(query, {"id": sprint["id"]}))["sprint"] == {"committedPoints": 16.0, "completedPoints": 5.0}
    assert (await account(query, {"id": empty["id"]}))["sprint"] == {"committedPoints": 0.0, "completedPoints": 0.0}


async def test_sprint_points_of_a_page_of_sprints_cost_one_statement(account: Account) -> None:
    product = await create_product(account)
    query = """query($id: ID!) {
      product(id: $id) { sprints { nodes { name committedPoints completedPoints } } }
    }"""
    statements = []
    for count in (2, 5):
        while (await sprint_count(account, product["id"])) < count:
            sprint = await create_sprint(account, product["id"], name=f"S{count}")
            await create_requirement(account, product["id"], sprintId=sprint["id"], estimate=2)
        result = await account.run(query, {"id": product["id"]})
        assert result.errors == []
        nodes = result.data["product"]["sprints"]["nodes"]
        assert len(nodes) == count
        assert all(n["committedPoints"] == 2.0 and n["completedPoints"] == 0.0 for n in nodes)
        statements.append(result.sql_statements)
    without_points = await account.run(
        "query($id: ID!) { product(id: $id) { sprints { nodes { name } } } }", {"id": product["id"]}
    )
    assert statements == [without_points.sql_statements + 1] * 2


async def test_work_cannot_be_planned_into_a_closed_sprint(account: Account) -> None:
    product = await create_product(account)
    sprint = await start(account, await create_sprint(account, product["id"]))
    closed = await account(CLOSE, {"input": {"id": sprint["id"], "version": sprint["version"]}})
    assert closed["closeSprint"]["userErrors"] == []

    created = await account(
        """mutation($input: CreateRequirementInput!) {
             createRequirement(input: $input) { requirement { id } userErrors { field code } }
           }""",
        {"input": {"productId": product["id"], "kind": "STORY", "title": "Late", "sprintId": sprint["id"]}},
    )
    assert created["createRequirement"] == {
        "requirement": None,
        "userErrors": [{"field": ["input", "sprintId"], "code": "INVALID_STATE"}],
    }
    story = await create_requirement(account, product["id"])
    updated = await account(
        """mutation($input: UpdateRequirementInput!) {
             updateRequirement(input: $input) { requirement { id } userErrors { field code } }
           }""",
        {"input": {"id": story["id"], "version": story["version"], "sprintId": sprint["id"]}},
    )
    assert updated["updateRequirement"]["userErrors"] == [{"field": ["input", "sprintId"], "code": "INVALID_STATE"}]
    assert (await account(REQUIREMENT, {"id": story["id"]}))["requirement"]["sprint"] is None


# The sprint report: commitments kept

REPORT = """
query($id: ID!) {
  sprint(id: $id) {
    state committedPoints completedPoints
    report {
      asOf
      committed { count points requirements { title } }
      added { count points requirements { title } }
      removed { count points requirements { title } }
      completed { count points requirements { title } }
      canceled { count points requirements { title } }
      carriedOver { count points requirements { title } }
    }
  }
}"""
EDIT = """
mutation($input: UpdateRequirementInput!) {
  updateRequirement(input: $input) { requirement { version } userErrors { code } }
}"""


def figure(titles: list[str], points: float) -> dict[str, Any]:
    return {"count": len(titles), "points": points, "requirements": [{"title": t} for t in titles]}


async def edit(account: Account, requirement: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """Update a requirement from its latest version; returns it with the new version."""
    current = (await account(REQUIREMENT, {"id": requirement["id"]}))["requirement"]
    data = await account(EDIT, {"input": {"id": requirement["id"], "version": current["version"], **changes}})
    assert data["updateRequirement"]["userErrors"] == [], data
    return requirement | data["updateRequirement"]["requirement"]


async def report_of(account: Account, sprint_id: str) -> dict[str, Any]:
    return (await account(REPORT, {"id": sprint_id}))["sprint"]  # type: ignore[no-any-return]


async def latest(account: Account, requirement: dict[str, Any]) -> dict[str, Any]:
    return requirement | {"version": (await account(REQUIREMENT, {"id": requirement["id"]}))["requirement"]["version"]}


async def test_a_closed_sprint_keeps_what_it_committed_to_and_how_it_ended_after_its_work_moves_on(
    account: Account,
) -> None:
    product = await create_product(account)
    sprint = await create_sprint(account, product["id"], name="One")
    following = await create_sprint(account, product["id"], name="Two")
    shipped = await create_requirement(account, product["id"], title="Shipped", sprintId=sprint["id"], estimate=3)
    also = await create_requirement(account, product["id"], title="Also shipped", sprintId=sprint["id"], estimate=5)
    slipped = await create_requirement(account, product["id"], title="Slipped", sprintId=sprint["id"], estimate=2)
    dropped = await create_requirement(account, product["id"], title="Dropped", sprintId=sprint["id"], estimate=1)
    urgent = await create_requirement(account, product["id"], title="Urgent", estimate=8)
    planned = await report_of(account, sprint["id"])
    assert (planned["report"], planned["committedPoints"], planned["completedPoints"]) == (None, 11.0, 0.0)

    sprint = await start(account, sprint)
    await edit(account, urgent, sprintId=sprint["id"])  # added after the start
    await edit(account, dropped, sprintId=None)  # removed while it runs
    await edit(account, slipped, estimate=3)  # re-estimated: the commitment keeps the estimate at the start
    await finish(account, await latest(account, shipped))
    await finish(account, await latest(account, also))
    data = await account(
        CLOSE, {"input": {"id": sprint["id"], "version": sprint["version"], "moveUnfinishedTo": following["id"]}}
    )
    assert data["closeSprint"]["movedCount"] == 2

    expected = {
        "state": "CLOSED",
        "committedPoints": 11.0,
        "completedPoints": 8.0,
        "report": {
            "asOf": data["closeSprint"]["sprint"]["closedAt"],
            "committed": figure(["Shipped", "Also shipped", "Slipped", "Dropped"], 11.0),
            "added": figure(["Urgent"], 8.0),
            "removed": figure(["Dropped"], 1.0),
            "completed": figure(["Shipped", "Also shipped"], 8.0),
            "canceled": figure([], 0.0),
            "carriedOver": figure(["Slipped", "Urgent"], 11.0),
        },
    }
    assert await report_of(account, sprint["id"]) == expected

    # The carried-over work is the next sprint's commitment; finishing it there, moving shipped work elsewhere and
    # re-estimating changes nothing in the closed sprint's report.
    following = await start(account, following)
    await finish(account, await latest(account, slipped))
    await edit(account, shipped, sprintId=None, estimate=13)
    await edit(account, urgent, estimate=1)
    await account(CLOSE, {"input": {"id": following["id"], "version": following["version"]}})
    assert await report_of(account, sprint["id"]) == expected
    second = (await report_of(account, following["id"]))["report"]
    assert second["committed"] == figure(["Slipped", "Urgent"], 11.0)
    assert second["completed"] == figure(["Slipped"], 3.0)
    assert second["carriedOver"] == figure(["Urgent"], 1.0)
    assert (second["added"]["count"], second["removed"]["count"]) == (0, 0)


async def test_an_active_sprint_reports_its_scope_and_progress_so_far(account: Account) -> None:
    product = await create_product(account)
    sprint = await create_sprint(account, product["id"])
    done = await create_requirement(account, product["id"], title="Done", sprintId=sprint["id"], estimate=2)
    canceled = await create_requirement(account, product["id"], title="Canceled", sprintId=sprint["id"], estimate=3)
    await create_requirement(account, product["id"], title="Open", sprintId=sprint["id"], estimate=5)
    sprint = await start(account, sprint)
    await create_requirement(account, product["id"], title="Late", sprintId=sprint["id"])
    await finish(account, await latest(account, done))
    await finish(account, await latest(account, canceled), "CANCELED")
    got = await report_of(account, sprint["id"])
    assert (got["state"], got["committedPoints"], got["completedPoints"]) == ("ACTIVE", 10.0, 2.0)
    assert got["report"] == {
        "asOf": None,
        "committed": figure(["Done", "Canceled", "Open"], 10.0),
        "added": figure(["Late"], 0.0),
        "removed": figure([], 0.0),
        "completed": figure(["Done"], 2.0),
        "canceled": figure(["Canceled"], 3.0),
        "carriedOver": figure(["Open", "Late"], 5.0),
    }


async def test_work_that_leaves_a_sprint_and_comes_back_is_neither_added_nor_removed(account: Account) -> None:
    product = await create_product(account)
    sprint = await create_sprint(account, product["id"])
    story = await create_requirement(account, product["id"], title="Back again", sprintId=sprint["id"], estimate=3)
    sprint = await start(account, sprint)
    await edit(account, story, sprintId=None)
    await edit(account, story, sprintId=sprint["id"])
    brief = await create_requirement(account, product["id"], title="Came and went", sprintId=sprint["id"], estimate=1)
    await edit(account, brief, sprintId=None)
    report = (await report_of(account, sprint["id"]))["report"]
    assert report["committed"] == figure(["Back again"], 3.0)
    assert report["added"] == figure(["Came and went"], 1.0)
    assert report["removed"] == figure(["Came and went"], 1.0)
    assert report["carriedOver"] == figure(["Back again"], 3.0)
