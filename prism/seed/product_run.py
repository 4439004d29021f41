"""One product's seven weeks played out: its work written up, sprints planned, run and closed, epics and features
rolled up from their children, and its releases filled with what was done before them."""

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from prism.db.tables import Requirement, Sprint, User
from prism.domain.enums import Priority, ReleaseState, RequirementEventKind, RequirementKind, RequirementStatus
from prism.domain.workflow import rolled_up_status
from prism.seed.builder import DataBuilder, InvariantError
from prism.seed.catalogue import Epic, Item, ProductPlan, labels_for

__all__ = ["CLOSED_SPRINTS", "SPRINT_DAYS", "Leaf", "ProductRun", "at", "lower_first"]

K = RequirementEventKind
S = RequirementStatus
SPRINT_DAYS = 14
CLOSED_SPRINTS = 3


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """A moment of a day, in UTC."""
    return datetime.combine(day, time(hour=hour, minute=minute), tzinfo=UTC)


def lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


@dataclass(frozen=True)
class Leaf:
    """A story, task or bug of the plan and the row made for it."""

    item: Item
    row: Requirement


@dataclass
class ProductRun:
    """Plays one product's seven weeks out."""

    b: DataBuilder
    rng: random.Random
    plan: ProductPlan
    today: date
    people: list[User]
    leaves: list[Leaf] = field(default_factory=list)
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
        created = at(today - timedelta(days=70), 9)
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
                at=at(first_start - timedelta(days=3), 10),
            )
            for n in range(CLOSED_SPRINTS + 2)
        ]
        self._play_sprints()
        self._roll_up()
        self._releases()

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
                f"As a {self.plan.persona}, I want to {lower_first(item.title)} so that {item.detail}.\n\n"
                f"Part of {parent.title} ({epic.title})."
            )
            criteria = "\n".join(f"- [ ] {line}" for line in item.criteria)
            estimate = float(rng.choice([1, 2, 3, 5, 8]))
            priority = rng.choice([Priority.LOW, Priority.MEDIUM, Priority.MEDIUM, Priority.HIGH, Priority.URGENT])
        elif kind == RequirementKind.BUG:
            description = (
                f"Steps to reproduce: {item.detail}\n\nWhat happens: {lower_first(item.title)}.\n\n"
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
        self.leaves.append(Leaf(item, row))
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
                    b.change(requirement, K.SPRINT, sprint.id, at(sprint.starts_on - timedelta(days=1), 15), self.pm.id)
            sprint.goal = self._goal([*carried, *newcomers])
            b.start(sprint, at(sprint.starts_on, 9))
            for requirement in late:
                day = sprint.starts_on + timedelta(days=rng.randint(1, 3))
                b.change(requirement, K.SPRINT, sprint.id, at(day, 10), self.pm.id)
            for requirement in [r for r in newcomers if r not in late][1:]:
                if rng.random() < 0.08:  # dropped on the second day, before anyone started it; back next sprint
                    b.change(requirement, K.SPRINT, None, at(sprint.starts_on + timedelta(days=1), 11), self.pm.id)
                    returning.append(requirement)
            active = n == CLOSED_SPRINTS
            holding = b.in_sprint(sprint)
            fresh = [r for r in holding if r.status in (S.BACKLOG.value, S.TODO.value)]
            for requirement in holding:
                self._work(requirement, sprint, active=active, first=bool(fresh) and requirement is fresh[0])
            if active and not any(r.status == S.IN_PROGRESS.value for r in holding):
                raise InvariantError(f"{self.plan.key}: the active sprint has no work in progress")
            if not active:
                b.close(sprint, at(sprint.ends_on, 17), move_to=self.sprints[n + 1], actor_id=self.pm.id)
        upcoming = self.sprints[-1]
        upcoming.goal = self._goal(planned_next)
        upcoming.updated_at = at(self.last_working_moment, 15)
        for requirement in planned_next:
            b.change(requirement, K.SPRINT, upcoming.id, at(self.last_working_moment, 15), self.pm.id)

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
            times.append(max(at(day, rng.randint(9, 17), rng.choice([0, 15, 30, 45])), entered + timedelta(hours=1)))
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
        shipped_at = at(shipped_on, 16)
        created = at(self.today - timedelta(days=60), 10)
        first = b.release(self.product, "1.0", "The first public release.", shipped_on, created)
        first.state, first.released_at, first.updated_at = ReleaseState.RELEASED.value, shipped_at, shipped_at
        features = ", ".join(p.title for p, _ in self.parents if p.kind == RequirementKind.FEATURE.value)
        upcoming = b.release(
            self.product, "1.1", f"Next: {features}.", self.today + timedelta(days=28), at(shipped_on, 17)
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
                b.change(requirement, K.RELEASE, upcoming.id, max(planned[0], at(shipped_on, 17)), self.pm.id)
        self.releases = (first, upcoming)

    @property
    def start(self) -> datetime:
        first = self.sprints[0].starts_on
        assert first is not None
        return at(first - timedelta(days=4), 11)
