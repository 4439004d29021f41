"""A product's velocity: per closed sprint, the points it committed to and completed, with their mean and spread.

Each sprint's figures are its sprint report's (prism.domain.sprint_report), so velocity and the report never
disagree: committed is what the sprint held when it started, at the estimates then; completed is what was in it and
DONE at its close, at the estimates then. Scope added mid-sprint and finished counts as completed (not committed);
work removed mid-sprint counts in neither; carried-over work counts as committed in each sprint that started with it,
and as completed only in the sprint that closed with it DONE; an item reopened after DONE counts as completed in the
sprint whose close finds it DONE, never twice.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from prism.domain.sprint_figures import SprintFigures
from prism.domain.sprint_report import SprintReport

__all__ = ["SprintVelocity", "Velocity", "velocity", "velocity_of_figures"]


@dataclass(frozen=True)
class SprintVelocity:
    """One closed sprint's committed and completed story points."""

    sprint_id: UUID
    committed: float
    completed: float


@dataclass(frozen=True)
class Velocity:
    """Closed sprints, oldest first, with the mean and population standard deviation of their completed points."""

    sprints: tuple[SprintVelocity, ...]
    mean_completed: float | None
    standard_deviation: float | None


def velocity(reports: Sequence[tuple[UUID, SprintReport]]) -> Velocity:
    """The velocity over closed sprints' reports, given oldest first (None figures for no sprints)."""
    return _velocity(
        [
            SprintVelocity(sprint_id=sprint_id, committed=report.committed.points, completed=report.completed.points)
            for sprint_id, report in reports
        ]
    )


def velocity_of_figures(figures: Sequence[SprintFigures]) -> Velocity:
    """The velocity over closed sprints' stored figures, given oldest first: the same as over their reports."""
    return _velocity(
        [
            SprintVelocity(sprint_id=f.sprint_id, committed=f.committed.points, completed=f.completed.points)
            for f in figures
        ]
    )


def _velocity(sprints: Sequence[SprintVelocity]) -> Velocity:
    if not sprints:
        return Velocity(sprints=(), mean_completed=None, standard_deviation=None)
    completed = [sprint.completed for sprint in sprints]
    mean = sum(completed) / len(completed)
    spread = math.sqrt(sum((points - mean) ** 2 for points in completed) / len(completed))
    return Velocity(sprints=tuple(sprints), mean_completed=mean, standard_deviation=spread)
