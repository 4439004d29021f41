"""A requirement's history: one RequirementEvent per change people can see, with its values typed by kind."""

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar
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
from prism.db.tables import RequirementEvent as RequirementEventTable
from prism.domain import enums as domain
from prism.domain.history import number_of
from resolvers.common import Related
from resolvers.context import Context
from resolvers.declarations import Read, reads
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


def _legacy_value(text: str | None, kind: str) -> str | None:
    """fromValue/toValue: a reference as its global id (never a row id), anything else as stored."""
    type_name = _REFERENCE_TYPES.get(domain.RequirementEventKind(kind))
    if text is None or type_name is None:
        return text
    return relay.to_base64(type_name, text)


def _of_kind(
    *kinds: domain.RequirementEventKind, convert: Callable[[str], Any] = str
) -> Callable[[str | None, str], Any]:
    """A typed side of an event (fromStatus, toEstimate...): the stored value, converted, for an event of one of
    `kinds`; None for other kinds and for a side without a value."""
    wanted = frozenset(kind.value for kind in kinds)

    def typed(text: str | None, kind: str) -> Any:
        return None if text is None or kind not in wanted else convert(text)

    return typed


def _reference(text: str | None, kind: str) -> UUID | None:
    """The row id a side of a reference event (assignee, sprint, label...) points at; None for other kinds."""
    return _row_id(text) if kind in _REFERENCE_KINDS else None


_REFERENCE_KINDS = frozenset(kind.value for kind in _REFERENCE_TYPES)
_STATUS = _of_kind(_EventKind.STATUS, _EventKind.CREATED, convert=RequirementStatus)
_PRIORITY = _of_kind(_EventKind.PRIORITY, convert=Priority)
_KIND = _of_kind(_EventKind.KIND, convert=RequirementKind)
_ESTIMATE = _of_kind(_EventKind.ESTIMATE, convert=number_of)
_TITLE = _of_kind(_EventKind.TITLE)
_BY_KIND = ("kind",)


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


@reads(
    RequirementEventTable,
    kind=Read("kind", RequirementEventKind),
    from_value=Read("from_value", _legacy_value, using=_BY_KIND),
    to_value=Read("to_value", _legacy_value, using=_BY_KIND),
    from_status=Read("from_value", _STATUS, using=_BY_KIND),
    to_status=Read("to_value", _STATUS, using=_BY_KIND),
    from_priority=Read("from_value", _PRIORITY, using=_BY_KIND),
    to_priority=Read("to_value", _PRIORITY, using=_BY_KIND),
    from_kind=Read("from_value", _KIND, using=_BY_KIND),
    to_kind=Read("to_value", _KIND, using=_BY_KIND),
    from_estimate=Read("from_value", _ESTIMATE, using=_BY_KIND),
    to_estimate=Read("to_value", _ESTIMATE, using=_BY_KIND),
    from_title=Read("from_value", _TITLE, using=_BY_KIND),
    to_title=Read("to_value", _TITLE, using=_BY_KIND),
    event_kind=Read("kind", domain.RequirementEventKind),
    from_ref=Read("from_value", _reference, using=_BY_KIND),
    to_ref=Read("to_value", _reference, using=_BY_KIND),
)
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
        "actor": Related.joins(UserByIdLoader, "actor_id", User),
        "fromAssignee": Related.to(UserByIdLoader, _side(_EventKind.ASSIGNEE, "from"), User),
        "toAssignee": Related.to(UserByIdLoader, _side(_EventKind.ASSIGNEE, "to"), User),
        "fromSprint": Related.to(SprintByIdLoader, _side(_EventKind.SPRINT, "from"), Sprint),
        "toSprint": Related.to(SprintByIdLoader, _side(_EventKind.SPRINT, "to"), Sprint),
        "fromRelease": Related.to(ReleaseByIdLoader, _side(_EventKind.RELEASE, "from"), Release),
        "toRelease": Related.to(ReleaseByIdLoader, _side(_EventKind.RELEASE, "to"), Release),
        "fromParent": Related.to(RequirementByIdLoader, _side(_EventKind.PARENT, "from"), RequirementType),
        "toParent": Related.to(RequirementByIdLoader, _side(_EventKind.PARENT, "to"), RequirementType),
        "label": Related.to(LabelByIdLoader, _label_key, Label),
    }

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
