"""A sprint's report: what it committed to when it started, what was added and removed while it ran, and how it ended.

Pure rules over two records that outlive the sprint: the snapshot taken when it started (sprint_commitment: each
requirement it held, with its estimate then) and the history of the requirements that were ever in it (their SPRINT,
STATUS and ESTIMATE events). Nothing reads where a requirement is now, so the figures of a closed sprint stay what
they were at its close after its unfinished work moves on to the next sprint, and after later edits.

The rules, for a sprint that started at `started_at` and closed at `closed_at` (for an active sprint: now):

- committed: what it held when it started; points are the estimates then.
- in it at the end: each requirement whose last SPRINT event before the close put it in the sprint (the close's own
  moves, dated at the close, do not count), or, with no such event, that was committed.
- added: in it at some moment after the start (entered it, or in it at the end) without being committed.
- removed: committed or added, but not in it at the end: moved to the backlog or another sprint while it ran.
- completed, canceled, carried over: what was in it at the end, by its status at the close (DONE, CANCELED, any
  other: the close moved it to the backlog or the next sprint; for an active sprint, not finished yet).
- Points other than committed ones are the estimate a requirement had when it left the sprint, or at the end.

So committed + added - removed = completed + canceled + carried over, in requirements (not always in points, since
estimates may change while the sprint runs).
"""

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from prism.domain.enums import RequirementEventKind, RequirementStatus
from prism.domain.history import number_of

__all__ = ["Change", "Figure", "Histories", "SprintReport", "sprint_report"]

K = RequirementEventKind
# Read once: looking an enum member up on its class costs more than the rest of a history's split.
_SPRINT, _STATUS, _CREATED, _ESTIMATE = K.SPRINT, K.STATUS, K.CREATED, K.ESTIMATE


@dataclass(frozen=True, slots=True)
class Change:
    """One recorded change of a requirement, as the report needs it."""

    requirement_id: UUID
    kind: RequirementEventKind
    from_value: str | None
    to_value: str | None
    at: datetime


@dataclass(frozen=True)
class Figure:
    """A set of requirements of a sprint report and their story points."""

    requirement_ids: tuple[UUID, ...] = ()
    points: float = 0.0

    @property
    def count(self) -> int:
        return len(self.requirement_ids)


@dataclass(frozen=True)
class SprintReport:
    """A started sprint's scope and outcome; see the module's rules."""

    committed: Figure
    added: Figure
    removed: Figure
    completed: Figure
    canceled: Figure
    carried_over: Figure
    as_of: datetime | None
    """When the figures hold: the close, or None for an active sprint (now)."""


def _last(changes: Iterable[Change]) -> Change | None:
    found = None
    for change in changes:
        found = change
    return found


class _Requirement:
    """One requirement's history, oldest first, with the questions the report asks of it."""

    def __init__(self, changes: Sequence[Change]) -> None:
        self.changes = changes
        self._moves: list[Change] = []
        self._statuses: list[Change] = []
        self._estimates: list[Change] = []
        for change in changes:
            kind = change.kind
            if kind is _SPRINT:
                self._moves.append(change)
            elif kind is _STATUS or kind is _CREATED:
                self._statuses.append(change)
            elif kind is _ESTIMATE:
                self._estimates.append(change)

    def moves(self) -> list[Change]:
        return self._moves

    @staticmethod
    def _value_at(changes: list[Change], moment: datetime | None) -> str | None:
        for change in reversed(changes):
            if moment is None or change.at <= moment:
                return change.to_value
        return None

    def status_at(self, moment: datetime | None) -> str | None:
        return self._value_at(self._statuses, moment)

    def estimate_at(self, moment: datetime | None) -> float | None:
        for change in reversed(self._estimates):
            if moment is None or change.at <= moment:
                return number_of(change.to_value)
        return None


class Histories:
    """Changes grouped by requirement once, for reports asked of the same history at several moments (a burndown)."""

    def __init__(self, changes: Iterable[Change] = ()) -> None:
        grouped: dict[UUID, list[Change]] = defaultdict(list)
        for change in changes:
            grouped[change.requirement_id].append(change)
        self.by_requirement = {requirement: _Requirement(found) for requirement, found in grouped.items()}

    @classmethod
    def of_grouped(cls, grouped: Mapping[UUID, Sequence[Change]]) -> "Histories":
        """Histories from changes already grouped by requirement, each oldest first."""
        found = cls()
        found.by_requirement = {requirement: _Requirement(changes) for requirement, changes in grouped.items()}
        return found

    def subset(self, requirements: Iterable[UUID]) -> "Histories":
        """The histories of some of the requirements (those it has)."""
        found = Histories()
        found.by_requirement = {r: self.by_requirement[r] for r in requirements if r in self.by_requirement}
        return found

    def changes(self) -> Iterator[Change]:
        """Every change, requirement by requirement."""
        for history in self.by_requirement.values():
            yield from history.changes


def sprint_report(
    sprint_id: UUID,
    started_at: datetime,
    closed_at: datetime | None,
    commitments: Mapping[UUID, float | None],
    changes: Iterable[Change] | Histories,
) -> SprintReport:
    """The report of a started sprint from its start snapshot (`commitments`: requirement -> estimate at the start)
    and the changes of its requirements, oldest first (or already grouped)."""
    sprint = str(sprint_id)
    histories = (changes if isinstance(changes, Histories) else Histories(changes)).by_requirement
    empty = _Requirement(())

    def before_end(change: Change) -> bool:
        return closed_at is None or change.at < closed_at

    at_end: set[UUID] = set()
    entered: set[UUID] = set()
    left_at: dict[UUID, datetime] = {}
    for requirement in set(commitments) | set(histories):
        moves = [m for m in histories.get(requirement, empty).moves() if before_end(m)]
        last = _last(moves)
        if (last is None and requirement in commitments) or (last is not None and last.to_value == sprint):
            at_end.add(requirement)
        if any(m.to_value == sprint and m.at >= started_at for m in moves):
            entered.add(requirement)
        leaving = _last(m for m in moves if m.from_value == sprint)
        if leaving is not None:
            left_at[requirement] = leaving.at

    during = set(commitments) | entered | at_end
    committed = set(commitments)

    def points(requirements: set[UUID]) -> Figure:
        total = 0.0
        for requirement in requirements:
            moment = closed_at if requirement in at_end else left_at.get(requirement, closed_at)
            total += histories.get(requirement, empty).estimate_at(moment) or 0.0
        return Figure(requirement_ids=tuple(sorted(requirements)), points=total)

    by_status: dict[str, set[UUID]] = defaultdict(set)
    for requirement in at_end:
        status = histories.get(requirement, empty).status_at(closed_at)
        if status in (RequirementStatus.DONE.value, RequirementStatus.CANCELED.value):
            by_status[status].add(requirement)
        else:
            by_status["UNFINISHED"].add(requirement)
    return SprintReport(
        committed=Figure(
            requirement_ids=tuple(sorted(committed)),
            points=sum((estimate or 0.0) for estimate in commitments.values()),
        ),
        added=points(during - committed),
        removed=points(during - at_end),
        completed=points(by_status[RequirementStatus.DONE.value]),
        canceled=points(by_status[RequirementStatus.CANCELED.value]),
        carried_over=points(by_status["UNFINISHED"]),
        as_of=closed_at,
    )
