"""Loaders of features and of their adoption, read from the daily rollup `usage_day` (see docs/analytics.md).

Times are bucketed in UTC: a day is a UTC calendar day, a week an ISO week (Monday 00:00 to Sunday 24:00, UTC). A
window's whole days come from the rollup (each a feature's events and its sorted user numbers); a day the window cuts
(`since` or `until` not at midnight) comes from its events, which carry the same user numbers. Distinct users of any
span are the union of its days' users: exact, as counting the events would be.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from aiodataloader import DataLoader

from loaders.pagination import ListSource
from loaders.rows import RowByIdLoader
from prism.db.adoption_tables import Feature, UsageDay, UsageEvent
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
_DAY: sa.Table = UsageDay.__table__  # type: ignore[attr-defined]


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


Numbers = npt.NDArray[np.int64]
"""Sorted, distinct user numbers (`usage_user.number`)."""

_ARRAY_HEADER = 20
"""How a one-dimensional array without nulls begins as PostgreSQL sends it (`array_send`): its number of
dimensions, a has-nulls flag, its element type, its length and its lower bound, 4 bytes each."""
_ELEMENT = np.dtype([("length", ">i4"), ("number", ">i8")])
"""Then each bigint element: its length (8), and its value, big-endian."""


def _sent_numbers(column: Any) -> Any:
    """A bigint[] column in PostgreSQL's binary form: read by numpy in place, no Python int per element."""
    return sa.func.array_send(column, type_=sa.LargeBinary)


def _numbers(sent: bytes) -> Numbers:
    if len(sent) <= _ARRAY_HEADER:  # an empty array has no dimension
        return np.empty(0, np.int64)
    return np.frombuffer(sent, dtype=_ELEMENT, offset=_ARRAY_HEADER)["number"].astype(np.int64)


def _distinct(parts: list[Numbers]) -> Numbers:
    """The distinct numbers of several days (each already distinct)."""
    if not parts:
        return np.empty(0, np.int64)
    if len(parts) == 1:
        return parts[0]
    # Sort and drop repeats: faster here than np.unique's hash table on a few thousand to a hundred thousand numbers.
    ordered = np.sort(np.concatenate(parts))
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class _Window:
    since: datetime
    until: datetime
    retention_weeks: int


@dataclass(frozen=True)
class _Span:
    """How a window [since, until) splits into whole UTC days, read from the rollup, and cut days, read from events.

    `cuts` are the time ranges read from events, disjoint: the part of the first day from `since` on (when `since` is
    not at midnight), and the last day from its midnight to `until` (when `until` is not at midnight), which retention
    reads too, whatever `since` is; when both are the same day, the second holds the first.
    """

    since: datetime
    until: datetime
    first_whole_day: date | None
    until_day: date
    cuts: tuple[tuple[datetime, datetime], ...]

    @classmethod
    def of(cls, window: _Window) -> "_Span":
        since, until = window.since.astimezone(UTC), window.until.astimezone(UTC)
        cuts = []
        first_whole_day: date | None = since.date()
        if since != _midnight(since.date()):
            first_whole_day = since.date() + timedelta(days=1) if since.date() < date.max else None
            cuts.append((since, until if first_whole_day is None else min(_midnight(first_whole_day), until)))
        until_day = until.date()
        if until != _midnight(until_day):
            if since.date() == until_day:
                cuts = []
            cuts.append((_midnight(until_day), until))
        return cls(since, until, first_whole_day, until_day, tuple(cuts))

    @property
    def has_whole_days(self) -> bool:
        return self.first_whole_day is not None and self.first_whole_day < self.until_day


@dataclass(frozen=True)
class _Day:
    feature_id: UUID
    product_id: UUID
    day: date
    events: int
    users: Numbers


class AdoptionByFeatureLoader(DataLoader[AdoptionKey, Adoption]):
    """Adoption figures: for every window asked in the same tick, whatever the number of features, one statement of
    rollup days (the window's and the retention weeks') and, when the window cuts a day, one of that day's events."""

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
        span = _Span.of(window)
        in_window, first_weeks = await self._rollup(span, window.retention_weeks, features, products)
        cut_window, cut_retention = await self._cut_days(span, features, products)
        in_window += cut_window
        for feature_id, days in cut_retention.items():
            first_weeks.setdefault(feature_id, {}).update(days)

        active: dict[UUID, list[Numbers]] = {product: [] for product in products}
        users: dict[UUID, list[Numbers]] = {feature: [] for feature in features}
        events = dict.fromkeys(features, 0)
        daily: dict[UUID, dict[date, int]] = {feature: {} for feature in features}
        weeks: dict[UUID, dict[date, list[Numbers]]] = {feature: {} for feature in features}
        for day in in_window:
            active[day.product_id].append(day.users)
            if day.feature_id in features:
                users[day.feature_id].append(day.users)
                events[day.feature_id] += day.events
                daily[day.feature_id][day.day] = len(day.users)
                weeks[day.feature_id].setdefault(_monday(day.day), []).append(day.users)
        active_users = {product: len(_distinct(parts)) for product, parts in active.items()}
        found: dict[AdoptionKey, Adoption] = {}
        for key in keys:
            found[key] = Adoption(
                feature_users=len(_distinct(users[key.feature_id])),
                active_users=active_users[key.product_id],
                events=events[key.feature_id],
                daily=daily[key.feature_id],
                weekly={monday: len(_distinct(parts)) for monday, parts in weeks[key.feature_id].items()},
                retention=_retention(first_weeks.get(key.feature_id, {}), window.retention_weeks),
            )
        return found

    async def _rollup(
        self, span: _Span, retention_weeks: int, features: set[UUID], products: set[UUID]
    ) -> tuple[list[_Day], dict[UUID, dict[date, Numbers]]]:
        """The window's whole days of the products' features, and each asked feature's whole days (before the window's
        last day) in the weeks retention counts: weeks 0 to N from its first day's week."""
        d = _DAY
        columns = (d.c.feature_id, d.c.product_id, d.c.day, d.c.events, _sent_numbers(d.c.user_numbers).label("users"))
        first_days = (
            tenant_select(d, self._organization_id, d.c.feature_id, sa.func.min(d.c.day).label("first_day"))
            .where(d.c.feature_id.in_(features), d.c.day < span.until_day)
            .group_by(d.c.feature_id)
            .subquery("first_days")
        )
        # The Monday of the first day's ISO week: a date minus whole days, whatever the session's time zone.
        week_zero = first_days.c.first_day - sa.cast(sa.extract("isodow", first_days.c.first_day), sa.Integer) + 1
        parts = [
            tenant_select(d, self._organization_id, sa.literal(True).label("for_retention"), *columns)
            .join(first_days, first_days.c.feature_id == d.c.feature_id)
            .where(
                d.c.feature_id.in_(features),
                d.c.day >= week_zero,
                d.c.day < week_zero + 7 * (retention_weeks + 1),
                d.c.day < span.until_day,
            )
        ]
        if span.has_whole_days:
            parts.append(
                tenant_select(d, self._organization_id, sa.literal(False), *columns).where(
                    d.c.product_id.in_(products), d.c.day >= span.first_whole_day, d.c.day < span.until_day
                )
            )
        in_window: list[_Day] = []
        first_weeks: dict[UUID, dict[date, Numbers]] = {}
        for row in await self._reader.all(sa.union_all(*parts)):
            if row.for_retention:
                first_weeks.setdefault(row.feature_id, {})[row.day] = _numbers(row.users)
            else:
                in_window.append(_Day(row.feature_id, row.product_id, row.day, row.events, _numbers(row.users)))
        return in_window, first_weeks

    async def _cut_days(
        self, span: _Span, features: set[UUID], products: set[UUID]
    ) -> tuple[list[_Day], dict[UUID, dict[date, Numbers]]]:
        """The days the window cuts, from their events: inside the window for the products' features, and the last
        day up to `until` for the asked features' retention. Grouped in SQL by feature, day and whether inside the
        window (the last day may begin before `since`)."""
        if not span.cuts:
            return [], {}
        u = _USAGE
        # Each range an index-only scan: (organization_id, product_id, occurred_at) includes the feature and the user.
        ranges = sa.union_all(
            *(
                tenant_select(
                    u, self._organization_id, u.c.feature_id, u.c.product_id, u.c.occurred_at, u.c.user_number
                ).where(u.c.product_id.in_(products), u.c.occurred_at >= start, u.c.occurred_at < end)
                for start, end in span.cuts
            )
        ).subquery("cut_events")
        day = sa.cast(sa.func.timezone("UTC", ranges.c.occurred_at), sa.Date).label("day")
        in_window = (ranges.c.occurred_at >= span.since).label("in_window")
        statement = sa.select(  # unscoped: reads the tenant-scoped selects above
            ranges.c.feature_id,
            ranges.c.product_id,
            day,
            in_window,
            sa.func.count().label("events"),
            _sent_numbers(sa.func.array_agg(sa.distinct(ranges.c.user_number))).label("users"),
        ).group_by(ranges.c.feature_id, ranges.c.product_id, day, in_window)
        window_days: list[_Day] = []
        last_day: dict[UUID, list[Numbers]] = {}
        for row in await self._reader.all(statement):
            numbers = _numbers(row.users)
            if row.in_window:
                window_days.append(_Day(row.feature_id, row.product_id, row.day, row.events, numbers))
            if row.feature_id in features and row.day == span.until_day:
                last_day.setdefault(row.feature_id, []).append(numbers)
        return window_days, {feature: {span.until_day: _distinct(parts)} for feature, parts in last_day.items()}


def _retention(days: dict[date, Numbers], retention_weeks: int) -> Retention:
    """Week 0 is the week of the first day; the cohort its users; week k's figure how many of them came back then."""
    if not days:
        return Retention(week_zero=None, cohort_size=0, retained={})
    week_zero = _monday(min(days))
    by_week: dict[int, list[Numbers]] = {}
    for day, numbers in days.items():
        week = (day - week_zero).days // 7
        if week <= retention_weeks:
            by_week.setdefault(week, []).append(numbers)
    cohort = _distinct(by_week.pop(0))
    retained = {
        week: len(np.intersect1d(cohort, _distinct(parts), assume_unique=True)) for week, parts in by_week.items()
    }
    return Retention(
        week_zero=week_zero,
        cohort_size=len(cohort),
        retained={week: users for week, users in sorted(retained.items()) if users},
    )
