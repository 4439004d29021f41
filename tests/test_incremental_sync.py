"""Incremental sync: every list that grows filters by creation and change time, and deletions leave tombstones."""

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prism.db.tables import DeletedRequirement
from prism.services.requirements import TOMBSTONE_RETENTION
from tests.helpers import (
    Account,
    GraphQLClient,
    add_comment,
    add_roadmap_item,
    create_document,
    create_label,
    create_product,
    create_release,
    create_requirement,
    create_roadmap,
    create_sprint,
    insert_rows,
    join_organization,
    uuid_of,
)

PLANNING = """
query($id: ID!, $sprints: SprintFilter, $releases: ReleaseFilter, $documents: DocumentFilter) {
  product(id: $id) {
    sprints(first: 100, filter: $sprints) { totalCount nodes { name createdAt updatedAt } }
    releases(first: 100, filter: $releases) { totalCount nodes { name createdAt updatedAt } }
    documents(first: 100, filter: $documents) { totalCount nodes { title createdAt updatedAt } }
  }
}
"""


def newest(*lists: list[dict[str, Any]]) -> str:
    """The newest updatedAt of the nodes: what a sync client keeps as its high-water mark."""
    return max(node["updatedAt"] for nodes in lists for node in nodes)


def names(connection: dict[str, Any], field: str = "name") -> list[str]:
    assert connection["totalCount"] == len(connection["nodes"])
    return sorted(node[field] for node in connection["nodes"])


async def test_sprints_releases_and_documents_changed_since_a_sync_are_listed_alone(account: Account) -> None:
    product = await create_product(account)
    sprints = [await create_sprint(account, product["id"], name=n) for n in ("S1", "S2")]
    releases = [await create_release(account, product["id"], name=n) for n in ("R1", "R2")]
    documents = [await create_document(account, product["id"], title=t) for t in ("D1", "D2")]
    synced = (await account(PLANNING, {"id": product["id"]}))["product"]
    mark = newest(synced["sprints"]["nodes"], synced["releases"]["nodes"], synced["documents"]["nodes"])

    await account(
        "mutation($input: UpdateSprintInput!) { updateSprint(input: $input) { userErrors { code } } }",
        {"input": {"id": sprints[1]["id"], "version": 1, "goal": "Ship"}},
    )
    await account(
        "mutation($input: StartSprintInput!) { startSprint(input: $input) { userErrors { code } } }",
        {"input": {"id": sprints[0]["id"], "version": 1}},
    )
    await account(
        "mutation($input: UpdateReleaseInput!) { updateRelease(input: $input) { userErrors { code } } }",
        {"input": {"id": releases[0]["id"], "version": 1, "state": "IN_PROGRESS"}},
    )
    await account(
        "mutation($input: UpdateDocumentInput!) { updateDocument(input: $input) { userErrors { code } } }",
        {"input": {"id": documents[1]["id"], "version": 1, "body": "More"}},
    )
    await create_sprint(account, product["id"], name="S3")

    changed = {"updatedAt": {"after": mark}}
    found = (
        await account(PLANNING, {"id": product["id"], "sprints": changed, "releases": changed, "documents": changed})
    )["product"]
    assert names(found["sprints"]) == ["S1", "S2", "S3"]
    assert names(found["releases"]) == ["R1"]
    assert names(found["documents"], "title") == ["D2"]

    created = {"createdAt": {"after": mark}}
    found = (
        await account(PLANNING, {"id": product["id"], "sprints": created, "releases": created, "documents": created})
    )["product"]
    assert names(found["sprints"]) == ["S3"]
    assert found["releases"]["totalCount"] == found["documents"]["totalCount"] == 0

    second_created = next(n["createdAt"] for n in synced["sprints"]["nodes"] if n["name"] == "S2")
    earlier = {"createdAt": {"before": second_created}, "states": ["ACTIVE"]}
    found = (await account(PLANNING, {"id": product["id"], "sprints": earlier}))["product"]
    assert names(found["sprints"]) == ["S1"]


async def test_products_labels_comments_and_members_changed_since_a_sync_are_listed_alone(
    account: Account, gql: GraphQLClient, database_url: str
) -> None:
    teammate = await join_organization(gql, database_url, account, role="MEMBER", name="Tess")
    product = await create_product(account, key="SYNCA")
    other = await create_product(account, key="SYNCB")
    label = await create_label(account, name="sync-a")
    await create_label(account, name="sync-b")
    requirement = await create_requirement(account, product["id"])
    comments = [await add_comment(account, body=b, requirementId=requirement["id"]) for b in ("c1", "c2")]
    query = """
      query($products: ProductFilter, $labels: LabelFilter, $members: MemberFilter, $comments: CommentFilter,
            $id: ID!) {
        products(first: 100, filter: $products) { totalCount nodes { name: key updatedAt } }
        labels(first: 100, filter: $labels) { totalCount nodes { name updatedAt } }
        members(first: 100, filter: $members) { totalCount nodes { name: role updatedAt } }
        requirement(id: $id) { comments(first: 100, filter: $comments) { totalCount nodes { name: body updatedAt } } }
      }"""
    synced = await account(query, {"id": requirement["id"]})
    mark = newest(
        synced["products"]["nodes"],
        synced["labels"]["nodes"],
        synced["members"]["nodes"],
        synced["requirement"]["comments"]["nodes"],
    )

    await account(
        "mutation($input: UpdateProductInput!) { updateProduct(input: $input) { userErrors { code } } }",
        {"input": {"id": other["id"], "version": 1, "name": "Renamed"}},
    )
    await account(
        "mutation($input: UpdateLabelInput!) { updateLabel(input: $input) { userErrors { code } } }",
        {"input": {"id": label["id"], "color": "#000000"}},
    )
    changed_role = await account(
        "mutation($input: ChangeMemberRoleInput!) { changeMemberRole(input: $input) { userErrors { code } } }",
        {"input": {"userId": teammate.user_id, "role": "VIEWER"}},
    )
    assert changed_role["changeMemberRole"]["userErrors"] == []
    await account(
        "mutation($input: UpdateCommentInput!) { updateComment(input: $input) { userErrors { code } } }",
        {"input": {"id": comments[0]["id"], "version": 1, "body": "c1, edited"}},
    )

    changed = {"updatedAt": {"after": mark}}
    variables = {"id": requirement["id"], "products": changed, "labels": changed, "members": changed}
    found = await account(query, variables | {"comments": changed})
    assert names(found["products"]) == ["SYNCB"]
    assert names(found["labels"]) == ["sync-a"]
    assert names(found["members"]) == ["VIEWER"]
    assert names(found["requirement"]["comments"]) == ["c1, edited"]

    created = {"createdAt": {"after": mark}}
    found = await account(
        query,
        {
            "id": requirement["id"],
            "products": created,
            "labels": created,
            "members": {"joinedAt": created["createdAt"]},
            "comments": created,
        },
    )
    assert [found[f]["totalCount"] for f in ("products", "labels", "members")] == [0, 0, 0]
    assert found["requirement"]["comments"]["totalCount"] == 0
    by_change = await account(
        "{ products(first: 10, orderBy: {field: UPDATED_AT, direction: DESC}) { nodes { key } } }"
    )
    assert [n["key"] for n in by_change["products"]["nodes"]] == ["SYNCB", "SYNCA"]


async def test_roadmaps_their_items_and_teams_changed_since_a_sync_are_listed_alone(account: Account) -> None:
    product = await create_product(account)
    roadmaps = [await create_roadmap(account, product["id"], name=n) for n in ("M1", "M2")]
    items = [await add_roadmap_item(account, roadmaps[0]["id"], title=t) for t in ("I1", "I2")]
    teams = []
    for name in ("T1", "T2"):
        created = await account(
            "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id } userErrors { code } } }",
            {"input": {"name": name}},
        )
        teams.append(created["createTeam"]["team"])
    query = """
      query($product: ID!, $roadmaps: RoadmapFilter, $items: RoadmapItemFilter, $teams: TeamFilter) {
        product(id: $product) {
          roadmaps(filter: $roadmaps) { totalCount nodes { name updatedAt
            items(filter: $items) { totalCount nodes { name: title updatedAt } } } }
        }
        teams(filter: $teams) { totalCount nodes { name updatedAt } }
      }"""
    synced = await account(query, {"product": product["id"]})
    roadmap_nodes = synced["product"]["roadmaps"]["nodes"]
    mark = newest(roadmap_nodes, roadmap_nodes[0]["items"]["nodes"], synced["teams"]["nodes"])

    await account(
        "mutation($input: UpdateRoadmapInput!) { updateRoadmap(input: $input) { userErrors { code } } }",
        {"input": {"id": roadmaps[1]["id"], "version": 1, "name": "M2, renamed"}},
    )
    await account(
        "mutation($input: UpdateRoadmapItemInput!) { updateRoadmapItem(input: $input) { userErrors { code } } }",
        {"input": {"id": items[1]["id"], "lane": "Later"}},
    )
    joined = await account(
        "mutation($input: TeamMemberInput!) { addTeamMember(input: $input) { userErrors { code } } }",
        {"input": {"teamId": teams[0]["id"], "userId": account.user_id}},
    )
    assert joined["addTeamMember"]["userErrors"] == []

    changed = {"updatedAt": {"after": mark}}
    found = await account(query, {"product": product["id"], "roadmaps": changed, "teams": changed})
    assert names(found["product"]["roadmaps"]) == ["M2, renamed"]
    assert names(found["teams"]) == ["T1"]
    items_changed = await account(query, {"product": product["id"], "items": changed})
    first_roadmap = next(r for r in items_changed["product"]["roadmaps"]["nodes"] if r["name"] == "M1")
    assert names(first_roadmap["items"]) == ["I2"]
    created = {"createdAt": {"after": mark}}
    nothing = await account(query, {"product": product["id"], "roadmaps": created, "teams": created})
    assert nothing["product"]["roadmaps"]["totalCount"] == nothing["teams"]["totalCount"] == 0


async def test_a_time_without_a_zone_is_refused_on_every_list(account: Account) -> None:
    product = await create_product(account)
    naive = {"after": "2026-01-01T00:00:00"}
    for query, variables, field in (
        ("query($f: ProductFilter) { products(filter: $f) { totalCount } }", {"f": {"updatedAt": naive}}, "updatedAt"),
        ("query($f: LabelFilter) { labels(filter: $f) { totalCount } }", {"f": {"createdAt": naive}}, "createdAt"),
        ("query($f: MemberFilter) { members(filter: $f) { totalCount } }", {"f": {"joinedAt": naive}}, "joinedAt"),
        (
            "query($id: ID!, $f: SprintFilter) { product(id: $id) { sprints(filter: $f) { totalCount } } }",
            {"id": product["id"], "f": {"updatedAt": naive}},
            "updatedAt",
        ),
    ):
        result = await account.run(query, variables)
        assert result.codes == ["BAD_USER_INPUT"], result.body
        assert f"{field}.after needs a time zone" in result.errors[0]["message"]


async def test_a_time_out_of_utcs_range_or_without_a_zone_is_refused_not_an_internal_error(account: Account) -> None:
    """Year 1 at +01:00 is year 0 in UTC, and 9999-12-31 at -14:00 is year 10000: neither fits a timestamp."""
    early, late = "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00"
    for query, variables, field in (
        (
            "query($f: ProductFilter) { products(filter: $f) { totalCount } }",
            {"f": {"updatedAt": {"after": early}}},
            "updatedAt.after",
        ),
        (
            "query($f: RequirementFilter) { requirements(filter: $f) { totalCount } }",
            {"f": {"createdAt": {"before": late}}},
            "createdAt.before",
        ),
        ("query($s: DateTime) { deletedRequirements(since: $s) { totalCount } }", {"s": late}, "since"),
        ("query($f: AuditLogFilter) { auditLog(filter: $f) { totalCount } }", {"f": {"until": early}}, "until"),
    ):
        result = await account.run(query, variables)
        assert result.codes == ["OUT_OF_RANGE"], result.body
        assert result.errors[0]["message"] == f"{field} is out of range."
    naive = await account.run(
        "query($f: AuditLogFilter) { auditLog(filter: $f) { totalCount } }",
        {"f": {"since": "2026-01-01T00:00:00", "until": "2026-02-01T00:00:00Z"}},
    )
    assert naive.codes == ["BAD_USER_INPUT"]
    assert "since needs a time zone" in naive.errors[0]["message"]


# ---------------------------------------------------------------------------------------------------------------
# Tombstones

API_MD = Path(__file__).resolve().parent.parent / "docs" / "api.md"
DELETE = """
mutation($input: DeleteRequirementInput!) { deleteRequirement(input: $input) { deletedId userErrors { code } } }
"""
TOMBSTONES = """
query($productId: ID, $since: DateTime, $after: String) {
  deletedRequirements(productId: $productId, since: $since, first: 2, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { id key deletedAt product { id key } deletedBy { id name } }
  }
}
"""


async def test_a_deleted_requirement_leaves_a_tombstone_a_sync_client_pages_through(account: Account) -> None:
    product = await create_product(account, key="TOMB")
    other = await create_product(account, key="TOMBX")
    doomed = [await create_requirement(account, product["id"], title=f"r{n}") for n in range(3)]
    elsewhere = await create_requirement(account, other["id"])
    before = (await account(TOMBSTONES, {"productId": product["id"]}))["deletedRequirements"]
    assert before["totalCount"] == 0
    for requirement in [*doomed, elsewhere]:
        assert (await account(DELETE, {"input": {"id": requirement["id"], "version": 1}}))["deleteRequirement"][
            "userErrors"
        ] == []

    first = (await account(TOMBSTONES, {"productId": product["id"]}))["deletedRequirements"]
    assert first["totalCount"] == 3
    assert first["pageInfo"]["hasNextPage"] is True
    second = (await account(TOMBSTONES, {"productId": product["id"], "after": first["pageInfo"]["endCursor"]}))[
        "deletedRequirements"
    ]
    assert second["pageInfo"]["hasNextPage"] is False
    tombstones = first["nodes"] + second["nodes"]
    assert [t["id"] for t in tombstones] == [r["id"] for r in doomed]  # the global ids they had, oldest first
    assert [t["key"] for t in tombstones] == ["TOMB-1", "TOMB-2", "TOMB-3"]
    assert {t["product"]["key"] for t in tombstones} == {"TOMB"}
    assert {t["deletedBy"]["id"] for t in tombstones} == {account.user_id}

    since = tombstones[0]["deletedAt"]
    later = (await account(TOMBSTONES, {"productId": product["id"], "since": since}))["deletedRequirements"]
    assert [t["key"] for t in later["nodes"]] == ["TOMB-2", "TOMB-3"]
    everywhere = (await account(TOMBSTONES, {"since": since}))["deletedRequirements"]
    assert everywhere["totalCount"] == 3  # TOMB-2, TOMB-3 and TOMBX-1
    gone = await account.run("query($id: ID!) { requirement(id: $id) { id } }", {"id": doomed[0]["id"]})
    assert gone.codes == ["NOT_FOUND"]


async def test_a_refused_delete_leaves_no_tombstone(account: Account) -> None:
    product = await create_product(account)
    requirement = await create_requirement(account, product["id"])
    stale = await account(DELETE, {"input": {"id": requirement["id"], "version": 9}})
    assert stale["deleteRequirement"] == {"deletedId": None, "userErrors": [{"code": "CONFLICT"}]}
    assert (await account(TOMBSTONES, {}))["deletedRequirements"]["totalCount"] == 0


async def test_tombstones_are_the_organizations_own(
    account: Account, other_account: Account, gql: GraphQLClient, database_url: str
) -> None:
    product = await create_product(account)
    requirement = await create_requirement(account, product["id"])
    await account(DELETE, {"input": {"id": requirement["id"], "version": 1}})
    assert (await other_account(TOMBSTONES, {}))["deletedRequirements"]["totalCount"] == 0
    foreign = await other_account.run(TOMBSTONES, {"productId": product["id"]})
    assert foreign.codes == ["NOT_FOUND"]
    assert foreign.data is None
    viewer = await join_organization(gql, database_url, account, role="VIEWER")
    assert (await viewer(TOMBSTONES, {}))["deletedRequirements"]["totalCount"] == 1
    anonymous = await gql.run(TOMBSTONES, {})
    assert anonymous.codes == ["UNAUTHENTICATED"]


async def test_a_since_without_a_zone_or_older_than_the_retention_is_refused(account: Account) -> None:
    naive = await account.run(TOMBSTONES, {"since": "2026-01-01T00:00:00"})
    assert naive.codes == ["BAD_USER_INPUT"]
    too_old = (datetime.now(UTC) - TOMBSTONE_RETENTION - timedelta(days=1)).isoformat()
    old = await account.run(TOMBSTONES, {"since": too_old})
    assert old.codes == ["OUT_OF_RANGE"]
    assert "resync in full" in old.errors[0]["message"]
    wrong_type = await account.run(TOMBSTONES, {"productId": "not-an-id"})
    assert wrong_type.codes == ["BAD_USER_INPUT"]


async def test_tombstones_past_the_retention_are_purged_by_the_next_delete(app: Any, account: Account) -> None:
    product = await create_product(account, key="PURGE")
    organization = uuid_of(account.organization_id)
    old = datetime.now(UTC) - TOMBSTONE_RETENTION - timedelta(hours=1)
    recent = datetime.now(UTC) - TOMBSTONE_RETENTION + timedelta(hours=1)
    rows = [
        {"id": uuid.uuid4(), "organization_id": organization, "product_id": uuid_of(product["id"]), "key": key}
        | {"deleted_at": at}
        for key, at in (("PURGE-OLD", old), ("PURGE-RECENT", recent))
    ]
    await insert_rows(app, DeletedRequirement, rows)
    assert (await account(TOMBSTONES, {"productId": product["id"]}))["deletedRequirements"]["totalCount"] == 2
    doomed = await create_requirement(account, product["id"])
    await account(DELETE, {"input": {"id": doomed["id"], "version": 1}})
    kept = (await account(TOMBSTONES, {"productId": product["id"]}))["deletedRequirements"]
    assert [t["key"] for t in kept["nodes"]] == ["PURGE-RECENT", "PURGE-1"]


async def test_the_deleted_requirements_example_in_api_md_runs_as_written(account: Account) -> None:
    text = API_MD.read_text()
    section = text[text.index("**Deleted requirements.**") :]
    found = re.search(r"```graphql\n(.*?)```", section, re.S)
    assert found
    product = await create_product(account, key="DOC")
    requirement = await create_requirement(account, product["id"])
    await account(DELETE, {"input": {"id": requirement["id"], "version": 1}})
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    data = await account(found.group(1), {"since": since, "cursor": None})
    assert [(n["id"], n["key"], n["product"]) for n in data["deletedRequirements"]["nodes"]] == [
        (requirement["id"], "DOC-1", {"key": "DOC"})
    ]
    assert data["deletedRequirements"]["pageInfo"]["hasNextPage"] is False


async def test_changes_made_by_deleting_something_else_are_seen_by_a_sync(
    account: Account, gql: GraphQLClient, database_url: str
) -> None:
    """Deleting a label, a requirement or a member changes other objects: each shows as changed since the mark."""
    product = await create_product(account)
    label = await create_label(account)
    carrier = await create_requirement(account, product["id"], labelIds=[label["id"]])
    epic = await create_requirement(account, product["id"], kind="EPIC", title="Going")
    roadmap = await create_roadmap(account, product["id"])
    item = await add_roadmap_item(account, roadmap["id"], requirementId=epic["id"])
    teammate = await join_organization(gql, database_url, account, role="MEMBER", name="Leaving")
    team = (await account('mutation { createTeam(input: {name: "Crew"}) { team { id } } }'))["createTeam"]["team"]
    joined = await account(
        "mutation($input: TeamMemberInput!) { addTeamMember(input: $input) { userErrors { code } } }",
        {"input": {"teamId": team["id"], "userId": teammate.user_id}},
    )
    assert joined["addTeamMember"]["userErrors"] == []
    query = """query($id: ID!, $roadmap: ID!, $since: DateTime!) {
      product(id: $id) {
        requirements(first: 100, filter: {updatedAt: {after: $since}}) { nodes { id updatedAt labels { name } } }
      }
      roadmap: node(id: $roadmap) {
        ... on Roadmap {
          items(first: 100, filter: {updatedAt: {after: $since}}) { nodes { id updatedAt requirement { id } } }
        }
      }
      teams(first: 100, filter: {updatedAt: {after: $since}}) { nodes { id updatedAt members { user { name } } } }
    }"""
    everything = await account(
        query, {"id": product["id"], "roadmap": roadmap["id"], "since": "2000-01-01T00:00:00+00:00"}
    )
    mark = newest(
        everything["product"]["requirements"]["nodes"],
        everything["roadmap"]["items"]["nodes"],
        everything["teams"]["nodes"],
    )

    await account(
        "mutation($i: DeleteLabelInput!) { deleteLabel(input: $i) { userErrors { code } } }", {"i": {"id": label["id"]}}
    )
    await account(
        "mutation($i: DeleteRequirementInput!) { deleteRequirement(input: $i) { userErrors { code } } }",
        {"i": {"id": epic["id"], "version": epic["version"]}},
    )
    await account(
        "mutation($i: RemoveMemberInput!) { removeMember(input: $i) { userErrors { code } } }",
        {"i": {"userId": teammate.user_id}},
    )
    changed = await account(query, {"id": product["id"], "roadmap": roadmap["id"], "since": mark})
    assert [(n["id"], n["labels"]) for n in changed["product"]["requirements"]["nodes"]] == [(carrier["id"], [])]
    assert [(n["id"], n["requirement"]) for n in changed["roadmap"]["items"]["nodes"]] == [(item["id"], None)]
    assert [(n["id"], n["members"]) for n in changed["teams"]["nodes"]] == [(team["id"], [])]
