"""The benchmark's data set, made with PRISM's data builder (`prism.seed.DataBuilder`) and written in bulk.

One organization whose members own every requirement: `products` products of `requirements` requirements each, with
assignees, reporters, labels, a closed, an active and a planned sprint, and the history that led there (the closed
sprint's unfinished work moved on to the active one when it closed). The data is the same for the same arguments (a
seeded random generator; ids derived from the organization), so figures from different runs describe the same answer.
"""

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid5

from prism.auth.passwords import hash_password, make_hasher
from prism.db.engine import build_engine
from prism.db.tables import Label, Product, Requirement, RequirementLabel, Sprint, User
from prism.domain.enums import Priority, RequirementEventKind, RequirementKind, RequirementStatus, Role
from prism.seed import DataBuilder, write_rows

__all__ = ["BENCH_PASSWORD", "DataSet", "build", "seed"]

BENCH_PASSWORD = "bench-password-not-a-secret"  # noqa: S105 - a throwaway account in a throwaway database
BENCH_ORGANIZATION = uuid5(UUID("0b6f3c2a-8d41-4e5f-a7c9-2e1d0f9b8a63"), "bench")
PEOPLE = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra", "Barbara Liskov", "Donald Knuth"]
LABELS = ["backend", "frontend", "api", "mobile", "security", "performance", "ux", "billing", "infra", "data"]
VERBS = ["Add", "Fix", "Improve", "Remove", "Document", "Refactor", "Speed up", "Localise"]
OBJECTS = ["sign-in", "search", "export", "billing page", "onboarding", "notifications", "sprint board", "roadmap"]
ESTIMATES = [1.0, 2.0, 3.0, 5.0, 8.0, 13.0, None]
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
"""The moment the data set describes: the second sprint of every product starts then."""


@dataclass(frozen=True)
class DataSet:
    """What was seeded, and how to sign in to it."""

    organization_id: UUID
    viewer_email: str
    product_keys: list[str]
    users: int
    products: int
    requirements: int
    labels: int
    requirement_labels: int
    sprints: int


def _at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def build(products: int, requirements: int, password_hash: str, seed_value: int = 7) -> DataBuilder:
    """The benchmark's organization as rows (random draws in the order the dashboard's answer has always come from)."""
    rng = random.Random(seed_value)
    b = DataBuilder(organization_id=BENCH_ORGANIZATION)
    b.organization("Bench Org", "bench", NOW - timedelta(days=30))
    users = [
        b.user(name, f"bench-{i}@bench.prism.dev", password_hash, NOW - timedelta(days=30))
        for i, name in enumerate(PEOPLE)
    ]
    for i, user in enumerate(users):
        b.member(user.id, Role.OWNER if i == 0 else Role.MEMBER, NOW - timedelta(days=30) + timedelta(seconds=i))
    labels = [b.label(name, f"#{rng.randrange(0x1000000):06x}", f"Work on {name}.", NOW) for name in LABELS]
    created = NOW - timedelta(days=21)
    for p in range(1, products + 1):
        key = f"B{p:03d}"
        product = b.product(key, f"Bench product {p:03d}", f"Product {p} of the benchmark data set.", created)
        sprints = []
        for s in range(3):
            starts = date(2026, 1, 5) + timedelta(days=14 * (s - 1))
            sprints.append(
                b.sprint(
                    product,
                    f"{key} sprint {s + 1}",
                    goal="Ship what matters.",
                    starts_on=starts,
                    ends_on=starts + timedelta(days=13),
                    capacity=30.0,
                    at=created,
                )
            )
        planned: list[tuple[Requirement, RequirementStatus, Sprint | None]] = []
        for number in range(1, requirements + 1):
            title = f"{rng.choice(VERBS)} {rng.choice(OBJECTS)} ({key}-{number})"
            kind = rng.choice([RequirementKind.STORY, RequirementKind.TASK, RequirementKind.BUG])
            status = rng.choice(list(RequirementStatus))
            priority = rng.choice(list(Priority))
            estimate = rng.choice(ESTIMATES)
            assignee = rng.choice(users)
            sprint = rng.choice([*sprints, None])
            requirement = b.requirement(
                product,
                kind,
                title,
                at=created + timedelta(minutes=number),
                reporter_id=users[0].id,
                description=f"As a user I want to {title.lower()} so that my team moves faster. " * 3,
                acceptance_criteria="- It works\n- It is documented\n",
                priority=priority,
                estimate=estimate,
                assignee_id=assignee.id,
                labels=rng.sample(labels, rng.randrange(3)),
            )
            planned.append((requirement, status, sprint))
        _play(b, sprints, planned)
    return b


def _play(
    b: DataBuilder, sprints: list[Sprint], planned: list[tuple[Requirement, RequirementStatus, Sprint | None]]
) -> None:
    """Plan, start, work and close the first sprint, then start the second, as a team would have."""
    first, second, third = sprints
    assert first.starts_on is not None
    assert second.starts_on is not None
    for requirement, _, sprint in planned:
        if sprint is first:
            b.change(
                requirement, RequirementEventKind.SPRINT, first.id, _at(first.starts_on - timedelta(days=1), 16), None
            )
    b.start(first, _at(first.starts_on, 9))
    for index, (requirement, status, _) in enumerate(planned):
        day = first.starts_on + timedelta(days=1 + index % 10)
        if status == RequirementStatus.CANCELED:
            b.transition(requirement, status, _at(day, 11), requirement.assignee_id)
        elif status != RequirementStatus.BACKLOG:
            b.advance(requirement, status, [_at(day, 10 + h) for h in range(4)], requirement.assignee_id)
    b.close(first, _at(second.starts_on - timedelta(days=1), 17), move_to=second, actor_id=None)
    for requirement, _, sprint in planned:
        if sprint is second or sprint is third:
            b.change(
                requirement, RequirementEventKind.SPRINT, sprint.id, _at(second.starts_on - timedelta(days=1), 18), None
            )
    b.start(second, NOW)


async def seed(database_url: str, *, products: int, requirements: int, seed_value: int = 7) -> DataSet:
    """Fill an empty, migrated database with the benchmark's organization."""
    b = build(products, requirements, hash_password(make_hasher(), BENCH_PASSWORD), seed_value)
    engine = build_engine(database_url, pool_size=1, max_overflow=0)
    try:
        await write_rows(engine, b)
    finally:
        await engine.dispose()
    users = b.all(User)
    return DataSet(
        organization_id=b.organization_id,
        viewer_email=users[0].email,
        product_keys=[p.key for p in b.all(Product)],
        users=len(users),
        products=len(b.all(Product)),
        requirements=len(b.all(Requirement)),
        labels=len(b.all(Label)),
        requirement_labels=len(b.all(RequirementLabel)),
        sprints=len(b.all(Sprint)),
    )
