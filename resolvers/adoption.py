"""Feature adoption over a window: adoption rate, active users per day and week, and the first users' retention."""

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import strawberry

from loaders.adoption import AdoptionByFeatureLoader, AdoptionKey
from prism.errors import Code, ValidationError
from resolvers.common import zoned_time
from resolvers.context import Context
from resolvers.list_bounds import max_items

__all__ = [
    "DEFAULT_WINDOW_DAYS",
    "MAX_RETENTION_WEEKS",
    "MAX_WINDOW_DAYS",
    "ActiveUsers",
    "FeatureAdoption",
    "FeatureRetention",
    "RetentionWeek",
    "feature_adoption",
]

Info = strawberry.Info[Context, None]

DEFAULT_WINDOW_DAYS = 28
MAX_WINDOW_DAYS = 180
MAX_RETENTION_WEEKS = 52
MAX_DAYS_LISTED = MAX_WINDOW_DAYS + 1
MAX_WEEKS_LISTED = MAX_WINDOW_DAYS // 7 + 2


@strawberry.type(description="Distinct users of a feature in one UTC day or one ISO week (Monday to Sunday, UTC).")
class ActiveUsers:
    start: date = strawberry.field(description="The day, or the Monday of the week.")
    users: int = strawberry.field(description="Distinct users who used the feature then, inside the window.")


@strawberry.type(description="Of the cohort, how many used the feature in one week after week 0.")
class RetentionWeek:
    week: int = strawberry.field(description="Weeks after week 0: 1, 2, ...")
    start: date = strawberry.field(description="The Monday of that week.")
    users: int = strawberry.field(description="Users of the cohort who used the feature that week.")
    share: float = strawberry.field(description="users / cohortSize, between 0 and 1.")


@strawberry.type(
    description=(
        "Retention of a feature's first users: the cohort is the users whose first recorded use of the feature fell "
        "in week 0, the ISO week (UTC) of the feature's first recorded use."
    )
)
class FeatureRetention:
    week_zero: date | None = strawberry.field(
        description="The Monday of week 0; null when the feature has no usage before the window's end."
    )
    cohort_size: int = strawberry.field(description="How many users first used the feature in week 0.")
    weeks: list[RetentionWeek] = strawberry.field(
        description=(
            "Weeks 1..N after week 0 (N = retentionWeeks) that began before the window's end, each listed, with 0 "
            "for a week nobody of the cohort came back; events at or after the window's end are not counted."
        ),
        metadata=max_items(MAX_RETENTION_WEEKS),
    )


@strawberry.type(description="How much a feature is used over a window [since, until); see docs/analytics.md.")
class FeatureAdoption:
    since: datetime = strawberry.field(description="The window's start (included).")
    until: datetime = strawberry.field(description="The window's end (excluded).")
    feature_users: int = strawberry.field(description="Distinct users who used the feature in the window.")
    active_users: int = strawberry.field(
        description="Distinct users who used any feature of the product in the window: the product's active users."
    )
    adoption_rate: float | None = strawberry.field(
        description="featureUsers / activeUsers, between 0 and 1; null when the product had no active user."
    )
    events: int = strawberry.field(description="Usage events of the feature in the window.")
    daily: list[ActiveUsers] = strawberry.field(
        description="Distinct users per UTC day, every day the window touches, oldest first, 0 for a quiet day.",
        metadata=max_items(MAX_DAYS_LISTED),
    )
    weekly: list[ActiveUsers] = strawberry.field(
        description="Distinct users per ISO week (UTC), every week the window touches, oldest first.",
        metadata=max_items(MAX_WEEKS_LISTED),
    )
    retention: FeatureRetention = strawberry.field(description="How the feature's first users kept using it.")


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _window(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ValidationError(f"{name} must carry a time zone, like 2026-12-01T00:00:00Z.", field=name)
    # In UTC first: a time UTC cannot hold (year 0 or 10000 once its offset is applied) is OUT_OF_RANGE.
    end = zoned_time(until, "until") or datetime.now(UTC)
    try:
        start = zoned_time(since, "since") or end - timedelta(days=DEFAULT_WINDOW_DAYS)
    except OverflowError:  # the default window would start before year 1
        raise ValidationError(
            f"until leaves no room for the default {DEFAULT_WINDOW_DAYS}-day window; give since.",
            field="until",
            code=Code.OUT_OF_RANGE,
        ) from None
    if start >= end:
        raise ValidationError("since must come before until.", field="since")
    if end - start > timedelta(days=MAX_WINDOW_DAYS):
        raise ValidationError(f"since and until may be at most {MAX_WINDOW_DAYS} days apart.", field="since")
    return start, end


async def feature_adoption(
    info: Info,
    feature_id: UUID,
    product_id: UUID,
    since: datetime | None,
    until: datetime | None,
    retention_weeks: int,
) -> FeatureAdoption:
    """A feature's adoption over [since, until) (the last 28 days by default)."""
    if not 1 <= retention_weeks <= MAX_RETENTION_WEEKS:
        raise ValidationError(f"retentionWeeks must be between 1 and {MAX_RETENTION_WEEKS}.", field="retentionWeeks")
    start, end = _window(since, until)
    found = await info.context.loaders.get(AdoptionByFeatureLoader).load(
        AdoptionKey(feature_id, product_id, start, end, retention_weeks)
    )
    last_day = (end - timedelta(microseconds=1)).date()
    days = [start.date() + timedelta(days=n) for n in range((last_day - start.date()).days + 1)]
    weeks = sorted({_monday(day) for day in days})
    retention = found.retention
    retained: list[RetentionWeek] = []
    if retention.week_zero is not None and retention.cohort_size:
        for week in range(1, retention_weeks + 1):
            week_start = retention.week_zero + timedelta(weeks=week)
            if datetime.combine(week_start, datetime.min.time(), UTC) >= end:
                break
            users = retention.retained.get(week, 0)
            retained.append(
                RetentionWeek(week=week, start=week_start, users=users, share=users / retention.cohort_size)
            )
    return FeatureAdoption(
        since=start,
        until=end,
        feature_users=found.feature_users,
        active_users=found.active_users,
        adoption_rate=found.feature_users / found.active_users if found.active_users else None,
        events=found.events,
        daily=[ActiveUsers(start=day, users=found.daily.get(day, 0)) for day in days],
        weekly=[ActiveUsers(start=week, users=found.weekly.get(week, 0)) for week in weeks],
        retention=FeatureRetention(week_zero=retention.week_zero, cohort_size=retention.cohort_size, weeks=retained),
    )
