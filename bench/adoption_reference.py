"""Adoption computed from the raw usage events, as PRISM did before the daily rollup (migration 0026): the reference
the rollup's answers must equal (`check_adoption` on the benchmark's data, tests/test_adoption_rollup.py on constructed
histories). Not used by the server.

Times are bucketed in UTC: a day is a UTC calendar day, a week an ISO week (Monday 00:00 to Sunday 24:00, UTC).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from aiodataloader import DataLoader

from loaders.adoption import Adoption, AdoptionByFeatureLoader, AdoptionKey, Retention
from prism.db.adoption_tables import UsageEvent
from prism.db.engine import build_engine
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork

__all__ = ["AdoptionFromEventsLoader", "check_adoption"]

_USAGE: sa.Table = UsageEvent.__table__  # type: ignore[attr-defined]
WEEK_SECONDS = 7 * 86400


@dataclass(frozen=True)
class _Window:
    since: datetime
    until: datetime
    retention_weeks: int


def _utc(column: Any) -> Any:
    """A timestamptz as UTC wall time, so date_trunc cuts days and weeks in UTC whatever the session's zone."""
    return sa.func.timezone("UTC", column)


class AdoptionFromEventsLoader(DataLoader[AdoptionKey, Adoption]):
    """Adoption figures from the events: three statements for every window asked in the same tick (totals with the
    products' active users, the day and week series, retention)."""

    def __init__(self, reader: UnitOfWork, organization_id: UUID) -> None:
        super().__init__()
        self._reader = reader
        self._organization_id = organization_id

    async def batch_load_fn(self, keys: Sequence[AdoptionKey]) -> list[Adoption]:
        windows: dict[_Window, list[AdoptionKey]] = {}
        for key in keys:
            windows.setdefault(_Window(key.since, key.until, key.retention_weeks), []).append(key)
        found: dict[AdoptionKey, Adoption] = {}
        for window, of_window in windows.items():
            found.update(await self._adoptions(window, of_window))
        return [found[key] for key in keys]

    async def _adoptions(self, window: _Window, keys: list[AdoptionKey]) -> dict[AdoptionKey, Adoption]:
        features = {key.feature_id for key in keys}
        products = {key.product_id for key in keys}
        u = _USAGE
        events = (
            tenant_select(u, self._organization_id, u.c.feature_id, u.c.product_id, u.c.user_key, u.c.occurred_at)
            .where(u.c.product_id.in_(products), u.c.occurred_at >= window.since, u.c.occurred_at < window.until)
            .subquery("window_events")
        )
        # No count(DISTINCT ...): distinct rows first (hash aggregates), then plain counts, which PostgreSQL can
        # hash too instead of sorting every event of the window.
        pairs = (
            sa.select(  # unscoped: reads the tenant-scoped subquery above
                events.c.feature_id, events.c.product_id, events.c.user_key, sa.func.count().label("n")
            )
            .group_by(events.c.feature_id, events.c.product_id, events.c.user_key)
            .cte("pairs")
        )
        product_users = (
            sa.select(pairs.c.product_id, pairs.c.user_key)  # unscoped: reads the CTE above
            .distinct()
            .subquery("product_users")
        )
        totals = sa.union_all(
            sa.select(  # unscoped: reads the CTE above
                sa.literal(False).label("by_product"),
                pairs.c.feature_id.label("id"),
                sa.func.count().label("users"),
                sa.func.sum(pairs.c.n).label("events"),
            )
            .where(pairs.c.feature_id.in_(features))
            .group_by(pairs.c.feature_id),
            sa.select(  # unscoped: reads the CTE above
                sa.literal(True), product_users.c.product_id, sa.func.count(), sa.literal(0)
            ).group_by(product_users.c.product_id),
        )
        feature_totals: dict[UUID, tuple[int, int]] = {}
        active: dict[UUID, int] = {}
        for row in await self._reader.all(totals):
            if row.by_product:
                active[row.id] = row.users
            else:
                feature_totals[row.id] = (row.users, int(row.events))

        of_features = events.c.feature_id.in_(features)
        per_day = (
            sa.select(  # unscoped: reads the tenant-scoped subquery above
                events.c.feature_id,
                sa.func.date_trunc("day", _utc(events.c.occurred_at)).label("start"),
                events.c.user_key,
            )
            .where(of_features)
            .distinct()
            .subquery("day_users")
        )
        per_week = (
            sa.select(  # unscoped: reads the tenant-scoped subquery above
                events.c.feature_id,
                sa.func.date_trunc("week", _utc(events.c.occurred_at)).label("start"),
                events.c.user_key,
            )
            .where(of_features)
            .distinct()
            .subquery("week_users")
        )
        series = sa.union_all(
            sa.select(  # unscoped: reads the subquery above
                sa.literal(False).label("by_week"),
                per_day.c.feature_id,
                per_day.c.start,
                sa.func.count().label("users"),
            ).group_by(per_day.c.feature_id, per_day.c.start),
            sa.select(  # unscoped: reads the subquery above
                sa.literal(True), per_week.c.feature_id, per_week.c.start, sa.func.count()
            ).group_by(per_week.c.feature_id, per_week.c.start),
        )
        daily: dict[UUID, dict[date, int]] = {feature: {} for feature in features}
        weekly: dict[UUID, dict[date, int]] = {feature: {} for feature in features}
        for row in await self._reader.all(series):
            (weekly if row.by_week else daily)[row.feature_id][row.start.date()] = row.users

        retention = await self._retention(window, features)
        found: dict[AdoptionKey, Adoption] = {}
        for key in keys:
            feature_users, feature_events = feature_totals.get(key.feature_id, (0, 0))
            found[key] = Adoption(
                feature_users=feature_users,
                active_users=active.get(key.product_id, 0),
                events=feature_events,
                daily=daily[key.feature_id],
                weekly=weekly[key.feature_id],
                retention=retention.get(key.feature_id, Retention(week_zero=None, cohort_size=0, retained={})),
            )
        return found

    async def _retention(self, window: _Window, features: set[UUID]) -> dict[UUID, Retention]:
        """Per feature: week 0 (the ISO week of its first use), its cohort, and the cohort's users in weeks 1..N.

        No join: the events become distinct (feature, user, week) rows, and two window functions mark each row with
        its user's first week and its feature's first week; a row belongs to the cohort when the two are equal.
        """
        u = _USAGE
        week = sa.func.date_trunc("week", _utc(u.c.occurred_at))
        user_weeks = (
            tenant_select(u, self._organization_id, u.c.feature_id, u.c.user_key, week.label("week"))
            .where(u.c.feature_id.in_(features), u.c.occurred_at < window.until)
            .group_by(u.c.feature_id, u.c.user_key, week)
            .subquery("user_weeks")
        )
        marked = sa.select(  # unscoped: reads the tenant-scoped subquery above
            user_weeks.c.feature_id,
            user_weeks.c.week,
            sa.func.min(user_weeks.c.week)
            .over(partition_by=(user_weeks.c.feature_id, user_weeks.c.user_key))
            .label("first_week"),
            sa.func.min(user_weeks.c.week).over(partition_by=user_weeks.c.feature_id).label("week_zero"),
        ).subquery("marked")
        week_number = sa.cast(
            sa.func.floor(sa.extract("epoch", marked.c.week - marked.c.week_zero) / WEEK_SECONDS), sa.Integer
        )
        statement = (
            sa.select(  # unscoped: reads the tenant-scoped subqueries above
                marked.c.feature_id,
                marked.c.week_zero,
                week_number.label("week"),
                sa.func.count().label("users"),
            )
            .where(marked.c.first_week == marked.c.week_zero, week_number <= window.retention_weeks)
            .group_by(marked.c.feature_id, marked.c.week_zero, week_number)
        )
        weeks: dict[UUID, dict[int, int]] = {}
        starts: dict[UUID, date] = {}
        for row in await self._reader.all(statement):
            weeks.setdefault(row.feature_id, {})[row.week] = row.users
            starts[row.feature_id] = row.week_zero.date()
        return {
            feature: Retention(
                week_zero=starts[feature],
                cohort_size=by_week.get(0, 0),
                retained={week: count for week, count in by_week.items() if week >= 1},
            )
            for feature, by_week in weeks.items()
        }


async def check_adoption(
    database_url: str,
    organization_id: UUID,
    keys: Sequence[AdoptionKey],
) -> list[AdoptionKey]:
    """Answer each key with the rollup's loader and with the events' reference: the keys whose answers differ."""
    engine = build_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with UnitOfWork(engine, organization_id) as uow:
            rolled_up = await AdoptionByFeatureLoader(uow, organization_id).batch_load_fn(keys)
            from_events = await AdoptionFromEventsLoader(uow, organization_id).batch_load_fn(keys)
    finally:
        await engine.dispose()
    return [key for key, mine, reference in zip(keys, rolled_up, from_events, strict=True) if mine != reference]


def sample_windows(now: datetime) -> list[tuple[datetime, datetime]]:
    """Windows over the benchmark's 90 days: the measured one, whole days, weeks, cut days at both ends, short ones."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return [
        (now - timedelta(days=28), now),
        (midnight - timedelta(days=28), midnight),
        (midnight - timedelta(days=60, hours=5), midnight - timedelta(days=3, minutes=17)),
        (midnight - timedelta(days=88), midnight - timedelta(days=86)),
        (now - timedelta(hours=5), now),
        (midnight - timedelta(days=45, hours=-3), midnight - timedelta(days=45, hours=-4)),
        (now - timedelta(days=180), now - timedelta(days=1)),
    ]
