"""One builder for bulk data: the demo, the benchmark's data set and the tests' bulk rows are all made with it.

`DataBuilder` collects rows of PRISM's own tables (the SQLModel classes the services write) for one organization, with
ids derived from the organization and a counter, so the same calls give the same rows. It keeps the invariants the
services keep: a requirement's number comes from its product's `next_number`; a parent may hold a child only as
`prism.domain.workflow.can_nest` allows; statuses move only along `can_transition` and set `started_at` and
`completed_at` as a transition does; every change is a dated `requirement_event`; a product runs at most one ACTIVE
sprint; starting a sprint records what it holds as its commitment, and closing it moves its unfinished work on, with
events, and stores its figures, as `SprintService` does. `write_rows` then inserts everything in one transaction.
"""

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TypeVar
from uuid import UUID, uuid5

from fractional_indexing import generate_key_between
from sqlmodel import SQLModel

from prism.db.adoption_tables import Feature, UsageEvent
from prism.db.sprint_history import REPORTED_KINDS, figures_row
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
    SprintFigures,
    Team,
    TeamMember,
    User,
)
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
from prism.domain.history import WITHOUT_VALUES, stored_value
from prism.domain.sprint_figures import SprintFigures as Figures
from prism.domain.sprint_figures import sprint_figures
from prism.domain.sprint_report import Change
from prism.domain.workflow import can_nest, can_transition, is_finished

__all__ = ["WRITE_ORDER", "DataBuilder", "InvariantError"]

T = TypeVar("T", bound=SQLModel)

K = RequirementEventKind
S = RequirementStatus

WRITE_ORDER: tuple[type[SQLModel], ...] = (
    Organization,
    User,
    Membership,
    Team,
    TeamMember,
    Label,
    Product,
    Sprint,
    Release,
    Requirement,
    RequirementLabel,
    RequirementEvent,
    SprintCommitment,
    SprintFigures,
    Roadmap,
    RoadmapItem,
    Document,
    DocumentVersion,
    Comment,
    Feature,
    UsageEvent,
)
"""The tables in the order their foreign keys need."""

_PATH = {
    S.BACKLOG: [S.TODO, S.IN_PROGRESS, S.IN_REVIEW, S.DONE],
    S.TODO: [S.IN_PROGRESS, S.IN_REVIEW, S.DONE],
    S.IN_PROGRESS: [S.IN_REVIEW, S.DONE],
    S.IN_REVIEW: [S.DONE],
}
"""The way work normally goes forward from each status, one allowed transition after another."""


class InvariantError(ValueError):
    """The builder was asked for data the services would refuse to write."""


@dataclass
class DataBuilder:
    """Rows of one organization, made consistent with the domain's rules, ready for `write_rows`."""

    organization_id: UUID
    rows: dict[type[SQLModel], list[SQLModel]] = field(default_factory=lambda: defaultdict(list))
    _ids: "itertools.count[int]" = field(default_factory=itertools.count)
    _last_rank: dict[UUID, str | None] = field(default_factory=dict)

    def new_id(self, table: str) -> UUID:
        """The next id for a row of `table`: the same for the same organization and order of calls."""
        return uuid5(self.organization_id, f"{table}/{next(self._ids)}")

    def _add(self, row: T) -> T:
        self.rows[type(row)].append(row)
        return row

    def all(self, table: type[T]) -> list[T]:
        """The rows built so far of one table, in the order they were made."""
        return self.rows[table]  # type: ignore[return-value]

    # The organization and its people ---------------------------------------------------------------------------

    def organization(self, name: str, slug: str, at: datetime) -> Organization:
        return self._add(Organization(id=self.organization_id, name=name, slug=slug, created_at=at))

    def user(self, name: str, email: str, password_hash: str | None, at: datetime, user_id: UUID | None = None) -> User:
        return self._add(
            User(
                id=user_id or self.new_id("user"),
                email=email,
                name=name,
                password_hash=password_hash,
                email_verified_at=at,
                created_at=at,
            )
        )

    def member(self, user_id: UUID, role: Role, at: datetime) -> Membership:
        return self._add(
            Membership(
                id=self.new_id("membership"),
                organization_id=self.organization_id,
                user_id=user_id,
                role=role.value,
                created_at=at,
                updated_at=at,
            )
        )

    def team(self, name: str, description: str, member_ids: list[UUID], at: datetime) -> Team:
        team = self._add(
            Team(
                id=self.new_id("team"),
                organization_id=self.organization_id,
                name=name,
                description=description,
                created_at=at,
                updated_at=at,
            )
        )
        for user_id in member_ids:
            self.team_member(team.id, user_id, at)
        return team

    def team_member(self, team_id: UUID, user_id: UUID, at: datetime) -> TeamMember:
        return self._add(
            TeamMember(organization_id=self.organization_id, team_id=team_id, user_id=user_id, created_at=at)
        )

    def label(self, name: str, color: str, description: str, at: datetime) -> Label:
        return self._add(
            Label(
                id=self.new_id("label"),
                organization_id=self.organization_id,
                name=name,
                color=color,
                description=description,
                created_at=at,
                updated_at=at,
            )
        )

    def label_named(self, name: str) -> Label:
        return next(label for label in self.all(Label) if label.name == name)

    # Products, sprints, releases -------------------------------------------------------------------------------

    def product(self, key: str, name: str, description: str, at: datetime) -> Product:
        product = self._add(
            Product(
                id=self.new_id("product"),
                organization_id=self.organization_id,
                key=key,
                name=name,
                description=description,
                next_number=1,
                created_at=at,
                updated_at=at,
            )
        )
        self._last_rank[product.id] = None
        return product

    def sprint(
        self,
        product: Product,
        name: str,
        *,
        goal: str = "",
        starts_on: date | None = None,
        ends_on: date | None = None,
        capacity: float | None = None,
        at: datetime,
    ) -> Sprint:
        """A PLANNED sprint; `start` and `close` move it on."""
        if starts_on is not None and ends_on is not None and ends_on < starts_on:
            raise InvariantError(f"sprint {name} ends before it starts")
        return self._add(
            Sprint(
                id=self.new_id("sprint"),
                organization_id=self.organization_id,
                product_id=product.id,
                name=name,
                goal=goal,
                starts_on=starts_on,
                ends_on=ends_on,
                capacity=capacity,
                state=SprintState.PLANNED.value,
                created_at=at,
                updated_at=at,
            )
        )

    def start(self, sprint: Sprint, at: datetime) -> list[SprintCommitment]:
        """Make a PLANNED sprint ACTIVE and commit it to what it holds, as `SprintService.start` does."""
        if sprint.state != SprintState.PLANNED.value:
            raise InvariantError(f"only a PLANNED sprint starts; {sprint.name} is {sprint.state}")
        for other in self.all(Sprint):
            if other.product_id == sprint.product_id and other.state == SprintState.ACTIVE.value:
                raise InvariantError(f"the product already runs {other.name}")
        sprint.state = SprintState.ACTIVE.value
        sprint.started_at = sprint.updated_at = at
        return [
            self._add(
                SprintCommitment(
                    organization_id=self.organization_id,
                    requirement_id=requirement.id,
                    sprint_id=sprint.id,
                    estimate=requirement.estimate,
                    created_at=at,
                )
            )
            for requirement in self.in_sprint(sprint)
        ]

    def close(
        self, sprint: Sprint, at: datetime, *, move_to: Sprint | None, actor_id: UUID | None
    ) -> list[Requirement]:
        """Close an ACTIVE sprint, moving its unfinished work to `move_to` or the backlog, as `SprintService.close`."""
        if sprint.state != SprintState.ACTIVE.value:
            raise InvariantError(f"only an ACTIVE sprint closes; {sprint.name} is {sprint.state}")
        if move_to is not None and (move_to.state == SprintState.CLOSED.value or move_to.id == sprint.id):
            raise InvariantError("unfinished work moves to an open sprint")
        moved = [r for r in self.in_sprint(sprint) if not is_finished(S(r.status))]
        for requirement in moved:
            self.change(requirement, K.SPRINT, None if move_to is None else move_to.id, at, actor_id)
        sprint.state = SprintState.CLOSED.value
        sprint.closed_at = sprint.updated_at = at
        self._add(figures_row(self.organization_id, self._figures(sprint), at))
        return moved

    def _figures(self, sprint: Sprint) -> Figures:
        """A closing sprint's figures from the history built so far, read as the close's own read would."""
        assert sprint.started_at is not None
        assert sprint.closed_at is not None
        commitments = {c.requirement_id: c.estimate for c in self.all(SprintCommitment) if c.sprint_id == sprint.id}
        events = self.all(RequirementEvent)
        held = set(commitments) | {
            e.requirement_id for e in events if e.kind == K.SPRINT.value and e.to_value == str(sprint.id)
        }
        read = sorted(
            (e for e in events if e.requirement_id in held and e.kind in REPORTED_KINDS),
            key=lambda e: (e.created_at, e.id),
        )
        changes = [Change(e.requirement_id, K(e.kind), e.from_value, e.to_value, e.created_at) for e in read]
        return sprint_figures(sprint.id, sprint.started_at, sprint.closed_at, commitments, changes)

    def in_sprint(self, sprint: Sprint) -> list[Requirement]:
        return [r for r in self.all(Requirement) if r.sprint_id == sprint.id]

    def release(self, product: Product, name: str, description: str, target_date: date | None, at: datetime) -> Release:
        """A PLANNED release; `ship` releases it."""
        return self._add(
            Release(
                id=self.new_id("release"),
                organization_id=self.organization_id,
                product_id=product.id,
                name=name,
                description=description,
                target_date=target_date,
                state=ReleaseState.PLANNED.value,
                created_at=at,
                updated_at=at,
            )
        )

    # Requirements and their history ----------------------------------------------------------------------------

    def requirement(
        self,
        product: Product,
        kind: RequirementKind,
        title: str,
        *,
        at: datetime,
        reporter_id: UUID | None,
        parent: Requirement | None = None,
        description: str = "",
        acceptance_criteria: str = "",
        priority: Priority = Priority.NONE,
        estimate: float | None = None,
        assignee_id: UUID | None = None,
        labels: list[Label] | None = None,
    ) -> Requirement:
        """A new BACKLOG requirement at the bottom of its product's ranking, with its creation recorded."""
        if parent is not None:
            if parent.product_id != product.id:
                raise InvariantError("a parent belongs to the same product")
            if not can_nest(RequirementKind(parent.kind), kind):
                raise InvariantError(f"a {parent.kind} cannot hold a {kind.value}")
        rank = generate_key_between(self._last_rank[product.id], None)
        self._last_rank[product.id] = rank
        number = product.next_number
        product.next_number += 1
        requirement = self._add(
            Requirement(
                id=self.new_id("requirement"),
                organization_id=self.organization_id,
                product_id=product.id,
                number=number,
                kind=kind.value,
                parent_id=None if parent is None else parent.id,
                title=title,
                description=description,
                acceptance_criteria=acceptance_criteria,
                status=S.BACKLOG.value,
                priority=priority.value,
                estimate=None,
                reporter_id=reporter_id,
                rank=rank,
                created_at=at,
                updated_at=at,
            )
        )
        self._event(requirement, K.CREATED, None, S.BACKLOG, at, reporter_id)
        # What was filled in on creation follows it by a moment, so history lists the creation first.
        then = at + timedelta(seconds=1)
        if estimate is not None:
            self.change(requirement, K.ESTIMATE, estimate, then, reporter_id)
        if assignee_id is not None:
            self.change(requirement, K.ASSIGNEE, assignee_id, then, reporter_id)
        for label in labels or []:
            self.add_label(requirement, label, then, reporter_id)
        return requirement

    def add_label(self, requirement: Requirement, label: Label, at: datetime, actor_id: UUID | None) -> None:
        self._add(
            RequirementLabel(organization_id=self.organization_id, requirement_id=requirement.id, label_id=label.id)
        )
        self._event(requirement, K.LABEL_ADDED, None, label.id, at, actor_id)

    _ATTRIBUTES = {
        K.ESTIMATE: "estimate",
        K.SPRINT: "sprint_id",
        K.RELEASE: "release_id",
        K.ASSIGNEE: "assignee_id",
        K.PRIORITY: "priority",
    }

    def change(
        self, requirement: Requirement, kind: RequirementEventKind, value: object, at: datetime, actor_id: UUID | None
    ) -> None:
        """Set one attribute (estimate, sprint, release, assignee, priority) and record the change."""
        attribute = self._ATTRIBUTES[kind]
        before = getattr(requirement, attribute)
        stored = value.value if isinstance(value, Priority) else value
        if before == stored:
            return
        if kind == K.SPRINT and value is not None:
            sprint = next(s for s in self.all(Sprint) if s.id == value)
            if sprint.state == SprintState.CLOSED.value or sprint.product_id != requirement.product_id:
                raise InvariantError("work enters an open sprint of its own product")
        setattr(requirement, attribute, stored)
        self._event(requirement, kind, before, stored, at, actor_id)

    def transition(
        self, requirement: Requirement, status: RequirementStatus, at: datetime, actor_id: UUID | None
    ) -> None:
        """Move a requirement to `status` as `RequirementService.transition` does; refuses what the workflow refuses."""
        current = S(requirement.status)
        if not can_transition(current, status):
            raise InvariantError(f"{requirement.title}: {current.value} cannot move to {status.value}")
        requirement.status = status.value
        if status == S.IN_PROGRESS and requirement.started_at is None:
            requirement.started_at = at
        requirement.completed_at = at if is_finished(status) else None
        self._event(requirement, K.STATUS, current, status, at, actor_id)

    def advance(
        self, requirement: Requirement, status: RequirementStatus, times: list[datetime], actor_id: UUID | None
    ) -> None:
        """Walk a requirement forward to `status` one step at a time, at the given times (one per step, reused last)."""
        path = _PATH.get(S(requirement.status), [])
        if status == S(requirement.status):
            return
        if status not in path:
            raise InvariantError(f"{requirement.title}: {requirement.status} does not lead forward to {status.value}")
        for index, step in enumerate(path[: path.index(status) + 1]):
            self.transition(requirement, step, times[min(index, len(times) - 1)], actor_id)

    def _event(
        self,
        requirement: Requirement,
        kind: RequirementEventKind,
        before: object,
        after: object,
        at: datetime,
        actor_id: UUID | None,
    ) -> RequirementEvent:
        keep = kind not in WITHOUT_VALUES
        if at < requirement.created_at:
            raise InvariantError(f"{requirement.title}: a change before its creation")
        requirement.updated_at = max(requirement.updated_at, at)
        return self._add(
            RequirementEvent(
                id=self.new_id("requirement_event"),
                organization_id=self.organization_id,
                requirement_id=requirement.id,
                actor_id=actor_id,
                kind=kind.value,
                from_value=stored_value(before) if keep else None,
                to_value=stored_value(after) if keep else None,
                created_at=at,
            )
        )

    def history(self, requirement: Requirement) -> list[RequirementEvent]:
        """A requirement's events, oldest first."""
        events = [e for e in self.all(RequirementEvent) if e.requirement_id == requirement.id]
        return sorted(events, key=lambda e: e.created_at)

    # Roadmaps, documents, comments -----------------------------------------------------------------------------

    def roadmap(self, product: Product, name: str, description: str, at: datetime) -> Roadmap:
        return self._add(
            Roadmap(
                id=self.new_id("roadmap"),
                organization_id=self.organization_id,
                product_id=product.id,
                name=name,
                description=description,
                created_at=at,
                updated_at=at,
            )
        )

    def roadmap_item(
        self,
        roadmap: Roadmap,
        title: str,
        *,
        lane: str,
        starts_on: date,
        ends_on: date,
        requirement: Requirement | None,
        at: datetime,
    ) -> RoadmapItem:
        if ends_on < starts_on:
            raise InvariantError(f"roadmap item {title} ends before it starts")
        items = [i for i in self.all(RoadmapItem) if i.roadmap_id == roadmap.id]
        return self._add(
            RoadmapItem(
                id=self.new_id("roadmap_item"),
                organization_id=self.organization_id,
                roadmap_id=roadmap.id,
                requirement_id=None if requirement is None else requirement.id,
                title=title,
                lane=lane,
                starts_on=starts_on,
                ends_on=ends_on,
                rank=generate_key_between(items[-1].rank if items else None, None),
                created_at=at,
                updated_at=at,
            )
        )

    def document(
        self,
        product: Product,
        kind: DocumentKind,
        title: str,
        versions: list[tuple[str, datetime, UUID | None]],
        status: DocumentStatus,
    ) -> Document:
        """A document and its saved versions (body, time, author), oldest first; it shows the last one."""
        if not versions:
            raise InvariantError("a document has at least one version")
        first, last = versions[0], versions[-1]
        document = self._add(
            Document(
                id=self.new_id("document"),
                organization_id=self.organization_id,
                product_id=product.id,
                kind=kind.value,
                title=title,
                body=last[0],
                status=status.value,
                author_id=first[2],
                created_at=first[1],
                updated_at=last[1],
                version=len(versions),
            )
        )
        for number, (body, at, author_id) in enumerate(versions, start=1):
            self._add(
                DocumentVersion(
                    id=self.new_id("document_version"),
                    organization_id=self.organization_id,
                    document_id=document.id,
                    number=number,
                    title=title,
                    body=body,
                    author_id=author_id,
                    created_at=at,
                )
            )
        return document

    def comment(self, subject: Requirement | Document, body: str, author_id: UUID | None, at: datetime) -> Comment:
        """A comment on exactly one requirement or document, not older than what it discusses."""
        if at < subject.created_at:
            raise InvariantError("a comment is not older than what it discusses")
        return self._add(
            Comment(
                id=self.new_id("comment"),
                organization_id=self.organization_id,
                requirement_id=subject.id if isinstance(subject, Requirement) else None,
                document_id=subject.id if isinstance(subject, Document) else None,
                author_id=author_id,
                body=body,
                created_at=at,
                updated_at=at,
            )
        )

    def counts(self) -> dict[str, int]:
        """How many rows of each table were built, by table name."""
        return {table.__tablename__: len(self.rows[table]) for table in WRITE_ORDER if self.rows[table]}  # type: ignore[misc]
