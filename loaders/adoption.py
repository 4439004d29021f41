"""Loaders of features and of their adoption, computed in SQL from `usage_event` (see docs/analytics.md).

Times are bucketed in UTC: a day is a UTC calendar day, a week an ISO week (Monday 00:00 to Sunday 24:00, UTC).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from aiodataloader import DataLoader

from loaders.pagination import ListSource
from loaders.rows import RowByIdLoader
from prism.db.adoption_tables import Feature, UsageEvent
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork

__all__ = [
    "FEATURES_BY_PRODUCT",
    "FEATURES_BY_REQUIREMENT",
    "Adoption",
    "AdoptionByFeatureLoader",
    "AdoptionKey",
    "FeatureByIdLoader",
    "Retention",
]

_FEATURE: sa.Table = Feature.__table__  # type: ignore[attr-defined]
_USAGE: sa.Table = UsageEvent.__table__  # type: ignore[attr-defined]
WEEK_SECONDS = 7 * 86400


class FeatureByIdLoader(RowByIdLoader):
    """Features by id."""

    table = _FEATURE


def _no_filter(table: sa.Table, _: Any) -> list[sa.ColumnElement[bool]]:
    return []


FEATURES_BY_PRODUCT = ListSource(
    name="features_by_product",
    table=_FEATURE,
    parent_column="product_id",
    order_fields={"KEY": lambda t: t.c.key},
    where=_no_filter,
)
FEATURES_BY_REQUIREMENT = ListSource(
    name="features_by_requirement",
    table=_FEATURE,
    parent_column="requirement_id",
    order_fields={"KEY": lambda t: t.c.key},
    where=_no_filter,
)


@dataclass(frozen=True)
class AdoptionKey:
    """A feature (of a product), a window [since, until), and how many weeks of its first users' retention."""

    feature_id: UUID
    product_id: UUID
    since: datetime
    until: datetime
    retention_weeks: int


@dataclass(frozen=True)
class Retention:
    """The feature's first users (whose first use fell in week 0, the ISO week of its first recorded use) and how
    many of them used it again in each later week."""

    week_zero: date | None
    cohort_size: int
    retained: dict[int, int]
    """Users of the cohort active in week k (1..N), for the weeks with any."""


@dataclass(frozen=True)
class Adoption:
    """A feature's figures over one window."""

    feature_users: int
    active_users: int
    events: int
    daily: dict[date, int]
    """Distinct users of the feature per UTC day, for the days with any."""
    weekly: dict[date, int]
    """Distinct users of the feature per ISO week (by its Monday), for the weeks with any."""
    retention: Retention


def _utc(column: Any) -> Any:
    """A timestamptz as UTC wall time, so date_trunc cuts days and weeks in UTC whatever the session's zone."""
    return sa.func.timezone("UTC", column)


class AdoptionByFeatureLoader(DataLoader[AdoptionKey, Adoption]):
    """Adoption figures: three statements per feature asked (totals, the day and week series, retention)."""

    def __init__(self, reader: UnitOfWork, organization_id: UUID) -> None:
        super().__init__()
        self._reader = reader
        self._organization_id = organization_id

    async def batch_load_fn(self, keys: Sequence[AdoptionKey]) -> list[Adoption]:
        return [await self._adoption(key) for key in keys]

    def _events(self, key: AdoptionKey) -> sa.Select[Any]:
        """The window's events of the feature's product (any feature), scoped to the organization."""
        u = _USAGE
        return tenant_select(u, self._organization_id, u.c.feature_id, u.c.user_key, u.c.occurred_at).where(
            u.c.product_id == key.product_id, u.c.occurred_at >= key.since, u.c.occurred_at < key.until
        )

    async def _adoption(self, key: AdoptionKey) -> Adoption:
        window = self._events(key).subquery("window_events")
        of_feature = window.c.feature_id == key.feature_id
        totals = sa.select(  # unscoped: reads the tenant-scoped subquery above
            sa.func.count(sa.distinct(window.c.user_key)).filter(of_feature).label("feature_users"),
            sa.func.count(sa.distinct(window.c.user_key)).label("active_users"),
            sa.func.count().filter(of_feature).label("events"),
        )
        total = (await self._reader.all(totals))[0]

        day = sa.func.date_trunc("day", _utc(window.c.occurred_at)).label("day")
        week = sa.func.date_trunc("week", _utc(window.c.occurred_at)).label("week")
        series = (
            sa.select(  # unscoped: reads the tenant-scoped subquery above
                day,
                week,
                sa.func.grouping(day).label("by_week"),
                sa.func.count(sa.distinct(window.c.user_key)).label("users"),
            )
            .where(of_feature)
            .group_by(sa.func.grouping_sets(sa.tuple_(day), sa.tuple_(week)))
        )
        daily: dict[date, int] = {}
        weekly: dict[date, int] = {}
        for row in await self._reader.all(series):
            if row.by_week:
                weekly[row.week.date()] = row.users
            else:
                daily[row.day.date()] = row.users
        return Adoption(
            feature_users=total.feature_users,
            active_users=total.active_users,
            events=total.events,
            daily=daily,
            weekly=weekly,
            retention=await self._retention(key),
        )

    async def _retention(self, key: AdoptionKey) -> Retention:
        u = _USAGE
        used = (
            tenant_select(u, self._organization_id, u.c.user_key, _utc(u.c.occurred_at).label("at"))
            .where(u.c.feature_id == key.feature_id, u.c.occurred_at < key.until)
            .cte("feature_events")
        )
        firsts = (
            sa.select(used.c.user_key, sa.func.min(used.c.at).label("first_at"))  # unscoped: the CTE above
            .group_by(used.c.user_key)
            .cte("first_uses")
        )
        zero = sa.select(  # unscoped: reads the CTE above
            sa.func.date_trunc("week", sa.func.min(firsts.c.first_at)).label("start")
        ).cte("week_zero")
        seven_days = sa.text("interval '7 days'")
        cohort = (
            sa.select(firsts.c.user_key)  # unscoped: reads the CTEs above
            .join(zero, sa.true())
            .where(firsts.c.first_at < zero.c.start + seven_days)
            .cte("cohort")
        )
        week_number = sa.cast(sa.func.floor(sa.extract("epoch", used.c.at - zero.c.start) / WEEK_SECONDS), sa.Integer)
        statement = (
            sa.select(  # unscoped: reads the CTEs above
                zero.c.start.label("week_zero"),
                week_number.label("week"),
                sa.func.count(sa.distinct(used.c.user_key)).label("users"),
            )
            .select_from(used.join(zero, sa.true()).join(cohort, cohort.c.user_key == used.c.user_key))
            .where(week_number <= key.retention_weeks)
            .group_by(zero.c.start, week_number)
            .order_by(week_number)
        )
        rows = await self._reader.all(statement)
        if not rows:
            return Retention(week_zero=None, cohort_size=0, retained={})
        by_week = {row.week: row.users for row in rows}
        return Retention(
            week_zero=rows[0].week_zero.date(),
            cohort_size=by_week.get(0, 0),
            retained={week: users for week, users in by_week.items() if week >= 1},
        )
