"""A requirement's history: one RequirementEvent per change people can see, with its values typed by kind."""

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Self
from uuid import UUID

import strawberry
from strawberry import relay

from loaders.rows import (
    LabelByIdLoader,
    ReleaseByIdLoader,
    RequirementByIdLoader,
    RequirementEventByIdLoader,
    SprintByIdLoader,
    UserByIdLoader,
)
from prism.domain import enums as domain
from prism.domain.history import number_of
from resolvers.common import Related, node_class
from resolvers.context import Context
from resolvers.enums import Priority, RequirementEventKind, RequirementKind, RequirementStatus
from resolvers.identity import User
from resolvers.labels import Label
from resolvers.node import LoadedNode
from resolvers.releases import Release
from resolvers.sprints import Sprint

if TYPE_CHECKING:
    from resolvers.requirements import Requirement

__all__ = ["RequirementEvent"]

Info = strawberry.Info[Context, None]
RequirementType = Annotated["Requirement", strawberry.lazy("resolvers.requirements")]


def _node(node_type: Any, row: Any) -> Any:
    return None if row is None else node_type.from_row(row)


_EventKind = domain.RequirementEventKind
_REFERENCE_TYPES: dict[domain.RequirementEventKind, str] = {
    _EventKind.ASSIGNEE: "User",
    _EventKind.SPRINT: "Sprint",
    _EventKind.RELEASE: "Release",
    _EventKind.PARENT: "Requirement",
    _EventKind.LABEL_ADDED: "Label",
    _EventKind.LABEL_REMOVED: "Label",
}
"""The node type each reference kind's values point at (prism.domain.history.REFERENCE_KINDS)."""
_DEPRECATED_VALUE = "Use the typed field of the event's kind: fromStatus, fromEstimate, fromSprint, fromAssignee..."


def _row_id(text: str | None) -> UUID | None:
    try:
        return None if text is None else UUID(text)
    except ValueError:
        return None


def _legacy_value(kind: domain.RequirementEventKind, text: str | None) -> str | None:
    """fromValue/toValue: a reference as its global id (never a row id), anything else as stored."""
    type_name = _REFERENCE_TYPES.get(kind)
    if text is None or type_name is None:
        return text
    return relay.to_base64(type_name, text)


def _typed(kind: domain.RequirementEventKind, wanted: frozenset[domain.RequirementEventKind], text: str | None) -> Any:
    return text if kind in wanted else None


def _side(kind: domain.RequirementEventKind, side: str) -> Any:
    """The key of a reference on one side of an event of `kind`: the row id it points at, else None."""
    attribute = "from_ref" if side == "from" else "to_ref"
    return lambda event: getattr(event, attribute) if event.event_kind is kind else None


def _label_key(event: "RequirementEvent") -> UUID | None:
    if event.event_kind is _EventKind.LABEL_ADDED:
        return event.to_ref
    if event.event_kind is _EventKind.LABEL_REMOVED:
        return event.from_ref
    return None


def _user(row: Any) -> Any:
    return _node(User, row)


def _sprint(row: Any) -> Any:
    return _node(Sprint, row)


def _release(row: Any) -> Any:
    return _node(Release, row)


def _requirement(row: Any) -> Any:
    return _node(node_class(RequirementType), row)


def _label(row: Any) -> Any:
    return _node(Label, row)


@strawberry.type(
    description=(
        "One change in a requirement's history: what changed (`kind`), who changed it and when, and the values "
        "before and after in the typed fields of that kind (fromStatus/toStatus for STATUS, fromSprint/toSprint "
        "for SPRINT, label for LABEL_ADDED...). Fields of other kinds are null; so is a side without a value (a "
        "sprint entered from the backlog has no fromSprint) and an object you can no longer see."
    )
)
class RequirementEvent(LoadedNode):
    loader = RequirementEventByIdLoader

    id: relay.NodeID[str]
    kind: RequirementEventKind = strawberry.field(description="Which attribute changed.")
    created_at: datetime = strawberry.field(description="When it happened.")
    from_value: str | None = strawberry.field(
        description=(
            "The value before, as text: an enum name, a number (`3`, `2.5`), a title, or the global id of the "
            "object it pointed at."
        ),
        deprecation_reason=_DEPRECATED_VALUE,
    )
    to_value: str | None = strawberry.field(
        description="The value after, as text (see fromValue).", deprecation_reason=_DEPRECATED_VALUE
    )
    from_status: RequirementStatus | None = strawberry.field(description="STATUS: the status before.")
    to_status: RequirementStatus | None = strawberry.field(
        description="STATUS: the status after; CREATED: the status it started in."
    )
    from_priority: Priority | None = strawberry.field(description="PRIORITY: the priority before.")
    to_priority: Priority | None = strawberry.field(description="PRIORITY: the priority after.")
    from_kind: RequirementKind | None = strawberry.field(description="KIND: the kind before.")
    to_kind: RequirementKind | None = strawberry.field(description="KIND: the kind after.")
    from_estimate: float | None = strawberry.field(description="ESTIMATE: the estimate before; null if there was none.")
    to_estimate: float | None = strawberry.field(description="ESTIMATE: the estimate after; null when cleared.")
    from_title: str | None = strawberry.field(description="TITLE: the title before.")
    to_title: str | None = strawberry.field(description="TITLE: the title after.")
    event_kind: strawberry.Private[domain.RequirementEventKind]
    actor_id: strawberry.Private[UUID | None]
    from_ref: strawberry.Private[UUID | None]
    to_ref: strawberry.Private[UUID | None]
    prefetched: strawberry.Private[dict[str, Any] | None] = None

    related: ClassVar[Mapping[str, Related]] = {
        "actor": Related(UserByIdLoader, lambda e: e.actor_id, _user),
        "fromAssignee": Related(UserByIdLoader, _side(_EventKind.ASSIGNEE, "from"), _user),
        "toAssignee": Related(UserByIdLoader, _side(_EventKind.ASSIGNEE, "to"), _user),
        "fromSprint": Related(SprintByIdLoader, _side(_EventKind.SPRINT, "from"), _sprint),
        "toSprint": Related(SprintByIdLoader, _side(_EventKind.SPRINT, "to"), _sprint),
        "fromRelease": Related(ReleaseByIdLoader, _side(_EventKind.RELEASE, "from"), _release),
        "toRelease": Related(ReleaseByIdLoader, _side(_EventKind.RELEASE, "to"), _release),
        "fromParent": Related(RequirementByIdLoader, _side(_EventKind.PARENT, "from"), _requirement),
        "toParent": Related(RequirementByIdLoader, _side(_EventKind.PARENT, "to"), _requirement),
        "label": Related(LabelByIdLoader, _label_key, _label),
    }

    @classmethod
    def from_row(cls, row: Any) -> Self:
        kind = domain.RequirementEventKind(row.kind)
        before, after = row.from_value, row.to_value
        statuses = frozenset({_EventKind.STATUS, _EventKind.CREATED})
        estimate = frozenset({_EventKind.ESTIMATE})
        from_status = _typed(kind, statuses, before)
        to_status = _typed(kind, statuses, after)
        from_priority = _typed(kind, frozenset({_EventKind.PRIORITY}), before)
        to_priority = _typed(kind, frozenset({_EventKind.PRIORITY}), after)
        from_kind = _typed(kind, frozenset({_EventKind.KIND}), before)
        to_kind = _typed(kind, frozenset({_EventKind.KIND}), after)
        references = kind in _REFERENCE_TYPES
        return cls(
            id=str(row.id),
            kind=RequirementEventKind(row.kind),
            created_at=row.created_at,
            from_value=_legacy_value(kind, before),
            to_value=_legacy_value(kind, after),
            from_status=None if from_status is None else RequirementStatus(from_status),
            to_status=None if to_status is None else RequirementStatus(to_status),
            from_priority=None if from_priority is None else Priority(from_priority),
            to_priority=None if to_priority is None else Priority(to_priority),
            from_kind=None if from_kind is None else RequirementKind(from_kind),
            to_kind=None if to_kind is None else RequirementKind(to_kind),
            from_estimate=number_of(_typed(kind, estimate, before)),
            to_estimate=number_of(_typed(kind, estimate, after)),
            from_title=_typed(kind, frozenset({_EventKind.TITLE}), before),
            to_title=_typed(kind, frozenset({_EventKind.TITLE}), after),
            event_kind=kind,
            actor_id=row.actor_id,
            from_ref=_row_id(before) if references else None,
            to_ref=_row_id(after) if references else None,
        )

    # Plain functions, like Requirement's relations: a history page answers each for all its events at once.
    @strawberry.field(description="Who made the change; null if they are no longer a member.", graphql_type=User | None)
    def actor(self, info: Info) -> Any:
        return self.related_value("actor", info)

    @strawberry.field(description="ASSIGNEE: who it was assigned to before.", graphql_type=User | None)
    def from_assignee(self, info: Info) -> Any:
        return self.related_value("fromAssignee", info)

    @strawberry.field(
        description="ASSIGNEE: who it is assigned to after; null when unassigned.", graphql_type=User | None
    )
    def to_assignee(self, info: Info) -> Any:
        return self.related_value("toAssignee", info)

    @strawberry.field(
        description="SPRINT: the sprint it left; null when it came from the backlog.", graphql_type=Sprint | None
    )
    def from_sprint(self, info: Info) -> Any:
        return self.related_value("fromSprint", info)

    @strawberry.field(
        description="SPRINT: the sprint it entered; null when it went to the backlog.", graphql_type=Sprint | None
    )
    def to_sprint(self, info: Info) -> Any:
        return self.related_value("toSprint", info)

    @strawberry.field(description="RELEASE: the release before.", graphql_type=Release | None)
    def from_release(self, info: Info) -> Any:
        return self.related_value("fromRelease", info)

    @strawberry.field(description="RELEASE: the release after; null when cleared.", graphql_type=Release | None)
    def to_release(self, info: Info) -> Any:
        return self.related_value("toRelease", info)

    @strawberry.field(
        description="PARENT: the parent before; null when it was top-level or that parent was deleted.",
        graphql_type=RequirementType | None,
    )
    def from_parent(self, info: Info) -> Any:
        return self.related_value("fromParent", info)

    @strawberry.field(
        description="PARENT: the parent after; null when it became top-level.", graphql_type=RequirementType | None
    )
    def to_parent(self, info: Info) -> Any:
        return self.related_value("toParent", info)

    @strawberry.field(
        description="LABEL_ADDED, LABEL_REMOVED: the label put on or taken off; null if it was deleted since.",
        graphql_type=Label | None,
    )
    def label(self, info: Info) -> Any:
        return self.related_value("label", info)
