"""The demo organization: realistic data to explore PRISM with (`prism seed --demo`).

Rows are written directly, in one transaction, so that history can be dated in the past: three closed sprints with
their commitments, scope changes, status changes and carried-over work, one active sprint, releases, a roadmap, a
PRD with two versions and comments.
"""

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID, uuid5

from fractional_indexing import generate_n_keys_between
from sqlmodel.ext.asyncio.session import AsyncSession

from prism.auth.passwords import hash_password, make_hasher
from prism.db.engine import build_engine
from prism.db.tables import (
    Comment,
    Document,
    DocumentVersion,
    Label,
    Membership,
    Organization,
    Product,
    Release,
    Requirement,
    RequirementEvent,
    RequirementLabel,
    Roadmap,
    RoadmapItem,
    Sprint,
    SprintCommitment,
    Team,
    TeamMember,
    User,
)
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.domain.enums import (
    DocumentKind,
    DocumentStatus,
    Priority,
    ReleaseState,
    RequirementEventKind,
    RequirementKind,
    RequirementStatus,
    Role,
    SprintState,
)
from prism.domain.history import stored_value

__all__ = ["DEMO_EMAIL", "DEMO_PASSWORD", "DEMO_SLUG", "seed_demo"]

DEMO_EMAIL = "demo@prism.dev"
DEMO_PASSWORD = "prism-demo-password"  # noqa: S105 - a published demo credential, not a secret
DEMO_SLUG = "demo"
# The demo's organization and people have ids derived from their names: row-level security binds the seed too (even
# as the tables' owner), so it finds what an earlier run wrote by scoping to those ids, not by searching.
DEMO_NAMESPACE = UUID("6f0b7c1e-5d2a-4c8e-9a51-3b1f0e7d9c24")


def demo_id(name: str) -> UUID:
    """The fixed id of the demo's organization (by slug) or of one of its people (by email)."""
    return uuid5(DEMO_NAMESPACE, name)


PEOPLE = [
    ("Dana Demo", DEMO_EMAIL, Role.OWNER),
    ("Priya Natarajan", "priya@prism.dev", Role.ADMIN),
    ("Marco Rossi", "marco@prism.dev", Role.MEMBER),
    ("Aiko Tanaka", "aiko@prism.dev", Role.MEMBER),
    ("Sam Okafor", "sam@prism.dev", Role.MEMBER),
    ("Lena Fischer", "lena@prism.dev", Role.VIEWER),
]

# product key, name, description, epics: (epic title, features: (feature title, stories))
CATALOGUE: list[tuple[str, str, str, list[tuple[str, list[tuple[str, list[str]]]]]]] = [
    (
        "PRISM",
        "Prism Platform",
        "The web app product teams plan in.",
        [
            (
                "Self-serve onboarding",
                [
                    (
                        "Sign-up flow",
                        [
                            "Sign up with email",
                            "Verify email address",
                            "Invite teammates on sign-up",
                            "Sign up with SSO",
                        ],
                    ),
                    (
                        "Workspace setup",
                        ["Create the first product", "Import issues from CSV", "Pick a workflow", "Sample data tour"],
                    ),
                ],
            ),
            (
                "Planning board",
                [
                    (
                        "Backlog ranking",
                        ["Drag to rerank the backlog", "Bulk-move stories to a sprint", "Keyboard reranking"],
                    ),
                    (
                        "Sprint view",
                        ["Show sprint burndown", "Close sprint with carry-over", "Sprint goal banner", "Sprint report"],
                    ),
                    ("Filters", ["Filter by label and assignee", "Save a filter as a view", "Share a view by link"]),
                ],
            ),
        ],
    ),
    (
        "MOBILE",
        "Mobile App",
        "iOS and Android companion for triage on the go.",
        [
            (
                "Offline triage",
                [
                    ("Local cache", ["Cache the inbox offline", "Sync changes when back online"]),
                    ("Quick actions", ["Swipe to change status", "Assign from notification"]),
                ],
            ),
            ("Push notifications", [("Notification settings", ["Mute a product", "Daily digest at 9am"])]),
        ],
    ),
    (
        "BILLING",
        "Billing",
        "Plans, invoices and usage-based pricing.",
        [
            (
                "Usage-based pricing",
                [
                    ("Metering", ["Count AI calls per workspace", "Show usage on the billing page"]),
                    ("Invoices", ["Email monthly invoice", "Download invoice as PDF"]),
                ],
            )
        ],
    ),
]

LABELS = [
    ("frontend", "#3b82f6"),
    ("backend", "#10b981"),
    ("ux", "#f59e0b"),
    ("tech-debt", "#6b7280"),
    ("security", "#ef4444"),
]


@dataclass
class _Builder:
    """Accumulates the demo rows with consistent ids, ranks and dated history."""

    organization_id: UUID
    rng: random.Random
    users: list[User] = field(default_factory=list)
    rows: list[object] = field(default_factory=list)
    planned: int = 0
    """How many stories were planned into sprints so far."""

    def commit(self, sprint: Sprint, requirement: Requirement) -> None:
        """Record that `sprint` held `requirement` when it started, as starting it would."""
        assert sprint.started_at is not None
        self.rows.append(
            SprintCommitment(
                organization_id=self.organization_id,
                requirement_id=requirement.id,
                sprint_id=sprint.id,
                estimate=requirement.estimate,
                created_at=sprint.started_at,
            )
        )

    def event(
        self, requirement: Requirement, kind: RequirementEventKind, before: object, after: object, when: datetime
    ) -> None:
        self.rows.append(
            RequirementEvent(
                organization_id=self.organization_id,
                requirement_id=requirement.id,
                actor_id=requirement.assignee_id or self.users[0].id,
                kind=kind.value,
                from_value=stored_value(before),
                to_value=stored_value(after),
                created_at=when,
            )
        )


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour=hour), tzinfo=UTC)


async def _exists(session: AsyncSession, organization_id: UUID) -> bool:
    return await session.get(Organization, organization_id) is not None


async def seed_demo(url: str, today: date | None = None) -> str:
    """Create the demo organization on the database at `url` (already migrated); a second run changes nothing."""
    today = today or datetime.now(UTC).date()
    engine = build_engine(url, pool_size=1, max_overflow=0)
    try:
        organization_id = demo_id(DEMO_SLUG)
        async with UnitOfWork(engine, organization_id) as uow, uow.session(organization_id) as session:
            if await _exists(session, organization_id):
                return "The demo organization exists already; nothing changed."
            builder = _Builder(organization_id=organization_id, rng=random.Random(42))  # noqa: S311 - demo data
            return await _build(uow, session, builder, today)
    finally:
        await engine.dispose()


async def _build(uow: UnitOfWork, session: AsyncSession, b: _Builder, today: date) -> str:
    org = b.organization_id
    session.add(Organization(id=org, name="Demo Co", slug=DEMO_SLUG))
    password_hash = hash_password(make_hasher(), DEMO_PASSWORD)
    for name, email, _ in PEOPLE:
        user_id = demo_id(email)
        async with uow.session(org, user_id) as own:  # each person is found, or added, in their own scope
            user = await own.get(User, user_id)
            if user is None:
                user = User(id=user_id, email=email, name=name, password_hash=password_hash)
                own.add(user)
        b.users.append(user)
    await session.flush()
    session.add_all(
        Membership(organization_id=org, user_id=user.id, role=role.value)
        for user, (_, _, role) in zip(b.users, PEOPLE, strict=True)
    )
    team = Team(organization_id=org, name="Core team", description="Builds the planning experience.")
    session.add(team)
    labels = [Label(organization_id=org, name=name, color=color) for name, color in LABELS]
    session.add_all(labels)
    await session.flush()
    session.add_all(TeamMember(organization_id=org, team_id=team.id, user_id=u.id) for u in b.users[:5])

    counts = {"products": 0, "requirements": 0, "sprints": 0, "events": 0}
    builders = list(b.users[1:5])
    first_product: Product | None = None
    for key, name, description, epics in CATALOGUE:
        product = Product(organization_id=org, key=key, name=name, description=description)
        session.add(product)
        await session.flush()
        first_product = first_product or product
        counts["products"] += 1
        sprints = _sprints(b, product, today)
        release_done = Release(
            organization_id=org,
            product_id=product.id,
            name="1.0",
            description="First public release.",
            target_date=today - timedelta(days=30),
            state=ReleaseState.RELEASED.value,
            released_at=_at(today - timedelta(days=31), 16),
        )
        release_next = Release(
            organization_id=org,
            product_id=product.id,
            name="1.1",
            description="Planning board improvements.",
            target_date=today + timedelta(days=28),
            state=ReleaseState.IN_PROGRESS.value,
        )
        session.add_all([*sprints, release_done, release_next])
        await session.flush()
        counts["sprints"] += len(sprints)

        stories_total = sum(len(stories) for _, features in epics for _, stories in features)
        ranks = iter(generate_n_keys_between(None, None, stories_total + 3 * len(epics) * 4 + 20))
        number = iter(range(1, 10_000))
        epic_rows: list[Requirement] = []
        feature_rows: list[Requirement] = []
        created = _at(today - timedelta(days=70), 9)
        for epic_title, features in epics:
            epic = _requirement(b, product, next(number), next(ranks), RequirementKind.EPIC, epic_title, None, created)
            epic_rows.append(epic)
            for feature_title, stories in features:
                feature = _requirement(
                    b, product, next(number), next(ranks), RequirementKind.FEATURE, feature_title, epic.id, created
                )
                feature_rows.append(feature)
                for story_title in stories:
                    story = _requirement(
                        b, product, next(number), next(ranks), RequirementKind.STORY, story_title, feature.id, created
                    )
                    story.estimate = float(b.rng.choice([1, 2, 3, 5, 8]))
                    story.assignee_id = b.rng.choice(builders).id
                    story.priority = b.rng.choice(list(Priority)).value
                    story.release_id = release_done.id if b.rng.random() < 0.4 else release_next.id
                    _plan_into_sprints(b, story, sprints, today)
                    session.add(
                        RequirementLabel(organization_id=org, requirement_id=story.id, label_id=b.rng.choice(labels).id)
                    )
            bug = _requirement(
                b,
                product,
                next(number),
                next(ranks),
                RequirementKind.BUG,
                f"{epic_title}: fix flaky error state",
                epic.id,
                created,
            )
            bug.priority = Priority.HIGH.value
        for row in b.rows:
            if isinstance(row, Requirement):
                counts["requirements"] += 1
        session.add_all(b.rows)
        await session.flush()
        counts["events"] += sum(isinstance(r, RequirementEvent) for r in b.rows)
        roadmap = Roadmap(
            organization_id=org,
            product_id=product.id,
            name=f"{name} roadmap",
            description="What we work on now, next and later.",
        )
        session.add(roadmap)
        await session.flush()
        item_ranks = iter(generate_n_keys_between(None, None, len(epic_rows) + len(feature_rows)))
        for index, requirement in enumerate([*epic_rows, *feature_rows]):
            starts = today + timedelta(days=-60 + 30 * (index % 4))
            session.add(
                RoadmapItem(
                    organization_id=org,
                    roadmap_id=roadmap.id,
                    requirement_id=requirement.id,
                    title=requirement.title,
                    lane=("Now", "Next", "Later")[min(index % 4, 2)],
                    starts_on=starts,
                    ends_on=starts + timedelta(days=45),
                    rank=next(item_ranks),
                )
            )
        b.rows.clear()

    assert first_product is not None
    await _documents(session, b, first_product, today)
    return (
        f"Demo organization created: {counts['products']} products, {counts['requirements']} requirements, "
        f"{counts['sprints']} sprints, {counts['events']} history events. "
        f"Log in as {DEMO_EMAIL} / {DEMO_PASSWORD}."
    )


def _requirement(
    b: _Builder,
    product: Product,
    number: int,
    rank: str,
    kind: RequirementKind,
    title: str,
    parent_id: UUID | None,
    created: datetime,
) -> Requirement:
    requirement = Requirement(
        organization_id=b.organization_id,
        product_id=product.id,
        number=number,
        kind=kind.value,
        title=title,
        description=f"{title}.\n\nPart of the {product.name} plan.",
        parent_id=parent_id,
        rank=rank,
        reporter_id=b.users[0].id,
        created_at=created,
        updated_at=created,
        acceptance_criteria="- [ ] Works on the latest two browser versions\n- [ ] Covered by tests"
        if kind == RequirementKind.STORY
        else "",
    )
    b.rows.append(requirement)
    b.event(requirement, RequirementEventKind.CREATED, None, requirement.status, created)
    return requirement


def _sprints(b: _Builder, product: Product, today: date) -> list[Sprint]:
    """Three closed two-week sprints and the active one."""
    sprints = []
    for index in range(4):
        starts = today - timedelta(days=14 * (3 - index) + 7)
        ends = starts + timedelta(days=13)
        active = index == 3
        sprints.append(
            Sprint(
                organization_id=b.organization_id,
                product_id=product.id,
                name=f"Sprint {index + 1}",
                goal=("Ship sign-up", "Planning board MVP", "Filters and views", "Burndown and polish")[index],
                starts_on=starts,
                ends_on=ends,
                capacity=20.0,
                state=SprintState.ACTIVE.value if active else SprintState.CLOSED.value,
                started_at=_at(starts, 9),
                closed_at=None if active else _at(ends, 17),
            )
        )
    return sprints


def _plan_into_sprints(b: _Builder, story: Requirement, sprints: list[Sprint], today: date) -> None:
    """Walk a story through the workflow and the sprints, recording dated events like real use would.

    Most stories are planned into a sprint the day before it starts (its commitment); some join after the start,
    a few are dropped from it, and what a closed sprint did not finish is carried over to the next sprint (or, now
    and then, back to the backlog), where it is committed again and carries on.
    """
    if b.rng.random() < 0.15:  # some stories stay in the backlog
        return
    index = b.planned % len(sprints)  # in turn, so every sprint gets its share of a product's stories
    b.planned += 1
    sprint = sprints[index]
    assert sprint.starts_on is not None
    b.event(story, RequirementEventKind.ESTIMATE, None, story.estimate, _at(sprint.starts_on - timedelta(days=2), 11))
    late = b.rng.random() < 0.25
    if late:
        day = sprint.starts_on + timedelta(days=b.rng.randint(1, 3))
        b.event(story, RequirementEventKind.SPRINT, None, sprint.id, _at(day, 10))
    else:
        day = sprint.starts_on - timedelta(days=1)
        b.event(story, RequirementEventKind.SPRINT, None, sprint.id, _at(day, 16))
        b.commit(sprint, story)
    steps = [RequirementStatus.TODO, RequirementStatus.IN_PROGRESS, RequirementStatus.IN_REVIEW, RequirementStatus.DONE]
    status = RequirementStatus.BACKLOG
    while True:
        assert sprint.starts_on is not None
        assert sprint.ends_on is not None
        day = max(day, sprint.starts_on)
        last_day = min(sprint.ends_on, today)
        closed = sprint.state == SprintState.CLOSED.value
        if not late and b.rng.random() < 0.07:
            # Dropped from the sprint while it ran, back to the backlog.
            when = _at(min(day + timedelta(days=b.rng.randint(2, 5)), last_day), 15)
            b.event(story, RequirementEventKind.SPRINT, sprint.id, None, when)
            story.sprint_id = None
            break
        finished = b.rng.random() < (0.8 if closed else 0.3)
        reached = steps.index(status) + 1 if status in steps else 0
        target = len(steps) if finished else max(reached, b.rng.randint(1, 3))
        for step in steps[reached:target]:
            day = min(day + timedelta(days=b.rng.randint(1, 3)), last_day)
            when = _at(day, b.rng.randint(9, 17))
            b.event(story, RequirementEventKind.STATUS, status.value, step.value, when)
            status = step
            if step == RequirementStatus.IN_PROGRESS:
                story.started_at = when
            if step == RequirementStatus.DONE:
                story.completed_at = when
        if not closed or status == RequirementStatus.DONE:
            story.sprint_id = sprint.id
            break
        # Closing the sprint carried the unfinished story over: to the next sprint, or back to the backlog.
        assert sprint.closed_at is not None
        following = sprints[index + 1] if index + 1 < len(sprints) and b.rng.random() < 0.75 else None
        b.event(
            story, RequirementEventKind.SPRINT, sprint.id, None if following is None else following.id, sprint.closed_at
        )
        if following is None:
            story.sprint_id = None
            break
        index, sprint, late = index + 1, following, False
        b.commit(sprint, story)
    story.status = status.value
    story.updated_at = _at(day, 18)


async def _documents(session: AsyncSession, b: _Builder, product: Product, today: date) -> None:
    org = b.organization_id
    author = b.users[1]
    first_body = (
        "# Planning board PRD\n\n## Problem\nTeams plan in spreadsheets and lose the thread between the roadmap "
        "and the sprint.\n\n## Goals\n- Rank the backlog by drag and drop\n- Plan sprints against capacity\n"
    )
    second_body = first_body + "- Show burndown for the active sprint\n\n## Non-goals\n- Time tracking\n"
    created = _at(today - timedelta(days=40), 11)
    document = Document(
        organization_id=org,
        product_id=product.id,
        kind=DocumentKind.PRD.value,
        title="Planning board PRD",
        body=second_body,
        status=DocumentStatus.IN_REVIEW.value,
        author_id=author.id,
        created_at=created,
        updated_at=created + timedelta(days=3),
        version=2,
    )
    session.add(document)
    await session.flush()
    session.add_all(
        [
            DocumentVersion(
                organization_id=org,
                document_id=document.id,
                number=1,
                title=document.title,
                body=first_body,
                author_id=author.id,
                created_at=created,
            ),
            DocumentVersion(
                organization_id=org,
                document_id=document.id,
                number=2,
                title=document.title,
                body=second_body,
                author_id=author.id,
                created_at=created + timedelta(days=3),
            ),
            Comment(
                organization_id=org,
                document_id=document.id,
                author_id=b.users[2].id,
                body="Should burndown count bugs too?",
                created_at=created + timedelta(days=4),
            ),
        ]
    )
    stories = (
        await session.exec(
            tenant_select(Requirement, org).where(Requirement.kind == RequirementKind.STORY.value).limit(5)
        )
    ).all()
    for index, story in enumerate(stories):
        session.add(
            Comment(
                organization_id=org,
                requirement_id=story.id,
                author_id=b.users[1 + index % 4].id,
                body=(
                    "Design is ready in Figma.",
                    "Needs an API change first.",
                    "Demoed on Friday, looks good.",
                    "Blocked on the sign-up copy.",
                    "Split the edge cases into a task?",
                )[index],
                created_at=_at(today - timedelta(days=10 - index), 14),
            )
        )
