"""Pure rules of the requirement workflow and hierarchy."""

from collections.abc import Iterable

from prism.domain.enums import RequirementKind, RequirementStatus

__all__ = [
    "ALLOWED_TRANSITIONS",
    "KIND_LEVEL",
    "can_nest",
    "can_transition",
    "is_finished",
    "rolled_up_status",
]

S = RequirementStatus

ALLOWED_TRANSITIONS: dict[RequirementStatus, frozenset[RequirementStatus]] = {
    S.BACKLOG: frozenset({S.TODO, S.IN_PROGRESS, S.CANCELED}),
    S.TODO: frozenset({S.BACKLOG, S.IN_PROGRESS, S.CANCELED}),
    S.IN_PROGRESS: frozenset({S.TODO, S.IN_REVIEW, S.DONE, S.CANCELED}),
    S.IN_REVIEW: frozenset({S.IN_PROGRESS, S.DONE, S.CANCELED}),
    S.DONE: frozenset({S.IN_PROGRESS, S.TODO}),
    S.CANCELED: frozenset({S.BACKLOG, S.TODO}),
}
"""Which statuses each status may move to. Work must be started before it is done or reviewed."""

KIND_LEVEL: dict[RequirementKind, int] = {
    RequirementKind.EPIC: 0,
    RequirementKind.FEATURE: 1,
    RequirementKind.STORY: 2,
    RequirementKind.TASK: 3,
    RequirementKind.BUG: 3,
}
"""Depth of each kind in the hierarchy; a parent's level must not exceed its child's."""


def can_transition(current: RequirementStatus, target: RequirementStatus) -> bool:
    """Whether a requirement may move from `current` to `target` status."""
    return target in ALLOWED_TRANSITIONS[current]


def is_finished(status: RequirementStatus) -> bool:
    """Whether a status ends the work (counts as closed for sprints and analytics)."""
    return status in (S.DONE, S.CANCELED)


def can_nest(parent: RequirementKind, child: RequirementKind) -> bool:
    """Whether a requirement of kind `child` may sit under one of kind `parent`."""
    if parent in (RequirementKind.TASK, RequirementKind.BUG):
        return False
    return KIND_LEVEL[parent] <= KIND_LEVEL[child]


def rolled_up_status(children: Iterable[RequirementStatus]) -> RequirementStatus | None:
    """The status an epic or feature shows for its children's (None when it has none).

    Done when every child that was not canceled is done; canceled when all were; in progress once any child has
    started; to do when a child is planned; otherwise in the backlog. Each change between these is a transition the
    workflow allows, since a child passes IN_PROGRESS before it is done.
    """
    statuses = list(children)
    if not statuses:
        return None
    live = [s for s in statuses if s != S.CANCELED]
    if not live:
        return S.CANCELED
    if all(s == S.DONE for s in live):
        return S.DONE
    if any(s in (S.IN_PROGRESS, S.IN_REVIEW, S.DONE) for s in live):
        return S.IN_PROGRESS
    if any(s == S.TODO for s in live):
        return S.TODO
    return S.BACKLOG
