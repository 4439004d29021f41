"""Feature adoption through GraphQL: features linked to requirements, usage recorded with an API key (idempotent,
bounded), tenant isolation, and adoption, active users and retention computed exactly on a constructed event set."""

import uuid
from typing import Any

import pytest

from tests.helpers import (
    Account,
    GraphQLClient,
    create_api_key,
    create_product,
    create_requirement,
    join_organization,
)

CREATE_FEATURE = """
mutation($input: CreateFeatureInput!) {
  createFeature(input: $input) {
    feature { id key name product { id key } requirement { id key } }
    userErrors { field message code }
  }
}
"""
UPDATE_FEATURE = """
mutation($input: UpdateFeatureInput!) {
  updateFeature(input: $input) { feature { id key name requirement { id } } userErrors { field message code } }
}
"""
DELETE_FEATURE = """
mutation($input: DeleteFeatureInput!) { deleteFeature(input: $input) { deletedId userErrors { field message code } } }
"""
RECORD = """
mutation($input: RecordUsageEventsInput!) {
  recordUsageEvents(input: $input) {
    accepted duplicates rejectedCount
    rejected { index eventId code field message }
    userErrors { field message code }
  }
}
"""
ADOPTION = """
query($id: ID!, $since: DateTime, $until: DateTime, $weeks: Int!) {
  node(id: $id) {
    ... on Feature {
      key
      adoption(since: $since, until: $until, retentionWeeks: $weeks) {
        since until featureUsers activeUsers adoptionRate events
        daily { start users }
        weekly { start users }
        retention { weekZero cohortSize weeks { week start users share } }
      }
    }
  }
}
"""


async def create_feature(account: Account, product_id: str, key: str, **fields: Any) -> dict[str, Any]:
    data = await account(
        CREATE_FEATURE, {"input": {"productId": product_id, "key": key, "name": key.title(), **fields}}
    )
    assert data["createFeature"]["userErrors"] == [], data
    return data["createFeature"]["feature"]  # type: ignore[no-any-return]


def event(product: str, feature: str, user: str, at: str, **fields: Any) -> dict[str, Any]:
    return {
        "eventId": fields.pop("eventId", uuid.uuid4().hex),
        "product": product,
        "feature": feature,
        "userId": user,
        "occurredAt": at,
        **fields,
    }


async def record(gql: GraphQLClient, key: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    result = await gql.run(RECORD, {"input": {"events": events}}, token=key)
    assert result.status == 200, result.body
    assert not result.errors, result.body
    return result.data["recordUsageEvents"]  # type: ignore[no-any-return]


async def usage_key(account: Account) -> str:
    return str((await create_api_key(account, scopes=("USAGE_WRITE",), name="SDK"))["secret"])


async def test_a_feature_is_linked_to_the_requirement_that_shipped_it_and_listed_on_both(account: Account) -> None:
    product = await create_product(account, key="SHIP")
    story = await create_requirement(account, product["id"], title="Bulk edit")
    feature = await create_feature(account, product["id"], "bulk-edit", requirementId=story["id"])
    assert feature["product"] == {"id": product["id"], "key": "SHIP"}
    assert feature["requirement"] == {"id": story["id"], "key": story["key"]}
    await create_feature(account, product["id"], "export")

    data = await account(
        """query($p: ID!, $r: ID!) {
             product: node(id: $p) { ... on Product { features(first: 10) { totalCount nodes { key } } } }
             requirement: node(id: $r) { ... on Requirement { features(first: 10) { nodes { key name } } } }
           }""",
        {"p": product["id"], "r": story["id"]},
    )
    assert data["product"]["features"] == {"totalCount": 2, "nodes": [{"key": "bulk-edit"}, {"key": "export"}]}
    assert data["requirement"]["features"]["nodes"] == [{"key": "bulk-edit", "name": "Bulk-Edit"}]

    renamed = await account(
        UPDATE_FEATURE, {"input": {"id": feature["id"], "name": "Bulk editing", "requirementId": None}}
    )
    assert renamed["updateFeature"] == {
        "feature": {"id": feature["id"], "key": "bulk-edit", "name": "Bulk editing", "requirement": None},
        "userErrors": [],
    }
    deleted = await account(DELETE_FEATURE, {"input": {"id": feature["id"]}})
    assert deleted["deleteFeature"] == {"deletedId": feature["id"], "userErrors": []}
    assert (await account.run(ADOPTION, {"id": feature["id"], "weeks": 1})).codes == ["NOT_FOUND"]


async def test_deleting_the_requirement_that_shipped_a_feature_unlinks_it_as_a_change_of_its_own(
    account: Account,
) -> None:
    product = await create_product(account)
    story = await create_requirement(account, product["id"], title="Search")
    feature = await create_feature(account, product["id"], "search", requirementId=story["id"])
    before = await account("query($id: ID!) { node(id: $id) { ... on Feature { updatedAt } } }", {"id": feature["id"]})
    deleted = await account(
        "mutation($input: DeleteRequirementInput!) { deleteRequirement(input: $input) { userErrors { code } } }",
        {"input": {"id": story["id"], "version": story["version"]}},
    )
    assert deleted["deleteRequirement"]["userErrors"] == []
    after = await account(
        "query($id: ID!) { node(id: $id) { ... on Feature { key updatedAt requirement { id } } } }",
        {"id": feature["id"]},
    )
    # Unlinked through the session (so the change has its event and a new updatedAt), not by the foreign key alone.
    assert after["node"]["key"] == "search"
    assert after["node"]["requirement"] is None
    assert after["node"]["updatedAt"] > before["node"]["updatedAt"]


async def test_feature_keys_are_unique_in_a_product_and_requirements_must_be_of_the_same_product(
    account: Account,
) -> None:
    product = await create_product(account)
    other = await create_product(account)
    foreign_story = await create_requirement(account, other["id"])
    await create_feature(account, product["id"], "search")
    await create_feature(account, other["id"], "search")  # another product may use the same key

    again = await account(CREATE_FEATURE, {"input": {"productId": product["id"], "key": "search", "name": "S"}})
    assert [e["code"] for e in again["createFeature"]["userErrors"]] == ["ALREADY_EXISTS"]
    bad_key = await account(CREATE_FEATURE, {"input": {"productId": product["id"], "key": "has space", "name": "S"}})
    assert bad_key["createFeature"]["userErrors"][0]["field"] == ["input", "key"]
    crossed = await account(
        CREATE_FEATURE,
        {"input": {"productId": product["id"], "key": "x", "name": "X", "requirementId": foreign_story["id"]}},
    )
    assert [(e["field"], e["code"]) for e in crossed["createFeature"]["userErrors"]] == [
        (["input", "requirementId"], "BAD_USER_INPUT")
    ]


async def test_viewers_read_features_and_adoption_but_neither_manage_features_nor_record_usage(
    gql: GraphQLClient, database_url: str, account: Account
) -> None:
    product = await create_product(account, key="VIEW")
    feature = await create_feature(account, product["id"], "search")
    viewer = await join_organization(gql, database_url, account, role="VIEWER")
    member = await join_organization(gql, database_url, account, role="MEMBER")

    refused = await viewer.run(CREATE_FEATURE, {"input": {"productId": product["id"], "key": "x", "name": "X"}})
    assert refused.codes == ["FORBIDDEN"]
    recording = {"input": {"events": [event("VIEW", "search", "u1", "2026-11-03T10:00:00Z")]}}
    assert (await viewer.run(RECORD, recording)).codes == ["FORBIDDEN"]
    read = await viewer(ADOPTION, {"id": feature["id"], "since": None, "until": None, "weeks": 2})
    assert read["node"]["key"] == "search"

    # A member may do both (with a person's token; SDKs use a USAGE_WRITE key).
    await create_feature(member, product["id"], "export")
    recorded = await member(RECORD, recording)
    assert recorded["recordUsageEvents"]["accepted"] == 1


async def test_a_replayed_batch_records_nothing_new_and_says_so(gql: GraphQLClient, account: Account) -> None:
    product = await create_product(account, key="IDEM")
    feature = await create_feature(account, product["id"], "search")
    key = await usage_key(account)
    batch = [event("IDEM", "search", f"user-{n}", "2026-11-03T10:00:00Z", eventId=f"evt-{n}") for n in range(5)]
    batch.append(event("IDEM", "search", "user-0", "2026-11-03T10:00:00Z", eventId="evt-0"))  # repeated in the batch

    first = await record(gql, key, batch)
    assert first == {"accepted": 5, "duplicates": 1, "rejectedCount": 0, "rejected": [], "userErrors": []}
    second = await record(gql, key, batch)
    assert second == {"accepted": 0, "duplicates": 6, "rejectedCount": 0, "rejected": [], "userErrors": []}

    adoption = await account(
        ADOPTION,
        {"id": feature["id"], "since": "2026-11-01T00:00:00Z", "until": "2026-11-08T00:00:00Z", "weeks": 1},
    )
    assert adoption["node"]["adoption"]["events"] == 5
    assert adoption["node"]["adoption"]["featureUsers"] == 5


async def test_bad_events_are_rejected_one_by_one_and_the_rest_kept(gql: GraphQLClient, account: Account) -> None:
    product = await create_product(account, key="REJ")
    await create_feature(account, product["id"], "search")
    key = await usage_key(account)
    batch = [
        event("REJ", "search", "u1", "2026-11-03T10:00:00Z", properties={"plan": "pro"}),
        event("REJ", "no-such-feature", "u1", "2026-11-03T10:00:00Z", eventId="unknown"),
        event("REJ", "search", "u2", "2026-11-03T10:00:00Z", eventId="big", properties={"blob": "x" * 5000}),
        event("REJ", "search", "u3", "2030-01-01T00:00:00Z", eventId="future"),
        event("REJ", "search", "u4", "2026-11-03T10:00:00", eventId="naive"),
        event("REJ", "search", "", "2026-11-03T10:00:00Z", eventId="nobody"),
        event("REJ", "search", "u5", "2026-11-03T10:00:00Z", eventId="e" * 129),
        event("REJ", "search", "u6", "2026-11-03T10:00:00Z", properties=[1, 2]),
    ]
    answer = await record(gql, key, batch)
    assert (answer["accepted"], answer["duplicates"], answer["rejectedCount"], answer["userErrors"]) == (1, 0, 7, [])
    assert [(r["index"], r["code"], r["field"]) for r in answer["rejected"]] == [
        (1, "NOT_FOUND", "feature"),
        (2, "TOO_LONG", "properties"),
        (3, "OUT_OF_RANGE", "occurredAt"),
        (4, "BAD_USER_INPUT", "occurredAt"),
        (5, "BAD_USER_INPUT", "userId"),
        (6, "TOO_LONG", "eventId"),
        (7, "BAD_USER_INPUT", "properties"),
    ]
    assert answer["rejected"][0]["eventId"] == "unknown"
    assert len(answer["rejected"][5]["eventId"]) == 128


async def test_an_oversized_batch_is_refused_whole(gql: GraphQLClient, account: Account) -> None:
    product = await create_product(account, key="BIG")
    feature = await create_feature(account, product["id"], "search")
    key = await usage_key(account)
    batch = [event("BIG", "search", f"u{n}", "2026-11-03T10:00:00Z") for n in range(1001)]
    answer = await record(gql, key, batch)
    assert answer["accepted"] is None
    assert [(e["field"], e["code"]) for e in answer["userErrors"]] == [(["input", "events"], "OUT_OF_RANGE")]
    adoption = await account(
        ADOPTION, {"id": feature["id"], "since": "2026-11-01T00:00:00Z", "until": "2026-11-08T00:00:00Z", "weeks": 1}
    )
    assert adoption["node"]["adoption"]["events"] == 0


async def test_a_usage_key_records_usage_only_and_a_read_key_cannot_record(
    gql: GraphQLClient, account: Account
) -> None:
    product = await create_product(account, key="SCOPE")
    await create_feature(account, product["id"], "search")
    usage = await usage_key(account)
    read_only = (await create_api_key(account, scopes=("READ",)))["secret"]

    reading = await gql.run("{ products(first: 1) { totalCount } }", token=usage)
    assert reading.codes == ["FORBIDDEN"]
    refused = await gql.run(
        RECORD, {"input": {"events": [event("SCOPE", "search", "u", "2026-11-03T10:00:00Z")]}}, token=read_only
    )
    assert refused.codes == ["FORBIDDEN"]
    anonymous = await gql.run(RECORD, {"input": {"events": []}})
    assert anonymous.codes == ["UNAUTHENTICATED"]
    scopes = await account("{ apiKeys(first: 10) { nodes { name scopes } } }")
    assert {"name": "SDK", "scopes": ["USAGE_WRITE"]} in scopes["apiKeys"]["nodes"]


async def test_another_organization_can_neither_write_nor_read_a_features_usage(
    gql: GraphQLClient, account: Account, other_account: Account
) -> None:
    product = await create_product(account, key="MINE")
    feature = await create_feature(account, product["id"], "search")
    own_key = await usage_key(account)
    await record(gql, own_key, [event("MINE", "search", "u1", "2026-11-03T10:00:00Z", eventId="shared-id")])
    foreign_key = await usage_key(other_account)

    # B's key names A's product and feature: to B they do not exist. B may use the same event id for its own events.
    answer = await record(
        gql, foreign_key, [event("MINE", "search", "u2", "2026-11-03T10:00:00Z", eventId="shared-id")]
    )
    assert answer["accepted"] == 0
    assert [(r["code"], r["field"]) for r in answer["rejected"]] == [("NOT_FOUND", "feature")]
    await create_product(other_account, key="MINE")
    other_feature = await create_feature(other_account, (await _product_id(other_account, "MINE")), "search")
    answer = await record(
        gql, foreign_key, [event("MINE", "search", "u2", "2026-11-03T10:00:00Z", eventId="shared-id")]
    )
    assert (answer["accepted"], answer["duplicates"]) == (1, 0)

    window = {"since": "2026-11-01T00:00:00Z", "until": "2026-11-08T00:00:00Z", "weeks": 1}
    assert (await other_account.run(ADOPTION, {"id": feature["id"], **window})).codes == ["NOT_FOUND"]
    for mutation, variables in (
        (UPDATE_FEATURE, {"input": {"id": feature["id"], "name": "Stolen"}}),
        (DELETE_FEATURE, {"input": {"id": feature["id"]}}),
    ):
        data = await other_account(mutation, variables)
        assert [e["code"] for e in next(iter(data.values()))["userErrors"]] == ["NOT_FOUND"]
    mine = await account(ADOPTION, {"id": feature["id"], **window})
    theirs = await other_account(ADOPTION, {"id": other_feature["id"], **window})
    assert (mine["node"]["adoption"]["events"], theirs["node"]["adoption"]["events"]) == (1, 1)
    assert mine["node"]["key"] == "search"


async def _product_id(account: Account, key: str) -> str:
    data = await account("query($k: String!) { product(key: $k) { id } }", {"k": key})
    return str(data["product"]["id"])


# The constructed history (all times UTC). Window [2026-11-02, 2026-11-23): three ISO weeks from Monday 2 November.
#   search (the feature measured)               other feature of the product     another product
#   u1: 11-02 10:00, 11-02 11:00, 11-09 09:00,  u1: 11-04                         u9: 11-05
#       11-23 01:00 (after the window)          u6: 11-05
#   u2: 11-03 10:00, 11-17 12:00                u7: 11-20
#   u5: 11-02 12:00, 11-08 23:00 (sent as       u8: 10-30 (before the window)
#       11-09 00:00+01:00), 11-21 08:00
#   u3: 11-10 10:00, 11-18 10:00
#   u6: 11-19 10:00
# Users of search in the window: u1 u2 u3 u5 u6 = 5; active users of the product: those and u7 = 6.
# Week 0 (search's first use) is 11-02; its cohort u1 u2 u5 = 3; week 1: u1 = 1; week 2: u2 u5 = 2.
SEARCH = [
    ("u1", "2026-11-02T10:00:00Z"),
    ("u1", "2026-11-02T11:00:00Z"),
    ("u1", "2026-11-09T09:00:00Z"),
    ("u1", "2026-11-23T01:00:00Z"),
    ("u2", "2026-11-03T10:00:00Z"),
    ("u2", "2026-11-17T12:00:00Z"),
    ("u5", "2026-11-02T12:00:00Z"),
    ("u5", "2026-11-09T00:00:00+01:00"),
    ("u5", "2026-11-21T08:00:00Z"),
    ("u3", "2026-11-10T10:00:00Z"),
    ("u3", "2026-11-18T10:00:00Z"),
    ("u6", "2026-11-19T10:00:00Z"),
]
OTHER = [("u1", "2026-11-04T10:00:00Z"), ("u6", "2026-11-05T10:00:00Z"), ("u7", "2026-11-20T10:00:00Z")]
OTHER += [("u8", "2026-10-30T10:00:00Z")]


@pytest.fixture
async def constructed(gql: GraphQLClient, account: Account) -> dict[str, Any]:
    product = await create_product(account, key="ADOPT")
    elsewhere = await create_product(account, key="ELSE")
    search = await create_feature(account, product["id"], "search")
    await create_feature(account, product["id"], "export")
    await create_feature(account, elsewhere["id"], "search")
    key = await usage_key(account)
    events = [event("ADOPT", "search", user, at) for user, at in SEARCH]
    events += [event("ADOPT", "export", user, at) for user, at in OTHER]
    events.append(event("ELSE", "search", "u9", "2026-11-05T10:00:00Z"))
    answer = await record(gql, key, events)
    assert (answer["accepted"], answer["duplicates"], answer["rejected"]) == (len(events), 0, [])
    return search


async def test_adoption_active_users_and_retention_are_exact_on_a_constructed_history(
    account: Account, constructed: dict[str, Any]
) -> None:
    data = await account(
        ADOPTION,
        {"id": constructed["id"], "since": "2026-11-02T00:00:00Z", "until": "2026-11-23T00:00:00Z", "weeks": 4},
    )
    adoption = data["node"]["adoption"]
    assert (adoption["featureUsers"], adoption["activeUsers"], adoption["events"]) == (5, 6, 11)
    assert adoption["adoptionRate"] == pytest.approx(5 / 6)
    daily = {day["start"]: day["users"] for day in adoption["daily"]}
    assert len(adoption["daily"]) == 21
    assert adoption["daily"][0]["start"] == "2026-11-02"
    assert adoption["daily"][-1]["start"] == "2026-11-22"
    assert {day: users for day, users in daily.items() if users} == {
        "2026-11-02": 2,
        "2026-11-03": 1,
        "2026-11-08": 1,
        "2026-11-09": 1,
        "2026-11-10": 1,
        "2026-11-17": 1,
        "2026-11-18": 1,
        "2026-11-19": 1,
        "2026-11-21": 1,
    }
    assert adoption["weekly"] == [
        {"start": "2026-11-02", "users": 3},
        {"start": "2026-11-09", "users": 2},
        {"start": "2026-11-16", "users": 4},
    ]
    retention = adoption["retention"]
    assert (retention["weekZero"], retention["cohortSize"]) == ("2026-11-02", 3)
    # Week 3 begins at the window's end: not listed.
    assert [(w["week"], w["start"], w["users"]) for w in retention["weeks"]] == [
        (1, "2026-11-09", 1),
        (2, "2026-11-16", 2),
    ]
    assert [w["share"] for w in retention["weeks"]] == [pytest.approx(1 / 3), pytest.approx(2 / 3)]


async def test_a_narrower_window_counts_only_its_own_events(account: Account, constructed: dict[str, Any]) -> None:
    data = await account(
        ADOPTION,
        {"id": constructed["id"], "since": "2026-11-09T00:00:00Z", "until": "2026-11-16T00:00:00Z", "weeks": 8},
    )
    adoption = data["node"]["adoption"]
    # Search in week 1: u1 and u3; the product: u1, u3 (search) and nobody else (u6 used export on 11-05).
    assert (adoption["featureUsers"], adoption["activeUsers"], adoption["events"]) == (2, 2, 2)
    assert adoption["adoptionRate"] == 1.0
    assert adoption["weekly"] == [{"start": "2026-11-09", "users": 2}]
    # The cohort is still the feature's first users (week 0 = 11-02); week 1 began in the window, week 2 did not.
    assert adoption["retention"]["cohortSize"] == 3
    assert [(w["week"], w["users"]) for w in adoption["retention"]["weeks"]] == [(1, 1)]


async def test_adoption_arguments_are_checked(account: Account, constructed: dict[str, Any]) -> None:
    for variables, field in (
        ({"since": "2026-11-10T00:00:00Z", "until": "2026-11-09T00:00:00Z", "weeks": 1}, "since"),
        ({"since": "2025-01-01T00:00:00Z", "until": "2026-11-09T00:00:00Z", "weeks": 1}, "since"),
        ({"since": "2026-11-01T00:00:00Z", "until": "2026-11-09T00:00:00Z", "weeks": 53}, "retentionWeeks"),
    ):
        result = await account.run(ADOPTION, {"id": constructed["id"], **variables})
        assert result.codes == ["BAD_USER_INPUT"], result.body
        assert field in result.errors[0]["message"]
    empty = await account(ADOPTION, {"id": constructed["id"], "until": "2026-10-01T00:00:00Z", "weeks": 2})
    adoption = empty["node"]["adoption"]
    assert (adoption["featureUsers"], adoption["activeUsers"], adoption["adoptionRate"]) == (0, 0, None)
    assert adoption["retention"] == {"weekZero": None, "cohortSize": 0, "weeks": []}
    assert len(adoption["daily"]) == 28


async def test_every_feature_of_a_product_answers_its_adoption_in_the_same_few_statements(
    account: Account, constructed: dict[str, Any]
) -> None:
    query = """
    query($first: Int!) {
      product(key: "ADOPT") {
        features(first: $first) {
          nodes {
            key
            adoption(since: "2026-11-02T00:00:00Z", until: "2026-11-23T00:00:00Z", retentionWeeks: 4) {
              featureUsers activeUsers adoptionRate events
              weekly { start users }
              retention { weekZero cohortSize weeks { week users } }
            }
          }
        }
      }
    }
    """
    one = await account.run(query, {"first": 1})
    both = await account.run(query, {"first": 10})
    assert not one.errors, one.body
    assert not both.errors, both.body
    assert both.sql_statements == one.sql_statements
    by_key = {node["key"]: node["adoption"] for node in both.data["product"]["features"]["nodes"]}
    assert (by_key["search"]["featureUsers"], by_key["search"]["retention"]["cohortSize"]) == (5, 3)
    export = by_key["export"]
    # export: u1 (11-04), u6 (11-05) and u7 (11-20) in the window; its first user, u8, came on 30 October only.
    assert (export["featureUsers"], export["activeUsers"], export["events"]) == (3, 6, 3)
    assert export["adoptionRate"] == 0.5
    assert export["weekly"] == [
        {"start": "2026-11-02", "users": 2},
        {"start": "2026-11-09", "users": 0},
        {"start": "2026-11-16", "users": 1},
    ]
    assert export["retention"] == {
        "weekZero": "2026-10-26",
        "cohortSize": 1,
        "weeks": [{"week": 1, "users": 0}, {"week": 2, "users": 0}, {"week": 3, "users": 0}],
    }
