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


@dataclass(frozen=True)
class _Window:
    since: datetime
    until: datetime
    retention_weeks: int


class AdoptionByFeatureLoader(DataLoader[AdoptionKey, Adoption]):
    """Adoption figures: three statements for every window asked in the same tick, whatever the number of features
    (totals with the products' active users, the day and week series, retention)."""

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
        users = sa.func.count(sa.distinct(events.c.user_key))
        totals = sa.select(  # unscoped: reads the tenant-scoped subquery above
            events.c.feature_id,
            events.c.product_id,
            sa.func.grouping(events.c.feature_id).label("by_product"),
            users.label("users"),
            sa.func.count().label("events"),
        ).group_by(sa.func.grouping_sets(sa.tuple_(events.c.feature_id), sa.tuple_(events.c.product_id)))
        feature_totals: dict[UUID, tuple[int, int]] = {}
        active: dict[UUID, int] = {}
        for row in await self._reader.all(totals):
            if row.by_product:
                active[row.product_id] = row.users
            else:
                feature_totals[row.feature_id] = (row.users, row.events)

        day = sa.func.date_trunc("day", _utc(events.c.occurred_at)).label("day")
        week = sa.func.date_trunc("week", _utc(events.c.occurred_at)).label("week")
        series = (
            sa.select(  # unscoped: reads the tenant-scoped subquery above
                events.c.feature_id, day, week, sa.func.grouping(day).label("by_week"), users.label("users")
            )
            .where(events.c.feature_id.in_(features))
            .group_by(sa.func.grouping_sets(sa.tuple_(events.c.feature_id, day), sa.tuple_(events.c.feature_id, week)))
        )
        daily: dict[UUID, dict[date, int]] = {feature: {} for feature in features}
        weekly: dict[UUID, dict[date, int]] = {feature: {} for feature in features}
        for row in await self._reader.all(series):
            if row.by_week:
                weekly[row.feature_id][row.week.date()] = row.users
            else:
                daily[row.feature_id][row.day.date()] = row.users

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
        """Per feature: week 0 (the ISO week of its first use), its cohort, and the cohort's users in weeks 1..N."""
        u = _USAGE
        used = (
            tenant_select(u, self._organization_id, u.c.feature_id, u.c.user_key, _utc(u.c.occurred_at).label("at"))
            .where(u.c.feature_id.in_(features), u.c.occurred_at < window.until)
            .cte("feature_events")
        )
        firsts = (
            sa.select(  # unscoped: reads the CTE above
                used.c.feature_id, used.c.user_key, sa.func.min(used.c.at).label("first_at")
            )
            .group_by(used.c.feature_id, used.c.user_key)
            .cte("first_uses")
        )
        zero = (
            sa.select(  # unscoped: reads the CTE above
                firsts.c.feature_id, sa.func.date_trunc("week", sa.func.min(firsts.c.first_at)).label("start")
            )
            .group_by(firsts.c.feature_id)
            .cte("week_zero")
        )
        cohort = (
            sa.select(firsts.c.feature_id, firsts.c.user_key)  # unscoped: reads the CTEs above
            .join(zero, zero.c.feature_id == firsts.c.feature_id)
            .where(firsts.c.first_at < zero.c.start + sa.text("interval '7 days'"))
            .cte("cohort")
        )
        week_number = sa.cast(sa.func.floor(sa.extract("epoch", used.c.at - zero.c.start) / WEEK_SECONDS), sa.Integer)
        statement = (
            sa.select(  # unscoped: reads the CTEs above
                used.c.feature_id,
                zero.c.start.label("week_zero"),
                week_number.label("week"),
                sa.func.count(sa.distinct(used.c.user_key)).label("users"),
            )
            .select_from(
                used.join(zero, zero.c.feature_id == used.c.feature_id).join(
                    cohort, sa.and_(cohort.c.feature_id == used.c.feature_id, cohort.c.user_key == used.c.user_key)
                )
            )
            .where(week_number <= window.retention_weeks)
            .group_by(used.c.feature_id, zero.c.start, week_number)
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
