"""Carry-over between sprints: what a sprint had not finished at its close, and where the close moved it.

Built on the sprint report (prism.domain.sprint_report) and the same history, so the figures agree with it:

- carried over: what was in the sprint at its close and neither DONE nor CANCELED (the report's carriedOver), at its
  estimates at the close;
- moved to a sprint / to the backlog: the same requirements split by where the close put them (the SPRINT change
  dated at the close); closing a sprint moves all its unfinished work to one place, so one of the two is empty;
- carried in: what a sprint committed to when it started that it received from another sprint before it started (the
  work carried into it), at the estimates it had at the start; an item moved on from sprint to sprint is carried
  over by each sprint that closes without finishing it, and carried in by each sprint that starts with it.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from prism.domain.enums import RequirementEventKind
from prism.domain.history import number_of
from prism.domain.sprint_report import Change, Figure, Histories, SprintReport

__all__ = ["CarryOver", "carry_over"]

K = RequirementEventKind


@dataclass(frozen=True)
class CarryOver:
    """One closed sprint's carried-over work, where it went, and what it had carried in from earlier sprints."""

    sprint_id: UUID
    carried_over: Figure
    moved_to_sprint_id: UUID | None
    moved_to_sprint: Figure
    moved_to_backlog: Figure
    carried_in: Figure


def _estimate(changes: Iterable[Change], moment: datetime) -> float:
    found = None
    for change in changes:
        if change.kind is K.ESTIMATE and change.at <= moment:
            found = number_of(change.to_value)
    return found or 0.0


def carry_over(
    sprint_id: UUID,
    started_at: datetime,
    closed_at: datetime,
    report: SprintReport,
    commitments: Mapping[UUID, float | None],
    changes: Iterable[Change] | Histories,
) -> CarryOver:
    """The carry-over of a closed sprint from its report, its start snapshot and its requirements' history."""
    sprint = str(sprint_id)
    history: dict[UUID, list[Change]] = {}
    for change in changes.changes() if isinstance(changes, Histories) else changes:
        history.setdefault(change.requirement_id, []).append(change)
    to_sprint: dict[UUID, float] = {}
    to_backlog: dict[UUID, float] = {}
    destination: UUID | None = None
    for requirement in report.carried_over.requirement_ids:
        own = history.get(requirement, [])
        moved = [c for c in own if c.kind is K.SPRINT and c.from_value == sprint and c.at == closed_at]
        points = _estimate(own, closed_at)
        if moved and moved[-1].to_value is not None:
            destination = UUID(moved[-1].to_value)
            to_sprint[requirement] = points
        else:
            to_backlog[requirement] = points
    carried_in = {
        requirement: estimate or 0.0
        for requirement, estimate in commitments.items()
        if any(
            c.kind is K.SPRINT and c.to_value == sprint and c.from_value is not None and c.at <= started_at
            for c in history.get(requirement, [])
        )
    }
    return CarryOver(
        sprint_id=sprint_id,
        carried_over=report.carried_over,
        moved_to_sprint_id=destination,
        moved_to_sprint=_figure(to_sprint),
        moved_to_backlog=_figure(to_backlog),
        carried_in=_figure(carried_in),
    )


def _figure(points: Mapping[UUID, float]) -> Figure:
    return Figure(requirement_ids=tuple(sorted(points)), points=sum(points.values()))
