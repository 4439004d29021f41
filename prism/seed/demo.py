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
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID, uuid5

from sqlalchemy.ext.asyncio import AsyncEngine

from prism.auth.passwords import hash_password, make_hasher
from prism.db.engine import build_engine
from prism.db.tables import Organization, Requirement, RequirementEvent, Sprint, User
from prism.db.unit_of_work import UnitOfWork
from prism.domain.enums import (
    DocumentKind,
    DocumentStatus,
    Priority,
    ReleaseState,
    RequirementEventKind,
    RequirementKind,
    RequirementStatus,
)
from prism.domain.workflow import rolled_up_status
from prism.seed.builder import DataBuilder, InvariantError
from prism.seed.catalogue import CATALOGUE, LABELS, PEOPLE, Epic, Item, ProductPlan, labels_for
from prism.seed.writer import write_rows

__all__ = [
    "DEMO_EMAIL",
    "DEMO_PASSWORD",
    "DEMO_SEED",
    "DEMO_SLUG",
    "ROADMAP_LANES",
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
ROADMAP_LANES = ("Done", "Now", "Next", "Later")
"""Done: finished; Now: spans today; Next: starts within 30 days; Later: starts after that."""
NEXT_HORIZON = timedelta(days=30)

K = RequirementEventKind
S = RequirementStatus
SPRINT_DAYS = 14
CLOSED_SPRINTS = 3


def demo_id(name: str) -> UUID:
    """The fixed id of the demo's organization (by slug) or of one of its people (by email)."""
    return uuid5(DEMO_NAMESPACE, name)


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour=hour, minute=minute), tzinfo=UTC)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


@dataclass
class _Leaf:
    """A story, task or bug of the plan and the row made for it."""

    item: Item
    row: Requirement
    feature: Requirement | None


@dataclass
class _ProductRun:
    """Plays one product's seven weeks out."""

    b: DataBuilder
    rng: random.Random
    plan: ProductPlan
    today: date
    people: list[User]
    leaves: list[_Leaf] = field(default_factory=list)
    parents: list[tuple[Requirement, list[Requirement]]] = field(default_factory=list)
    """Features, then epics, each with its children: the order their states roll up in."""

    @property
    def pm(self) -> User:
        return self.people[1]

    @property
    def builders(self) -> list[User]:
        return self.people[1:5]

    @property
    def last_working_moment(self) -> date:
        """The last day work is recorded on: yesterday, so nothing the demo shows lies in the future."""
        return self.today - timedelta(days=1)

    def run(self) -> None:
        b, today = self.b, self.today
        created = _at(today - timedelta(days=70), 9)
        self.product = b.product(self.plan.key, self.plan.name, self.plan.description, created)
        self._write_up(created)
        first_start = today - timedelta(days=SPRINT_DAYS * CLOSED_SPRINTS + 7)
        self.sprints = [
            b.sprint(
                self.product,
                f"Sprint {n + 1}",
                starts_on=first_start + timedelta(days=SPRINT_DAYS * n),
                ends_on=first_start + timedelta(days=SPRINT_DAYS * n + SPRINT_DAYS - 1),
                capacity=20.0,
                at=_at(first_start - timedelta(days=3), 10),
            )
            for n in range(CLOSED_SPRINTS + 2)
        ]
        self._play_sprints()
        self._roll_up()
        self._releases()
        self._roadmap()
        self._documents()
        self._comments()

    # Writing the work up --------------------------------------------------------------------------------------

    def _write_up(self, at: datetime) -> None:
        b, plan = self.b, self.plan
        for epic_plan in plan.epics:
            epic = b.requirement(
                self.product,
                RequirementKind.EPIC,
                epic_plan.title,
                at=at,
                reporter_id=self.pm.id,
                description=f"{epic_plan.summary}\n\nAn epic of {plan.name}.",
                priority=Priority.HIGH,
                assignee_id=self.pm.id,
                labels=[b.label_named(label.name) for label in labels_for(epic_plan.title)],
            )
            children: list[Requirement] = []
            for feature_plan in epic_plan.features:
                feature = b.requirement(
                    self.product,
                    RequirementKind.FEATURE,
                    feature_plan.title,
                    at=at,
                    reporter_id=self.pm.id,
                    parent=epic,
                    description=f"{feature_plan.summary}\n\nPart of {epic_plan.title}.",
                    priority=Priority.MEDIUM,
                    assignee_id=self.pm.id,
                    labels=[b.label_named(label.name) for label in labels_for(feature_plan.title)],
                )
                children.append(feature)
                grandchildren = [self._leaf(item, feature, epic_plan, at) for item in feature_plan.items]
                self.parents.append((feature, grandchildren))
            children.extend(self._leaf(item, epic, epic_plan, at) for item in epic_plan.bugs)
            self.parents.append((epic, children))
        # Features roll up before the epics that hold them.
        self.parents.sort(key=lambda pair: pair[0].kind == RequirementKind.EPIC.value)

    def _leaf(self, item: Item, parent: Requirement, epic: Epic, at: datetime) -> Requirement:
        b, rng = self.b, self.rng
        kind = RequirementKind(item.kind)
        if kind == RequirementKind.STORY:
            description = (
                f"As a {self.plan.persona}, I want to {_lower_first(item.title)} so that {item.detail}.\n\n"
                f"Part of {parent.title} ({epic.title})."
            )
            criteria = "\n".join(f"- [ ] {line}" for line in item.criteria)
            estimate = float(rng.choice([1, 2, 3, 5, 8]))
            priority = rng.choice([Priority.LOW, Priority.MEDIUM, Priority.MEDIUM, Priority.HIGH, Priority.URGENT])
        elif kind == RequirementKind.BUG:
            description = (
                f"Steps to reproduce: {item.detail}\n\nWhat happens: {_lower_first(item.title)}.\n\n"
                f"Found while working on {epic.title}."
            )
            criteria = "- [ ] Fixed, with a regression test for these steps"
            estimate = float(rng.choice([1, 2, 3]))
            priority = Priority.HIGH
        else:
            description = f"{item.detail}\n\nSupports {parent.title}."
            criteria = ""
            estimate = float(rng.choice([1, 2]))
            priority = Priority.MEDIUM
        row = b.requirement(
            self.product,
            kind,
            item.title,
            at=at + timedelta(minutes=len(self.leaves) + 1),
            reporter_id=self.pm.id,
            parent=parent,
            description=description,
            acceptance_criteria=criteria,
            priority=priority,
            estimate=estimate,
            assignee_id=rng.choice(self.builders).id,
            labels=[b.label_named(label.name) for label in labels_for(item.title)],
        )
        self.leaves.append(_Leaf(item, row, parent if parent.kind == RequirementKind.FEATURE.value else None))
        return row

    # Sprints --------------------------------------------------------------------------------------------------

    def _play_sprints(self) -> None:
        b, rng = self.b, self.rng
        rows = [leaf.row for leaf in self.leaves]
        backlog_size = max(1, len(rows) // 6)
        planned_next = rows[-backlog_size - 1 : -backlog_size]
        worked = rows[: -backlog_size - 1]
        share, extra = divmod(len(worked), CLOSED_SPRINTS + 1)
        queues, start = [], 0
        for n in range(CLOSED_SPRINTS + 1):
            size = share + (1 if n < extra else 0)
            queues.append(worked[start : start + size])
            start += size
        returning: list[Requirement] = []
        for n, sprint in enumerate(self.sprints[: CLOSED_SPRINTS + 1]):
            assert sprint.starts_on is not None
            assert sprint.ends_on is not None
            newcomers = returning + queues[n]
            returning = []
            carried = b.in_sprint(sprint)
            late = [r for r in newcomers[1:] if n > 0 and rng.random() < 0.2]
            for requirement in newcomers:
                if requirement not in late:
                    b.change(
                        requirement, K.SPRINT, sprint.id, _at(sprint.starts_on - timedelta(days=1), 15), self.pm.id
                    )
            sprint.goal = self._goal([*carried, *newcomers])
            b.start(sprint, _at(sprint.starts_on, 9))
            for requirement in late:
                day = sprint.starts_on + timedelta(days=rng.randint(1, 3))
                b.change(requirement, K.SPRINT, sprint.id, _at(day, 10), self.pm.id)
            for requirement in [r for r in newcomers if r not in late][1:]:
                if rng.random() < 0.08:  # dropped on the second day, before anyone started it; back next sprint
                    b.change(requirement, K.SPRINT, None, _at(sprint.starts_on + timedelta(days=1), 11), self.pm.id)
                    returning.append(requirement)
            active = n == CLOSED_SPRINTS
            holding = b.in_sprint(sprint)
            fresh = [r for r in holding if r.status in (S.BACKLOG.value, S.TODO.value)]
            for requirement in holding:
                self._work(requirement, sprint, active=active, first=bool(fresh) and requirement is fresh[0])
            if active and not any(r.status == S.IN_PROGRESS.value for r in holding):
                raise InvariantError(f"{self.plan.key}: the active sprint has no work in progress")
            if not active:
                b.close(sprint, _at(sprint.ends_on, 17), move_to=self.sprints[n + 1], actor_id=self.pm.id)
        upcoming = self.sprints[-1]
        upcoming.goal = self._goal(planned_next)
        for requirement in planned_next:
            b.change(requirement, K.SPRINT, upcoming.id, _at(self.last_working_moment, 15), self.pm.id)

    def _goal(self, requirements: list[Requirement]) -> str:
        parents = {r.parent_id for r in requirements}
        titles = [p.title for p, _ in self.parents if p.id in parents and p.kind == RequirementKind.FEATURE.value]
        return "Ship " + ", ".join(titles[:3]) if titles else "Fix what users reported"

    def _work(self, requirement: Requirement, sprint: Sprint, *, active: bool, first: bool) -> None:
        """Move an item through the workflow on working days while its sprint runs (until yesterday)."""
        rng = self.rng
        assert sprint.starts_on is not None
        assert sprint.ends_on is not None
        current = S(requirement.status)
        if active:
            target = S.IN_PROGRESS if first else rng.choice([S.TODO, S.IN_PROGRESS, S.IN_PROGRESS, S.IN_REVIEW, S.DONE])
        else:
            target = S.DONE if rng.random() < 0.65 else rng.choice([S.TODO, S.IN_PROGRESS, S.IN_REVIEW])
        order = [S.BACKLOG, S.TODO, S.IN_PROGRESS, S.IN_REVIEW, S.DONE]
        if order.index(target) <= order.index(current):
            return
        entered = max(e.created_at for e in self.b.history(requirement) if e.kind == K.SPRINT.value)
        day = max(sprint.starts_on, entered.date())
        last_day = min(sprint.ends_on, self.last_working_moment)
        steps = order[order.index(current) + 1 : order.index(target) + 1]
        times = []
        for step in steps:
            day = min(day + timedelta(days=0 if step == S.TODO else rng.randint(1, 3)), last_day)
            times.append(max(_at(day, rng.randint(9, 17), rng.choice([0, 15, 30, 45])), entered + timedelta(hours=1)))
        times.sort()
        self.b.advance(requirement, target, times, requirement.assignee_id)

    # Epics and features follow their children ------------------------------------------------------------------

    def _roll_up(self) -> None:
        """Replay the children's status changes in time order; the parent changes whenever its rolled-up state does."""
        for parent, children in self.parents:
            ids = {child.id: child for child in children}
            changes = sorted(
                (e for child in children for e in self.b.history(child) if e.kind == K.STATUS.value),
                key=lambda e: e.created_at,
            )
            statuses = {child.id: S.BACKLOG for child in children}
            for event in changes:
                assert event.to_value is not None
                statuses[event.requirement_id] = S(event.to_value)
                state = rolled_up_status(statuses.values())
                if state is not None and state != S(parent.status):
                    self.b.transition(parent, state, event.created_at, ids[event.requirement_id].assignee_id)

    # Releases -------------------------------------------------------------------------------------------------

    def _releases(self) -> None:
        b = self.b
        second = self.sprints[1]
        assert second.ends_on is not None
        shipped_on = second.ends_on + timedelta(days=1)
        shipped_at = _at(shipped_on, 16)
        created = _at(self.today - timedelta(days=60), 10)
        first = b.release(self.product, "1.0", "The first public release.", shipped_on, created)
        first.state, first.released_at = ReleaseState.RELEASED.value, shipped_at
        features = ", ".join(p.title for p, _ in self.parents if p.kind == RequirementKind.FEATURE.value)
        upcoming = b.release(
            self.product, "1.1", f"Next: {features}.", self.today + timedelta(days=28), _at(shipped_on, 17)
        )
        upcoming.state = ReleaseState.IN_PROGRESS.value
        for leaf in self.leaves:
            requirement = leaf.row
            if requirement.completed_at is not None and requirement.completed_at < shipped_at:
                when = min(requirement.completed_at + timedelta(hours=1), shipped_at - timedelta(minutes=30))
                b.change(requirement, K.RELEASE, first.id, when, self.pm.id)
                continue
            planned = [e.created_at for e in b.history(requirement) if e.kind == K.SPRINT.value and e.to_value]
            if planned:
                b.change(requirement, K.RELEASE, upcoming.id, max(planned[0], _at(shipped_on, 17)), self.pm.id)
        self.releases = (first, upcoming)

    # The roadmap ----------------------------------------------------------------------------------------------

    def _roadmap(self) -> None:
        b, today = self.b, self.today
        roadmap = b.roadmap(
            self.product, f"{self.plan.name} roadmap", "What we finished, work on now, next and later.", self._start
        )
        sprint_by_id = {s.id: s for s in self.sprints}
        spans: dict[UUID, tuple[date, date]] = {}
        unplanned_slot = self.sprints[-1].starts_on
        active_end = self.sprints[CLOSED_SPRINTS].ends_on
        assert unplanned_slot is not None
        assert active_end is not None
        for parent, children in self.parents:  # features first, so an epic finds its features' spans
            inner = [spans[c.id] for c in children if c.id in spans]
            for child in children:
                for e in b.history(child):
                    if e.kind == K.SPRINT.value and e.to_value:
                        sprint = sprint_by_id[UUID(e.to_value)]
                        assert sprint.starts_on is not None
                        assert sprint.ends_on is not None
                        inner.append((sprint.starts_on, sprint.ends_on))
            if not inner:
                inner = [(unplanned_slot, unplanned_slot + timedelta(days=27))]
                unplanned_slot += timedelta(days=28)
            spans[parent.id] = (min(s for s, _ in inner), max(e for _, e in inner))
        ordered = [p for p, _ in self.parents if p.kind == RequirementKind.EPIC.value] + [
            p for p, _ in self.parents if p.kind == RequirementKind.FEATURE.value
        ]
        for requirement in ordered:
            starts, ends = spans[requirement.id]
            if requirement.status == S.DONE.value:
                assert requirement.completed_at is not None
                lane, ends = "Done", requirement.completed_at.date()
            else:
                ends = max(ends, active_end)  # unfinished work stays on the plan until it is done
                if starts <= today:
                    lane = "Now"
                elif starts <= today + NEXT_HORIZON:
                    lane = "Next"
                else:
                    lane = "Later"
            b.roadmap_item(
                roadmap,
                requirement.title,
                lane=lane,
                starts_on=starts,
                ends_on=ends,
                requirement=requirement,
                at=self._start,
            )

    @property
    def _start(self) -> datetime:
        first = self.sprints[0].starts_on
        assert first is not None
        return _at(first - timedelta(days=4), 11)

    # Documents ------------------------------------------------------------------------------------------------

    def _documents(self) -> None:
        b, people = self.b, self.people
        epic = next(p for p, _ in self.parents if p.kind == RequirementKind.EPIC.value)
        features = [
            (p, c) for p, c in self.parents if p.kind == RequirementKind.FEATURE.value and p.parent_id == epic.id
        ]
        goals = "\n".join(f"- {feature.title}" for feature, _ in features)
        first = f"# {epic.title} PRD\n\n## Problem\n{epic.description.splitlines()[0]}\n\n## Goals\n{goals}\n"
        second = first + "\n## Non-goals\n- Anything outside " + f"{self.plan.name}\n\n## Open questions\n- Pricing\n"
        start = self._start
        prd = b.document(
            self.product,
            DocumentKind.PRD,
            f"{epic.title} PRD",
            [(first, start, self.pm.id), (second, start + timedelta(days=3), self.pm.id)],
            DocumentStatus.APPROVED,
        )
        b.comment(
            prd,
            f"The {epic.title} goals read well; can we size them before sprint 1?",
            people[2].id,
            start + timedelta(days=1),
        )
        active = self.sprints[CLOSED_SPRINTS]
        in_flight = b.in_sprint(active)
        feature = next(
            (p for p, _ in self.parents if p.id in {r.parent_id for r in in_flight} and p.kind == "FEATURE"),
            features[0][0],
        )
        assert active.starts_on is not None
        spec_at = _at(active.starts_on - timedelta(days=3), 14)
        items = next(c for p, c in self.parents if p.id == feature.id)
        body = f"# {feature.title} spec\n\n{feature.description.splitlines()[0]}\n\n## Work\n" + "\n".join(
            f"- {self.product.key}-{r.number} {r.title}" for r in items
        )
        spec = b.document(
            self.product,
            DocumentKind.SPEC,
            f"{feature.title} spec",
            [(body, spec_at, people[3].id)],
            DocumentStatus.IN_REVIEW,
        )
        b.comment(spec, f"The {feature.title} spec misses the error states.", self.pm.id, spec_at + timedelta(hours=20))
        closed = self.sprints[CLOSED_SPRINTS - 1]
        assert closed.closed_at is not None
        done = [
            r
            for r in b.all(Requirement)
            if r.completed_at
            and closed.started_at
            and closed.started_at <= r.completed_at <= closed.closed_at
            and r.product_id == self.product.id
        ]
        carried = [
            e.requirement_id
            for e in b.all(RequirementEvent)
            if e.kind == K.SPRINT.value and e.from_value == str(closed.id) and e.created_at == closed.closed_at
        ]
        retro_at = closed.closed_at + timedelta(hours=1)
        retro_body = (
            f"# {closed.name} retrospective\n\nGoal: {closed.goal}\n\n## Finished\n"
            + "\n".join(f"- {r.title}" for r in done)
            + f"\n\n## Carried over\n{len(carried)} item(s) moved to {self.sprints[CLOSED_SPRINTS].name}.\n"
        )
        retro = b.document(
            self.product,
            DocumentKind.NOTE,
            f"{closed.name} retrospective",
            [(retro_body, retro_at, people[4].id)],
            DocumentStatus.APPROVED,
        )
        b.comment(
            retro,
            f"{closed.name}: fewer items, finished, beats many carried.",
            people[1].id,
            retro_at + timedelta(hours=1),
        )

    # Comments -------------------------------------------------------------------------------------------------

    def _comments(self) -> None:
        """About half the items carry remarks made right after the change they discuss."""
        b, rng = self.b, self.rng
        said = {
            S.IN_PROGRESS.value: 'Started on "{title}"; first up: {criterion}.',
            S.IN_REVIEW.value: '"{title}" is up for review.',
            S.DONE.value: 'Demoed "{title}" at the sprint review; done.',
        }
        for leaf in self.leaves:
            requirement = leaf.row
            if rng.random() < 0.5:
                continue
            criterion = _lower_first(leaf.item.criteria[0]) if leaf.item.criteria else "the happy path"
            if requirement.kind == RequirementKind.BUG.value:
                b.comment(
                    requirement,
                    f'Reproduced "{requirement.title}" on the latest build.',
                    self.people[4].id,
                    requirement.created_at + timedelta(hours=2),
                )
            for event in b.history(requirement):
                if event.kind == K.STATUS.value and event.to_value in said:
                    author = requirement.assignee_id if event.to_value != S.DONE.value else self.pm.id
                    text = said[event.to_value].format(title=requirement.title, criterion=criterion)
                    b.comment(requirement, text, author, event.created_at + timedelta(minutes=40))


def build_demo(now: datetime, password_hash: str, seed: int = DEMO_SEED) -> DataBuilder:
    """The demo organization as it stands at `now`, from `seed`: the same arguments give the same rows."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
    today = now.astimezone(UTC).date()
    joined = _at(today - timedelta(days=75), 9)
    b = DataBuilder(organization_id=demo_id(DEMO_SLUG))
    b.organization("Demo Co", DEMO_SLUG, joined)
    people = [b.user(name, email, password_hash, joined, user_id=demo_id(email)) for name, email, _ in PEOPLE]
    for user, (_, _, role) in zip(people, PEOPLE, strict=True):
        b.member(user.id, role, joined)
    b.team("Core team", "Builds the planning experience.", [u.id for u in people[:5]], joined)
    for label in LABELS:
        b.label(label.name, label.color, label.description, joined)
    for plan in CATALOGUE:
        _ProductRun(b, rng, plan, today, people).run()
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
        f"{counts['sprint']} sprints, {counts['requirement_event']} history events, {counts['document']} documents. "
        f"Log in as {DEMO_EMAIL} / {DEMO_PASSWORD}."
    )


async def _exists(engine: AsyncEngine) -> bool:
    organization_id = demo_id(DEMO_SLUG)
    async with UnitOfWork(engine, organization_id) as uow, uow.session(organization_id) as session:
        return await session.get(Organization, organization_id) is not None
