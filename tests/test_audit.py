"""The audit log: destructive actions are recorded with who, what, target, when and where; owners and admins read it."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette

from tests.helpers import (
    Account,
    GraphQLClient,
    add_comment,
    client_from,
    create_label,
    create_product,
    create_requirement,
    create_roadmap,
    create_sprint,
    join_organization,
    sign_up,
    uuid_of,
)

AUDIT_LOG = """
query($filter: AuditLogFilter, $first: Int, $after: String) {
  auditLog(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { action targetType targetId apiKeyId ip userAgent details createdAt actor { id email } }
  }
}
"""


async def audit_log(account: Account, **variables: Any) -> dict[str, Any]:
    data = await account(AUDIT_LOG, variables)
    return data["auditLog"]  # type: ignore[no-any-return]


async def actions(account: Account, **filter: Any) -> list[str]:
    log = await audit_log(account, filter=filter or None, first=100)
    return [entry["action"] for entry in log["nodes"]]


async def delete_requirement(account: Account, requirement: dict[str, Any]) -> dict[str, Any]:
    data = await account(
        """mutation($input: DeleteRequirementInput!) {
             deleteRequirement(input: $input) { userErrors { field code } }
           }""",
        {"input": {"id": requirement["id"], "version": requirement["version"]}},
    )
    return data["deleteRequirement"]  # type: ignore[no-any-return]


async def test_deleting_a_requirement_is_recorded_with_actor_target_address_and_user_agent(app: Starlette) -> None:
    async with client_from(app, "203.0.113.9", user_agent="Roadmap Sync/2.1") as gql:
        owner = await sign_up(gql)
        product = await create_product(owner)
        story = await create_requirement(owner, product["id"], title="Obsolete story")

        assert (await delete_requirement(owner, story))["userErrors"] == []

        log = await audit_log(owner, filter={"actions": ["requirement.deleted"]})
    (entry,) = log["nodes"]
    assert entry["action"] == "requirement.deleted"
    assert entry["targetType"] == "Requirement"
    assert entry["targetId"] == str(uuid_of(story["id"]))
    assert entry["actor"] == {"id": owner.user_id, "email": owner.email}
    assert entry["apiKeyId"] is None
    assert entry["ip"] == "203.0.113.9"
    assert entry["userAgent"] == "Roadmap Sync/2.1"
    assert entry["details"]["title"] == "Obsolete story"
    assert datetime.fromisoformat(entry["createdAt"]) > datetime.now(UTC) - timedelta(minutes=5)


async def test_every_destructive_action_is_recorded_newest_first(account: Account) -> None:
    product = await create_product(account)
    label = await create_label(account)
    roadmap = await create_roadmap(account, product["id"])
    story = await create_requirement(account, product["id"])
    comment = await add_comment(account, requirementId=story["id"])
    sprint = await create_sprint(account, product["id"])
    started = await account(
        "mutation($input: StartSprintInput!) { startSprint(input: $input) { sprint { version } } }",
        {"input": {"id": sprint["id"], "version": sprint["version"]}},
    )

    await account(
        "mutation($input: DeleteLabelInput!) { deleteLabel(input: $input) { deletedId } }",
        {"input": {"id": label["id"]}},
    )
    await account(
        "mutation($input: DeleteRoadmapInput!) { deleteRoadmap(input: $input) { deletedId } }",
        {"input": {"id": roadmap["id"], "version": roadmap["version"]}},
    )
    await account(
        "mutation($input: DeleteCommentInput!) { deleteComment(input: $input) { deletedId } }",
        {"input": {"id": comment["id"]}},
    )
    await account(
        "mutation($input: CloseSprintInput!) { closeSprint(input: $input) { sprint { state } } }",
        {"input": {"id": sprint["id"], "version": started["startSprint"]["sprint"]["version"]}},
    )
    await account(
        "mutation($input: ArchiveProductInput!) { archiveProduct(input: $input) { product { archivedAt } } }",
        {"input": {"id": product["id"], "version": product["version"]}},
    )

    recorded = [a for a in await actions(account) if not a.startswith("auth.")]
    assert recorded == ["product.archived", "sprint.closed", "comment.deleted", "roadmap.deleted", "label.deleted"]


async def test_a_refused_deletion_writes_no_audit_entry(account: Account) -> None:
    product = await create_product(account)
    story = await create_requirement(account, product["id"])

    stale = await delete_requirement(account, {**story, "version": story["version"] + 7})

    assert [e["code"] for e in stale["userErrors"]] == ["CONFLICT"]
    assert await actions(account, actions=["requirement.deleted"]) == []


async def test_the_log_filters_by_action_target_actor_and_time_and_pages_newest_first(account: Account) -> None:
    product = await create_product(account)
    stories = [await create_requirement(account, product["id"], title=f"Story {n}") for n in range(3)]
    for story in stories:
        await delete_requirement(account, story)

    page = await audit_log(account, filter={"actions": ["requirement.deleted"]}, first=2)
    assert page["totalCount"] == 3
    assert [e["details"]["title"] for e in page["nodes"]] == ["Story 2", "Story 1"]
    rest = await audit_log(
        account, filter={"actions": ["requirement.deleted"]}, first=2, after=page["pageInfo"]["endCursor"]
    )
    assert [e["details"]["title"] for e in rest["nodes"]] == ["Story 0"]

    by_target = await audit_log(account, filter={"targetId": stories[1]["id"]})
    assert [e["details"]["title"] for e in by_target["nodes"]] == ["Story 1"]
    by_actor = await audit_log(account, filter={"actorId": account.user_id, "actions": ["requirement.deleted"]})
    assert by_actor["totalCount"] == 3
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await audit_log(account, filter={"since": future}))["totalCount"] == 0
    assert (await audit_log(account, filter={"until": future, "actions": ["requirement.deleted"]}))["totalCount"] == 3


async def test_an_empty_time_window_is_bad_input(account: Account) -> None:
    now = datetime.now(UTC).isoformat()

    result = await account.run(AUDIT_LOG, {"filter": {"since": now, "until": now}})

    assert result.codes == ["BAD_USER_INPUT"]
    assert result.data is None


async def test_members_and_viewers_may_not_read_the_audit_log_but_admins_may(
    gql: GraphQLClient, database_url: str, account: Account
) -> None:
    member = await join_organization(gql, database_url, account, role="MEMBER")
    viewer = await join_organization(gql, database_url, account, role="VIEWER")
    admin = await join_organization(gql, database_url, account, role="ADMIN")
    product = await create_product(account)
    await delete_requirement(account, await create_requirement(account, product["id"]))

    for outsider in (member, viewer):
        result = await outsider.run(AUDIT_LOG, {})
        assert result.codes == ["FORBIDDEN"]
        assert result.data is None
    assert "requirement.deleted" in [e["action"] for e in (await audit_log(admin))["nodes"]]


async def test_another_organizations_entries_are_invisible(account: Account, other_account: Account) -> None:
    product = await create_product(other_account)
    story = await create_requirement(other_account, product["id"])
    await delete_requirement(other_account, story)

    assert await actions(account, actions=["requirement.deleted"]) == []
    assert (await audit_log(account, filter={"targetId": story["id"]}))["totalCount"] == 0
    assert (await audit_log(account, filter={"actorId": other_account.user_id}))["totalCount"] == 0
    assert (await audit_log(other_account, filter={"targetId": story["id"]}))["totalCount"] == 1


async def test_an_actor_id_of_the_wrong_type_is_not_found(account: Account) -> None:
    from strawberry.relay import GlobalID

    result = await account.run(AUDIT_LOG, {"filter": {"actorId": str(GlobalID("Product", str(uuid.uuid4())))}})

    assert result.codes == ["NOT_FOUND"]
