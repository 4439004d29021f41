"""Deleting sprints, releases and documents: what happens to their work, what is refused, and who may."""

from typing import Any

from tests.helpers import (
    Account,
    GraphQLClient,
    add_comment,
    create_document,
    create_product,
    create_release,
    create_requirement,
    create_sprint,
    join_organization,
)

DELETE_SPRINT = """
mutation($input: DeleteSprintInput!) {
  deleteSprint(input: $input) { deletedId movedCount userErrors { field message code } }
}"""
DELETE_RELEASE = """
mutation($input: DeleteReleaseInput!) {
  deleteRelease(input: $input) { deletedId unassignedCount userErrors { field message code } }
}"""
DELETE_DOCUMENT = """
mutation($input: DeleteDocumentInput!) {
  deleteDocument(input: $input) { deletedId userErrors { field message code } }
}"""
REQUIREMENT = """
query($id: ID!) {
  requirement(id: $id) {
    version sprint { id } release { id }
    history(first: 20) { nodes { kind fromValue toValue actor { id } } }
  }
}"""
PLANNING = "query($id: ID!) { product(id: $id) { sprints { totalCount } releases { totalCount } } }"
AUDIT = "query($actions: [String!]) { auditLog(first: 10, filter: {actions: $actions}) { nodes { action details } } }"


async def requirement_of(account: Account, requirement_id: str) -> dict[str, Any]:
    return (await account(REQUIREMENT, {"id": requirement_id}))["requirement"]  # type: ignore[no-any-return]


async def transition(account: Account, mutation: str, input: dict[str, Any]) -> dict[str, Any]:
    name = mutation[0].lower() + mutation[1:]
    data = await account(
        f"mutation($input: {mutation}Input!) {{ {name}(input: $input) {{ userErrors {{ code }} }} }}",
        {"input": input},
    )
    assert data[name]["userErrors"] == [], data
    return data  # type: ignore[no-any-return]


async def test_deleting_a_planned_sprint_sends_its_work_back_to_the_backlog(account: Account) -> None:
    product = await create_product(account)
    sprint = await create_sprint(account, product["id"])
    planned = [await create_requirement(account, product["id"], sprintId=sprint["id"]) for _ in range(2)]
    other = await create_requirement(account, product["id"])

    data = await account(DELETE_SPRINT, {"input": {"id": sprint["id"], "version": 1}})
    assert data["deleteSprint"] == {"deletedId": sprint["id"], "movedCount": 2, "userErrors": []}

    for requirement in planned:
        found = await requirement_of(account, requirement["id"])
        assert found["sprint"] is None
        assert found["version"] == requirement["version"] + 1
        to_backlog = [e for e in found["history"]["nodes"] if e["kind"] == "SPRINT" and e["toValue"] is None]
        assert [e["actor"] for e in to_backlog] == [{"id": account.user_id}]
    assert (await requirement_of(account, other["id"]))["version"] == other["version"]
    assert (await account(PLANNING, {"id": product["id"]}))["product"]["sprints"]["totalCount"] == 0
    gone = await account.run("query($id: ID!) { sprint(id: $id) { id } }", {"id": sprint["id"]})
    assert gone.codes == ["NOT_FOUND"]
    audit = (await account(AUDIT, {"actions": ["sprint.deleted"]}))["auditLog"]["nodes"]
    assert [(a["action"], a["details"]["movedCount"]) for a in audit] == [("sprint.deleted", 2)]


async def test_an_active_or_closed_sprint_cannot_be_deleted(account: Account) -> None:
    product = await create_product(account)
    sprint = await create_sprint(account, product["id"])
    requirement = await create_requirement(account, product["id"], sprintId=sprint["id"])
    await transition(account, "StartSprint", {"id": sprint["id"], "version": 1})
    active = await account(DELETE_SPRINT, {"input": {"id": sprint["id"], "version": 2}})
    assert active["deleteSprint"]["deletedId"] is None
    assert [(e["field"], e["code"]) for e in active["deleteSprint"]["userErrors"]] == [
        (["input", "id"], "INVALID_STATE")
    ]
    assert "close it first" in active["deleteSprint"]["userErrors"][0]["message"]
    assert (await requirement_of(account, requirement["id"]))["sprint"] == {"id": sprint["id"]}

    await transition(account, "CloseSprint", {"id": sprint["id"], "version": 2})
    closed = await account(DELETE_SPRINT, {"input": {"id": sprint["id"], "version": 3}})
    assert [e["code"] for e in closed["deleteSprint"]["userErrors"]] == ["INVALID_STATE"]
    assert (await account(PLANNING, {"id": product["id"]}))["product"]["sprints"]["totalCount"] == 1


async def test_deleting_a_release_unassigns_its_requirements_but_a_released_one_stays(account: Account) -> None:
    product = await create_product(account)
    release = await create_release(account, product["id"])
    shipped = await create_release(account, product["id"], name="0.9")
    scoped = await create_requirement(account, product["id"], releaseId=release["id"])
    kept = await create_requirement(account, product["id"], releaseId=shipped["id"])

    data = await account(DELETE_RELEASE, {"input": {"id": release["id"], "version": 1}})
    assert data["deleteRelease"] == {"deletedId": release["id"], "unassignedCount": 1, "userErrors": []}
    found = await requirement_of(account, scoped["id"])
    assert found["release"] is None
    assert [e["kind"] for e in found["history"]["nodes"]].count("RELEASE") == 1

    for state, version in (("IN_PROGRESS", 1), ("RELEASED", 2)):
        await transition(account, "UpdateRelease", {"id": shipped["id"], "version": version, "state": state})
    refused = await account(DELETE_RELEASE, {"input": {"id": shipped["id"], "version": 3}})
    assert [(e["field"], e["code"]) for e in refused["deleteRelease"]["userErrors"]] == [
        (["input", "id"], "INVALID_STATE")
    ]
    assert (await requirement_of(account, kept["id"]))["release"] == {"id": shipped["id"]}
    assert (await account(PLANNING, {"id": product["id"]}))["product"]["releases"]["totalCount"] == 1


async def test_deleting_a_document_deletes_its_versions_and_comments(account: Account) -> None:
    product = await create_product(account)
    document = await create_document(account, product["id"])
    await transition(account, "UpdateDocument", {"id": document["id"], "version": 1, "body": "Second"})
    comment = await add_comment(account, documentId=document["id"])
    versions = await account(
        "query($id: ID!) { document(id: $id) { versions { nodes { id } } } }", {"id": document["id"]}
    )
    version_ids = [v["id"] for v in versions["document"]["versions"]["nodes"]]
    assert len(version_ids) == 2

    stale = await account(DELETE_DOCUMENT, {"input": {"id": document["id"], "version": 1}})
    assert [e["code"] for e in stale["deleteDocument"]["userErrors"]] == ["CONFLICT"]
    data = await account(DELETE_DOCUMENT, {"input": {"id": document["id"], "version": 2}})
    assert data["deleteDocument"] == {"deletedId": document["id"], "userErrors": []}
    for node_id in [document["id"], comment["id"], *version_ids]:
        result = await account.run("query($id: ID!) { node(id: $id) { id } }", {"id": node_id})
        assert result.codes == ["NOT_FOUND"], node_id
    audit = (await account(AUDIT, {"actions": ["document.deleted"]}))["auditLog"]["nodes"]
    assert [a["action"] for a in audit] == ["document.deleted"]


async def test_viewers_may_not_delete_and_another_organizations_ids_are_not_found(
    account: Account, other_account: Account, gql: GraphQLClient, database_url: str
) -> None:
    product = await create_product(account)
    sprint = await create_sprint(account, product["id"])
    release = await create_release(account, product["id"])
    document = await create_document(account, product["id"])
    attempts = [
        (DELETE_SPRINT, "deleteSprint", sprint["id"]),
        (DELETE_RELEASE, "deleteRelease", release["id"]),
        (DELETE_DOCUMENT, "deleteDocument", document["id"]),
    ]
    viewer = await join_organization(gql, database_url, account, role="VIEWER", name="Vic")
    member = await join_organization(gql, database_url, account, role="MEMBER", name="Mo")
    role = await account(
        """mutation($input: SetProductRoleInput!) { setProductRole(input: $input) { userErrors { code } } }""",
        {"input": {"productId": product["id"], "role": "VIEWER", "userId": member.user_id}},
    )
    assert role["setProductRole"]["userErrors"] == []
    for query, field, target in attempts:
        for who in (viewer, member):
            refused = await who.run(query, {"input": {"id": target, "version": 1}})
            assert refused.codes == ["FORBIDDEN"], (field, refused.body)
        foreign = await other_account(query, {"input": {"id": target, "version": 1}})
        assert [(e["field"], e["code"]) for e in foreign[field]["userErrors"]] == [(["input", "id"], "NOT_FOUND")]
        malformed = await account(query, {"input": {"id": "' OR 1=1 --", "version": 1}})
        assert [e["code"] for e in malformed[field]["userErrors"]] == ["BAD_USER_INPUT"]
    planning = (await account(PLANNING, {"id": product["id"]}))["product"]
    assert planning == {"sprints": {"totalCount": 1}, "releases": {"totalCount": 1}}
    still = await account("query($id: ID!) { document(id: $id) { id } }", {"id": document["id"]})
    assert still["document"] == {"id": document["id"]}
