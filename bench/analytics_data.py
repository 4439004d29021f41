"""The analytics benchmark's data set: one product with a year of sprints, 10,000 requirements and 200,000 events,
and 20 features with 200,000 usage events from 10,000 pseudonymous users over 90 days.

The organization, its owner, the product, its sprints and a release are made by PRISM's data builder; the
requirements, their history and the sprints' commitments are drawn here as plain tuples (a seeded generator, so the
same arguments give the same rows, relative to the week the benchmark runs in) and written with PostgreSQL's COPY:
the builder keeps every invariant but takes a minute for 200,000 events, COPY takes a few seconds.

The history is one a team would have: 26 two-week sprints, the last one running; each requirement is created, often
estimated, planned into the next sprint (one in ten added to a running sprint instead), started, reviewed and done,
carried over by each close that finds it unfinished; a few are canceled, re-estimated mid-sprint or reopened after
DONE and finished again. What is left to reach the event count are edits of titles and descriptions, spread over
the requirements' lives (the analytics must skip them, as they would in production).

Feature adoption: the product's 20 features are used as a product's are, a few a lot and most a little (feature k of
20 gets a share of the usage events proportional to 1/k^2, so the busiest has about 60%), by users drawn from 10,000
pseudonymous ids, at moments spread evenly over the last 90 days; written with COPY like the history, then rolled up
by day as recording them would have (prism.db.usage_days).
"""

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import sqlalchemy as sa
from fractional_indexing import generate_key_between

from loaders.analytics import ClosedSprintsKey, SprintFiguresByProductLoader
from prism.auth.passwords import hash_password, make_hasher
from prism.db.adoption_tables import Feature, UsageEvent
from prism.db.engine import build_engine
from prism.db.sprint_history import backfill_sprint_figures, load_sprint_inputs
from prism.db.tables import (
    Product,
    Release,
    Requirement,
    RequirementEvent,
    Sprint,
    SprintCommitment,
    SprintFigures,
    User,
)
from prism.db.unit_of_work import UnitOfWork
from prism.db.usage_days import rebuild_usage_days
from prism.domain.enums import ReleaseState, RequirementEventKind, RequirementKind, RequirementStatus, Role, SprintState
from prism.domain.history import stored_value
from prism.domain.sprint_figures import sprint_figures
from prism.seed import DataBuilder, write_rows

__all__ = ["ANALYTICS_PASSWORD", "AnalyticsDataSet", "check_sprint_figures", "seed_analytics", "usage_rows"]

ANALYTICS_PASSWORD = "analytics-bench-password-not-a-secret"  # noqa: S105 - a throwaway account in a throwaway database
ORGANIZATION = uuid.uuid5(UUID("0b6f3c2a-8d41-4e5f-a7c9-2e1d0f9b8a63"), "analytics-bench")
SPRINTS = 26
SPRINT_DAYS = 14
RELEASE_SIZE = 300
"""Requirements of the release the forecast is measured for: the last ones created."""
FEATURES = 20
USAGE_EVENTS = 200_000
USAGE_USERS = 10_000
USAGE_DAYS = 90
ESTIMATES = [1.0, 2.0, 3.0, 5.0, 8.0, 13.0, None]
K = RequirementEventKind
S = RequirementStatus


@dataclass
class AnalyticsDataSet:
    """What was seeded, and how to sign in to it."""

    email: str
    product_key: str
    requirements: int
    events: int
    commitments: int
    sprints: int
    active_sprint_id: UUID
    release_id: UUID
    now: datetime
    feature_ids: list[UUID] = field(default_factory=list)
    """The product's features, the busiest first."""
    usage_events: int = 0
    product_id: UUID | None = None
    organization_id: UUID = ORGANIZATION


@dataclass
class _Item:
    """One requirement being played out: its row's fields and its events as COPY tuples."""

    id: UUID
    created: datetime
    estimate: float | None
    status: S = S.BACKLOG
    sprint: int | None = None
    started: datetime | None = None
    finished: datetime | None = None
    events: list[tuple[Any, ...]] = field(default_factory=list)


class _Play:
    """Draws the requirements' histories over the sprints' calendar."""

    def __init__(self, rng: random.Random, now: datetime, actor: UUID) -> None:
        self.rng = rng
        self.now = now
        self.actor = actor
        # The running sprint started two days ago: every sprint has started, the last one is half-way.
        last = datetime.combine(now.date() - timedelta(days=2), time(9), tzinfo=UTC)
        self.starts = [last - timedelta(days=SPRINT_DAYS * (SPRINTS - 1 - s)) for s in range(SPRINTS)]
        self.closes = [start + timedelta(days=SPRINT_DAYS - 1, hours=8) for start in self.starts]
        self.commitments: dict[int, dict[UUID, float | None]] = {s: {} for s in range(SPRINTS)}
        self.sprint_ids: list[UUID] = []

    def uuid(self) -> UUID:
        return UUID(int=self.rng.getrandbits(128), version=4)

    def event(self, item: _Item, kind: K, before: object, after: object, at: datetime) -> None:
        item.events.append(
            (self.uuid(), ORGANIZATION, item.id, self.actor, kind.value, stored_value(before), stored_value(after), at)
        )

    def move(self, item: _Item, status: S, at: datetime) -> bool:
        """Change the status at `at` unless that is in the future; whether it happened."""
        if at >= self.now:
            return False
        self.event(item, K.STATUS, item.status, status, at)
        item.status = status
        if status is S.IN_PROGRESS and item.started is None:
            item.started = at
        item.finished = at if status in (S.DONE, S.CANCELED) else None
        return True

    def plan(self, item: _Item, sprint: int, at: datetime) -> None:
        before = None if item.sprint is None else self.sprint_ids[item.sprint]
        self.event(item, K.SPRINT, before, self.sprint_ids[sprint], at)
        item.sprint = sprint

    def play(self, item: _Item) -> None:
        rng = self.rng
        self.event(item, K.CREATED, None, S.BACKLOG, item.created)
        if item.estimate is not None:
            self.event(item, K.ESTIMATE, None, item.estimate, item.created + timedelta(seconds=1))
        running = next((s for s in range(SPRINTS) if self.starts[s] <= item.created < self.closes[s]), None)
        upcoming = next((s for s in range(SPRINTS) if self.starts[s] - timedelta(days=1) > item.created), None)
        if running is not None and (upcoming is None or rng.random() < 0.1):
            sprint, planned = running, item.created + timedelta(hours=1)  # added to a running sprint
        elif upcoming is not None:
            sprint, planned = upcoming, self.starts[upcoming] - timedelta(days=1, minutes=rng.randrange(600))
        else:
            return  # still in the backlog
        if planned >= min(self.now, self.closes[sprint]):
            return
        self.plan(item, sprint, planned)
        self.move(item, S.TODO, planned)
        if planned < self.starts[sprint]:
            self.commitments[sprint][item.id] = item.estimate
        begin = max(planned, self.starts[sprint])
        if rng.random() < 0.04:
            self.move(item, S.CANCELED, min(begin + timedelta(hours=rng.uniform(1, 240)), self.closes[sprint]))
            return
        if item.estimate is not None and rng.random() < 0.05 and begin + timedelta(days=1) < self.now:
            changed = rng.choice([e for e in ESTIMATES if e is not None and e != item.estimate])
            self.event(item, K.ESTIMATE, item.estimate, changed, begin + timedelta(days=1))
            item.estimate = changed
        started = begin + timedelta(hours=rng.uniform(2, 192))
        reviewed = started + timedelta(hours=rng.uniform(4, 72))
        done = reviewed + timedelta(hours=rng.uniform(1, 24))
        for status, at in ((S.IN_PROGRESS, started), (S.IN_REVIEW, reviewed), (S.DONE, done)):
            while item.sprint is not None and item.sprint < SPRINTS - 1 and at >= self.closes[item.sprint]:
                self.carry(item)
            if not self.move(item, status, at):
                return
        reopened = done + timedelta(hours=6)
        if rng.random() < 0.05 and item.sprint is not None and reopened + timedelta(days=1) < self.closes[item.sprint]:
            self.move(item, S.IN_PROGRESS, reopened)
            self.move(item, S.DONE, reopened + timedelta(days=1))

    def carry(self, item: _Item) -> None:
        """The close of the item's sprint moves it, unfinished, to the next sprint, which starts with it."""
        assert item.sprint is not None
        self.plan(item, item.sprint + 1, self.closes[item.sprint])
        self.commitments[item.sprint][item.id] = item.estimate


def _builder(now: datetime, starts: list[datetime], closes: list[datetime], password_hash: str) -> DataBuilder:
    """The organization, its owner, the product, its sprints (all started, the last one running) and a release."""
    b = DataBuilder(organization_id=ORGANIZATION)
    founded = starts[0] - timedelta(days=30)
    b.organization("Analytics Bench", "analytics-bench", founded)
    owner = b.user("Ada Lovelace", "analytics@bench.prism.dev", password_hash, founded)
    b.member(owner.id, Role.OWNER, founded)
    product = b.product("FLOW", "Flow", "The analytics benchmark's product.", founded)
    for s, (start, close) in enumerate(zip(starts, closes, strict=True)):
        sprint = b.sprint(
            product,
            f"Sprint {s + 1}",
            starts_on=start.date(),
            ends_on=start.date() + timedelta(days=SPRINT_DAYS - 1),
            capacity=40.0,
            at=founded,
        )
        sprint.started_at = start
        sprint.state = SprintState.ACTIVE.value if s == len(starts) - 1 else SprintState.CLOSED.value
        sprint.closed_at = None if s == len(starts) - 1 else close
    release = b.release(product, "Next", "What the forecast is for.", now.date() + timedelta(days=42), founded)
    release.state = ReleaseState.IN_PROGRESS.value
    return b


def _rows(b: DataBuilder, play: _Play, items: list[_Item], release_id: UUID) -> tuple[list[tuple[Any, ...]], list[str]]:
    product_row = b.all(Product)[0]
    columns = [c.name for c in Requirement.__table__.columns]  # type: ignore[attr-defined]
    kinds = [RequirementKind.STORY, RequirementKind.STORY, RequirementKind.TASK, RequirementKind.BUG]
    rank: str | None = None
    records = []
    for number, item in enumerate(items, start=1):
        rank = generate_key_between(rank, None)
        row = Requirement(
            id=item.id,
            organization_id=ORGANIZATION,
            product_id=product_row.id,
            number=number,
            kind=play.rng.choice(kinds).value,
            title=f"Requirement {number}",
            status=item.status.value,
            estimate=item.estimate,
            assignee_id=play.actor,
            reporter_id=play.actor,
            sprint_id=None if item.sprint is None else play.sprint_ids[item.sprint],
            release_id=release_id if number > len(items) - RELEASE_SIZE else None,
            rank=rank,
            started_at=item.started,
            completed_at=item.finished,
            created_at=item.created,
            updated_at=max([item.created, *(event[-1] for event in item.events)]),
        ).model_dump()
        records.append(tuple(row[c] for c in columns))
    return records, columns


def usage_rows(
    rng: random.Random, now: datetime, product_id: UUID, features: int, usage_events: int
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The features (the busiest first) and their usage events, as COPY tuples in the tables' column order."""
    launched = now - timedelta(days=USAGE_DAYS)
    feature_rows = [
        (
            UUID(int=rng.getrandbits(128), version=4),
            ORGANIZATION,
            product_id,
            None,
            f"feature-{k:02d}",
            f"Feature {k}",
            launched,
            launched,
        )
        for k in range(1, features + 1)
    ]
    ids = [row[0] for row in feature_rows]
    chosen = rng.choices(ids, weights=[1 / k**2 for k in range(1, features + 1)], k=usage_events)
    span = (now - launched).total_seconds() - 1
    event_rows = [
        (
            UUID(int=rng.getrandbits(128), version=4),
            ORGANIZATION,
            product_id,
            feature,
            f"bench-{index}",
            f"user-{rng.randrange(USAGE_USERS):05d}",
            launched + timedelta(seconds=rng.uniform(0, span)),
            now,
            "{}",
        )
        for index, feature in enumerate(chosen)
    ]
    return feature_rows, event_rows


async def _store_sprint_figures(admin_url: str) -> None:
    """The closed sprints' figures, as closing them through the service would have stored them (migration 0025's
    backfill: the sprints were written closed, with their history, rather than closed one by one)."""
    engine = build_engine(admin_url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("SELECT set_config('prism.org_id', :org, true)"), {"org": str(ORGANIZATION)})
            await conn.run_sync(backfill_sprint_figures, ORGANIZATION)
    finally:
        await engine.dispose()


async def _store_usage_days(admin_url: str) -> None:
    """The daily usage rollup recording the events through the service would have kept (migration 0026's backfill:
    the events were written with COPY)."""
    engine = build_engine(admin_url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            await conn.execute(rebuild_usage_days(ORGANIZATION))
    finally:
        await engine.dispose()


async def check_sprint_figures(admin_url: str) -> tuple[int, list[str]]:
    """Compare the stored figures of every closed sprint with the replay of its history (prism.domain.sprint_figures
    over prism.db.sprint_history's reading): how many sprints were compared, and the names of those that differ."""
    engine = build_engine(admin_url, pool_size=1, max_overflow=0)
    sprint = Sprint.__table__  # type: ignore[attr-defined]
    try:
        async with UnitOfWork(engine, ORGANIZATION) as uow:
            closed = list(
                await uow.all(
                    sa.select(sprint.c.id, sprint.c.name, sprint.c.product_id, sprint.c.started_at, sprint.c.closed_at)
                    .where(sprint.c.organization_id == ORGANIZATION, sprint.c.state == SprintState.CLOSED.value)
                    .order_by(sprint.c.closed_at)
                )
            )
            [stored] = await SprintFiguresByProductLoader(uow, ORGANIZATION).batch_load_fn(
                [ClosedSprintsKey(closed[0].product_id, len(closed))]
            )
            inputs = await load_sprint_inputs(uow, ORGANIZATION, [row.id for row in closed])
            # The loader replays a sprint without stored figures: make sure none is missing, or this compares nothing.
            table = SprintFigures.__table__  # type: ignore[attr-defined]
            kept = {
                r.sprint_id
                for r in await uow.all(sa.select(table.c.sprint_id).where(table.c.organization_id == ORGANIZATION))
            }
    finally:
        await engine.dispose()
    by_id = {figures.sprint_id: figures for figures in stored}
    differ = []
    for row in closed:
        commitments, changes = inputs.grouped_of(row.id)
        if row.id not in kept or by_id.get(row.id) != sprint_figures(
            row.id, row.started_at, row.closed_at, commitments, changes
        ):
            differ.append(row.name)
    return len(closed), differ


async def seed_analytics(
    admin_url: str,
    database_url: str,
    *,
    requirements: int,
    events: int,
    features: int = FEATURES,
    usage_events: int = USAGE_EVENTS,
    seed_value: int = 11,
) -> AnalyticsDataSet:
    """Fill an empty, migrated database with the analytics data set (see the module); `admin_url` writes it."""
    rng = random.Random(seed_value)
    now = datetime.now(UTC).replace(microsecond=0)
    play = _Play(rng, now, actor=ORGANIZATION)  # the owner, once the builder has made them
    b = _builder(now, play.starts, play.closes, hash_password(make_hasher(), ANALYTICS_PASSWORD))
    owner = b.all(User)[0]
    play.actor = owner.id
    sprints = b.all(Sprint)
    play.sprint_ids = [sprint.id for sprint in sprints]
    release = b.all(Release)[0]
    first = play.starts[0] - timedelta(days=SPRINT_DAYS)
    span = (now - timedelta(hours=1) - first).total_seconds()
    created = sorted(first + timedelta(seconds=rng.uniform(0, span)) for _ in range(requirements))
    items = [_Item(id=play.uuid(), created=at, estimate=rng.choice(ESTIMATES)) for at in created]
    for item in items:
        play.play(item)
    for item in items[-RELEASE_SIZE:]:
        play.event(item, K.RELEASE, None, release.id, item.created + timedelta(seconds=2))
    made = sum(len(item.events) for item in items)
    if made > events:
        raise ValueError(f"the history alone needs {made} events; ask for at least that many")
    for index in range(events - made):  # edits, spread over the requirements' lives
        item = items[index % len(items)]
        at = item.created + timedelta(seconds=rng.uniform(3, max(4.0, (now - item.created).total_seconds())))
        if rng.random() < 0.5:
            play.event(item, K.TITLE, f"Requirement {index}", f"Requirement {index}", at)
        else:
            play.event(item, K.DESCRIPTION, None, None, at)
    engine = build_engine(database_url, pool_size=1, max_overflow=0)
    try:
        await write_rows(engine, b)
    finally:
        await engine.dispose()
    requirement_rows, requirement_columns = _rows(b, play, items, release.id)
    event_columns = [c.name for c in RequirementEvent.__table__.columns]  # type: ignore[attr-defined]
    assert event_columns == [
        "id",
        "organization_id",
        "requirement_id",
        "actor_id",
        "kind",
        "from_value",
        "to_value",
        "created_at",
    ], event_columns
    commitments = [
        (ORGANIZATION, requirement, play.sprint_ids[sprint], estimate, play.starts[sprint])
        for sprint, held in play.commitments.items()
        for requirement, estimate in held.items()
    ]
    feature_rows, usage_records = usage_rows(rng, now, b.all(Product)[0].id, features, usage_events)
    feature_columns = [c.name for c in Feature.__table__.columns]  # type: ignore[attr-defined]
    usage_columns = [c.name for c in UsageEvent.__table__.columns]  # type: ignore[attr-defined]
    assert feature_columns == [
        "id",
        "organization_id",
        "product_id",
        "requirement_id",
        "key",
        "name",
        "created_at",
        "updated_at",
    ], feature_columns
    assert usage_columns == [
        "id",
        "organization_id",
        "product_id",
        "feature_id",
        "event_id",
        "user_key",
        "occurred_at",
        "received_at",
        "properties",
        "user_number",
    ], usage_columns
    conn = await asyncpg.connect(admin_url)
    try:
        async with conn.transaction():
            await conn.copy_records_to_table("requirement", records=requirement_rows, columns=requirement_columns)
            await conn.copy_records_to_table(
                "requirement_event", records=[e for item in items for e in item.events], columns=event_columns
            )
            await conn.copy_records_to_table(
                SprintCommitment.__tablename__,
                records=commitments,
                columns=["organization_id", "requirement_id", "sprint_id", "estimate", "created_at"],
            )
            await conn.copy_records_to_table("feature", records=feature_rows, columns=feature_columns)
            # Recording numbers each event's user (usage_user) before inserting it; COPY does the same in bulk.
            numbered = await conn.fetch(
                "INSERT INTO usage_user (organization_id, user_key) SELECT $1, unnest($2::text[]) "
                "RETURNING user_key, number",
                ORGANIZATION,
                sorted({record[5] for record in usage_records}),
            )
            numbers = {row["user_key"]: row["number"] for row in numbered}
            await conn.copy_records_to_table(
                "usage_event",
                records=[(*record, numbers[record[5]]) for record in usage_records],
                columns=usage_columns,
            )
            await conn.execute(
                "UPDATE product SET next_number = $1 WHERE organization_id = $2", requirements + 1, ORGANIZATION
            )
    finally:
        await conn.close()
    await _store_sprint_figures(admin_url)
    await _store_usage_days(admin_url)
    return AnalyticsDataSet(
        email=owner.email,
        product_key="FLOW",
        requirements=requirements,
        events=sum(len(item.events) for item in items),
        commitments=len(commitments),
        sprints=len(sprints),
        active_sprint_id=sprints[-1].id,
        release_id=release.id,
        now=now,
        feature_ids=[row[0] for row in feature_rows],
        usage_events=len(usage_records),
        product_id=b.all(Product)[0].id,
    )
