"""The daily usage rollup adoption reads (`usage_day`, prism.db.usage_days) answers exactly what the raw events give.

Usage is recorded through the API as SDKs send it: duplicates (resent batches, ids repeated inside a batch), late
events (reported after later ones, even before the feature's first use so far, which moves its week 0), times at and
around UTC midnight sent with other offsets, and concurrent batches on the same days. The rollup's answers are
compared with the computation from the raw events PRISM ran before the rollup (bench/adoption_reference.py) over
windows whose edges fall at midnight, inside days, inside one day, and with offsets; and the rollup kept by recording
is compared with one rebuilt from the events (what migration 0026 and the seed compute).
"""

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from starlette.applications import Starlette

from bench.adoption_reference import check_adoption
from loaders.adoption import AdoptionByFeatureLoader, AdoptionKey
from prism.db.adoption_tables import UsageDay, UsageEvent
from prism.db.engine import build_engine
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.db.usage_days import rebuild_usage_days
from tests.helpers import Account, GraphQLClient, create_product, uuid_of
from tests.test_feature_adoption import RECORD, create_feature, event, record, usage_key

DAYS = UsageDay.__table__  # type: ignore[attr-defined]
EVENTS = UsageEvent.__table__  # type: ignore[attr-defined]

# Two products; `search` is the busy feature. Times in UTC unless an offset is written.
FIRST_BATCH = [
    ("search", "u1", "2026-11-02T00:00:00Z"),  # exactly at midnight, a Monday
    ("search", "u1", "2026-11-02T23:59:59.999999Z"),  # the last instant of the same day
    ("search", "u2", "2026-11-03T00:30:00+01:00"),  # 2 November 23:30 UTC
    ("search", "u3", "2026-11-03T00:00:00Z"),
    ("search", "u2", "2026-11-09T09:00:00Z"),
    ("search", "u4", "2026-11-15T23:00:00-02:00"),  # Monday 16 November 01:00 UTC
    ("search", "u1", "2026-11-16T10:00:00Z"),
    ("search", "u5", "2026-11-20T12:00:00Z"),
    ("export", "u6", "2026-11-02T08:00:00Z"),
    ("export", "u1", "2026-11-10T08:00:00Z"),
    ("export", "u7", "2026-11-22T23:59:00Z"),
]
LATE_BATCH = [
    ("search", "u8", "2026-10-27T12:00:00Z"),  # before search's first use so far: week 0 moves to 26 October
    ("search", "u1", "2026-10-28T12:00:00Z"),
    ("search", "u3", "2026-11-02T12:00:00Z"),  # a day already rolled up gets another user
    ("search", "u8", "2026-11-03T06:00:00Z"),
    ("export", "u6", "2026-11-02T09:00:00Z"),  # a day already rolled up gets another event of a known user
]


def _events(rows: list[tuple[str, str, str]], product: str = "ROLL") -> list[dict[str, Any]]:
    return [event(product, feature, user, at, eventId=f"{product}-{feature}-{user}-{at}") for feature, user, at in rows]


async def _rollup(app: Starlette, organization_id: UUID) -> dict[tuple[UUID, Any], tuple[int, list[int]]]:
    async with UnitOfWork(app.state.runtime().engine, organization_id) as uow:
        rows = await uow.all(
            tenant_select(DAYS, organization_id, DAYS.c.feature_id, DAYS.c.day, DAYS.c.events, DAYS.c.user_numbers)
        )
    return {(row.feature_id, row.day): (row.events, list(row.user_numbers)) for row in rows}


async def _history(gql: GraphQLClient, account: Account) -> tuple[UUID, list[UUID]]:
    """The constructed history, recorded in three batches with duplicates; the product's id and its features'."""
    product = await create_product(account, key="ROLL")
    other = await create_product(account, key="ROLL2")
    search = await create_feature(account, product["id"], "search")
    export = await create_feature(account, product["id"], "export")
    await create_feature(account, other["id"], "search")
    key = await usage_key(account)
    first = _events(FIRST_BATCH)
    first.append(first[0])  # an id repeated inside the batch
    answer = await record(gql, key, first)
    assert (answer["accepted"], answer["duplicates"]) == (len(FIRST_BATCH), 1)
    late = _events(LATE_BATCH) + _events(FIRST_BATCH[:3])  # late events, and a resent part of the first batch
    late += _events([("search", "u9", "2026-11-03T10:00:00Z")], product="ROLL2")
    answer = await record(gql, key, late)
    assert (answer["accepted"], answer["duplicates"]) == (len(LATE_BATCH) + 1, 3)
    answer = await record(gql, key, late)  # the whole batch again: nothing new
    assert (answer["accepted"], answer["duplicates"]) == (0, len(late))
    return uuid_of(product["id"]), [uuid_of(search["id"]), uuid_of(export["id"])]


def _windows() -> list[tuple[datetime, datetime]]:
    """Windows over the history: whole days, days cut at both ends, inside one day, offsets, before and after it."""
    at = datetime.fromisoformat
    plus_one = timezone(timedelta(hours=1))
    return [
        (at("2026-11-02T00:00:00+00:00"), at("2026-11-23T00:00:00+00:00")),
        (at("2026-10-26T00:00:00+00:00"), at("2026-11-30T00:00:00+00:00")),
        (at("2026-11-02T00:00:00.000001+00:00"), at("2026-11-22T23:59:00+00:00")),
        (at("2026-11-02T23:30:00+00:00"), at("2026-11-16T01:00:00+00:00")),
        (at("2026-11-02T23:30:00.000001+00:00"), at("2026-11-16T00:59:59.999999+00:00")),
        (at("2026-11-02T00:00:00+00:00"), at("2026-11-03T00:00:00+00:00")),
        (at("2026-11-02T12:00:00+00:00"), at("2026-11-02T23:59:59.999999+00:00")),
        (at("2026-11-02T12:00:00+00:00"), at("2026-11-03T00:00:00.000001+00:00")),
        (datetime(2026, 11, 3, 0, 30, tzinfo=plus_one), datetime(2026, 11, 16, 2, tzinfo=plus_one)),
        (at("2026-10-27T12:00:00+00:00"), at("2026-10-28T12:00:00+00:00")),
        (at("2026-10-01T00:00:00+00:00"), at("2026-10-27T11:00:00+00:00")),
        (at("2026-11-05T07:00:00+00:00"), at("2026-11-09T09:00:00+00:00")),
        (at("2026-11-05T07:00:00+00:00"), at("2026-11-09T09:00:00.000001+00:00")),
        (at("2026-11-24T00:00:00+00:00"), at("2026-12-01T08:00:00+00:00")),
    ]


async def test_adoption_from_the_rollup_equals_the_raw_events_for_every_window(
    gql: GraphQLClient, account: Account, app_database_url: str
) -> None:
    product, features = await _history(gql, account)
    organization_id = uuid_of(account.organization_id)
    keys = [
        AdoptionKey(feature, product, since, until, weeks)
        for since, until in _windows()
        for weeks in (1, 2, 4, 52)
        for feature in features
    ]
    assert await check_adoption(app_database_url, organization_id, keys) == []
    # The comparison compares figures, not two empty answers: spot-check the widest window by hand.
    widest = AdoptionKey(features[0], product, *_windows()[1], 4)
    engine = build_engine(app_database_url, pool_size=1, max_overflow=0)
    try:
        async with UnitOfWork(engine, organization_id) as uow:
            [adoption] = await AdoptionByFeatureLoader(uow, organization_id).batch_load_fn([widest])
    finally:
        await engine.dispose()
    # search: u1..u5 and u8; the product: those and u6, u7 (export), not u9 (another product). Events: 8 first, 4 late.
    assert (adoption.feature_users, adoption.active_users, adoption.events) == (6, 8, 12)
    # Week 0 is 26 October (the late u8 and u1); u1 and u8 came back the week of 2 November, u1 on 16 November.
    assert (adoption.retention.week_zero.isoformat(), adoption.retention.cohort_size) == ("2026-10-26", 2)
    assert adoption.retention.retained == {1: 2, 3: 1}
    assert adoption.daily[datetime(2026, 11, 2).date()] == 3  # u1 (midnight, last instant), u2 (+01:00), u3 (late)
    assert adoption.weekly[datetime(2026, 11, 16).date()] == 3  # u4 (sent as 15 November -02:00), u1, u5


async def test_recording_keeps_the_rollup_equal_to_one_rebuilt_from_the_events(
    gql: GraphQLClient, account: Account, app: Starlette
) -> None:
    await _history(gql, account)
    organization_id = uuid_of(account.organization_id)
    kept = await _rollup(app, organization_id)
    async with UnitOfWork(app.state.runtime().engine, organization_id) as uow:
        events = await uow.scalar(tenant_select(EVENTS, organization_id, sa.func.count()))
        async with uow.session(organization_id) as session:
            connection = await session.connection()
            await connection.execute(sa.delete(DAYS).where(DAYS.c.organization_id == organization_id))
            await connection.execute(rebuild_usage_days(organization_id))
        await uow.commit()
    rebuilt = await _rollup(app, organization_id)
    assert kept == rebuilt
    # Every recorded event counted once, in its UTC day: duplicates never add to a day.
    assert sum(count for count, _ in kept.values()) == events == len(FIRST_BATCH) + len(LATE_BATCH) + 1
    assert all(numbers == sorted(set(numbers)) for _, numbers in kept.values())


async def test_concurrent_batches_on_the_same_days_lose_no_user_and_no_event(
    gql: GraphQLClient, account: Account, app: Starlette
) -> None:
    product = await create_product(account, key="BUSY")
    feature = await create_feature(account, product["id"], "board")
    key = await usage_key(account)
    day = datetime(2026, 11, 17, tzinfo=UTC)
    batches = [
        [
            event("BUSY", "board", f"user-{(n * 7 + b) % 40}", (day + timedelta(hours=n % 30)).isoformat())
            for n in range(60)
        ]
        for b in range(4)
    ]
    answers = await asyncio.gather(*(record(gql, key, batch) for batch in batches))
    assert [answer["accepted"] for answer in answers] == [60] * 4
    organization_id = uuid_of(account.organization_id)
    kept = await _rollup(app, organization_id)
    feature_id = uuid_of(feature["id"])
    by_day: dict[Any, set[str]] = {}
    for batch in batches:
        for sent in batch:
            by_day.setdefault(datetime.fromisoformat(sent["occurredAt"]).date(), set()).add(sent["userId"])
    assert {day: len(numbers) for (f, day), (_, numbers) in kept.items() if f == feature_id} == {
        day: len(users) for day, users in by_day.items()
    }
    assert sum(count for (f, _), (count, _) in kept.items() if f == feature_id) == 240


async def test_a_cut_day_costs_one_statement_and_known_users_one_fewer_when_recording(
    gql: GraphQLClient, account: Account
) -> None:
    product = await create_product(account, key="COUNT")
    feature = await create_feature(account, product["id"], "search")
    key = await usage_key(account)
    recorded = []
    for batch in (
        [("search", "c1", "2026-11-02T10:00:00Z"), ("search", "c2", "2026-11-03T10:00:00Z")],  # the key's first use
        [("search", "c1", "2026-11-04T10:00:00Z"), ("search", "c2", "2026-11-05T10:00:00Z")],  # known users
        [("search", "c3", "2026-11-06T10:00:00Z"), ("search", "c4", "2026-11-07T10:00:00Z")],  # new users
    ):
        result = await gql.run(RECORD, {"input": {"events": _events(batch, product="COUNT")}}, token=key)
        assert result.data["recordUsageEvents"]["accepted"] == 2, result.body
        recorded.append(result.sql_statements)
    # Numbering new users is the one statement a batch of known users does without.
    assert recorded[2] == recorded[1] + 1

    query = """query($id: ID!, $since: DateTime, $until: DateTime) {
      node(id: $id) { ... on Feature { adoption(since: $since, until: $until) { featureUsers } } }
    }"""
    whole = await account.run(
        query, {"id": feature["id"], "since": "2026-11-02T00:00:00Z", "until": "2026-11-06T00:00:00Z"}
    )
    cut = await account.run(
        query, {"id": feature["id"], "since": "2026-11-02T12:00:00Z", "until": "2026-11-05T12:00:00Z"}
    )
    assert whole.data["node"]["adoption"]["featureUsers"] == 2
    assert cut.data["node"]["adoption"]["featureUsers"] == 2  # c1 on 4 November, c2 on 3 November
    # The rollup's days in one statement; the days a window cuts, from their events, in one more.
    assert cut.sql_statements == whole.sql_statements + 1
