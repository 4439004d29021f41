"""Labels: unique names per organization regardless of case, #rrggbb colours, removal from requirements."""

from typing import Any

from tests.helpers import (
    Account,
    GraphQLClient,
    create_label,
    create_product,
    create_requirement,
    join_organization,
)

CREATE = """
mutation($input: CreateLabelInput!) {
  createLabel(input: $input) { label { id name color description } userErrors { field message code } }
}
"""
UPDATE = """
mutation($input: UpdateLabelInput!) {
  updateLabel(input: $input) { label { id name color description } userErrors { field message code } }
}
"""
DELETE = """
mutation($input: DeleteLabelInput!) {
  deleteLabel(input: $input) { deletedId userErrors { field message code } }
}
"""
LABELS = "{ labels(first: 100) { totalCount nodes { id name color description } } }"


async def labels(account: Account) -> dict[str, Any]:
    return (await account(LABELS))["labels"]  # type: ignore[no-any-return]


async def test_labels_are_created_with_a_colour_and_listed_by_name(account: Account) -> None:
    await create_label(account, "zeta")
    data = await account(CREATE, {"input": {"name": "  Alpha ", "color": "#3B82F6", "description": "First"}})
    payload = data["createLabel"]
    assert payload["userErrors"] == []
    assert payload["label"]["name"] == "Alpha"
    assert payload["label"]["color"] == "#3b82f6"
    await create_label(account, "beta")

    listed = await labels(account)
    assert [n["name"] for n in listed["nodes"]] == ["Alpha", "beta", "zeta"]
    assert listed["totalCount"] == 3
    assert listed["nodes"][1]["color"] == "#6b7280", "a label without a colour is grey"


async def test_label_names_are_unique_in_an_organization_regardless_of_case(
    account: Account, other_account: Account
) -> None:
    await create_label(account, "Bug")
    duplicate = (await account(CREATE, {"input": {"name": "bUG"}}))["createLabel"]
    assert duplicate["label"] is None
    assert duplicate["userErrors"] == [
        {"field": ["input", "name"], "message": duplicate["userErrors"][0]["message"], "code": "ALREADY_EXISTS"}
    ]
    assert (await labels(account))["totalCount"] == 1

    other = await create_label(account, "Feature")
    renamed = (await account(UPDATE, {"input": {"id": other["id"], "name": "BUG"}}))["updateLabel"]
    assert renamed["userErrors"][0]["code"] == "ALREADY_EXISTS"
    assert sorted(n["name"] for n in (await labels(account))["nodes"]) == ["Bug", "Feature"]

    elsewhere = (await other_account(CREATE, {"input": {"name": "Bug"}}))["createLabel"]
    assert elsewhere["userErrors"] == [], "another organization may use the same name"


async def test_a_label_can_change_the_case_of_its_own_name(account: Account) -> None:
    label = await create_label(account, "bug")
    renamed = (await account(UPDATE, {"input": {"id": label["id"], "name": "Bug"}}))["updateLabel"]
    assert renamed["userErrors"] == []
    assert renamed["label"]["name"] == "Bug"


async def test_label_inputs_outside_their_limits_are_refused_and_nothing_is_written(account: Account) -> None:
    cases = [
        ({"name": "x" * 65}, "name", "TOO_LONG"),
        ({"name": "   "}, "name", "BAD_USER_INPUT"),
        ({"name": "ok", "color": "red"}, "color", "BAD_USER_INPUT"),
        ({"name": "ok", "color": "#12345g"}, "color", "BAD_USER_INPUT"),
        ({"name": "ok", "description": "d" * 501}, "description", "TOO_LONG"),
    ]
    for given, field, code in cases:
        payload = (await account(CREATE, {"input": given}))["createLabel"]
        assert payload["label"] is None, given
        assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(["input", field], code)], given
    assert (await labels(account))["totalCount"] == 0

    accepted = (await account(CREATE, {"input": {"name": "x" * 64}}))["createLabel"]
    assert accepted["userErrors"] == [], "64 characters is within the limit"


async def test_updating_a_label_changes_only_the_fields_sent(account: Account) -> None:
    label = await create_label(account, "Backend", color="#111111", description="Server work")
    changed = (await account(UPDATE, {"input": {"id": label["id"], "color": "#ABCDEF"}}))["updateLabel"]
    assert changed["userErrors"] == []
    assert changed["label"] == {"id": label["id"], "name": "Backend", "color": "#abcdef", "description": "Server work"}

    bad = (await account(UPDATE, {"input": {"id": label["id"], "color": "blue"}}))["updateLabel"]
    assert bad["userErrors"][0]["code"] == "BAD_USER_INPUT"
    assert (await labels(account))["nodes"][0]["color"] == "#abcdef"


async def test_deleting_a_label_takes_it_off_every_requirement(account: Account) -> None:
    product = await create_product(account)
    keep = await create_label(account, "keep")
    gone = await create_label(account, "gone")
    requirement = await create_requirement(account, product["id"], labelIds=[keep["id"], gone["id"]])

    deleted = (await account(DELETE, {"input": {"id": gone["id"]}}))["deleteLabel"]
    assert deleted == {"deletedId": gone["id"], "userErrors": []}

    data = await account("query($id: ID!) { requirement(id: $id) { labels { name } } }", {"id": requirement["id"]})
    assert data["requirement"]["labels"] == [{"name": "keep"}]
    assert [n["name"] for n in (await labels(account))["nodes"]] == ["keep"]


async def test_another_organizations_label_is_not_found_and_stays_unchanged(
    account: Account, other_account: Account
) -> None:
    label = await create_label(account, "Mine", color="#000000")

    update = (await other_account(UPDATE, {"input": {"id": label["id"], "name": "Stolen"}}))["updateLabel"]
    assert update["label"] is None
    assert update["userErrors"][0]["code"] == "NOT_FOUND"
    delete = (await other_account(DELETE, {"input": {"id": label["id"]}}))["deleteLabel"]
    assert delete == {"deletedId": None, "userErrors": [delete["userErrors"][0]]}
    assert delete["userErrors"][0]["code"] == "NOT_FOUND"

    assert (await labels(other_account))["totalCount"] == 0
    assert (await labels(account))["nodes"] == [
        {"id": label["id"], "name": "Mine", "color": "#000000", "description": ""}
    ]


async def test_a_viewer_may_read_labels_but_not_change_them(
    gql: GraphQLClient, database_url: str, account: Account
) -> None:
    await create_label(account, "Seen")
    viewer = await join_organization(gql, database_url, account, role="VIEWER")

    assert [n["name"] for n in (await labels(viewer))["nodes"]] == ["Seen"]
    result = await viewer.run(CREATE, {"input": {"name": "Nope"}})
    assert result.codes == ["FORBIDDEN"]
    assert (await labels(account))["totalCount"] == 1
