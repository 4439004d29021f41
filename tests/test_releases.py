"""Releases: planning a product's shipments and moving them through their life cycle."""

from typing import Any

import pytest

from tests.helpers import Account, assert_not_found, create_product, create_release, create_requirement

RELEASE_FIELDS = "id name description targetDate state releasedAt version product { id }"

CREATE = f"""
mutation($input: CreateReleaseInput!) {{
  createRelease(input: $input) {{ release {{ {RELEASE_FIELDS} }} userErrors {{ field message code }} }}
}}"""
UPDATE = f"""
mutation($input: UpdateReleaseInput!) {{
  updateRelease(input: $input) {{ release {{ {RELEASE_FIELDS} }} userErrors {{ field message code }} }}
}}"""
RELEASE = f"query($id: ID!) {{ release(id: $id) {{ {RELEASE_FIELDS} }} }}"
RELEASE_COUNT = "query($id: ID!) { product(id: $id) { releases { totalCount } } }"


async def read_release(account: Account, release_id: str) -> dict[str, Any]:
    return (await account(RELEASE, {"id": release_id}))["release"]  # type: ignore[no-any-return]


async def release_count(account: Account, product_id: str) -> int:
    data = await account(RELEASE_COUNT, {"id": product_id})
    return data["product"]["releases"]["totalCount"]  # type: ignore[no-any-return]


async def move(account: Account, release: dict[str, Any], state: str) -> dict[str, Any]:
    """Ask for a state change; returns the payload."""
    data = await account(UPDATE, {"input": {"id": release["id"], "version": release["version"], "state": state}})
    return data["updateRelease"]  # type: ignore[no-any-return]


async def release_in(account: Account, path: list[str]) -> dict[str, Any]:
    """A release walked through `path` of states."""
    product = await create_product(account)
    release = await create_release(account, product["id"])
    for state in path:
        payload = await move(account, release, state)
        assert payload["userErrors"] == [], payload
        release = payload["release"]
    return await read_release(account, release["id"])


async def test_a_release_is_planned_with_its_details(account: Account) -> None:
    product = await create_product(account)
    data = await account(
        CREATE,
        {"input": {"productId": product["id"], "name": " 2.0 ", "description": "Big one", "targetDate": "2025-06-30"}},
    )
    payload = data["createRelease"]
    assert payload["userErrors"] == []
    release = payload["release"]
    assert (release["name"], release["description"], release["targetDate"]) == ("2.0", "Big one", "2025-06-30")
    assert (release["state"], release["releasedAt"], release["version"]) == ("PLANNED", None, 1)
    assert release["product"]["id"] == product["id"]
    assert await read_release(account, release["id"]) == release


async def test_a_release_goes_from_planned_through_in_progress_to_released(account: Account) -> None:
    release = await release_in(account, [])
    started = await move(account, release, "IN_PROGRESS")
    assert started["userErrors"] == []
    assert (started["release"]["state"], started["release"]["releasedAt"]) == ("IN_PROGRESS", None)
    shipped = await move(account, started["release"], "RELEASED")
    assert shipped["userErrors"] == []
    assert shipped["release"]["state"] == "RELEASED"
    assert shipped["release"]["releasedAt"] is not None
    assert shipped["release"]["version"] == 3


@pytest.mark.parametrize("path", [[], ["IN_PROGRESS"]])
async def test_a_release_not_yet_released_can_be_canceled(account: Account, path: list[str]) -> None:
    release = await release_in(account, path)
    payload = await move(account, release, "CANCELED")
    assert payload["userErrors"] == []
    assert (payload["release"]["state"], payload["release"]["releasedAt"]) == ("CANCELED", None)


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ([], "RELEASED"),
        (["IN_PROGRESS"], "PLANNED"),
        (["IN_PROGRESS", "RELEASED"], "CANCELED"),
        (["IN_PROGRESS", "RELEASED"], "IN_PROGRESS"),
        (["CANCELED"], "PLANNED"),
        (["CANCELED"], "IN_PROGRESS"),
    ],
)
async def test_other_release_state_moves_are_refused(account: Account, path: list[str], target: str) -> None:
    release = await release_in(account, path)
    payload = await move(account, release, target)
    assert payload["release"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(["input", "state"], "INVALID_TRANSITION")]
    assert await read_release(account, release["id"]) == release


async def test_updating_a_release_changes_only_the_fields_sent(account: Account) -> None:
    product = await create_product(account)
    release = await create_release(account, product["id"], description="Scope", targetDate="2025-06-30")
    data = await account(UPDATE, {"input": {"id": release["id"], "version": 1, "name": "1.1", "targetDate": None}})
    payload = data["updateRelease"]
    assert payload["userErrors"] == []
    updated = payload["release"]
    assert (updated["name"], updated["description"], updated["targetDate"]) == ("1.1", "Scope", None)
    assert (updated["state"], updated["version"]) == ("PLANNED", 2)


async def test_release_names_and_descriptions_are_checked(account: Account) -> None:
    product = await create_product(account)
    cases = [
        ({"name": ""}, "name", "BAD_USER_INPUT"),
        ({"name": "n" * 121}, "name", "TOO_LONG"),
        ({"description": "d" * 10_001}, "description", "TOO_LONG"),
    ]
    for fields, field, code in cases:
        data = await account(CREATE, {"input": {"productId": product["id"], "name": "1.0", **fields}})
        assert data["createRelease"]["release"] is None
        assert [(e["field"], e["code"]) for e in data["createRelease"]["userErrors"]] == [(["input", field], code)]
    assert await release_count(account, product["id"]) == 0
    release = await create_release(account, product["id"])
    data = await account(UPDATE, {"input": {"id": release["id"], "version": 1, "name": "n" * 121}})
    assert [e["code"] for e in data["updateRelease"]["userErrors"]] == ["TOO_LONG"]
    assert (await read_release(account, release["id"]))["name"] == "1.0"


async def test_a_stale_release_version_is_refused_with_conflict(account: Account) -> None:
    product = await create_product(account)
    release = await create_release(account, product["id"])
    await account(UPDATE, {"input": {"id": release["id"], "version": 1, "name": "First"}})
    payload = await move(account, release, "IN_PROGRESS")
    assert payload["release"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(["input", "version"], "CONFLICT")]
    current = await read_release(account, release["id"])
    assert (current["name"], current["state"], current["version"]) == ("First", "PLANNED", 2)


async def test_a_product_lists_its_releases_by_target_date_and_filters_them_by_state(account: Account) -> None:
    product = await create_product(account)
    await create_release(account, product["id"], name="Later", targetDate="2025-09-01")
    await create_release(account, product["id"], name="Someday")
    sooner = await create_release(account, product["id"], name="Sooner", targetDate="2025-06-01")
    await move(account, sooner, "IN_PROGRESS")
    query = """query($id: ID!, $filter: ReleaseFilter) {
      product(id: $id) { releases(filter: $filter) { totalCount nodes { name state } } }
    }"""
    every = (await account(query, {"id": product["id"]}))["product"]["releases"]
    assert every["totalCount"] == 3
    assert [n["name"] for n in every["nodes"]] == ["Sooner", "Later", "Someday"]
    going = await account(query, {"id": product["id"], "filter": {"states": ["IN_PROGRESS"]}})
    assert going["product"]["releases"] == {"totalCount": 1, "nodes": [{"name": "Sooner", "state": "IN_PROGRESS"}]}


async def test_a_release_lists_the_requirements_that_ship_in_it(account: Account) -> None:
    product = await create_product(account)
    release = await create_release(account, product["id"])
    first = await create_requirement(account, product["id"], title="First", releaseId=release["id"])
    await create_requirement(account, product["id"], title="Unscheduled")
    second = await create_requirement(account, product["id"], title="Second", releaseId=release["id"])
    data = await account(
        "query($id: ID!) { release(id: $id) { requirements(first: 10) { totalCount nodes { id } } } }",
        {"id": release["id"]},
    )
    assert data["release"]["requirements"] == {"totalCount": 2, "nodes": [{"id": first["id"]}, {"id": second["id"]}]}


async def test_another_organizations_product_and_releases_are_not_found(
    account: Account, other_account: Account
) -> None:
    product = await create_product(account)
    release = await read_release(account, (await create_release(account, product["id"]))["id"])
    data = await other_account(CREATE, {"input": {"productId": product["id"], "name": "Intruder"}})
    assert data["createRelease"]["release"] is None
    assert [(e["field"], e["code"]) for e in data["createRelease"]["userErrors"]] == [
        (["input", "productId"], "NOT_FOUND")
    ]
    payload = await move(other_account, release, "CANCELED")
    assert payload["release"] is None
    assert [e["code"] for e in payload["userErrors"]] == ["NOT_FOUND"]
    await assert_not_found(other_account, RELEASE, {"id": release["id"]}, "release")
    assert await release_count(account, product["id"]) == 1
    assert await read_release(account, release["id"]) == release


async def test_a_release_query_answers_not_found_for_ids_that_are_not_releases(account: Account) -> None:
    product = await create_product(account)
    await assert_not_found(account, RELEASE, {"id": product["id"]}, "release")
