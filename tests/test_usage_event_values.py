"""Usage-event values the database cannot hold are rejected event by event, never as a 500 that loses the batch:
times that exist in their zone but not in UTC (and anything before 1970), and numbers jsonb refuses (infinity)."""

import uuid
from typing import Any

import httpx

from tests.helpers import Account, GraphQLClient, create_product
from tests.test_feature_adoption import ADOPTION, create_feature, event, record, usage_key

NOVEMBER_2026 = ("2026-11-01T00:00:00Z", "2026-11-08T00:00:00Z")
AROUND_1970 = ("1969-12-01T00:00:00Z", "1970-01-31T00:00:00Z")


async def _events_of(account: Account, feature_id: str, window: tuple[str, str] = NOVEMBER_2026) -> int:
    data = await account(ADOPTION, {"id": feature_id, "since": window[0], "until": window[1], "weeks": 1})
    return int(data["node"]["adoption"]["events"])


async def test_a_time_before_year_one_in_utc_or_before_1970_is_rejected_alone_over_http(
    http: httpx.AsyncClient, account: Account
) -> None:
    product = await create_product(account, key="VTIME")
    feature = await create_feature(account, product["id"], "search")
    key = await usage_key(account)
    body = {
        "events": [
            event("VTIME", "search", "u-1", "2026-11-03T10:00:00Z"),
            event("VTIME", "search", "u-1", "0001-01-01T00:30:00+01:00"),
            event("VTIME", "search", "u-1", "1969-12-31T23:59:59Z"),
            event("VTIME", "search", "u-1", "1970-01-01T00:30:00+01:00"),  # 1969 in UTC
            event("VTIME", "search", "u-1", "1970-01-01T00:00:00Z"),
        ]
    }
    response = await http.post("/api/v1/usage-events", json=body, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 2
    assert [(r["index"], r["code"], r["field"]) for r in response.json()["rejected"]] == [
        (1, "OUT_OF_RANGE", "occurredAt"),
        (2, "OUT_OF_RANGE", "occurredAt"),
        (3, "OUT_OF_RANGE", "occurredAt"),
    ]
    assert await _events_of(account, feature["id"]) == 1
    assert await _events_of(account, feature["id"], AROUND_1970) == 1  # 1970-01-01T00:00:00Z, the earliest allowed


async def test_a_time_before_year_one_in_utc_is_rejected_alone_over_graphql(
    gql: GraphQLClient, account: Account
) -> None:
    product = await create_product(account, key="VTIMEG")
    await create_feature(account, product["id"], "search")
    key = await usage_key(account)
    answer = await record(
        gql,
        key,
        [
            event("VTIMEG", "search", "u-1", "0001-01-01T00:30:00+01:00"),
            event("VTIMEG", "search", "u-1", "2026-11-03T10:00:00Z"),
        ],
    )
    assert (answer["accepted"], answer["rejectedCount"]) == (1, 1)
    assert [(r["index"], r["code"], r["field"]) for r in answer["rejected"]] == [(0, "OUT_OF_RANGE", "occurredAt")]


async def test_an_infinite_property_written_inline_rejects_that_event_alone(account: Account) -> None:
    product = await create_product(account, key="VINF")
    feature = await create_feature(account, product["id"], "search")
    key = await usage_key(account)
    ids = [uuid.uuid4().hex for _ in range(3)]
    document = f"""mutation {{
      recordUsageEvents(input: {{events: [
        {{eventId: "{ids[0]}", product: "VINF", feature: "search", userId: "u-1",
          occurredAt: "2026-11-03T10:00:00Z", properties: {{items: 1e300}}}},
        {{eventId: "{ids[1]}", product: "VINF", feature: "search", userId: "u-1",
          occurredAt: "2026-11-03T10:00:00Z", properties: {{items: 1e400}}}},
        {{eventId: "{ids[2]}", product: "VINF", feature: "search", userId: "u-1",
          occurredAt: "2026-11-03T10:00:00Z", properties: {{deep: {{list: [1, -1e400]}}}}}}
      ]}}) {{ accepted rejected {{ index code field }} userErrors {{ code }} }}
    }}"""
    result = await account.gql.run(document, None, token=key)
    assert result.errors == [], result.body
    answer: dict[str, Any] = result.data["recordUsageEvents"]
    assert answer["accepted"] == 1
    assert answer["rejected"] == [
        {"index": 1, "code": "BAD_USER_INPUT", "field": "properties"},
        {"index": 2, "code": "BAD_USER_INPUT", "field": "properties"},
    ]
    assert await _events_of(account, feature["id"]) == 1
