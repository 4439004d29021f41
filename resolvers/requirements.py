"""Requirements: the type, its history, queries and mutations."""

import enum
from collections.abc import Awaitable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Optional, Self
from uuid import UUID

import strawberry
from strawberry import relay

from loaders.pagination import Order
from loaders.sources import (
    DELETED_REQUIREMENTS_BY_ORGANIZATION,
    DELETED_REQUIREMENTS_BY_PRODUCT,
    EVENTS_BY_REQUIREMENT,
    REQUIREMENTS_BY_ORGANIZATION,
    REQUIREMENTS_BY_PARENT,
    DeletedSinceFilter,
    NoFilter,
    RequirementListFilter,
)
from prism.db.base import utcnow
from prism.domain import enums as domain
from prism.domain.history import number_of
from prism.errors import Code, NotFoundError, PrismError, ValidationError
from prism.services.requirements import MAX_LABELS, TOMBSTONE_RETENTION, RequirementChanges, RequirementDraft
from prism.services.validation import UNSET as SERVICE_UNSET
from prism.services.validation import clean_text
from resolvers.common import (
    After,
    Before,
    Connection,
    First,
    Last,
    Related,
    SortDirection,
    TimeRange,
    UserError,
    decode_id,
    load_connection,
    time_filter,
    user_errors,
    user_errors_field,
    zoned_time,
)
from resolvers.context import Context
from resolvers.enums import Priority, RequirementEventKind, RequirementKind, RequirementStatus
from resolvers.identity import User
from resolvers.labels import Label
from resolvers.list_bounds import max_items
from resolvers.node import LoadedNode, load_node
from resolvers.permissions import CanRead, CanWrite
from resolvers.planning import Release, Sprint

if TYPE_CHECKING:
    from resolvers.comments import Comment, CommentFilter
    from resolvers.products import Product

__all__ = [
    "DeletedRequirement",
    "Requirement",
    "RequirementFilter",
    "RequirementMutation",
    "RequirementOrder",
    "RequirementQuery",
]

Info = strawberry.Info[Context, None]
ProductType = Annotated["Product", strawberry.lazy("resolvers.products")]

MAX_FILTER_VALUES = 100


def _node(node_type: Any, row: Any) -> Any:
    return None if row is None else node_type.from_row(row)


def _product(row: Any) -> Any:
    from resolvers.products import Product

    return Product.from_row(row)


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
    return _node(Requirement, row)


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
    loader = "requirement_event_by_id"

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
        "actor": Related("user_by_id", lambda e: e.actor_id, _user),
        "fromAssignee": Related("user_by_id", _side(_EventKind.ASSIGNEE, "from"), _user),
        "toAssignee": Related("user_by_id", _side(_EventKind.ASSIGNEE, "to"), _user),
        "fromSprint": Related("sprint_by_id", _side(_EventKind.SPRINT, "from"), _sprint),
        "toSprint": Related("sprint_by_id", _side(_EventKind.SPRINT, "to"), _sprint),
        "fromRelease": Related("release_by_id", _side(_EventKind.RELEASE, "from"), _release),
        "toRelease": Related("release_by_id", _side(_EventKind.RELEASE, "to"), _release),
        "fromParent": Related("requirement_by_id", _side(_EventKind.PARENT, "from"), _requirement),
        "toParent": Related("requirement_by_id", _side(_EventKind.PARENT, "to"), _requirement),
        "label": Related("label_by_id", _label_key, _label),
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
        graphql_type=Optional["Requirement"],
    )
    def from_parent(self, info: Info) -> Any:
        return self.related_value("fromParent", info)

    @strawberry.field(
        description="PARENT: the parent after; null when it became top-level.", graphql_type=Optional["Requirement"]
    )
    def to_parent(self, info: Info) -> Any:
        return self.related_value("toParent", info)

    @strawberry.field(
        description="LABEL_ADDED, LABEL_REMOVED: the label put on or taken off; null if it was deleted since.",
        graphql_type=Label | None,
    )
    def label(self, info: Info) -> Any:
        return self.related_value("label", info)


@strawberry.type(description="An epic, feature, story, task or bug of a product, known by its key like PRISM-12.")
class Requirement(LoadedNode):
    loader = "requirement_by_id"

    id: relay.NodeID[str]
    number: int = strawberry.field(description="Sequence number within the product (the 12 of PRISM-12).")
    kind: RequirementKind = strawberry.field(description="Epic, feature, story, task or bug.")
    title: str = strawberry.field(description="One-line summary, at most 255 characters.")
    description: str = strawberry.field(description="Details, in markdown.")
    acceptance_criteria: str = strawberry.field(description="What must hold for it to be done, in markdown.")
    status: RequirementStatus = strawberry.field(description="Where it is in the workflow.")
    priority: Priority = strawberry.field(description="How urgent it is.")
    estimate: float | None = strawberry.field(description="Size in story points (0-1000).")
    rank: str = strawberry.field(description="Manual ordering key; lists sort by it ascending by default.")
    started_at: datetime | None = strawberry.field(description="When it first went IN_PROGRESS.")
    completed_at: datetime | None = strawberry.field(description="When it reached DONE or CANCELED.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    version: int = strawberry.field(description="Increases with every edit; send it back to update.")
    product_id: strawberry.Private[UUID]
    parent_id: strawberry.Private[UUID | None]
    assignee_id: strawberry.Private[UUID | None]
    reporter_id: strawberry.Private[UUID | None]
    sprint_id: strawberry.Private[UUID | None]
    release_id: strawberry.Private[UUID | None]
    product_key: strawberry.Private[str | None] = None
    prefetched: strawberry.Private[dict[str, Any] | None] = None

    related: ClassVar[Mapping[str, Related]] = {
        "product": Related("product_by_id", lambda r: r.product_id, _product),
        "parent": Related("requirement_by_id", lambda r: r.parent_id, lambda row: _node(Requirement, row)),
        "assignee": Related("user_by_id", lambda r: r.assignee_id, lambda row: _node(User, row)),
        "reporter": Related("user_by_id", lambda r: r.reporter_id, lambda row: _node(User, row)),
        "sprint": Related("sprint_by_id", lambda r: r.sprint_id, lambda row: _node(Sprint, row)),
        "release": Related("release_by_id", lambda r: r.release_id, lambda row: _node(Release, row)),
        "labels": Related("labels_by_requirement", lambda r: r.uuid, lambda rows: [Label.from_row(x) for x in rows]),
        "childCount": Related("child_count_by_requirement", lambda r: r.uuid, lambda count: count),
    }

    @classmethod
    def from_row(cls, row: Any, product_key: str | None = None) -> Self:
        """The node for a requirement row; pass `product_key` when it is known (rows of the by-id and by-key
        loaders carry it), so `key` needs no loader."""
        return cls(
            id=str(row.id),
            number=row.number,
            kind=RequirementKind(row.kind),
            title=row.title,
            description=row.description,
            acceptance_criteria=row.acceptance_criteria,
            status=RequirementStatus(row.status),
            priority=Priority(row.priority),
            estimate=row.estimate,
            rank=row.rank,
            started_at=row.started_at,
            completed_at=row.completed_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
            product_id=row.product_id,
            parent_id=row.parent_id,
            assignee_id=row.assignee_id,
            reporter_id=row.reporter_id,
            sprint_id=row.sprint_id,
            release_id=row.release_id,
            product_key=product_key or getattr(row, "_product_key", None),
        )

    # Not async: in a product's requirements the key is known, and an async resolver on a field of a long list costs
    # a task per row (docs/performance.md). Without the product key it returns an awaitable that loads it.
    @strawberry.field(description="Human key: the product key and number, like PRISM-12.", graphql_type=str)
    def key(self, info: Info) -> str | Awaitable[str]:
        if self.product_key is not None:
            return f"{self.product_key}-{self.number}"
        return self._load_key(info)

    async def _load_key(self, info: Info) -> str:
        product = await info.context.loaders.product_by_id.load(self.product_id)
        assert product is not None, "a requirement's product is in the same organization"
        return f"{product.key}-{self.number}"

    # The relations below are plain functions: a connection answers them for its whole page at once (Related), and
    # only a requirement fetched alone loads them through an awaitable.
    @strawberry.field(description="The product it belongs to.", graphql_type=ProductType)
    def product(self, info: Info) -> Any:
        return self.related_value("product", info)

    @strawberry.field(
        description="The requirement above it in the hierarchy, if any.", graphql_type=Optional["Requirement"]
    )
    def parent(self, info: Info) -> Any:
        return self.related_value("parent", info)

    @strawberry.field(description="The requirements directly under it, in rank order.")
    async def children(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection["Requirement"]:
        return await load_connection(
            info,
            source=REQUIREMENTS_BY_PARENT,
            parent=self.uuid,
            filter=RequirementListFilter(),
            order=Order("RANK"),
            first=first,
            after=after,
            last=last,
            before=before,
            build=Requirement.from_row,
        )

    @strawberry.field(description="How many requirements sit directly under it.", graphql_type=int)
    def child_count(self, info: Info) -> Any:
        return self.related_value("childCount", info)

    @strawberry.field(description="Who is working on it.", graphql_type=User | None)
    def assignee(self, info: Info) -> Any:
        return self.related_value("assignee", info)

    @strawberry.field(description="Who created it.", graphql_type=User | None)
    def reporter(self, info: Info) -> Any:
        return self.related_value("reporter", info)

    @strawberry.field(description="The sprint it is planned into.", graphql_type=Sprint | None)
    def sprint(self, info: Info) -> Any:
        return self.related_value("sprint", info)

    @strawberry.field(description="The release it ships in.", graphql_type=Release | None)
    def release(self, info: Info) -> Any:
        return self.related_value("release", info)

    @strawberry.field(description="Its labels, by name.", graphql_type=list[Label], metadata=max_items(MAX_LABELS))
    def labels(self, info: Info) -> Any:
        return self.related_value("labels", info)

    @strawberry.field(
        description=(
            "Every change people can see, oldest first: status, title, description, acceptance criteria, priority, "
            "kind, labels, parent, sprint, release, assignee and estimate (not the rank)."
        )
    )
    async def history(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[RequirementEvent]:
        return await load_connection(
            info,
            source=EVENTS_BY_REQUIREMENT,
            parent=self.uuid,
            filter=NoFilter(),
            order=Order("CREATED_AT"),
            first=first,
            after=after,
            last=last,
            before=before,
            build=RequirementEvent.from_row,
        )

    @strawberry.field(description="Comments on it, oldest first.")
    async def comments(
        self,
        info: Info,
        filter: Annotated[
            Annotated["CommentFilter", strawberry.lazy("resolvers.comments")] | None,
            strawberry.argument(description="Which ones."),
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Annotated["Comment", strawberry.lazy("resolvers.comments")]]:
        from resolvers.comments import requirement_comments

        return await requirement_comments(info, self.uuid, filter, first=first, after=after, last=last, before=before)


@strawberry.input(
    description="Which requirements to list. Each list matches any of its values; fields combine with AND."
)
class RequirementFilter:
    product_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="In these products.")
    statuses: list[RequirementStatus] | None = strawberry.field(default=None, description="In these statuses.")
    kinds: list[RequirementKind] | None = strawberry.field(default=None, description="Of these kinds.")
    priorities: list[Priority] | None = strawberry.field(default=None, description="With these priorities.")
    assignee_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Assigned to these users.")
    unassigned: bool | None = strawberry.field(default=None, description="True: also (or only) unassigned ones.")
    sprint_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="In these sprints.")
    no_sprint: bool | None = strawberry.field(default=None, description="True: also (or only) those in no sprint.")
    release_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="In these releases.")
    label_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="With any of these labels.")
    parent_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Directly under these.")
    top_level: bool | None = strawberry.field(default=None, description="True: no parent; false: has a parent.")
    search: str | None = strawberry.field(
        default=None, description="Text in the title or description, case-insensitive (max 200 characters)."
    )
    created_at: TimeRange | None = strawberry.field(default=None, description="Created within this range.")
    updated_at: TimeRange | None = strawberry.field(
        default=None,
        description=(
            "Changed within this range. For incremental sync, pass `{after: <the newest updatedAt you hold>}` and "
            "sort by UPDATED_AT ascending."
        ),
    )


@strawberry.enum(description="Fields requirements can be sorted by.")
class RequirementOrderField(enum.Enum):
    RANK = strawberry.enum_value("RANK", description="Manual ranking (the backlog order).")
    CREATED_AT = strawberry.enum_value("CREATED_AT", description="Creation time.")
    UPDATED_AT = strawberry.enum_value("UPDATED_AT", description="Last change.")
    NUMBER = strawberry.enum_value("NUMBER", description="Number within the product.")
    TITLE = strawberry.enum_value("TITLE", description="Title, alphabetically.")
    PRIORITY = strawberry.enum_value("PRIORITY", description="Most urgent first when descending.")
    ESTIMATE = strawberry.enum_value("ESTIMATE", description="Estimate; unestimated ones first when ascending.")


@strawberry.input(description="How to sort requirements.")
class RequirementOrder:
    field: RequirementOrderField = strawberry.field(description="The field to sort by.")
    direction: SortDirection = strawberry.field(default=SortDirection.ASC, description="Ascending or descending.")


def _ids(values: list[strawberry.ID] | None, type_name: str, field: str) -> tuple[UUID, ...]:
    if not values:
        return ()
    if len(values) > MAX_FILTER_VALUES:
        raise ValidationError(f"{field} takes at most {MAX_FILTER_VALUES} values.", field=field)
    return tuple(decode_id(v, type_name, field) for v in values)


def _names(values: list[Any] | None) -> tuple[str, ...]:
    return tuple(sorted({v.name for v in values})) if values else ()


def requirement_list_args(
    filter: RequirementFilter | None, order_by: RequirementOrder | None
) -> tuple[RequirementListFilter, Order]:
    """Translate GraphQL filter and order inputs to the loader's hashable filter and order."""
    f = filter or RequirementFilter()
    search = clean_text(f.search, "search", max_length=200, required=False) if f.search else None
    list_filter = RequirementListFilter(
        product_ids=_ids(f.product_ids, "Product", "productIds"),
        statuses=_names(f.statuses),
        kinds=_names(f.kinds),
        priorities=_names(f.priorities),
        assignee_ids=_ids(f.assignee_ids, "User", "assigneeIds"),
        unassigned=f.unassigned,
        sprint_ids=_ids(f.sprint_ids, "Sprint", "sprintIds"),
        no_sprint=f.no_sprint,
        release_ids=_ids(f.release_ids, "Release", "releaseIds"),
        label_ids=_ids(f.label_ids, "Label", "labelIds"),
        parent_ids=_ids(f.parent_ids, "Requirement", "parentIds"),
        top_level=f.top_level,
        search=search or None,
        times=time_filter(f.created_at, f.updated_at),
    )
    order = Order(
        field=order_by.field.name if order_by else "RANK",
        descending=bool(order_by and order_by.direction == SortDirection.DESC),
    )
    return list_filter, order


def parse_key(key: str) -> tuple[str, int]:
    """Split a human key like PRISM-12 into product key and number."""
    product_key, _, number = key.strip().upper().rpartition("-")
    # ASCII digits only: str.isdigit() also admits "²" and "١٢", which int() refuses or reads as another number.
    if not product_key or not (number.isascii() and number.isdigit()) or len(number) > 9:
        raise ValidationError("key must look like PRISM-12.", field="key")
    return product_key, int(number)


@strawberry.type(
    description=(
        "A deleted requirement, for sync clients to remove what they mirrored. Tombstones are kept "
        f"{TOMBSTONE_RETENTION.days} days."
    )
)
class DeletedRequirement:
    id: strawberry.ID = strawberry.field(description="The global id the requirement had.")
    key: str = strawberry.field(description="The key it had, like PRISM-12.")
    deleted_at: datetime = strawberry.field(description="When it was deleted.")
    product_id: strawberry.Private[UUID]
    deleted_by_id: strawberry.Private[UUID | None]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=strawberry.ID(str(relay.GlobalID("Requirement", str(row.id)))),
            key=row.key,
            deleted_at=row.deleted_at,
            product_id=row.product_id,
            deleted_by_id=row.deleted_by_id,
        )

    @strawberry.field(description="The product it belonged to.")
    async def product(self, info: Info) -> ProductType:
        from resolvers.products import Product

        return Product.from_row(await info.context.loaders.product_by_id.load(self.product_id))

    @strawberry.field(description="Who deleted it; null once they left the organization.")
    async def deleted_by(self, info: Info) -> User | None:
        return await load_node(info, User, self.deleted_by_id)


def _deleted_since(since: datetime | None) -> DeletedSinceFilter:
    since = zoned_time(since, "since")
    if since is None:
        return DeletedSinceFilter()
    if since < utcnow() - TOMBSTONE_RETENTION:
        raise ValidationError(
            f"Tombstones are kept {TOMBSTONE_RETENTION.days} days and some since then may be gone: resync in full.",
            field="since",
            code=Code.OUT_OF_RANGE,
        )
    return DeletedSinceFilter(since=since)


@strawberry.type
class RequirementQuery:
    @strawberry.field(
        description="One requirement by key (PRISM-12) or id; NOT_FOUND when none of yours matches.",
        permission_classes=[CanRead],
    )
    async def requirement(
        self,
        info: Info,
        key: Annotated[str | None, strawberry.argument(description="Human key, like PRISM-12.")] = None,
        id: Annotated[strawberry.ID | None, strawberry.argument(description="Global id.")] = None,
    ) -> Requirement | None:
        if (key is None) == (id is None):
            raise ValidationError("Pass exactly one of key and id.", field="key")
        loaders = info.context.loaders
        if key is not None:
            row = await loaders.requirement_by_key.load(parse_key(key))
        else:
            assert id is not None
            row = await loaders.requirement_by_id.load(decode_id(id, "Requirement"))
        if row is None:
            raise NotFoundError("No requirement with this key or id.", field="key" if key is not None else "id")
        return Requirement.from_row(row)

    @strawberry.field(
        description="Requirements across the organization's products, filtered and sorted.",
        permission_classes=[CanRead],
    )
    async def requirements(
        self,
        info: Info,
        filter: Annotated[RequirementFilter | None, strawberry.argument(description="Which ones.")] = None,
        order_by: Annotated[RequirementOrder | None, strawberry.argument(description="Sort order.")] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Requirement]:
        list_filter, order = requirement_list_args(filter, order_by)
        return await load_connection(
            info,
            source=REQUIREMENTS_BY_ORGANIZATION,
            parent=info.context.member.organization_id,
            filter=list_filter,
            order=order,
            first=first,
            after=after,
            last=last,
            before=before,
            build=Requirement.from_row,
        )

    @strawberry.field(
        description=(
            "Requirements deleted strictly after `since`, oldest deletion first: what a sync client must remove. "
            f"Tombstones are kept {TOMBSTONE_RETENTION.days} days; an older `since` fails with OUT_OF_RANGE."
        ),
        permission_classes=[CanRead],
    )
    async def deleted_requirements(
        self,
        info: Info,
        product_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this product's; every product's when null.")
        ] = None,
        since: Annotated[
            datetime | None, strawberry.argument(description="Deleted strictly after this time (with a zone).")
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[DeletedRequirement]:
        source, parent = DELETED_REQUIREMENTS_BY_ORGANIZATION, info.context.member.organization_id
        if product_id is not None:
            parent = decode_id(product_id, "Product", "productId")
            if await info.context.loaders.product_by_id.load(parent) is None:
                raise NotFoundError("No product with this id.", field="productId")
            source = DELETED_REQUIREMENTS_BY_PRODUCT
        return await load_connection(
            info,
            source=source,
            parent=parent,
            filter=_deleted_since(since),
            order=Order("DELETED_AT"),
            first=first,
            after=after,
            last=last,
            before=before,
            build=DeletedRequirement.from_row,
        )


@strawberry.input(description="A new requirement.")
class CreateRequirementInput:
    product_id: strawberry.ID = strawberry.field(description="The product it belongs to.")
    kind: RequirementKind = strawberry.field(description="Epic, feature, story, task or bug.")
    title: str = strawberry.field(description="One-line summary, 1-255 characters.")
    description: str = strawberry.field(default="", description="Markdown, at most 50,000 characters.")
    acceptance_criteria: str = strawberry.field(default="", description="Markdown, at most 20,000 characters.")
    parent_id: strawberry.ID | None = strawberry.field(default=None, description="The requirement to nest under.")
    priority: Priority = strawberry.field(default=Priority.NONE, description="How urgent it is.")
    estimate: float | None = strawberry.field(default=None, description="Story points, 0-1000.")
    assignee_id: strawberry.ID | None = strawberry.field(default=None, description="A member to assign.")
    sprint_id: strawberry.ID | None = strawberry.field(default=None, description="A sprint of the same product.")
    release_id: strawberry.ID | None = strawberry.field(default=None, description="A release of the same product.")
    label_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Up to 20 labels.")


@strawberry.input(description="Changes to a requirement. Omitted fields stay as they are; null clears optional ones.")
class UpdateRequirementInput:
    id: strawberry.ID = strawberry.field(description="The requirement to change.")
    version: int = strawberry.field(description="The version you last saw; a newer one fails with CONFLICT.")
    title: str | None = strawberry.field(default=strawberry.UNSET, description="New title, 1-255 characters.")
    description: str | None = strawberry.field(default=strawberry.UNSET, description="New description.")
    acceptance_criteria: str | None = strawberry.field(default=strawberry.UNSET, description="New criteria.")
    priority: Priority | None = strawberry.field(default=strawberry.UNSET, description="New priority.")
    kind: RequirementKind | None = strawberry.field(
        default=strawberry.UNSET,
        description="New kind; it must still fit under the parent and over the children (else INVALID_PARENT).",
    )
    estimate: float | None = strawberry.field(default=strawberry.UNSET, description="Points 0-1000; null clears.")
    assignee_id: strawberry.ID | None = strawberry.field(default=strawberry.UNSET, description="Null unassigns.")
    sprint_id: strawberry.ID | None = strawberry.field(default=strawberry.UNSET, description="Null: out of sprint.")
    release_id: strawberry.ID | None = strawberry.field(default=strawberry.UNSET, description="Null: no release.")
    label_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces all labels (up to 20); null or [] removes them."
    )


@strawberry.input(description="A requirement to delete; its children move up to its parent.")
class DeleteRequirementInput:
    id: strawberry.ID = strawberry.field(description="The requirement to delete.")
    version: int = strawberry.field(description="The version you last saw; a newer one fails with CONFLICT.")


@strawberry.input(description="A new place in the hierarchy.")
class MoveRequirementInput:
    id: strawberry.ID = strawberry.field(description="The requirement to move.")
    version: int = strawberry.field(description="The version you last saw; a newer one fails with CONFLICT.")
    parent_id: strawberry.ID | None = strawberry.field(description="The new parent; null makes it top-level.")


@strawberry.input(description="A new position in the product's ranking: give exactly one of afterId and beforeId.")
class RerankRequirementInput:
    id: strawberry.ID = strawberry.field(description="The requirement to move.")
    after_id: strawberry.ID | None = strawberry.field(default=None, description="Place it right after this one.")
    before_id: strawberry.ID | None = strawberry.field(default=None, description="Place it right before this one.")


@strawberry.input(description="A workflow step.")
class TransitionRequirementInput:
    id: strawberry.ID = strawberry.field(description="The requirement to move.")
    version: int = strawberry.field(description="The version you last saw; a newer one fails with CONFLICT.")
    status: RequirementStatus = strawberry.field(description="The status to move to; the workflow must allow it.")


@strawberry.type(description="The result of a requirement mutation.")
class RequirementPayload:
    requirement: Requirement | None = strawberry.field(description="The requirement after the change; null on failure.")
    user_errors: list[UserError] = user_errors_field()


@strawberry.type(description="The result of deleting a requirement.")
class DeleteRequirementPayload:
    deleted_id: strawberry.ID | None = strawberry.field(description="The global id of the deleted requirement.")
    user_errors: list[UserError] = user_errors_field()


def _optional_id(value: Any, type_name: str, field: str) -> Any:
    if value is strawberry.UNSET:
        return SERVICE_UNSET
    return None if value is None else decode_id(value, type_name, field)


def _unset(value: Any) -> Any:
    return SERVICE_UNSET if value is strawberry.UNSET else value


async def _run(info: Info, call: Any) -> RequirementPayload:
    try:
        row = await call
    except PrismError as error:
        return RequirementPayload(requirement=None, user_errors=user_errors(error))
    return RequirementPayload(requirement=Requirement.from_row(row), user_errors=[])


@strawberry.type
class RequirementMutation:
    @strawberry.mutation(
        description="Create a requirement at the bottom of its product's ranking.", permission_classes=[CanWrite]
    )
    async def create_requirement(self, info: Info, input: CreateRequirementInput) -> RequirementPayload:
        async def create() -> Any:
            draft = RequirementDraft(
                product_id=decode_id(input.product_id, "Product", "productId"),
                kind=domain.RequirementKind(input.kind.name),
                title=input.title,
                description=input.description,
                acceptance_criteria=input.acceptance_criteria,
                parent_id=_optional_id(input.parent_id, "Requirement", "parentId"),
                priority=domain.Priority(input.priority.name),
                estimate=input.estimate,
                assignee_id=_optional_id(input.assignee_id, "User", "assigneeId"),
                sprint_id=_optional_id(input.sprint_id, "Sprint", "sprintId"),
                release_id=_optional_id(input.release_id, "Release", "releaseId"),
                label_ids=_ids(input.label_ids, "Label", "labelIds"),
            )
            return await info.context.services.requirements.create(draft)

        return await _run(info, create())

    @strawberry.mutation(description="Edit a requirement's fields.", permission_classes=[CanWrite])
    async def update_requirement(self, info: Info, input: UpdateRequirementInput) -> RequirementPayload:
        async def update() -> Any:
            priority = _unset(input.priority)
            kind = _unset(input.kind)
            changes = RequirementChanges(
                title=_unset(input.title),
                description=_unset(input.description),
                acceptance_criteria=_unset(input.acceptance_criteria),
                priority=priority.name if isinstance(priority, Priority) else priority,
                kind=kind.name if isinstance(kind, RequirementKind) else kind,
                estimate=_unset(input.estimate),
                assignee_id=_optional_id(input.assignee_id, "User", "assigneeId"),
                sprint_id=_optional_id(input.sprint_id, "Sprint", "sprintId"),
                release_id=_optional_id(input.release_id, "Release", "releaseId"),
                label_ids=(
                    SERVICE_UNSET if input.label_ids is strawberry.UNSET else _ids(input.label_ids, "Label", "labelIds")
                ),
            )
            return await info.context.services.requirements.update(
                decode_id(input.id, "Requirement"), input.version, changes
            )

        return await _run(info, update())

    @strawberry.mutation(
        description="Delete a requirement; its children move up to its parent.", permission_classes=[CanWrite]
    )
    async def delete_requirement(self, info: Info, input: DeleteRequirementInput) -> DeleteRequirementPayload:
        try:
            await info.context.services.requirements.delete(decode_id(input.id, "Requirement"), input.version)
        except PrismError as error:
            return DeleteRequirementPayload(deleted_id=None, user_errors=user_errors(error))
        return DeleteRequirementPayload(deleted_id=input.id, user_errors=[])

    @strawberry.mutation(
        description="Move a requirement under another parent; cycles are refused.", permission_classes=[CanWrite]
    )
    async def move_requirement(self, info: Info, input: MoveRequirementInput) -> RequirementPayload:
        async def move() -> Any:
            parent = None if input.parent_id is None else decode_id(input.parent_id, "Requirement", "parentId")
            return await info.context.services.requirements.move(
                decode_id(input.id, "Requirement"), input.version, parent
            )

        return await _run(info, move())

    @strawberry.mutation(
        description="Change a requirement's position in its product's ranking.", permission_classes=[CanWrite]
    )
    async def rerank_requirement(self, info: Info, input: RerankRequirementInput) -> RequirementPayload:
        async def rerank() -> Any:
            return await info.context.services.requirements.rerank(
                decode_id(input.id, "Requirement"),
                after_id=None if input.after_id is None else decode_id(input.after_id, "Requirement", "afterId"),
                before_id=None if input.before_id is None else decode_id(input.before_id, "Requirement", "beforeId"),
            )

        return await _run(info, rerank())

    @strawberry.mutation(
        description="Move a requirement to another status; invalid transitions are refused.",
        permission_classes=[CanWrite],
    )
    async def transition_requirement(self, info: Info, input: TransitionRequirementInput) -> RequirementPayload:
        async def transition() -> Any:
            return await info.context.services.requirements.transition(
                decode_id(input.id, "Requirement"), input.version, domain.RequirementStatus(input.status.name)
            )

        return await _run(info, transition())
