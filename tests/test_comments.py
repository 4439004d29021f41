"""Comments on requirements and documents: who may edit and delete them, and how they are listed."""

from typing import Any

from tests.helpers import (
    Account,
    GraphQLClient,
    add_comment,
    create_document,
    create_product,
    create_requirement,
    join_organization,
)

ERRORS = "userErrors { field message code }"
ADD = f"""
mutation($input: AddCommentInput!) {{
  addComment(input: $input) {{
    comment {{ id body version author {{ id }} requirement {{ key }} document {{ title }} }}
    {ERRORS}
  }}
}}
"""
UPDATE = f"""
mutation($input: UpdateCommentInput!) {{ updateComment(input: $input) {{ comment {{ id body version }} {ERRORS} }} }}
"""
DELETE = f"""
mutation($input: DeleteCommentInput!) {{ deleteComment(input: $input) {{ deletedId {ERRORS} }} }}
"""
REQUIREMENT_COMMENTS = """
query($id: ID!) {
  requirement(id: $id) { comments { totalCount nodes { id body version author { id name } } } }
}
"""
DOCUMENT_COMMENTS = """
query($id: ID!) { document(id: $id) { comments { totalCount nodes { id body author { id } } } } }
"""


def codes(payload: dict[str, Any]) -> list[tuple[list[str] | None, str]]:
    return [(e["field"], e["code"]) for e in payload["userErrors"]]


async def requirement_comments(account: Account, requirement_id: str) -> Any:
    return (await account(REQUIREMENT_COMMENTS, {"id": requirement_id}))["requirement"]["comments"]


async def test_comments_on_a_requirement_are_listed_oldest_first_with_their_author(
    gql: GraphQLClient, database_url: str, account: Account
) -> None:
    product = await create_product(account, key="TALK")
    requirement = await create_requirement(account, product["id"])
    teammate = await join_organization(gql, database_url, account, name="Teammate")

    added = (await account(ADD, {"input": {"requirementId": requirement["id"], "body": "  First!  "}}))["addComment"]
    assert added["userErrors"] == []
    assert added["comment"] == {
        "id": added["comment"]["id"],
        "body": "First!",
        "version": 1,
        "author": {"id": account.user_id},
        "requirement": {"key": "TALK-1"},
        "document": None,
    }
    await add_comment(teammate, "Second", requirementId=requirement["id"])
    await add_comment(account, "Third", requirementId=requirement["id"])

    listed = await requirement_comments(account, requirement["id"])
    assert listed["totalCount"] == 3
    assert [(n["body"], n["author"]["name"]) for n in listed["nodes"]] == [
        ("First!", "Test User"),
        ("Second", "Teammate"),
        ("Third", "Test User"),
    ]


async def test_comments_on_a_document_are_listed_on_the_document(account: Account) -> None:
    product = await create_product(account)
    document = await create_document(account, product["id"], title="PRD")
    first = await add_comment(account, "Needs a goal section", documentId=document["id"])
    second = await add_comment(account, "Added", documentId=document["id"])

    listed = (await account(DOCUMENT_COMMENTS, {"id": document["id"]}))["document"]["comments"]
    assert listed["totalCount"] == 2
    assert [n["id"] for n in listed["nodes"]] == [first["id"], second["id"]]
    node = await account(
        "query($id: ID!) { node(id: $id) { ... on Comment { body document { title } requirement { id } } } }",
        {"id": first["id"]},
    )
    assert node["node"] == {"body": "Needs a goal section", "document": {"title": "PRD"}, "requirement": None}


async def test_a_comment_is_on_exactly_one_requirement_or_document(account: Account) -> None:
    product = await create_product(account)
    requirement = await create_requirement(account, product["id"])
    document = await create_document(account, product["id"])

    for subject in ({}, {"requirementId": requirement["id"], "documentId": document["id"]}):
        payload = (await account(ADD, {"input": {"body": "Hello", **subject}}))["addComment"]
        assert payload["comment"] is None
        assert codes(payload) == [(["input", "requirementId"], "BAD_USER_INPUT")], subject
    assert (await requirement_comments(account, requirement["id"]))["totalCount"] == 0
    listed = (await account(DOCUMENT_COMMENTS, {"id": document["id"]}))["document"]["comments"]
    assert listed["totalCount"] == 0


async def test_comment_bodies_outside_their_limits_are_refused_and_nothing_is_written(account: Account) -> None:
    product = await create_product(account)
    requirement = await create_requirement(account, product["id"])
    for body, code in [("   ", "BAD_USER_INPUT"), ("b" * 20_001, "TOO_LONG")]:
        payload = (await account(ADD, {"input": {"requirementId": requirement["id"], "body": body}}))["addComment"]
        assert codes(payload) == [(["input", "body"], code)]
    assert (await requirement_comments(account, requirement["id"]))["totalCount"] == 0

    comment = await add_comment(account, "b" * 20_000, requirementId=requirement["id"])
    too_long = (await account(UPDATE, {"input": {"id": comment["id"], "version": 1, "body": "c" * 20_001}}))[
        "updateComment"
    ]
    assert codes(too_long) == [(["input", "body"], "TOO_LONG")]
    assert (await requirement_comments(account, requirement["id"]))["nodes"][0]["body"] == "b" * 20_000


async def test_only_its_author_may_edit_a_comment_and_a_stale_version_conflicts(
    gql: GraphQLClient, database_url: str, account: Account
) -> None:
    product = await create_product(account)
    requirement = await create_requirement(account, product["id"])
    teammate = await join_organization(gql, database_url, account, role="ADMIN")
    comment = await add_comment(teammate, "Original", requirementId=requirement["id"])

    by_owner = await account.run(UPDATE, {"input": {"id": comment["id"], "version": 1, "body": "Rewritten"}})
    assert by_owner.codes == ["FORBIDDEN"], "not even an OWNER edits someone else's words"

    edited = (await teammate(UPDATE, {"input": {"id": comment["id"], "version": 1, "body": "Clarified"}}))[
        "updateComment"
    ]
    assert edited["userErrors"] == []
    assert (edited["comment"]["body"], edited["comment"]["version"]) == ("Clarified", 2)

    stale = (await teammate(UPDATE, {"input": {"id": comment["id"], "version": 1, "body": "Lost"}}))["updateComment"]
    assert stale["comment"] is None
    assert codes(stale) == [(["input", "version"], "CONFLICT")]
    (node,) = (await requirement_comments(account, requirement["id"]))["nodes"]
    assert (node["body"], node["version"]) == ("Clarified", 2)


async def test_a_comment_may_be_deleted_by_its_author_or_an_owner_or_admin_only(
    gql: GraphQLClient, database_url: str, account: Account
) -> None:
    product = await create_product(account)
    requirement = await create_requirement(account, product["id"])
    member = await join_organization(gql, database_url, account, role="MEMBER")
    admin = await join_organization(gql, database_url, account, role="ADMIN")
    owners = await add_comment(account, "by the owner", requirementId=requirement["id"])
    members = await add_comment(member, "by a member", requirementId=requirement["id"])
    another = await add_comment(member, "by a member, again", requirementId=requirement["id"])
    own = await add_comment(member, "to take back", requirementId=requirement["id"])

    refused = await member.run(DELETE, {"input": {"id": owners["id"]}})
    assert refused.codes == ["FORBIDDEN"]
    assert (await requirement_comments(account, requirement["id"]))["totalCount"] == 4

    for actor, comment in ((member, own), (account, members), (admin, another)):
        deleted = (await actor(DELETE, {"input": {"id": comment["id"]}}))["deleteComment"]
        assert deleted == {"deletedId": comment["id"], "userErrors": []}
    remaining = await requirement_comments(account, requirement["id"])
    assert [n["body"] for n in remaining["nodes"]] == ["by the owner"]


async def test_another_organizations_comment_ids_are_not_found_and_nothing_is_written(
    account: Account, other_account: Account
) -> None:
    product = await create_product(account)
    requirement = await create_requirement(account, product["id"])
    document = await create_document(account, product["id"])
    comment = await add_comment(account, "Ours", requirementId=requirement["id"])

    attempts = [
        (ADD, "addComment", {"requirementId": requirement["id"], "body": "Theirs"}, "requirementId"),
        (ADD, "addComment", {"documentId": document["id"], "body": "Theirs"}, "documentId"),
        (UPDATE, "updateComment", {"id": comment["id"], "version": 1, "body": "Defaced"}, "id"),
        (DELETE, "deleteComment", {"id": comment["id"]}, "id"),
    ]
    for mutation, name, given, field in attempts:
        payload = (await other_account(mutation, {"input": given}))[name]
        assert codes(payload) == [(["input", field], "NOT_FOUND")], name

    listed = await requirement_comments(account, requirement["id"])
    assert [(n["body"], n["version"]) for n in listed["nodes"]] == [("Ours", 1)]
    on_document = (await account(DOCUMENT_COMMENTS, {"id": document["id"]}))["document"]["comments"]
    assert on_document["totalCount"] == 0
