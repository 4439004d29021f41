"""The demo organization (`prism seed --demo`): a team seven weeks into planning three products with PRISM.

Built with `DataBuilder` from a seed and a clock, so the same seed and moment give the same organization. For each
product it plays the weeks out as a team would: the work is written up, planned sprint by sprint, started (which
records the commitment), moved through the workflow on working days, and carried over when a sprint closes;
epics and features follow their children's state (`prism.domain.workflow.rolled_up_status`). What was done before
the 1.0 release went into it; the rest is planned for 1.1. The roadmap's lanes are placed from the sprints the
work really ran in, relative to today, and each product has a PRD, a spec and the last retrospective. Comments are
made at the moment of the work they discuss.
"""

import random
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid5

from sqlalchemy.ext.asyncio import AsyncEngine

from prism.auth.passwords import hash_password, make_hasher
from prism.db.engine import build_engine
from prism.db.tables import Organization
from prism.db.unit_of_work import UnitOfWork
from prism.seed.adoption import add_usage
from prism.seed.artifacts import add_comments, place_roadmap, write_documents
from prism.seed.builder import DataBuilder
from prism.seed.catalogue import CATALOGUE, LABELS, PEOPLE
from prism.seed.product_run import ProductRun, at
from prism.seed.writer import write_rows

__all__ = [
    "DEMO_EMAIL",
    "DEMO_PASSWORD",
    "DEMO_SEED",
    "DEMO_SLUG",
    "build_demo",
    "demo_id",
    "seed_demo",
]

DEMO_EMAIL = "demo@prism.dev"
DEMO_PASSWORD = "prism-demo-password"  # noqa: S105 - a published demo credential, not a secret
DEMO_SLUG = "demo"
DEMO_SEED = 42
# The demo's organization and people have ids derived from their names: row-level security binds the seed too (even
# as the tables' owner), so it finds what an earlier run wrote by scoping to those ids, not by searching.
DEMO_NAMESPACE = UUID("6f0b7c1e-5d2a-4c8e-9a51-3b1f0e7d9c24")


def demo_id(name: str) -> UUID:
    """The fixed id of the demo's organization (by slug) or of one of its people (by email)."""
    return uuid5(DEMO_NAMESPACE, name)


def build_demo(now: datetime, password_hash: str, seed: int = DEMO_SEED) -> DataBuilder:
    """The demo organization as it stands at `now`, from `seed`: the same arguments give the same rows."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
    today = now.astimezone(UTC).date()
    joined = at(today - timedelta(days=75), 9)
    b = DataBuilder(organization_id=demo_id(DEMO_SLUG))
    b.organization("Demo Co", DEMO_SLUG, joined)
    people = [b.user(name, email, password_hash, joined, user_id=demo_id(email)) for name, email, _ in PEOPLE]
    for user, (_, _, role) in zip(people, PEOPLE, strict=True):
        b.member(user.id, role, joined)
    b.team("Core team", "Builds the planning experience.", [u.id for u in people[:5]], joined)
    for label in LABELS:
        b.label(label.name, label.color, label.description, joined)
    runs = []
    for plan in CATALOGUE:
        run = ProductRun(b, rng, plan, today, people)
        run.run()
        place_roadmap(run)
        write_documents(run)
        add_comments(run)
        runs.append(run)
    # Usage draws from a generator of its own, after everything else: the work above stays what it was without it.
    usage = random.Random(seed + 1)  # noqa: S311 - demo data, not secrets
    for run in runs:
        add_usage(b, run, usage, now)
    return b


async def seed_demo(url: str, now: datetime | None = None, seed: int = DEMO_SEED) -> str:
    """Create the demo organization on the database at `url` (already migrated); a second run changes nothing."""
    engine = build_engine(url, pool_size=1, max_overflow=0)
    try:
        if await _exists(engine):
            return "The demo organization exists already; nothing changed."
        b = build_demo(now or datetime.now(UTC), hash_password(make_hasher(), DEMO_PASSWORD), seed)
        await write_rows(engine, b)
    finally:
        await engine.dispose()
    counts = b.counts()
    return (
        f"Demo organization created: {counts['product']} products, {counts['requirement']} requirements, "
        f"{counts['sprint']} sprints, {counts['requirement_event']} history events, {counts['document']} documents, "
        f"{counts['feature']} features with {counts['usage_event']} usage events. "
        f"Log in as {DEMO_EMAIL} / {DEMO_PASSWORD}."
    )


async def _exists(engine: AsyncEngine) -> bool:
    organization_id = demo_id(DEMO_SLUG)
    async with UnitOfWork(engine, organization_id) as uow, uow.session(organization_id) as session:
        return await session.get(Organization, organization_id) is not None
