"""The daily usage rollup (`usage_day`): per feature and UTC day, the events and the distinct users, kept exact.

A user is a number (`usage_user`, one per pseudonymous key and organization, written on each event as
`user_number`), a day's users a sorted array of numbers, so the distinct users of any span are the union of its
days' arrays: exact, whatever the span, without reading the events again. Recording usage numbers the batch's users
before inserting its events, then adds the events it newly inserted (never a duplicate: the insert skips known event
ids and returns only what it wrote) to their days, all in one transaction.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from prism.db.adoption_tables import UsageDay, UsageUser
from prism.db.tenancy import tenant_select

__all__ = ["RecordedEvent", "add_to_usage_days", "number_users", "rebuild_usage_days", "utc_day"]

_USER: sa.Table = UsageUser.__table__  # type: ignore[attr-defined]
_DAY: sa.Table = UsageDay.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class RecordedEvent:
    """What the rollup needs of an event just recorded."""

    feature_id: UUID
    product_id: UUID
    user_number: int
    occurred_at: datetime


def utc_day(moment: datetime) -> date:
    """The UTC calendar day of an aware time: the day adoption counts it in."""
    return moment.astimezone(UTC).date()


async def number_users(connection: AsyncConnection, organization_id: UUID, keys: set[str]) -> dict[str, int]:
    """The number of each user key, given one first if it has none (usually every key has one: one statement)."""
    if not keys:
        return {}

    async def known(of: list[str]) -> dict[str, int]:
        found = await connection.execute(
            tenant_select(_USER, organization_id, _USER.c.user_key, _USER.c.number).where(_USER.c.user_key.in_(of))
        )
        return {row.user_key: row.number for row in found}

    numbers = await known(sorted(keys))
    missing = sorted(keys - numbers.keys())
    if missing:
        added = await connection.execute(
            insert(_USER)
            .values([{"organization_id": organization_id, "user_key": key} for key in missing])
            .on_conflict_do_nothing(index_elements=["organization_id", "user_key"])
            .returning(_USER.c.user_key, _USER.c.number)
        )
        numbers.update({row.user_key: row.number for row in added})
        if len(numbers) < len(keys):
            # A concurrent batch numbered some of them first (the insert waited for it, then skipped them): this
            # new statement sees its commit.
            numbers.update(await known(sorted(keys - numbers.keys())))
    return numbers


async def add_to_usage_days(
    connection: AsyncConnection, organization_id: UUID, recorded: Sequence[RecordedEvent]
) -> None:
    """Add events just recorded (none already counted) to their features' days, in the caller's transaction.

    Days are upserted in (feature, day) order, so two batches touching the same days lock them in the same order.
    """
    if not recorded:
        return
    days: dict[tuple[UUID, date], tuple[UUID, list[int], set[int]]] = {}
    for event in recorded:
        _, count, users = days.setdefault(
            (event.feature_id, utc_day(event.occurred_at)), (event.product_id, [0], set())
        )
        count[0] += 1
        users.add(event.user_number)
    rows = [
        {
            "organization_id": organization_id,
            "feature_id": feature_id,
            "day": day,
            "product_id": product_id,
            "events": count[0],
            "user_numbers": sorted(users),
        }
        for (feature_id, day), (product_id, count, users) in sorted(days.items(), key=lambda item: item[0])
    ]
    statement = insert(_DAY).values(rows)
    merged = sa.literal_column(
        "ARRAY(SELECT DISTINCT n FROM unnest(usage_day.user_numbers || excluded.user_numbers) AS n ORDER BY n)",
        ARRAY(sa.BigInteger),
    )
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=["organization_id", "feature_id", "day"],
            set_={"events": _DAY.c.events + statement.excluded.events, "user_numbers": merged},
        )
    )


_ROLL_UP_DAYS = sa.text(
    """INSERT INTO usage_day (organization_id, feature_id, day, product_id, events, user_numbers)
    SELECT organization_id, feature_id, (occurred_at AT TIME ZONE 'UTC')::date, product_id,
           count(*), array_agg(DISTINCT user_number ORDER BY user_number)
    FROM usage_event
    WHERE CAST(:organization_id AS uuid) IS NULL OR organization_id = :organization_id
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (organization_id, feature_id, day)
    DO UPDATE SET events = excluded.events, user_numbers = excluded.user_numbers"""
)


def rebuild_usage_days(organization_id: UUID | None = None) -> sa.TextClause:
    """The statement that rebuilds every day from the (numbered) events: the organization's, or all organizations'
    (migration 0026, run by the tables' owner). Running it again changes nothing."""
    return _ROLL_UP_DAYS.bindparams(organization_id=organization_id)
