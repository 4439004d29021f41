"""Roadmaps: plans of a product with ranked items that stand for its epics and features."""

from typing import Any

from tests.helpers import (
    Account,
    add_roadmap_item,
    assert_not_found,
    create_product,
    create_requirement,
    create_roadmap,
)

ERRORS = "userErrors { field message code }"
CREATE = f"""
mutation($input: CreateRoadmapInput!) {{ createRoadmap(input: $input) {{ roadmap {{ id name version }} {ERRORS} }} }}
"""
UPDATE = f"""
mutation($input: UpdateRoadmapInput!) {{
  updateRoadmap(input: $input) {{ roadmap {{ id name description version }} {ERRORS} }}
}}
"""
DELETE = f"""
mutation($input: DeleteRoadmapInput!) {{ deleteRoadmap(input: $input) {{ deletedId {ERRORS} }} }}
"""
ADD_ITEM = f"""
mutation($input: AddRoadmapItemInput!) {{
  addRoadmapItem(input: $input) {{
    roadmapItem {{ id title lane startsOn endsOn requirement {{ key }} roadmap {{ name }} }}
    {ERRORS}
  }}
}}
"""
UPDATE_ITEM = f"""
mutation($input: UpdateRoadmapItemInput!) {{
  updateRoadmapItem(input: $input) {{
    roadmapItem {{ id title lane startsOn endsOn requirement {{ key }} }}
    {ERRORS}
  }}
}}
"""
REMOVE_ITEM = f"""
mutation($input: RemoveRoadmapItemInput!) {{ removeRoadmapItem(input: $input) {{ removedId {ERRORS} }} }}
"""
ROADMAP = """
query($id: ID!) {
  roadmap(id: $id) {
    id name description version product { key }
    items(first: 100) { totalCount nodes { title lane startsOn endsOn requirement { key } } }
  }
}
"""
PRODUCT_ROADMAPS = """
query($id: ID!) { product(id: $id) { roadmaps { totalCount nodes { id name } } } }
"""


def codes(payload: dict[str, Any]) -> list[tuple[list[str] | None, str]]:
    return [(e["field"], e["code"]) for e in payload["userErrors"]]


async def read_roadmap(account: Account, roadmap_id: str) -> Any:
    return (await account(ROADMAP, {"id": roadmap_id}))["roadmap"]


async def roadmap_count(account: Account, product_id: str) -> int:
    return (await account(PRODUCT_ROADMAPS, {"id": product_id}))["product"]["roadmaps"]["totalCount"]  # type: ignore[no-any-return]


async def test_a_roadmap_is_created_renamed_and_listed_on_its_product(account: Account) -> None:
    product = await create_product(account, key="ROAD")
    first = await create_roadmap(account, product["id"], name="2025 plan", description="Where we go")
    await create_roadmap(account, product["id"], name="2026 plan")

    updated = (await account(UPDATE, {"input": {"id": first["id"], "version": 1, "name": "2025 plan (revised)"}}))[
        "updateRoadmap"
    ]
    assert updated["userErrors"] == []
    assert updated["roadmap"] == {
        "id": first["id"],
        "name": "2025 plan (revised)",
        "description": "Where we go",
        "version": 2,
    }

    listed = (await account(PRODUCT_ROADMAPS, {"id": product["id"]}))["product"]["roadmaps"]
    assert listed["totalCount"] == 2
    assert [n["name"] for n in listed["nodes"]] == ["2025 plan (revised)", "2026 plan"]
    read = await read_roadmap(account, first["id"])
    assert read["product"] == {"key": "ROAD"}
    assert read["items"] == {"totalCount": 0, "nodes": []}


async def test_roadmap_changes_from_a_stale_version_conflict(account: Account) -> None:
    product = await create_product(account)
    roadmap = await create_roadmap(account, product["id"], name="Plan")
    await account(UPDATE, {"input": {"id": roadmap["id"], "version": 1, "name": "Plan B"}})

    stale_update = (await account(UPDATE, {"input": {"id": roadmap["id"], "version": 1, "name": "Plan C"}}))[
        "updateRoadmap"
    ]
    assert stale_update["roadmap"] is None
    assert codes(stale_update) == [(["input", "version"], "CONFLICT")]
    stale_delete = (await account(DELETE, {"input": {"id": roadmap["id"], "version": 1}}))["deleteRoadmap"]
    assert codes(stale_delete) == [(["input", "version"], "CONFLICT")]

    read = await read_roadmap(account, roadmap["id"])
    assert (read["name"], read["version"]) == ("Plan B", 2)


async def test_deleting_a_roadmap_removes_its_items_but_keeps_the_requirements(account: Account) -> None:
    product = await create_product(account, key="DEL")
    epic = await create_requirement(account, product["id"], title="Payments", kind="EPIC")
    roadmap = await create_roadmap(account, product["id"])
    item = await add_roadmap_item(account, roadmap["id"], requirementId=epic["id"])

    deleted = (await account(DELETE, {"input": {"id": roadmap["id"], "version": 1}}))["deleteRoadmap"]
    assert deleted == {"deletedId": roadmap["id"], "userErrors": []}

    await assert_not_found(account, ROADMAP, {"id": roadmap["id"]}, "roadmap")
    data = await account("query($id: ID!) { node(id: $id) { id } }", {"id": epic["id"]})
    assert data["node"] == {"id": epic["id"]}
    result = await account.run("query($id: ID!) { node(id: $id) { id } }", {"id": item["id"]})
    assert result.codes == ["NOT_FOUND"]


async def test_roadmap_items_keep_their_rank_order_and_can_be_placed_after_another(account: Account) -> None:
    product = await create_product(account)
    roadmap = await create_roadmap(account, product["id"])
    first = await add_roadmap_item(account, roadmap["id"], "First")
    await add_roadmap_item(account, roadmap["id"], "Second")
    await add_roadmap_item(account, roadmap["id"], "Third")
    await add_roadmap_item(account, roadmap["id"], "Between first and second", afterItemId=first["id"])

    items = (await read_roadmap(account, roadmap["id"]))["items"]
    assert [n["title"] for n in items["nodes"]] == ["First", "Between first and second", "Second", "Third"]
    assert items["totalCount"] == 4


async def test_a_roadmap_item_lays_an_epic_or_feature_over_a_time_box_in_a_lane(account: Account) -> None:
    product = await create_product(account, key="LANE")
    epic = await create_requirement(account, product["id"], title="Onboarding", kind="EPIC")
    feature = await create_requirement(account, product["id"], title="Invites", kind="FEATURE")
    roadmap = await create_roadmap(account, product["id"], name="H1")

    added = (
        await account(
            ADD_ITEM,
            {
                "input": {
                    "roadmapId": roadmap["id"],
                    "title": "  Onboarding revamp ",
                    "lane": "Growth",
                    "startsOn": "2025-01-06",
                    "endsOn": "2025-03-28",
                    "requirementId": epic["id"],
                }
            },
        )
    )["addRoadmapItem"]
    assert added["userErrors"] == []
    assert added["roadmapItem"] == {
        "id": added["roadmapItem"]["id"],
        "title": "Onboarding revamp",
        "lane": "Growth",
        "startsOn": "2025-01-06",
        "endsOn": "2025-03-28",
        "requirement": {"key": "LANE-1"},
        "roadmap": {"name": "H1"},
    }
    same_day = await add_roadmap_item(
        account,
        roadmap["id"],
        "One-day launch",
        startsOn="2025-04-01",
        endsOn="2025-04-01",
        requirementId=feature["id"],
    )
    assert same_day["title"] == "One-day launch", "an item may start and end on the same day"


async def test_a_roadmap_item_may_only_stand_for_an_epic_or_feature_of_the_same_product(account: Account) -> None:
    product = await create_product(account)
    elsewhere = await create_product(account)
    story = await create_requirement(account, product["id"], kind="STORY")
    foreign_epic = await create_requirement(account, elsewhere["id"], kind="EPIC")
    epic = await create_requirement(account, product["id"], kind="EPIC")
    roadmap = await create_roadmap(account, product["id"])

    for requirement in (story, foreign_epic):
        payload = (
            await account(
                ADD_ITEM, {"input": {"roadmapId": roadmap["id"], "title": "x", "requirementId": requirement["id"]}}
            )
        )["addRoadmapItem"]
        assert payload["roadmapItem"] is None
        assert codes(payload) == [(["input", "requirementId"], "INVALID_PARENT")]
    assert (await read_roadmap(account, roadmap["id"]))["items"]["totalCount"] == 0

    item = await add_roadmap_item(account, roadmap["id"], requirementId=epic["id"])
    relinked = (await account(UPDATE_ITEM, {"input": {"id": item["id"], "requirementId": story["id"]}}))[
        "updateRoadmapItem"
    ]
    assert codes(relinked) == [(["input", "requirementId"], "INVALID_PARENT")]
    assert (await read_roadmap(account, roadmap["id"]))["items"]["nodes"][0]["requirement"] is not None


async def test_roadmap_inputs_outside_their_limits_are_refused_and_nothing_is_written(account: Account) -> None:
    product = await create_product(account)
    for given, field, code in [
        ({"name": "n" * 121}, "name", "TOO_LONG"),
        ({"name": " "}, "name", "BAD_USER_INPUT"),
        ({"name": "ok", "description": "d" * 10_001}, "description", "TOO_LONG"),
    ]:
        payload = (await account(CREATE, {"input": {"productId": product["id"], **given}}))["createRoadmap"]
        assert codes(payload) == [(["input", field], code)], given
    assert await roadmap_count(account, product["id"]) == 0

    roadmap = await create_roadmap(account, product["id"])
    for given, field, code in [
        ({"title": ""}, "title", "BAD_USER_INPUT"),
        ({"title": "t" * 256}, "title", "TOO_LONG"),
        ({"title": "ok", "lane": "l" * 65}, "lane", "TOO_LONG"),
        ({"title": "ok", "startsOn": "2025-02-01", "endsOn": "2025-01-31"}, "endsOn", "OUT_OF_RANGE"),
    ]:
        payload = (await account(ADD_ITEM, {"input": {"roadmapId": roadmap["id"], **given}}))["addRoadmapItem"]
        assert payload["roadmapItem"] is None
        assert codes(payload) == [(["input", field], code)], given
    assert (await read_roadmap(account, roadmap["id"]))["items"]["totalCount"] == 0


async def test_updating_a_roadmap_item_changes_the_fields_sent_and_null_clears(account: Account) -> None:
    product = await create_product(account, key="UPD")
    epic = await create_requirement(account, product["id"], kind="EPIC")
    roadmap = await create_roadmap(account, product["id"])
    item = await add_roadmap_item(
        account, roadmap["id"], "Old", lane="Core", startsOn="2025-01-01", endsOn="2025-01-31", requirementId=epic["id"]
    )

    moved = (await account(UPDATE_ITEM, {"input": {"id": item["id"], "title": "New", "endsOn": "2025-02-28"}}))[
        "updateRoadmapItem"
    ]
    assert moved["userErrors"] == []
    assert moved["roadmapItem"] == {
        "id": item["id"],
        "title": "New",
        "lane": "Core",
        "startsOn": "2025-01-01",
        "endsOn": "2025-02-28",
        "requirement": {"key": "UPD-1"},
    }

    backwards = (await account(UPDATE_ITEM, {"input": {"id": item["id"], "startsOn": "2025-03-01"}}))[
        "updateRoadmapItem"
    ]
    assert codes(backwards) == [(["input", "startsOn"], "OUT_OF_RANGE")]

    cleared = (
        await account(UPDATE_ITEM, {"input": {"id": item["id"], "requirementId": None, "endsOn": None, "lane": None}})
    )["updateRoadmapItem"]
    assert cleared["userErrors"] == []
    assert cleared["roadmapItem"]["requirement"] is None
    assert (cleared["roadmapItem"]["endsOn"], cleared["roadmapItem"]["lane"]) == (None, "")
    assert cleared["roadmapItem"]["startsOn"] == "2025-01-01"


async def test_removing_a_roadmap_item_takes_it_off_the_roadmap(account: Account) -> None:
    product = await create_product(account)
    roadmap = await create_roadmap(account, product["id"])
    keep = await add_roadmap_item(account, roadmap["id"], "Keep")
    drop = await add_roadmap_item(account, roadmap["id"], "Drop")

    removed = (await account(REMOVE_ITEM, {"input": {"id": drop["id"]}}))["removeRoadmapItem"]
    assert removed == {"removedId": drop["id"], "userErrors": []}
    again = (await account(REMOVE_ITEM, {"input": {"id": drop["id"]}}))["removeRoadmapItem"]
    assert codes(again) == [(["input", "id"], "NOT_FOUND")]
    assert [n["title"] for n in (await read_roadmap(account, roadmap["id"]))["items"]["nodes"]] == [keep["title"]]


async def test_an_archived_product_gets_no_new_roadmaps(account: Account) -> None:
    product = await create_product(account)
    await account(
        "mutation($input: ArchiveProductInput!) { archiveProduct(input: $input) { product { id } } }",
        {"input": {"id": product["id"], "version": product["version"]}},
    )
    payload = (await account(CREATE, {"input": {"productId": product["id"], "name": "Late"}}))["createRoadmap"]
    assert codes(payload) == [(["input", "productId"], "INVALID_STATE")]


async def test_another_organizations_roadmap_ids_are_not_found_and_nothing_is_written(
    account: Account, other_account: Account
) -> None:
    product = await create_product(account)
    epic = await create_requirement(account, product["id"], kind="EPIC")
    roadmap = await create_roadmap(account, product["id"], name="Ours")
    item = await add_roadmap_item(account, roadmap["id"], "Ours too")
    their_product = await create_product(other_account)
    their_roadmap = await create_roadmap(other_account, their_product["id"])

    attempts = [
        (CREATE, "createRoadmap", {"productId": product["id"], "name": "Theirs"}, "productId"),
        (UPDATE, "updateRoadmap", {"id": roadmap["id"], "version": 1, "name": "Hijacked"}, "id"),
        (DELETE, "deleteRoadmap", {"id": roadmap["id"], "version": 1}, "id"),
        (ADD_ITEM, "addRoadmapItem", {"roadmapId": roadmap["id"], "title": "Intruder"}, "roadmapId"),
        (
            ADD_ITEM,
            "addRoadmapItem",
            {"roadmapId": their_roadmap["id"], "title": "x", "requirementId": epic["id"]},
            "requirementId",
        ),
        (
            ADD_ITEM,
            "addRoadmapItem",
            {"roadmapId": their_roadmap["id"], "title": "x", "afterItemId": item["id"]},
            "afterItemId",
        ),
        (UPDATE_ITEM, "updateRoadmapItem", {"id": item["id"], "title": "Hijacked"}, "id"),
        (REMOVE_ITEM, "removeRoadmapItem", {"id": item["id"]}, "id"),
    ]
    for mutation, name, given, field in attempts:
        payload = (await other_account(mutation, {"input": given}))[name]
        assert codes(payload) == [(["input", field], "NOT_FOUND")], (name, given)

    await assert_not_found(other_account, ROADMAP, {"id": roadmap["id"]}, "roadmap")
    ours = await read_roadmap(account, roadmap["id"])
    assert (ours["name"], ours["version"]) == ("Ours", 1)
    assert [n["title"] for n in ours["items"]["nodes"]] == ["Ours too"]
    assert await roadmap_count(account, product["id"]) == 1
    assert (await read_roadmap(other_account, their_roadmap["id"]))["items"]["totalCount"] == 0
