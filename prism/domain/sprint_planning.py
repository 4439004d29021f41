"""Choosing a sprint's work from the ranked backlog: what fits the capacity, in an order the work can be done in.

Pure and deterministic (the same backlog and capacity give the same plan); the AI only explains it. The rules:

- The backlog is taken in rank order. An EPIC is never planned as work: it is a container, its stories are.
- An item with unfinished children is done after them: it is planned only together with all of them, children
  first. An item blocked by another (a dependency link) is planned only together with its blocker, blocker first.
  Such prerequisites are pulled in with the item, and the whole group must fit the capacity left, or none of it is
  planned. A prerequisite that cannot be planned (an epic, work in another sprint, a cycle) leaves the item out.
- Points are estimates; an unestimated item counts 0 and is flagged. Items already in the sprint use capacity first.
- Risks flagged on planned items: unestimated, more than half the capacity alone, blocked by unfinished work.
"""

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Candidate",
    "LeftOut",
    "LeftOutReason",
    "PlannedItem",
    "Risk",
    "SprintPlan",
    "plan_sprint",
]


class Risk(enum.StrEnum):
    """Why a planned item deserves a second look."""

    UNESTIMATED = "UNESTIMATED"
    OVER_HALF_CAPACITY = "OVER_HALF_CAPACITY"
    BLOCKED = "BLOCKED"


class LeftOutReason(enum.StrEnum):
    """Why a backlog item is not in the plan."""

    CONTAINER = "CONTAINER"
    OVER_CAPACITY = "OVER_CAPACITY"
    WAITING = "WAITING"


@dataclass(frozen=True)
class Candidate:
    """An unfinished requirement of the product: in the backlog (`in_sprint` False) or already in the sprint planned.

    Its id is any hashable value (a UUID in PRISM). `blocked_by` names requirements it depends on that are not
    finished; `children` its unfinished children. A prerequisite that is not a candidate (in another sprint) cannot
    be planned, so neither can the item."""

    id: Any
    kind: str
    estimate: float | None
    in_sprint: bool = False
    children: tuple[Any, ...] = ()
    blocked_by: tuple[Any, ...] = ()

    @property
    def points(self) -> float:
        return self.estimate or 0.0


@dataclass(frozen=True)
class PlannedItem:
    """An item of the plan, in the order to do it, with its points and risks."""

    id: Any
    points: float
    risks: tuple[Risk, ...]
    pulled_in_by: Any | None = None
    """The item that needed it (its parent or the item it blocks), when it was planned as a prerequisite."""


@dataclass(frozen=True)
class LeftOut:
    """A backlog item not planned, and why; `waiting_for` is the prerequisite that could not be planned."""

    id: Any
    reason: LeftOutReason
    waiting_for: Any | None = None


@dataclass(frozen=True)
class SprintPlan:
    """The proposal: capacity, points already in the sprint, what to add in order, what is left out."""

    capacity: float
    already_planned: float
    items: tuple[PlannedItem, ...]
    left_out: tuple[LeftOut, ...] = field(default=())

    @property
    def planned_points(self) -> float:
        return sum(item.points for item in self.items)


class _UnplannableError(Exception):
    def __init__(self, waiting_for: Any) -> None:
        super().__init__(waiting_for)
        self.waiting_for = waiting_for


def _group(
    item: Candidate, by_id: Mapping[Any, Candidate], taken: set[Any], visiting: tuple[Any, ...] = ()
) -> list[Any]:
    """The item and the prerequisites not yet taken, prerequisites first (depth first, in rank order of listing)."""
    if item.id in visiting:
        raise _UnplannableError(item.id)  # a cycle of dependencies
    order: list[Any] = []
    for prerequisite in (*item.children, *item.blocked_by):
        if prerequisite in taken or prerequisite in order:
            continue
        found = by_id.get(prerequisite)
        if found is None or found.kind == "EPIC":
            raise _UnplannableError(prerequisite)
        for step in _group(found, by_id, taken, (*visiting, item.id)):
            if step not in order:
                order.append(step)
    order.append(item.id)
    return order


def plan_sprint(candidates: Sequence[Candidate], capacity: float) -> SprintPlan:
    """The plan for `candidates` (the sprint's items and the backlog, in rank order) within `capacity` points."""
    by_id = {candidate.id: candidate for candidate in candidates}
    taken = {candidate.id for candidate in candidates if candidate.in_sprint}
    already = sum(by_id[i].points for i in taken)
    left = capacity - already
    items: list[PlannedItem] = []
    left_out: list[LeftOut] = []
    for candidate in candidates:
        if candidate.id in taken:
            continue
        if candidate.kind == "EPIC":
            left_out.append(LeftOut(candidate.id, LeftOutReason.CONTAINER))
            continue
        try:
            group = _group(candidate, by_id, taken)
        except _UnplannableError as waiting:
            left_out.append(LeftOut(candidate.id, LeftOutReason.WAITING, waiting.waiting_for))
            continue
        points = sum(by_id[i].points for i in group)
        if points > left:
            left_out.append(LeftOut(candidate.id, LeftOutReason.OVER_CAPACITY))
            continue
        left -= points
        for member in group:
            taken.add(member)
            items.append(
                PlannedItem(
                    id=member,
                    points=by_id[member].points,
                    risks=_risks(by_id[member], capacity),
                    pulled_in_by=None if member == candidate.id else candidate.id,
                )
            )
    # An item pulled in as a prerequisite was left out earlier only if it did not fit alone: it is planned now.
    planned = {item.id for item in items}
    return SprintPlan(
        capacity=capacity,
        already_planned=already,
        items=tuple(items),
        left_out=tuple(out for out in left_out if out.id not in planned),
    )


def _risks(item: Candidate, capacity: float) -> tuple[Risk, ...]:
    risks = []
    if item.estimate is None:
        risks.append(Risk.UNESTIMATED)
    elif item.estimate > capacity / 2:
        risks.append(Risk.OVER_HALF_CAPACITY)
    if item.blocked_by:
        risks.append(Risk.BLOCKED)
    return tuple(risks)
