"""POST /api/v1/usage-events and its OpenAPI document: a real API key, idempotency, limits and coded refusals."""

import copy
import uuid
from typing import Any

import httpx
from openapi_spec_validator import validate

from prism.config import Settings
from prism.web.usage_api import UsageEventBatch, UsageEventsRecorded
from tests.helpers import Account, app_with, create_api_key, create_product
from tests.test_feature_adoption import ADOPTION, create_feature, usage_key

ENDPOINT = "/api/v1/usage-events"
WINDOW = {"since": "2026-11-01T00:00:00Z", "until": "2026-11-08T00:00:00Z", "weeks": 1}


def _event(product: str, feature: str, **fields: Any) -> dict[str, Any]:
    return {
        "eventId": uuid.uuid4().hex,
        "product": product,
        "feature": feature,
        "userId": "u-1",
        "occurredAt": "2026-11-03T10:00:00Z",
        **fields,
    }


async def _post(http: httpx.AsyncClient, key: str | None, body: Any, **headers: str) -> httpx.Response:
    sent = {"Authorization": f"Bearer {key}"} if key else {}
    if isinstance(body, bytes | str):
        return await http.post(ENDPOINT, content=body, headers={"Content-Type": "application/json", **sent, **headers})
    return await http.post(ENDPOINT, json=body, headers={**sent, **headers})


def _code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


async def _events_of(account: Account, feature_id: str) -> int:
    data = await account(ADOPTION, {"id": feature_id, **WINDOW})
    return int(data["node"]["adoption"]["events"])


async def test_the_openapi_document_is_valid_and_its_example_request_records_events_once(
    http: httpx.AsyncClient, account: Account
) -> None:
    served = await http.get("/api/v1/openapi.json")
    assert served.status_code == 200
    document = served.json()
    validate(document)  # OpenAPI 3.1, by openapi-spec-validator
    assert document["openapi"] == "3.1.0"
    schemas = document["components"]["schemas"]
    assert set(schemas["UsageEventBatch"]["properties"]) == {"events"}
    assert set(schemas["UsageEvent"]["properties"]) == {
        "eventId",
        "product",
        "feature",
        "userId",
        "occurredAt",
        "properties",
    }
    operation = document["paths"]["/api/v1/usage-events"]["post"]
    assert {"200", "400", "401", "403", "413", "415", "422", "429"} <= set(operation["responses"])
    example = operation["requestBody"]["content"]["application/json"]["example"]
    UsageEventBatch.model_validate(example)

    product = await create_product(account, key=example["events"][0]["product"])
    feature = await create_feature(account, product["id"], example["events"][0]["feature"])
    key = await usage_key(account)
    first = await _post(http, key, example)
    assert first.status_code == 200, first.text
    assert UsageEventsRecorded.model_validate(first.json()) == UsageEventsRecorded(
        accepted=2, duplicates=0, rejected=[]
    )
    again = await _post(http, key, example)
    assert again.json() == {"accepted": 0, "duplicates": 2, "rejected": []}
    assert await _events_of(account, feature["id"]) == 2


async def test_bad_events_are_rejected_one_by_one_as_in_graphql(http: httpx.AsyncClient, account: Account) -> None:
    product = await create_product(account, key="HTTPREJ")
    feature = await create_feature(account, product["id"], "search")
    key = await usage_key(account)
    batch = {
        "events": [
            _event("HTTPREJ", "search", properties={"plan": "pro"}),
            _event("HTTPREJ", "nope", eventId="unknown"),
            _event("HTTPREJ", "search", eventId="big", properties={"blob": "x" * 5000}),
            _event("HTTPREJ", "search", eventId="naive", occurredAt="2026-11-03T10:00:00"),
            # PostgreSQL's jsonb cannot store NUL: rejected, not a 500.
            _event("HTTPREJ", "search", eventId="nul", properties={"note": {"deep": ["a\u0000b"]}}),
        ]
    }
    answer = await _post(http, key, batch)
    assert answer.status_code == 200
    body = answer.json()
    assert (body["accepted"], body["duplicates"]) == (1, 0)
    assert [(r["index"], r["eventId"], r["code"], r["field"]) for r in body["rejected"]] == [
        (1, "unknown", "NOT_FOUND", "feature"),
        (2, "big", "TOO_LONG", "properties"),
        (3, "naive", "BAD_USER_INPUT", "occurredAt"),
        (4, "nul", "BAD_USER_INPUT", "properties"),
    ]
    assert await _events_of(account, feature["id"]) == 1


async def test_refusals_are_coded_json_and_record_nothing(http: httpx.AsyncClient, account: Account) -> None:
    product = await create_product(account, key="HTTPERR")
    feature = await create_feature(account, product["id"], "search")
    key = await usage_key(account)
    read_key = (await create_api_key(account, scopes=("READ",)))["secret"]
    good = {"events": [_event("HTTPERR", "search")]}

    cases: list[tuple[httpx.Response, int, str]] = [
        (await _post(http, None, good), 401, "UNAUTHENTICATED"),
        (await _post(http, "prism_0000000f_" + "x" * 43, good), 401, "UNAUTHENTICATED"),
        (await _post(http, read_key, good), 403, "FORBIDDEN"),
        (
            await _post(
                http,
                key,
                '{"events": [',
            ),
            400,
            "BAD_REQUEST",
        ),
        (await _post(http, key, "x", **{"Content-Type": "text/plain"}), 415, "UNSUPPORTED_MEDIA_TYPE"),
        (await _post(http, key, {"events": [_event("HTTPERR", "search")] * 1001}), 413, "TOO_MANY_EVENTS"),
        (await _post(http, key, b" " * 2_000_001), 413, "PAYLOAD_TOO_LARGE"),
        (await _post(http, key, {"events": "all of them"}), 422, "VALIDATION_FAILED"),
        (await _post(http, key, "[]"), 422, "VALIDATION_FAILED"),
    ]
    for response, status, code in cases:
        assert (response.status_code, _code(response)) == (status, code), response.text
        assert response.headers["content-type"] == "application/json"
    assert cases[0][0].headers["www-authenticate"] == "Bearer"
    assert cases[-1][0].json()["errors"][0]["extensions"]["field"] == "body"

    shapeless = copy.deepcopy(good)
    shapeless["events"][0]["occurredAt"] = "yesterday"
    del shapeless["events"][0]["userId"]
    invalid = await _post(http, key, shapeless)
    assert invalid.status_code == 422
    assert sorted(error["extensions"]["field"] for error in invalid.json()["errors"]) == [
        "events.0.occurredAt",
        "events.0.userId",
    ]
    assert await _events_of(account, feature["id"]) == 0


async def test_another_organizations_key_cannot_write_to_a_feature(
    http: httpx.AsyncClient, account: Account, other_account: Account
) -> None:
    product = await create_product(account, key="HTTPMINE")
    feature = await create_feature(account, product["id"], "search")
    foreign_key = await usage_key(other_account)
    answer = await _post(http, foreign_key, {"events": [_event("HTTPMINE", "search")]})
    assert answer.status_code == 200
    assert answer.json()["accepted"] == 0
    assert [(r["code"], r["field"]) for r in answer.json()["rejected"]] == [("NOT_FOUND", "feature")]
    assert await _events_of(account, feature["id"]) == 0


async def test_the_endpoint_is_rate_limited_per_key(settings: Settings, account: Account) -> None:
    product = await create_product(account, key="HTTPRATE")
    await create_feature(account, product["id"], "search")
    key = await usage_key(account)
    async with app_with(settings, rate_limit_per_identity="2/minute") as http:
        statuses = [(await _post(http, key, {"events": [_event("HTTPRATE", "search")]})).status_code for _ in range(3)]
        refused = await _post(http, key, {"events": [_event("HTTPRATE", "search")]})
    assert statuses == [200, 200, 429]
    assert _code(refused) == "RATE_LIMITED"
    assert int(refused.headers["retry-after"]) >= 1
