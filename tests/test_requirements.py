"""Requirements: creating, numbering, editing, the hierarchy, ranking, the workflow, history, filters and sorting."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from prism.db.tables import Label, Sprint
from tests.helpers import (
    Account,
    GraphQLClient,
    create_product,
    create_release,
    create_requirement,
    global_id,
    insert_rows,
    join_organization,
    sign_up,
    uuid_of,
)

DETAILS = """
query($id: ID!) {
  requirement(id: $id) {
    key kind title description acceptanceCriteria status priority estimate version
    startedAt completedAt childCount
    parent { key } assignee { id name } reporter { id } sprint { id name } release { id } labels { id name }
    history(first: 100) { totalCount nodes { kind fromValue toValue actor { id name } } }
  }
}
"""
HISTORY = """
query($id: ID!) {
  requirement(id: $id) {
    history(first: 100) {
      nodes {
        kind actor { name } createdAt
        fromStatus toStatus fromPriority toPriority fromKind toKind fromEstimate toEstimate fromTitle toTitle
        fromAssignee { id } toAssignee { id } fromSprint { id } toSprint { id } fromRelease { id } toRelease { id }
        fromParent { key } toParent { key } label { name }
      }
    }
  }
}
"""
UPDATE = """
mutation($input: UpdateRequirementInput!) {
  updateRequirement(input: $input) { requirement { version } userErrors { field message code } }
}
"""
TRANSITION = """
mutation($input: TransitionRequirementInput!) {
  transitionRequirement(input: $input) {
    requirement { status version startedAt completedAt } userErrors { field message code }
  }
}
"""


async def details(account: Account, requirement_id: str) -> dict[str, Any]:
    return (await account(DETAILS, {"id": requirement_id}))["requirement"]  # type: ignore[no-any-return]


async def history_of(account: Account, requirement_id: str) -> list[dict[str, Any]]:
    """The requirement's events, oldest first, each with only its kind and the typed fields that are set."""
    data = await account(HISTORY, {"id": requirement_id})
    return [
        {key: value for key, value in event.items() if value is not None and key not in ("actor", "createdAt")}
        for event in data["requirement"]["history"]["nodes"]
    ]


async def labels_and_sprint(app: Starlette, account: Account, product_id: str, *names: str) -> tuple[list[str], str]:
    """Labels named `names` and one sprint of the product, written directly (their APIs are tested elsewhere)."""
    organization = uuid_of(account.organization_id)
    now = datetime.now(UTC)
    label_ids = [uuid.uuid4() for _ in names]
    await insert_rows(
        app,
        Label,
        [
            {
                "id": i,
                "organization_id": organization,
                "name": n,
                "color": "#00aa00",
                "description": "",
                "created_at": now,
            }
            for i, n in zip(label_ids, names, strict=True)
        ],
    )
    sprint = uuid.uuid4()
    await insert_rows(
        app,
        Sprint,
        [
            {
                "id": sprint,
                "organization_id": organization,
                "product_id": uuid_of(product_id),
                "name": "Sprint 7",
                "goal": "",
                "state": "ACTIVE",
                "created_at": now,
                "version": 1,
            }
        ],
    )
    return [global_id("Label", i) for i in label_ids], global_id("Sprint", sprint)


async def update(account: Account, **input: Any) -> dict[str, Any]:
    data = await account(UPDATE, {"input": input})
    assert data["updateRequirement"]["userErrors"] == [], data
    return data["updateRequirement"]["requirement"]  # type: ignore[no-any-return]


async def transition(account: Account, requirement_id: str, version: int, status: str) -> dict[str, Any]:
    data = await account(TRANSITION, {"input": {"id": requirement_id, "version": version, "status": status}})
    assert data["transitionRequirement"]["userErrors"] == [], data
    return data["transitionRequirement"]["requirement"]  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------------------------------
# Creating and numbering


async def test_keys_are_numbered_per_product(account: Account) -> None:
    prism = await create_product(account, key="PRISM")
    other = await create_product(account, key="OTHER")
    first = await create_requirement(account, prism["id"], "One")
    second = await create_requirement(account, prism["id"], "Two")
    elsewhere = await create_requirement(account, other["id"], "Elsewhere")
    third = await create_requirement(account, prism["id"], "Three")
    assert [r["key"] for r in (first, second, elsewhere, third)] == ["PRISM-1", "PRISM-2", "OTHER-1", "PRISM-3"]
    data = await account('{ requirement(key: "prism-2") { title } }')
    assert data == {"requirement": {"title": "Two"}}


async def test_another_organization_numbers_its_products_independently(
    account: Account, other_account: Account
) -> None:
    mine = await create_product(account, key="SAME")
    theirs = await create_product(other_account, key="SAME")
    await create_requirement(account, mine["id"])
    await create_requirement(account, mine["id"])
    created = await create_requirement(other_account, theirs["id"], "Theirs")
    assert created["key"] == "SAME-1"
    assert (await account('{ requirement(key: "SAME-1") { title } }'))["requirement"]["title"] == "A story"


async def test_a_requirement_is_created_with_every_field_and_a_history(account: Account, app: Starlette) -> None:
    product = await create_product(account, key="FULL")
    (label_a, label_b), sprint = await labels_and_sprint(app, account, product["id"], "ux", "backend")
    epic = await create_requirement(account, product["id"], "Checkout", kind="EPIC")
    created = await create_requirement(
        account,
        product["id"],
        "  Pay by card  ",
        kind="FEATURE",
        parentId=epic["id"],
        description="Card payments **only**.",
        acceptanceCriteria="- a card is charged",
        priority="HIGH",
        estimate=5.5,
        assigneeId=account.user_id,
        sprintId=sprint,
        labelIds=[label_b, label_a, label_b],
    )
    assert (created["key"], created["status"], created["version"]) == ("FULL-2", "BACKLOG", 1)
    got = await details(account, created["id"])
    history = got.pop("history")
    assert got == {
        "key": "FULL-2",
        "kind": "FEATURE",
        "title": "Pay by card",
        "description": "Card payments **only**.",
        "acceptanceCriteria": "- a card is charged",
        "status": "BACKLOG",
        "priority": "HIGH",
        "estimate": 5.5,
        "version": 1,
        "startedAt": None,
        "completedAt": None,
        "childCount": 0,
        "parent": {"key": "FULL-1"},
        "assignee": {"id": account.user_id, "name": "Test User"},
        "reporter": {"id": account.user_id},
        "sprint": {"id": sprint, "name": "Sprint 7"},
        "release": None,
        "labels": [{"id": label_b, "name": "backend"}, {"id": label_a, "name": "ux"}],
    }
    assert sorted(e["kind"] for e in history["nodes"]) == ["ASSIGNEE", "CREATED", "ESTIMATE", "SPRINT"]
    assert {e["actor"]["id"] for e in history["nodes"]} == {account.user_id}
    assert (await details(account, epic["id"]))["childCount"] == 1


# ---------------------------------------------------------------------------------------------------------------
# Editing


async def test_an_update_changes_only_the_fields_sent(account: Account, app: Starlette) -> None:
    product = await create_product(account)
    (label,), sprint = await labels_and_sprint(app, account, product["id"], "keep")
    created = await create_requirement(
        account,
        product["id"],
        "Before",
        description="desc",
        priority="LOW",
        estimate=3,
        assigneeId=account.user_id,
        sprintId=sprint,
        labelIds=[label],
    )
    before = await details(account, created["id"])
    changed = await update(account, id=created["id"], version=1, title="After")
    assert changed == {"version": 2}
    after = await details(account, created["id"])
    assert after.pop("history")["totalCount"] == before.pop("history")["totalCount"] + 1
    assert after == before | {"title": "After", "version": 2}
    assert (await history_of(account, created["id"]))[-1] == {
        "kind": "TITLE",
        "fromTitle": "Before",
        "toTitle": "After",
    }


async def test_null_clears_assignee_sprint_and_estimate_and_records_it(account: Account, app: Starlette) -> None:
    product = await create_product(account)
    _, sprint = await labels_and_sprint(app, account, product["id"])
    created = await create_requirement(
        account, product["id"], estimate=8, assigneeId=account.user_id, sprintId=sprint, description="kept"
    )
    await update(account, id=created["id"], version=1, assigneeId=None, sprintId=None, estimate=None, releaseId=None)
    got = await details(account, created["id"])
    assert (got["assignee"], got["sprint"], got["estimate"], got["release"]) == (None, None, None, None)
    assert got["description"] == "kept"
    cleared = {(e["kind"], e["toValue"]) for e in got["history"]["nodes"] if e["kind"] != "CREATED"}
    assert cleared == {
        ("ASSIGNEE", account.user_id),
        ("SPRINT", sprint),
        ("ESTIMATE", "8"),
        ("ASSIGNEE", None),
        ("SPRINT", None),
        ("ESTIMATE", None),
    }
    events = await history_of(account, created["id"])
    assert events[-3:] == [
        {"kind": "ESTIMATE", "fromEstimate": 8},
        {"kind": "ASSIGNEE", "fromAssignee": {"id": account.user_id}},
        {"kind": "SPRINT", "fromSprint": {"id": sprint}},
    ]


async def test_an_update_that_changes_nothing_tracked_records_no_event(account: Account) -> None:
    product = await create_product(account)
    created = await create_requirement(account, product["id"], estimate=2)
    await update(account, id=created["id"], version=1, estimate=2, priority="NONE", title="A story", description="")
    got = await details(account, created["id"])
    assert [e["kind"] for e in got["history"]["nodes"]] == ["CREATED", "ESTIMATE"]


async def test_labels_are_replaced_as_a_whole_and_cleared_by_null_or_empty(account: Account, app: Starlette) -> None:
    product = await create_product(account)
    (a, b, c), _ = await labels_and_sprint(app, account, product["id"], "a", "b", "c")
    created = await create_requirement(account, product["id"], labelIds=[a, b])
    await update(account, id=created["id"], version=1, labelIds=[c, b])
    assert [label["name"] for label in (await details(account, created["id"]))["labels"]] == ["b", "c"]
    await update(account, id=created["id"], version=2, title="Omitted labels stay")
    assert [label["name"] for label in (await details(account, created["id"]))["labels"]] == ["b", "c"]
    await update(account, id=created["id"], version=3, labelIds=[])
    assert (await details(account, created["id"]))["labels"] == []
    await update(account, id=created["id"], version=4, labelIds=[a])
    await update(account, id=created["id"], version=5, labelIds=None)
    assert (await details(account, created["id"]))["labels"] == []


async def test_a_requirement_takes_at_most_twenty_labels(account: Account, app: Starlette) -> None:
    product = await create_product(account)
    labels, _ = await labels_and_sprint(app, account, product["id"], *(f"l{n}" for n in range(21)))
    created = await create_requirement(account, product["id"], labelIds=labels[:20])
    data = await account(UPDATE, {"input": {"id": created["id"], "version": 1, "labelIds": labels}})
    assert data["updateRequirement"]["userErrors"] == [
        {"field": ["input", "labelIds"], "message": "A requirement takes at most 20 labels.", "code": "BAD_USER_INPUT"}
    ]
    assert len((await details(account, created["id"]))["labels"]) == 20


# ---------------------------------------------------------------------------------------------------------------
# The hierarchy


async def test_deleting_a_requirement_moves_its_children_up_to_its_parent(account: Account) -> None:
    product = await create_product(account, key="TREE")
    epic = await create_requirement(account, product["id"], "Epic", kind="EPIC")
    feature = await create_requirement(account, product["id"], "Feature", kind="FEATURE", parentId=epic["id"])
    story = await create_requirement(account, product["id"], "Story", parentId=feature["id"])
    task = await create_requirement(account, product["id"], "Task", kind="TASK", parentId=feature["id"])
    data = await account(
        """mutation($input: DeleteRequirementInput!) {
             deleteRequirement(input: $input) { deletedId userErrors { code } }
           }""",
        {"input": {"id": feature["id"], "version": 1}},
    )
    assert data["deleteRequirement"] == {"deletedId": feature["id"], "userErrors": []}
    for child in (story, task):
        got = await details(account, child["id"])
        assert got["parent"] == {"key": "TREE-1"}
        assert got["version"] == 2
        moves = [e for e in got["history"]["nodes"] if e["kind"] == "PARENT"]
        assert moves == [
            {
                "kind": "PARENT",
                "fromValue": feature["id"],
                "toValue": epic["id"],
                "actor": {"id": account.user_id, "name": "Test User"},
            }
        ]
        # The deleted parent can no longer be shown: its global id stays in fromValue, fromParent is null.
        assert [e for e in await history_of(account, child["id"]) if e["kind"] == "PARENT"] == [
            {"kind": "PARENT", "toParent": {"key": "TREE-1"}}
        ]
    assert (await details(account, epic["id"]))["childCount"] == 2
    gone = await account.run("query($id: ID!) { requirement(id: $id) { key } }", {"id": feature["id"]})
    assert gone.codes == ["NOT_FOUND"]
    assert (await account('{ product(key: "TREE") { requirements { totalCount } } }'))["product"]["requirements"][
        "totalCount"
    ] == 3


async def test_deleting_a_top_level_requirement_makes_its_children_top_level(account: Account) -> None:
    product = await create_product(account)
    epic = await create_requirement(account, product["id"], "Epic", kind="EPIC")
    feature = await create_requirement(account, product["id"], "Feature", kind="FEATURE", parentId=epic["id"])
    await account(
        "mutation($input: DeleteRequirementInput!) { deleteRequirement(input: $input) { userErrors { code } } }",
        {"input": {"id": epic["id"], "version": 1}},
    )
    assert (await details(account, feature["id"]))["parent"] is None


async def test_moving_in_the_hierarchy_changes_the_parent_and_records_it(account: Account) -> None:
    product = await create_product(account, key="MOVE")
    first = await create_requirement(account, product["id"], "First feature", kind="FEATURE")
    second = await create_requirement(account, product["id"], "Second feature", kind="FEATURE")
    story = await create_requirement(account, product["id"], "Story", parentId=first["id"])
    move = """mutation($input: MoveRequirementInput!) {
                moveRequirement(input: $input) { requirement { parent { key } version } userErrors { code } }
              }"""
    moved = await account(move, {"input": {"id": story["id"], "version": 1, "parentId": second["id"]}})
    assert moved["moveRequirement"] == {"requirement": {"parent": {"key": "MOVE-2"}, "version": 2}, "userErrors": []}
    top = await account(move, {"input": {"id": story["id"], "version": 2, "parentId": None}})
    assert top["moveRequirement"]["requirement"] == {"parent": None, "version": 3}
    history = (await details(account, story["id"]))["history"]["nodes"]
    assert [(e["kind"], e["fromValue"], e["toValue"]) for e in history if e["kind"] == "PARENT"] == [
        ("PARENT", first["id"], second["id"]),
        ("PARENT", second["id"], None),
    ]
    assert [e for e in await history_of(account, story["id"]) if e["kind"] == "PARENT"] == [
        {"kind": "PARENT", "fromParent": {"key": "MOVE-1"}, "toParent": {"key": "MOVE-2"}},
        {"kind": "PARENT", "fromParent": {"key": "MOVE-2"}},
    ]
    counts = await account(
        "query($a: ID!, $b: ID!) { a: requirement(id: $a) { childCount } b: requirement(id: $b) { childCount } }",
        {"a": first["id"], "b": second["id"]},
    )
    assert counts == {"a": {"childCount": 0}, "b": {"childCount": 0}}


async def test_children_are_listed_in_rank_order(account: Account) -> None:
    product = await create_product(account)
    epic = await create_requirement(account, product["id"], "Epic", kind="EPIC")
    kids = [
        await create_requirement(account, product["id"], f"F{n}", kind="FEATURE", parentId=epic["id"]) for n in range(3)
    ]
    data = await account(
        "query($id: ID!) { requirement(id: $id) { children(first: 10) { totalCount nodes { key } } } }",
        {"id": epic["id"]},
    )
    assert data["requirement"]["children"] == {"totalCount": 3, "nodes": [{"key": k["key"]} for k in kids]}


# ---------------------------------------------------------------------------------------------------------------
# Ranking


async def rank_order(account: Account, product_id: str) -> list[str]:
    data = await account(
        "query($id: ID!) { product(id: $id) { requirements(first: 100) { nodes { title } } } }", {"id": product_id}
    )
    return [n["title"] for n in data["product"]["requirements"]["nodes"]]


async def test_reranking_before_and_after_changes_the_order_of_the_product_list(account: Account) -> None:
    product = await create_product(account)
    a, b, c, d = [await create_requirement(account, product["id"], title) for title in "ABCD"]
    assert await rank_order(account, product["id"]) == ["A", "B", "C", "D"]
    rerank = """mutation($input: RerankRequirementInput!) {
                  rerankRequirement(input: $input) { requirement { title version } userErrors { field code } }
                }"""
    moved = await account(rerank, {"input": {"id": d["id"], "beforeId": a["id"]}})
    assert moved["rerankRequirement"] == {"requirement": {"title": "D", "version": 2}, "userErrors": []}
    assert await rank_order(account, product["id"]) == ["D", "A", "B", "C"]
    await account(rerank, {"input": {"id": d["id"], "afterId": b["id"]}})
    assert await rank_order(account, product["id"]) == ["A", "B", "D", "C"]
    await account(rerank, {"input": {"id": a["id"], "afterId": c["id"]}})
    assert await rank_order(account, product["id"]) == ["B", "D", "C", "A"]
    await account(rerank, {"input": {"id": c["id"], "beforeId": d["id"]}})
    assert await rank_order(account, product["id"]) == ["B", "C", "D", "A"]
    for _ in range(12):  # many moves into the same gap keep working
        await account(rerank, {"input": {"id": a["id"], "beforeId": c["id"]}})
        await account(rerank, {"input": {"id": d["id"], "beforeId": c["id"]}})
    assert await rank_order(account, product["id"]) == ["B", "A", "D", "C"]


async def test_a_rerank_needs_exactly_one_anchor_of_the_same_product(account: Account) -> None:
    product = await create_product(account)
    other = await create_product(account)
    a = await create_requirement(account, product["id"], "A")
    b = await create_requirement(account, product["id"], "B")
    elsewhere = await create_requirement(account, other["id"], "X")
    rerank = (
        "mutation($input: RerankRequirementInput!) { rerankRequirement(input: $input) { userErrors { field code } } }"
    )
    cases = [
        ({"id": a["id"]}, ["input", "afterId"]),
        ({"id": a["id"], "afterId": b["id"], "beforeId": b["id"]}, ["input", "afterId"]),
        ({"id": a["id"], "afterId": a["id"]}, ["input", "afterId"]),
        ({"id": a["id"], "beforeId": elsewhere["id"]}, ["input", "beforeId"]),
    ]
    for anchors, field in cases:
        data = await account(rerank, {"input": anchors})
        assert data["rerankRequirement"]["userErrors"] == [{"field": field, "code": "BAD_USER_INPUT"}], anchors
    assert await rank_order(account, product["id"]) == ["A", "B"]


# ---------------------------------------------------------------------------------------------------------------
# The workflow


async def test_transitions_record_history_and_set_started_and_completed_times(account: Account) -> None:
    product = await create_product(account)
    created = await create_requirement(account, product["id"])
    todo = await transition(account, created["id"], 1, "TODO")
    assert (todo["status"], todo["startedAt"], todo["completedAt"]) == ("TODO", None, None)
    started = await transition(account, created["id"], todo["version"], "IN_PROGRESS")
    assert started["startedAt"] is not None
    assert started["completedAt"] is None
    review = await transition(account, created["id"], started["version"], "IN_REVIEW")
    done = await transition(account, created["id"], review["version"], "DONE")
    assert done["startedAt"] == started["startedAt"]
    assert done["completedAt"] is not None
    assert datetime.fromisoformat(done["completedAt"]) >= datetime.fromisoformat(done["startedAt"])
    reopened = await transition(account, created["id"], done["version"], "IN_PROGRESS")
    assert reopened["completedAt"] is None
    assert reopened["startedAt"] == started["startedAt"], "the first start is kept when work resumes"
    canceled = await transition(account, created["id"], reopened["version"], "CANCELED")
    assert canceled["completedAt"] is not None
    assert canceled["version"] == 7
    history = (await details(account, created["id"]))["history"]
    assert history["totalCount"] == 7
    assert [(e["kind"], e["fromValue"], e["toValue"]) for e in history["nodes"]] == [
        ("CREATED", None, "BACKLOG"),
        ("STATUS", "BACKLOG", "TODO"),
        ("STATUS", "TODO", "IN_PROGRESS"),
        ("STATUS", "IN_PROGRESS", "IN_REVIEW"),
        ("STATUS", "IN_REVIEW", "DONE"),
        ("STATUS", "DONE", "IN_PROGRESS"),
        ("STATUS", "IN_PROGRESS", "CANCELED"),
    ]
    assert {e["actor"]["name"] for e in history["nodes"]} == {"Test User"}


async def test_a_transition_to_the_current_status_changes_nothing(account: Account) -> None:
    product = await create_product(account)
    created = await create_requirement(account, product["id"])
    same = await transition(account, created["id"], 1, "BACKLOG")
    assert same["version"] == 1
    assert (await details(account, created["id"]))["history"]["totalCount"] == 1


async def test_the_history_names_the_member_who_made_each_change(
    account: Account, gql: GraphQLClient, database_url: str
) -> None:
    teammate = await join_organization(gql, database_url, account, name="Grace")
    product = await create_product(account)
    created = await create_requirement(account, product["id"])
    await transition(teammate, created["id"], 1, "TODO")
    history = (await details(account, created["id"]))["history"]["nodes"]
    assert [(e["kind"], e["actor"]["name"]) for e in history] == [("CREATED", "Test User"), ("STATUS", "Grace")]


async def test_every_visible_change_is_recorded_with_its_values_as_objects_and_numbers(
    account: Account, app: Starlette, gql: GraphQLClient, database_url: str
) -> None:
    teammate = await join_organization(gql, database_url, account, name="Grace")
    product = await create_product(account, key="FEED")
    (ux, backend, api), sprint = await labels_and_sprint(app, account, product["id"], "ux", "backend", "api")
    release = await create_release(account, product["id"])
    epic = await create_requirement(account, product["id"], "Epic", kind="EPIC")
    created = await create_requirement(account, product["id"], "Draft", estimate=3, priority="LOW", labelIds=[ux])
    await update(
        account,
        id=created["id"],
        version=1,
        title="Export as CSV",
        description="Every column.",
        acceptanceCriteria="- opens in a spreadsheet",
        priority="HIGH",
        kind="BUG",
        estimate=2.5,
        assigneeId=teammate.user_id,
        sprintId=sprint,
        releaseId=release["id"],
        labelIds=[api, backend],
    )
    move = "mutation($input: MoveRequirementInput!) { moveRequirement(input: $input) { userErrors { code } } }"
    await account(move, {"input": {"id": created["id"], "version": 2, "parentId": epic["id"]}})
    await transition(account, created["id"], 3, "TODO")

    events = await history_of(account, created["id"])
    # Events written by one mutation share its moment; their order among themselves is not part of the contract.
    assert sorted(events[:2], key=repr) == [
        {"kind": "CREATED", "toStatus": "BACKLOG"},
        {"kind": "ESTIMATE", "toEstimate": 3},
    ]
    assert sorted(events[2:-2], key=repr) == sorted(
        [
            {"kind": "TITLE", "fromTitle": "Draft", "toTitle": "Export as CSV"},
            {"kind": "DESCRIPTION"},
            {"kind": "ACCEPTANCE_CRITERIA"},
            {"kind": "PRIORITY", "fromPriority": "LOW", "toPriority": "HIGH"},
            {"kind": "KIND", "fromKind": "STORY", "toKind": "BUG"},
            {"kind": "ESTIMATE", "fromEstimate": 3, "toEstimate": 2.5},
            {"kind": "ASSIGNEE", "toAssignee": {"id": teammate.user_id}},
            {"kind": "SPRINT", "toSprint": {"id": sprint}},
            {"kind": "RELEASE", "toRelease": {"id": release["id"]}},
            {"kind": "LABEL_REMOVED", "label": {"name": "ux"}},
            {"kind": "LABEL_ADDED", "label": {"name": "api"}},
            {"kind": "LABEL_ADDED", "label": {"name": "backend"}},
        ],
        key=repr,
    )
    assert events[-2:] == [
        {"kind": "PARENT", "toParent": {"key": "FEED-1"}},
        {"kind": "STATUS", "fromStatus": "BACKLOG", "toStatus": "TODO"},
    ]
    # The deprecated text values never show a database id, and numbers are written as numbers.
    nodes = (await details(account, created["id"]))["history"]["nodes"]
    texts = {(e["kind"], e["fromValue"], e["toValue"]) for e in nodes}
    assert {t for t in texts if t[0] in ("ESTIMATE", "ASSIGNEE", "SPRINT", "RELEASE", "PARENT", "LABEL_REMOVED")} == {
        ("ESTIMATE", None, "3"),
        ("ESTIMATE", "3", "2.5"),
        ("ASSIGNEE", None, teammate.user_id),
        ("SPRINT", None, sprint),
        ("RELEASE", None, release["id"]),
        ("PARENT", None, epic["id"]),
        ("LABEL_REMOVED", ux, None),
    }


async def test_an_edit_that_keeps_a_value_records_nothing_for_it(account: Account, app: Starlette) -> None:
    product = await create_product(account)
    (a, b), sprint = await labels_and_sprint(app, account, product["id"], "a", "b")
    created = await create_requirement(
        account, product["id"], "Same", description="d", priority="LOW", sprintId=sprint, labelIds=[a, b]
    )
    before = len(await history_of(account, created["id"]))
    await update(
        account,
        id=created["id"],
        version=1,
        title="Same",
        description="d",
        priority="LOW",
        kind="STORY",
        sprintId=sprint,
        labelIds=[b, a],
    )
    assert len(await history_of(account, created["id"])) == before


async def test_a_kind_must_still_fit_its_parent_and_children(account: Account) -> None:
    product = await create_product(account)
    story = await create_requirement(account, product["id"], "Story")
    task = await create_requirement(account, product["id"], "Task", kind="TASK", parentId=story["id"])
    for target, kind in ((task, "FEATURE"), (story, "BUG")):
        data = await account(UPDATE, {"input": {"id": target["id"], "version": 1, "kind": kind}})
        assert [(e["field"], e["code"]) for e in data["updateRequirement"]["userErrors"]] == [
            (["input", "kind"], "INVALID_PARENT")
        ]
    assert [e["kind"] for e in await history_of(account, story["id"])] == ["CREATED"]
    assert (await update(account, id=story["id"], version=1, kind="FEATURE")) == {"version": 2}
    assert (await details(account, story["id"]))["kind"] == "FEATURE"


# ---------------------------------------------------------------------------------------------------------------
# Filters and sorting over one shared backlog


LIST = """
query($filter: RequirementFilter, $order: RequirementOrder) {
  requirements(first: 100, filter: $filter, orderBy: $order) {
    totalCount
    nodes { id title number rank priority estimate createdAt updatedAt }
  }
}
"""


class Backlog:
    """Six requirements of product FLT and one of product OTH, with everything filters look at."""

    account: Account
    teammate: Account
    ids: dict[str, str]
    labels: dict[str, str]
    sprint: str
    product: str
    other_product: str


@pytest.fixture(scope="module")
async def backlog(http: httpx.AsyncClient, app: Starlette, database_url: str) -> Backlog:
    gql = GraphQLClient(http)
    account = await sign_up(gql, name="Owner")
    teammate = await join_organization(gql, database_url, account, name="Teammate")
    product = await create_product(account, key="FLT")
    other = await create_product(account, key="OTH")
    (label_a, label_b), sprint = await labels_and_sprint(app, account, product["id"], "alpha", "beta")
    owner, mate = account.user_id, teammate.user_id
    new = create_requirement
    r1 = await new(account, product["id"], "Checkout epic", kind="EPIC", assigneeId=owner, labelIds=[label_a])
    r2 = await new(
        account,
        product["id"],
        "Payments feature",
        kind="FEATURE",
        parentId=r1["id"],
        assigneeId=mate,
        labelIds=[label_a, label_b],
        estimate=5,
        priority="HIGH",
    )
    r3 = await new(
        account,
        product["id"],
        "Discounts of 100% off",
        parentId=r2["id"],
        labelIds=[label_b],
        estimate=3,
        priority="URGENT",
    )
    r4 = await new(
        account, product["id"], "Snake_case naming", assigneeId=owner, estimate=8, priority="LOW", sprintId=sprint
    )
    r5 = await new(
        account, product["id"], "Login crashes", kind="BUG", priority="MEDIUM", description="Seen at CHECKOUT"
    )
    r6 = await new(account, product["id"], "Write docs", kind="TASK", parentId=r2["id"], sprintId=sprint)
    r7 = await new(account, other["id"], "Elsewhere")
    await transition(account, r2["id"], 1, "TODO")
    await transition(account, r3["id"], 1, "IN_PROGRESS")
    await transition(account, r4["id"], 1, "IN_PROGRESS")
    await transition(account, r4["id"], 2, "DONE")
    await transition(account, r5["id"], 1, "CANCELED")
    result = Backlog()
    result.account, result.teammate = account, teammate
    result.ids = {f"r{n}": r["id"] for n, r in enumerate((r1, r2, r3, r4, r5, r6, r7), start=1)}
    result.labels = {"alpha": label_a, "beta": label_b}
    result.sprint = sprint
    result.product = product["id"]
    result.other_product = other["id"]
    return result


async def listed(backlog: Backlog, filter: dict[str, Any] | None = None, order: Any = None) -> list[str]:
    data = await backlog.account(LIST, {"filter": filter, "order": order})
    connection = data["requirements"]
    assert connection["totalCount"] == len(connection["nodes"])
    names = {v: k for k, v in backlog.ids.items()}
    return sorted(names[n["id"]] for n in connection["nodes"])


async def test_filters_by_status_kind_and_priority(backlog: Backlog) -> None:
    assert await listed(backlog, {"statuses": ["IN_PROGRESS", "DONE"]}) == ["r3", "r4"]
    assert await listed(backlog, {"statuses": ["BACKLOG"]}) == ["r1", "r6", "r7"]
    assert await listed(backlog, {"kinds": ["STORY"]}) == ["r3", "r4", "r7"]
    assert await listed(backlog, {"kinds": ["EPIC", "BUG"]}) == ["r1", "r5"]
    assert await listed(backlog, {"priorities": ["HIGH", "URGENT"]}) == ["r2", "r3"]
    assert await listed(backlog, {"kinds": ["STORY"], "statuses": ["DONE"]}) == ["r4"]


async def test_filters_by_assignee_and_unassigned(backlog: Backlog) -> None:
    owner, mate = backlog.account.user_id, backlog.teammate.user_id
    assert await listed(backlog, {"assigneeIds": [owner]}) == ["r1", "r4"]
    assert await listed(backlog, {"assigneeIds": [mate]}) == ["r2"]
    assert await listed(backlog, {"assigneeIds": [owner, mate]}) == ["r1", "r2", "r4"]
    assert await listed(backlog, {"unassigned": True}) == ["r3", "r5", "r6", "r7"]
    assert await listed(backlog, {"unassigned": True, "assigneeIds": [mate]}) == ["r2", "r3", "r5", "r6", "r7"]


async def test_filters_by_label_sprint_and_product(backlog: Backlog) -> None:
    alpha, beta = backlog.labels["alpha"], backlog.labels["beta"]
    assert await listed(backlog, {"labelIds": [alpha]}) == ["r1", "r2"]
    assert await listed(backlog, {"labelIds": [beta]}) == ["r2", "r3"]
    assert await listed(backlog, {"labelIds": [alpha, beta]}) == ["r1", "r2", "r3"]
    assert await listed(backlog, {"sprintIds": [backlog.sprint]}) == ["r4", "r6"]
    assert await listed(backlog, {"noSprint": True, "kinds": ["STORY"]}) == ["r3", "r7"]
    assert await listed(backlog, {"productIds": [backlog.other_product]}) == ["r7"]


async def test_filters_by_parent_and_top_level(backlog: Backlog) -> None:
    assert await listed(backlog, {"parentIds": [backlog.ids["r2"]]}) == ["r3", "r6"]
    assert await listed(backlog, {"parentIds": [backlog.ids["r1"], backlog.ids["r2"]]}) == ["r2", "r3", "r6"]
    assert await listed(backlog, {"topLevel": True}) == ["r1", "r4", "r5", "r7"]
    assert await listed(backlog, {"topLevel": False}) == ["r2", "r3", "r6"]
    assert await listed(backlog, {"topLevel": True, "kinds": ["STORY"]}) == ["r4", "r7"]


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("checkout", ["r1", "r5"]),
        ("CHECKOUT", ["r1", "r5"]),
        ("  Login  ", ["r5"]),
        ("%", ["r3"]),
        ("100%", ["r3"]),
        ("_", ["r4"]),
        ("e_c", ["r4"]),
        ("\\", []),
        ("nothing like this", []),
    ],
)
async def test_text_search_is_case_insensitive_and_treats_wildcards_literally(
    backlog: Backlog, search: str, expected: list[str]
) -> None:
    assert await listed(backlog, {"search": search}) == expected


async def test_product_requirements_take_the_same_filters(backlog: Backlog) -> None:
    data = await backlog.account(
        """query($filter: RequirementFilter) {
             product(key: "FLT") { requirements(filter: $filter) { totalCount nodes { title } } }
           }""",
        {"filter": {"labelIds": [backlog.labels["beta"]], "statuses": ["TODO"]}},
    )
    assert data["product"]["requirements"] == {"totalCount": 1, "nodes": [{"title": "Payments feature"}]}


async def test_filters_with_malformed_ids_are_bad_user_input(backlog: Backlog) -> None:
    result = await backlog.account.run(LIST, {"filter": {"labelIds": ["nope"]}})
    assert result.codes == ["BAD_USER_INPUT"]
    foreign = await backlog.account.run(LIST, {"filter": {"assigneeIds": [global_id("User", uuid.uuid4())]}})
    assert foreign.data["requirements"] == {"totalCount": 0, "nodes": []}


_PRIORITY = {"NONE": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "URGENT": 4}
SORT_KEYS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "RANK": lambda n: n["rank"],
    "CREATED_AT": lambda n: datetime.fromisoformat(n["createdAt"]),
    "UPDATED_AT": lambda n: datetime.fromisoformat(n["updatedAt"]),
    "NUMBER": lambda n: n["number"],
    "TITLE": lambda n: n["title"],
    "PRIORITY": lambda n: _PRIORITY[n["priority"]],
    "ESTIMATE": lambda n: -1.0 if n["estimate"] is None else n["estimate"],
}


@pytest.mark.parametrize("direction", ["ASC", "DESC"])
@pytest.mark.parametrize("field", list(SORT_KEYS))
async def test_order_by_each_field_in_both_directions(backlog: Backlog, field: str, direction: str) -> None:
    order = {"field": field, "direction": direction}
    data = await backlog.account(LIST, {"filter": {"productIds": [backlog.product]}, "order": order})
    nodes = data["requirements"]["nodes"]
    assert len(nodes) == 6
    expected = sorted(nodes, key=lambda n: (SORT_KEYS[field](n), uuid_of(n["id"])), reverse=direction == "DESC")
    assert [n["title"] for n in nodes] == [n["title"] for n in expected]


async def test_sorting_by_priority_descending_puts_the_most_urgent_first(backlog: Backlog) -> None:
    order = {"field": "PRIORITY", "direction": "DESC"}
    data = await backlog.account(LIST, {"filter": {"productIds": [backlog.product]}, "order": order})
    priorities = [n["priority"] for n in data["requirements"]["nodes"]]
    ranked = ["URGENT", "HIGH", "MEDIUM", "LOW", "NONE"]
    assert priorities == sorted(priorities, key=ranked.index)
    assert len(set(priorities)) > 1


async def test_the_default_order_is_the_rank(backlog: Backlog) -> None:
    default = await backlog.account(LIST, {"filter": {"kinds": ["STORY", "TASK"]}})
    by_rank = await backlog.account(LIST, {"filter": {"kinds": ["STORY", "TASK"]}, "order": {"field": "RANK"}})
    assert default == by_rank
    ranks = [n["rank"] for n in default["requirements"]["nodes"]]
    assert ranks == sorted(ranks)


async def test_an_integrator_syncs_incrementally_by_updated_at_and_filters_by_creation_time(account: Account) -> None:
    product = await create_product(account)
    first, second, third = [await create_requirement(account, product["id"], title=t) for t in ("one", "two", "three")]
    listed = await account(LIST, {"filter": {"productIds": [product["id"]]}, "order": {"field": "CREATED_AT"}})
    times = {n["title"]: (n["createdAt"], n["updatedAt"]) for n in listed["requirements"]["nodes"]}
    since = times["two"][1]  # the newest updatedAt the integrator holds after its last sync of "one" and "two"

    def changed_after(moment: str) -> dict[str, Any]:
        return {
            "filter": {"productIds": [product["id"]], "updatedAt": {"after": moment}},
            "order": {"field": "UPDATED_AT"},
        }

    assert [n["title"] for n in (await account(LIST, changed_after(since)))["requirements"]["nodes"]] == ["three"]
    edited = await account(
        """mutation($input: UpdateRequirementInput!) { updateRequirement(input: $input) { userErrors { code } } }""",
        {"input": {"id": first["id"], "version": first["version"], "title": "one, edited"}},
    )
    assert edited["updateRequirement"]["userErrors"] == []
    again = (await account(LIST, changed_after(since)))["requirements"]
    assert [n["title"] for n in again["nodes"]] == ["three", "one, edited"]
    assert again["totalCount"] == 2

    created_before = {"productIds": [product["id"]], "createdAt": {"before": times["two"][0]}}
    assert [n["title"] for n in (await account(LIST, {"filter": created_before}))["requirements"]["nodes"]] == [
        "one, edited"
    ]
    between = {"productIds": [product["id"]], "createdAt": {"after": times["one"][0], "before": times["three"][0]}}
    assert [n["id"] for n in (await account(LIST, {"filter": between}))["requirements"]["nodes"]] == [second["id"]]
    assert third["id"] not in [n["id"] for n in listed["requirements"]["nodes"][:2]]


async def test_a_time_range_without_a_zone_is_refused(account: Account) -> None:
    result = await account.run(LIST, {"filter": {"updatedAt": {"after": "2026-01-01T00:00:00"}}})
    assert result.codes == ["BAD_USER_INPUT"]
    assert "time zone" in result.errors[0]["message"]


API_MD = Path(__file__).resolve().parent.parent / "docs" / "api.md"


async def test_the_incremental_sync_example_in_api_md_runs_as_written(account: Account) -> None:
    import re

    text = API_MD.read_text()
    section = text[text.index("**Incremental sync.**") :]
    found = re.search(r"```graphql\n(.*?)```", section, re.S)
    assert found
    product = await create_product(account)
    await create_requirement(account, product["id"], title="synced")
    data = await account(found.group(1), {"since": "2000-01-01T00:00:00Z", "cursor": None})
    assert [n["title"] for n in data["requirements"]["nodes"]] == ["synced"]
    assert data["requirements"]["pageInfo"]["hasNextPage"] is False
