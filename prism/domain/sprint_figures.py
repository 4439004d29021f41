"""A closed sprint's figures, computed once at its close and kept: what velocity and carry-over answer.

A closed sprint's report and carry-over depend only on the history before its close (and the close's own moves), so
they cannot change afterwards. `sprint_figures` computes them with the report's and carry-over's own rules
(prism.domain.sprint_report, prism.domain.carry_over): closing a sprint stores the result in the same transaction,
migration 0025 stored it for sprints closed before, and velocity and carry-over read the stored rows instead of
replaying every sprint's history on each request.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from prism.domain.carry_over import CarryOver, carry_over
from prism.domain.sprint_report import Change, Figure, Histories, SprintReport, sprint_report

__all__ = ["Points", "SprintFigures", "sprint_figures"]


@dataclass(frozen=True)
class Points:
    """How many requirements and their story points."""

    count: int = 0
    points: float = 0.0

    @classmethod
    def of(cls, figure: Figure) -> "Points":
        return cls(count=figure.count, points=figure.points)


@dataclass(frozen=True)
class SprintFigures:
    """A closed sprint's report and carry-over, as counts and points (see the two modules' rules)."""

    sprint_id: UUID
    committed: Points
    added: Points
    removed: Points
    completed: Points
    canceled: Points
    carried_over: Points
    moved_to_sprint_id: UUID | None
    moved_to_sprint: Points
    moved_to_backlog: Points
    carried_in: Points

    @classmethod
    def of(cls, report: SprintReport, carried: CarryOver) -> "SprintFigures":
        """The figures of a sprint's report and its carry-over."""
        return cls(
            sprint_id=carried.sprint_id,
            committed=Points.of(report.committed),
            added=Points.of(report.added),
            removed=Points.of(report.removed),
            completed=Points.of(report.completed),
            canceled=Points.of(report.canceled),
            carried_over=Points.of(report.carried_over),
            moved_to_sprint_id=carried.moved_to_sprint_id,
            moved_to_sprint=Points.of(carried.moved_to_sprint),
            moved_to_backlog=Points.of(carried.moved_to_backlog),
            carried_in=Points.of(carried.carried_in),
        )


def sprint_figures(
    sprint_id: UUID,
    started_at: datetime,
    closed_at: datetime,
    commitments: Mapping[UUID, float | None],
    changes: Iterable[Change] | Histories,
) -> SprintFigures:
    """The figures of a closed sprint from its start snapshot and its requirements' history, oldest first."""
    histories = changes if isinstance(changes, Histories) else Histories(changes)
    report = sprint_report(sprint_id, started_at, closed_at, commitments, histories)
    return SprintFigures.of(report, carry_over(sprint_id, started_at, closed_at, report, commitments, histories))
