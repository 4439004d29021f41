"""The benchmark's data set, written with bulk inserts through SQLAlchemy Core on PRISM's tables.

One organization whose members own every requirement: `products` products of `requirements` requirements each, with
assignees, reporters, labels and sprints. The data is the same for the same arguments (a seeded random generator),
so figures from different runs describe the same answer.
"""

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import sqlalchemy as sa
from fractional_indexing import generate_n_keys_between
from sqlalchemy.ext.asyncio import create_async_engine

from prism.auth.passwords import hash_password, make_hasher
from prism.db.engine import async_url
from prism.db.tables import (
    Label,
    Membership,
    Organization,
    Product,
    Requirement,
    RequirementLabel,
    Sprint,
    User,
)
from prism.domain.enums import Priority, RequirementKind, RequirementStatus, Role, SprintState

__all__ = ["BENCH_PASSWORD", "DataSet", "seed"]

BENCH_PASSWORD = "bench-password-not-a-secret"  # noqa: S105 - a throwaway account in a throwaway database
PEOPLE = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra", "Barbara Liskov", "Donald Knuth"]
LABELS = ["backend", "frontend", "api", "mobile", "security", "performance", "ux", "billing", "infra", "data"]
VERBS = ["Add", "Fix", "Improve", "Remove", "Document", "Refactor", "Speed up", "Localise"]
OBJECTS = ["sign-in", "search", "export", "billing page", "onboarding", "notifications", "sprint board", "roadmap"]
ESTIMATES = [1.0, 2.0, 3.0, 5.0, 8.0, 13.0, None]


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


def _table(model: Any) -> sa.Table:
    return model.__table__  # type: ignore[no-any-return]


async def seed(database_url: str, *, products: int, requirements: int, seed_value: int = 7) -> DataSet:
    """Fill an empty, migrated database with the benchmark's organization."""
    rng = random.Random(seed_value)
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    organization_id = uuid4()
    hasher = make_hasher()
    password_hash = hash_password(hasher, BENCH_PASSWORD)

    users = [
        {
            "id": uuid4(),
            "email": f"bench-{i}@bench.prism.dev",
            "name": name,
            "password_hash": password_hash,
            "created_at": now,
        }
        for i, name in enumerate(PEOPLE)
    ]
    memberships = [
        {
            "id": uuid4(),
            "organization_id": organization_id,
            "user_id": user["id"],
            "role": (Role.OWNER if i == 0 else Role.MEMBER).value,
            "created_at": now + timedelta(seconds=i),
        }
        for i, user in enumerate(users)
    ]
    labels = [
        {
            "id": uuid4(),
            "organization_id": organization_id,
            "name": name,
            "color": f"#{rng.randrange(0x1000000):06x}",
            "description": f"Work on {name}.",
            "created_at": now,
        }
        for name in LABELS
    ]
    product_rows: list[dict[str, Any]] = []
    sprint_rows: list[dict[str, Any]] = []
    requirement_rows: list[dict[str, Any]] = []
    link_rows: list[dict[str, Any]] = []
    for p in range(1, products + 1):
        product_id = uuid4()
        key = f"B{p:03d}"
        product_rows.append(
            {
                "id": product_id,
                "organization_id": organization_id,
                "key": key,
                "name": f"Bench product {p:03d}",
                "description": f"Product {p} of the benchmark data set.",
                "next_number": requirements + 1,
                "archived_at": None,
                "created_at": now,
                "updated_at": now,
                "version": 1,
            }
        )
        sprints = []
        for s, state in enumerate((SprintState.CLOSED, SprintState.ACTIVE, SprintState.PLANNED)):
            starts = date(2026, 1, 5) + timedelta(days=14 * (s - 1))
            sprint = {
                "id": uuid4(),
                "organization_id": organization_id,
                "product_id": product_id,
                "name": f"{key} sprint {s + 1}",
                "goal": "Ship what matters.",
                "starts_on": starts,
                "ends_on": starts + timedelta(days=13),
                "state": state.value,
                "capacity": 30.0,
                "started_at": now if state != SprintState.PLANNED else None,
                "closed_at": now if state == SprintState.CLOSED else None,
                "created_at": now,
                "version": 1,
            }
            sprints.append(sprint)
        sprint_rows.extend(sprints)
        ranks = generate_n_keys_between(None, None, requirements)
        for number in range(1, requirements + 1):
            requirement_id = uuid4()
            title = f"{rng.choice(VERBS)} {rng.choice(OBJECTS)} ({key}-{number})"
            requirement_rows.append(
                {
                    "id": requirement_id,
                    "organization_id": organization_id,
                    "product_id": product_id,
                    "number": number,
                    "kind": rng.choice([RequirementKind.STORY, RequirementKind.TASK, RequirementKind.BUG]).value,
                    "parent_id": None,
                    "title": title,
                    "description": f"As a user I want to {title.lower()} so that my team moves faster. " * 3,
                    "acceptance_criteria": "- It works\n- It is documented\n",
                    "status": rng.choice(list(RequirementStatus)).value,
                    "priority": rng.choice(list(Priority)).value,
                    "estimate": rng.choice(ESTIMATES),
                    "assignee_id": rng.choice(users)["id"],
                    "reporter_id": users[0]["id"],
                    "sprint_id": rng.choice([*(sprint["id"] for sprint in sprints), None]),
                    "release_id": None,
                    "rank": ranks[number - 1],
                    "started_at": None,
                    "completed_at": None,
                    "created_at": now + timedelta(minutes=number),
                    "updated_at": now + timedelta(minutes=number),
                    "version": 1,
                }
            )
            for label in rng.sample(labels, rng.randrange(3)):
                link_rows.append(
                    {"organization_id": organization_id, "requirement_id": requirement_id, "label_id": label["id"]}
                )

    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.insert(_table(Organization)),
                [{"id": organization_id, "name": "Bench Org", "slug": "bench", "created_at": now}],
            )
            for model, rows in (
                (User, users),
                (Membership, memberships),
                (Label, labels),
                (Product, product_rows),
                (Sprint, sprint_rows),
                (Requirement, requirement_rows),
                (RequirementLabel, link_rows),
            ):
                if rows:
                    await conn.execute(sa.insert(_table(model)), rows)
    finally:
        await engine.dispose()
    return DataSet(
        organization_id=organization_id,
        viewer_email=str(users[0]["email"]),
        product_keys=[str(p["key"]) for p in product_rows],
        users=len(users),
        products=len(product_rows),
        requirements=len(requirement_rows),
        labels=len(labels),
        requirement_labels=len(link_rows),
        sprints=len(sprint_rows),
    )
