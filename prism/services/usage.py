"""Usage events: SDKs report that a (pseudonymous) user used a feature; PRISM keeps each report once.

One batch is one transaction. A batch over the size limit is refused whole (OUT_OF_RANGE); inside a batch each event
is checked on its own, and an event that fails (an unknown product or feature key, properties over the limit or that
jsonb cannot hold, a time without a zone, before 1970 or in the future) is rejected with a code while the others are
kept. Unknown feature keys are rejected, never created: features are curated (named, linked to the requirement that
shipped them), and an SDK's typo must not become a feature. Events are idempotent by `event_id` within the
organization: an id already recorded (or repeated in the batch) is counted as a duplicate and changes nothing, so a
client may resend a batch it is unsure about. The events newly recorded are added to the daily rollup adoption reads
(`usage_day`, prism.db.usage_days) in the same transaction.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from prism.auth.rbac import Permission, Viewer, require
from prism.db.adoption_tables import Feature, UsageEvent
from prism.db.base import utcnow
from prism.db.tables import Product
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.db.usage_days import RecordedEvent, add_to_usage_days, number_users
from prism.errors import Code, ValidationError

__all__ = [
    "EARLIEST_OCCURRED_AT",
    "EVENT_ID_MAX",
    "FUTURE_TOLERANCE",
    "USER_ID_MAX",
    "RecordedUsage",
    "RejectedUsageEvent",
    "UsageEventReport",
    "UsageLimits",
    "UsageService",
]

EVENT_ID_MAX = 128
USER_ID_MAX = 255
PRODUCT_KEY_MAX = 10
FEATURE_KEY_MAX = 64
FUTURE_TOLERANCE = timedelta(hours=1)
"""How far ahead of PRISM's clock an event's time may be (the reporting device's clock may run fast)."""
EARLIEST_OCCURRED_AT = datetime(1970, 1, 1, tzinfo=UTC)
"""The earliest time an event may carry: earlier is a client's bug (an unset clock, a zero value), not a use."""

_FEATURE: sa.Table = Feature.__table__  # type: ignore[attr-defined]
_PRODUCT: sa.Table = Product.__table__  # type: ignore[attr-defined]
_USAGE: sa.Table = UsageEvent.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class UsageLimits:
    """How many events a batch may carry and how large one event's properties may be (compact JSON bytes)."""

    max_batch: int
    max_properties_bytes: int


@dataclass(frozen=True)
class UsageEventReport:
    """One event as a client reports it, before any check."""

    event_id: str
    product: str
    """The product's key (`PRISM`)."""
    feature: str
    """The feature's key within the product (`bulk-edit`)."""
    user_id: str
    """The SDK's pseudonymous id of the user; PRISM never resolves it to a person."""
    occurred_at: datetime
    properties: Any = field(default_factory=dict)


@dataclass(frozen=True)
class RejectedUsageEvent:
    """An event of a batch that was not recorded, and why."""

    index: int
    event_id: str
    code: Code
    field: str
    message: str


@dataclass(frozen=True)
class RecordedUsage:
    """What a batch did: events newly recorded, events already known (replays), and events rejected."""

    accepted: int
    duplicates: int
    rejected: list[RejectedUsageEvent]


class _RejectedError(Exception):
    def __init__(self, code: Code, field: str, message: str) -> None:
        super().__init__(message)
        self.code, self.field, self.message = code, field, message


def _text(value: Any, name: str, maximum: int) -> str:
    if not isinstance(value, str) or not value.strip() or not value.isprintable():
        raise _RejectedError(Code.BAD_USER_INPUT, name, f"{name} must be a non-empty string of printable characters.")
    cleaned = value.strip()
    if len(cleaned) > maximum:
        raise _RejectedError(Code.TOO_LONG, name, f"{name} is {len(cleaned)} characters long; the limit is {maximum}.")
    return cleaned


def _unfit_for_jsonb(value: Any) -> str | None:
    """Why PostgreSQL's jsonb cannot hold a JSON value, or None (iteratively: nesting may be deep).

    jsonb holds no NUL character and no infinite or NaN number. The size check cannot see the numbers: orjson writes
    them as null, while the driver sends `Infinity`, which jsonb refuses. A float literal too large for a double
    (`1e400` written inline in a GraphQL document) parses to infinity.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "properties must not contain NUL characters."
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "properties must hold finite numbers only (a double's range, no NaN)."
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


class UsageService:
    """Records batches of usage events for the viewer's organization (RECORD_USAGE: the `usage:write` scope)."""

    def __init__(self, uow: UnitOfWork, viewer: Viewer, limits: UsageLimits) -> None:
        self._uow = uow
        self._viewer = viewer
        self._limits = limits

    @property
    def _org(self) -> UUID:
        return self._viewer.organization_id

    async def record(self, events: Sequence[UsageEventReport]) -> RecordedUsage:
        """Check each event, look its feature up, and insert those not yet recorded, in one statement each."""
        require(self._viewer, Permission.RECORD_USAGE)
        if len(events) > self._limits.max_batch:
            raise ValidationError(
                f"A batch may carry at most {self._limits.max_batch} events; this one has {len(events)}. "
                "Split it into smaller batches.",
                field="events",
                code=Code.OUT_OF_RANGE,
            )
        now = utcnow()
        rejected: list[RejectedUsageEvent] = []
        checked: list[tuple[int, dict[str, Any], tuple[str, str]]] = []
        for index, event in enumerate(events):
            try:
                checked.append((index, *self._check(event, now)))
            except _RejectedError as why:
                event_id = event.event_id if isinstance(event.event_id, str) else ""
                rejected.append(RejectedUsageEvent(index, event_id[:EVENT_ID_MAX], why.code, why.field, why.message))
        features = await self._features({pair for _, _, pair in checked})
        rows: list[dict[str, Any]] = []
        for index, row, pair in checked:
            found = features.get(pair)
            if found is None:
                rejected.append(
                    RejectedUsageEvent(
                        index,
                        row["event_id"],
                        Code.NOT_FOUND,
                        "feature",
                        f"Product {pair[0]!r} has no feature with the key {pair[1]!r}; create it first "
                        "(createFeature): unknown keys are not created automatically.",
                    )
                )
                continue
            rows.append({**row, "feature_id": found[0], "product_id": found[1]})
        accepted = await self._insert(rows)
        rejected.sort(key=lambda item: item.index)
        return RecordedUsage(accepted=accepted, duplicates=len(rows) - accepted, rejected=rejected)

    def _check(self, event: UsageEventReport, now: datetime) -> tuple[dict[str, Any], tuple[str, str]]:
        event_id = _text(event.event_id, "eventId", EVENT_ID_MAX)
        product = _text(event.product, "product", PRODUCT_KEY_MAX).upper()
        feature = _text(event.feature, "feature", FEATURE_KEY_MAX)
        user_key = _text(event.user_id, "userId", USER_ID_MAX)
        occurred_at = event.occurred_at
        if not isinstance(occurred_at, datetime) or occurred_at.tzinfo is None:
            raise _RejectedError(
                Code.BAD_USER_INPUT, "occurredAt", "occurredAt must be a time with a zone, like 2026-12-01T09:30:00Z."
            )
        if occurred_at < EARLIEST_OCCURRED_AT:
            # Also keeps out times that exist in their zone but not in UTC (the first hour of year 1, east of
            # Greenwich): the driver cannot convert them and would fail the whole batch.
            raise _RejectedError(
                Code.OUT_OF_RANGE, "occurredAt", "occurredAt is before 1970-01-01T00:00:00Z; send when it happened."
            )
        if occurred_at > now + FUTURE_TOLERANCE:
            raise _RejectedError(
                Code.OUT_OF_RANGE, "occurredAt", "occurredAt is more than an hour ahead of the server's clock."
            )
        properties = {} if event.properties is None else event.properties
        if not isinstance(properties, dict):
            raise _RejectedError(Code.BAD_USER_INPUT, "properties", "properties must be a JSON object.")
        try:
            encoded = orjson.dumps(properties)
        except TypeError:  # a lone surrogate, an integer past 64 bits
            raise _RejectedError(Code.BAD_USER_INPUT, "properties", "properties must be plain JSON.") from None
        unfit = _unfit_for_jsonb(properties)
        if unfit is not None:
            raise _RejectedError(Code.BAD_USER_INPUT, "properties", unfit)
        size = len(encoded)
        if size > self._limits.max_properties_bytes:
            raise _RejectedError(
                Code.TOO_LONG,
                "properties",
                f"properties take {size} bytes as JSON; the limit is {self._limits.max_properties_bytes}.",
            )
        row = {"event_id": event_id, "user_key": user_key, "occurred_at": occurred_at, "properties": properties}
        return row, (product, feature)

    async def _features(self, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[UUID, UUID]]:
        """The (feature id, product id) of each (product key, feature key) pair that names a feature."""
        if not pairs:
            return {}
        statement = (
            tenant_select(_FEATURE, self._org, _FEATURE.c.id, _FEATURE.c.product_id, _FEATURE.c.key)
            .add_columns(_PRODUCT.c.key.label("product_key"))
            .join(
                _PRODUCT,
                sa.and_(_PRODUCT.c.id == _FEATURE.c.product_id, _PRODUCT.c.organization_id == self._org),
            )
            .where(sa.tuple_(_PRODUCT.c.key, _FEATURE.c.key).in_(sorted(pairs)))
        )
        async with self._uow.session(self._org) as session:
            connection = await session.connection()
            found = (await connection.execute(statement)).all()
        return {(row.product_key, row.key): (row.id, row.product_id) for row in found}

    async def _insert(self, rows: list[dict[str, Any]]) -> int:
        """Number the rows' users, insert the rows whose event id is new and add those to the daily rollup; how many
        were new."""
        if not rows:
            return 0
        received_at = utcnow()
        async with self._uow.session(self._org) as session:
            connection = await session.connection()
            numbers = await number_users(connection, self._org, {row["user_key"] for row in rows})
            values = [
                {
                    **row,
                    "id": uuid4(),
                    "organization_id": self._org,
                    "user_number": numbers[row["user_key"]],
                    "received_at": received_at,
                }
                for row in rows
            ]
            statement = (
                insert(_USAGE)
                .values(values)
                .on_conflict_do_nothing(index_elements=["organization_id", "event_id"])
                .returning(_USAGE.c.feature_id, _USAGE.c.product_id, _USAGE.c.user_number, _USAGE.c.occurred_at)
            )
            inserted = [
                RecordedEvent(row.feature_id, row.product_id, row.user_number, row.occurred_at)
                for row in (await connection.execute(statement)).all()
            ]
            # Only what this insert wrote: a duplicate (known id, or repeated in the batch) is never counted twice.
            await add_to_usage_days(connection, self._org, inserted)
        return len(inserted)
