"""Subscriptions: a product's changes as they are committed, over WebSocket (prism/web/graphql_ws.py).

Every subscription reads the organization's event log through this process's event hub (prism/events/hub.py): in
commit order, each event once, resumable with `since` (the `cursor` of the last event received). Access is checked
when the subscription starts and again before every event: the connection's credential is authenticated anew (an
expired token, a revoked session or key, a member removed or demoted take effect at the next event: the socket is
closed with 4403 and the reason), and each event is resolved in a fresh unit of work and loaders scoped to the
viewer, so what it shows is what a query would show at that moment. Over WebSocket, once its place in the log is
open, a subscription is handed to the process's deliverer (resolvers/delivery.py) and holds no task or generator.
"""

import enum
import functools
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import suppress
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import strawberry
from strawberry import relay

from prism.domain.events import Action, DomainEvent
from prism.errors import Code, PrismError, ValidationError
from prism.events.hub import (
    CursorExpiredError,
    EventSubscription,
    SubscriptionClosedError,
    TooManySubscriptionsError,
)
from prism.web.graphql_ws import SinkClosedError, current_sink
from resolvers.ai_prd import AiPrdSubscription
from resolvers.comments import Comment
from resolvers.context import Context
from resolvers.delivery import Deliverer
from resolvers.documents import Document
from resolvers.execution import subscription_executor
from resolvers.fanout import END, SKIP, render_event
from resolvers.identity import User
from resolvers.live import still_allowed
from resolvers.node import NODE_TYPES, LoadedNode, find_node, load_node
from resolvers.permissions import CanRead
from resolvers.presence import PresenceSubscription
from resolvers.products import Product
from resolvers.requirements import Requirement
from resolvers.sprints import Sprint

__all__ = ["Subscription"]

Info = strawberry.Info[Context, None]


@strawberry.enum(description="What happened to an object.")
class ChangeAction(enum.Enum):
    CREATED = strawberry.enum_value("create", description="It was created.")
    UPDATED = strawberry.enum_value("update", description="Some of its fields or relations changed.")
    REMOVED = strawberry.enum_value("remove", description="It was deleted (its children and links with it).")


def _action(event: DomainEvent) -> ChangeAction:
    return ChangeAction(event.action.value)


def _envelope(event: DomainEvent) -> dict[str, Any]:
    """The fields every change type carries: its cursor, action, changed fields, time, and the event itself."""
    return {
        "cursor": str(event.sequence),
        "action": _action(event),
        "changed_fields": _changed(event),
        "occurred_at": event.occurred_at,
        "event": event,
    }


def _changed(event: DomainEvent) -> list[str]:
    changed = list(event.payload.get("changed", []))
    return changed + [name for name in event.payload.get("relations", {}) if name not in changed]


@strawberry.type(description="One committed change to an object of a product, as an activity feed shows it.")
class ActivityEvent:
    cursor: str = strawberry.field(description="Pass as `since` to resume after this event.")
    action: ChangeAction = strawberry.field(description="Created, updated or removed.")
    object_type: str = strawberry.field(description="The object's GraphQL type: Requirement, Sprint, Comment, ...")
    object_id: relay.GlobalID = strawberry.field(description="The object's global id (also once removed).")
    changed_fields: list[str] = strawberry.field(
        description="For an update, the fields and relations that changed (`title`, `status`, `labelIds`, ...)."
    )
    occurred_at: datetime = strawberry.field(description="When the change was committed.")
    event: strawberry.Private[DomainEvent]

    @strawberry.field(description="The object as it is now; null once removed, or when you may not see it.")
    async def node(self, info: Info) -> relay.Node | None:
        if self.event.action is Action.REMOVE:
            return None
        node_type = NODE_TYPES.get(self.event.type)
        if node_type is None or not info.context.member.can(node_type.read_permission):
            return None
        return await load_node(info, node_type, self.event.entity_id)

    @strawberry.field(description="Who made the change; null for the system or a departed member.")
    async def actor(self, info: Info) -> User | None:
        return await load_node(info, User, self.event.actor_user_id)

    @classmethod
    def of(cls, event: DomainEvent) -> "ActivityEvent":
        return cls(
            object_type=event.type, object_id=relay.GlobalID(event.type, str(event.entity_id)), **_envelope(event)
        )


@strawberry.type(description="One committed change to a requirement.")
class RequirementChange:
    cursor: str = strawberry.field(description="Pass as `since` to resume after this change.")
    action: ChangeAction = strawberry.field(description="Created, updated or removed.")
    requirement_id: relay.GlobalID = strawberry.field(description="The requirement's global id (also once removed).")
    changed_fields: list[str] = strawberry.field(
        description="For an update, the fields and relations that changed (`title`, `status`, `labelIds`, ...)."
    )
    occurred_at: datetime = strawberry.field(description="When the change was committed.")
    event: strawberry.Private[DomainEvent]

    @strawberry.field(description="The requirement as it is now; null once removed.")
    async def requirement(self, info: Info) -> Requirement | None:
        if self.event.action is Action.REMOVE:
            return None
        return await load_node(info, Requirement, self.event.entity_id)

    @strawberry.field(description="Who made the change; null for the system or a departed member.")
    async def actor(self, info: Info) -> User | None:
        return await load_node(info, User, self.event.actor_user_id)

    @classmethod
    def of(cls, event: DomainEvent) -> "RequirementChange":
        return cls(requirement_id=relay.GlobalID("Requirement", str(event.entity_id)), **_envelope(event))


@strawberry.type(description="One committed change to a sprint.")
class SprintChange:
    cursor: str = strawberry.field(description="Pass as `since` to resume after this change.")
    action: ChangeAction = strawberry.field(description="Created, updated or removed.")
    sprint_id: relay.GlobalID = strawberry.field(description="The sprint's global id (also once removed).")
    changed_fields: list[str] = strawberry.field(description="For an update, the fields that changed (`state`, ...).")
    occurred_at: datetime = strawberry.field(description="When the change was committed.")
    event: strawberry.Private[DomainEvent]

    @strawberry.field(description="The sprint as it is now; null once removed.")
    async def sprint(self, info: Info) -> Sprint | None:
        if self.event.action is Action.REMOVE:
            return None
        return await load_node(info, Sprint, self.event.entity_id)

    @strawberry.field(description="Who made the change; null for the system or a departed member.")
    async def actor(self, info: Info) -> User | None:
        return await load_node(info, User, self.event.actor_user_id)

    @classmethod
    def of(cls, event: DomainEvent) -> "SprintChange":
        return cls(sprint_id=relay.GlobalID("Sprint", str(event.entity_id)), **_envelope(event))


@strawberry.type(description="One committed change to a document: a new version, a new status, or its deletion.")
class DocumentChange:
    cursor: str = strawberry.field(description="Pass as `since` to resume after this change.")
    action: ChangeAction = strawberry.field(description="Created, updated or removed.")
    document_id: relay.GlobalID = strawberry.field(description="The document's global id (also once removed).")
    changed_fields: list[str] = strawberry.field(
        description="For an update, the fields that changed (`title`, `body`, `status`)."
    )
    occurred_at: datetime = strawberry.field(description="When the change was committed.")
    event: strawberry.Private[DomainEvent]

    @strawberry.field(description="The document as it is now; null once removed.")
    async def document(self, info: Info) -> Document | None:
        if self.event.action is Action.REMOVE:
            return None
        return await load_node(info, Document, self.event.entity_id)

    @strawberry.field(description="Who made the change; null for the system or a departed member.")
    async def actor(self, info: Info) -> User | None:
        return await load_node(info, User, self.event.actor_user_id)

    @classmethod
    def of(cls, event: DomainEvent) -> "DocumentChange":
        return cls(document_id=relay.GlobalID("Document", str(event.entity_id)), **_envelope(event))


Keep = Callable[[DomainEvent], bool]


@functools.cache
def _of(build: Callable[[DomainEvent], Any]) -> Callable[[DomainEvent], Awaitable[Any]]:
    """A payload function for changes built from the event alone (one per payload type, shared by its subscriptions:
    each keeps it for its life)."""

    async def make(event: DomainEvent) -> Any:
        return build(event)

    return make


def _cursor(since: str | None) -> int | None:
    if since is None:
        return None
    if not since.isdigit() or len(since) > 18:
        raise ValidationError("since is not a cursor this API gave out.", field="since")
    return int(since)


async def _product_of(info: Info, node_type: type[LoadedNode], global_id: relay.GlobalID) -> tuple[UUID, UUID]:
    """The (id, product id) of the object a subscription follows; NOT_FOUND as for a query."""
    async with info.context.event_scope():
        node = await find_node(info, node_type, str(global_id))
    product_id = node.uuid if isinstance(node, Product) else node.product_id  # type: ignore[attr-defined]
    return node.uuid, product_id


class _Delivery:
    """How one subscription's payloads reach its client.

    Over WebSocket (a sink and the operation's executor in this task), the subscription is handed to the process's
    deliverer (resolvers/delivery.py) once its place in the event log is open: each event is then rendered once for
    every subscriber with the same selection and standing and written straight to the socket, and the operation's
    task and this generator end. Elsewhere (the schema called directly) payloads are yielded to graphql-core, which
    executes the selection for each.
    """

    __slots__ = ("context", "executor", "sink")

    def __init__(self, info: Info) -> None:
        self.context = info.context
        self.sink = current_sink()
        self.executor = subscription_executor()

    @property
    def direct(self) -> bool:
        return self.sink is not None and self.executor is not None

    async def send(self, make: Callable[[], Awaitable[Any]]) -> object | None:
        """Render and send one payload of this subscriber's own; returns `END` when the subscription should end."""
        assert self.sink is not None
        assert self.executor is not None
        # The reads run in a scope of their own, closed (its connection given back) before anything is sent.
        async with self.context.event_scope():
            payload = await make()
            if payload is SKIP or payload is END:
                return payload
            rendering = await render_event(self.executor, payload, self.context.request_id)
        if rendering.text is not None:
            self.sink.write(rendering.text)
        return rendering.outcome

    def register(
        self,
        info: Info,
        subscription: EventSubscription,
        wanted: Callable[[DomainEvent], bool],
        make: Callable[[DomainEvent], Awaitable[Any]],
    ) -> None:
        """Hand the subscription to the deliverer: its events are served from there, with no task of its own."""
        assert self.sink is not None
        assert self.executor is not None
        deliverer: Deliverer = info.schema.deliverer  # type: ignore[attr-defined]
        deliverer.register(self.context.runtime.hub, self.context, subscription, self.sink, self.executor, wanted, make)


class _Interest:
    """Which events a subscription wants (`wanted`: its product's that `keep` accepts) and which its hub subscription
    passes on (`relevant`: those, and the changes that concern its access). An object of three slots, kept for the
    subscription's life, where two closures kept two functions, four cells and two tuples."""

    __slots__ = ("access", "keep", "product_id")

    def __init__(self, product_id: UUID, keep: Keep, access: Any) -> None:
        self.product_id = product_id
        self.keep = keep
        self.access = access

    def wanted(self, event: DomainEvent) -> bool:
        return event.product_id == self.product_id and self.keep(event)

    def relevant(self, event: DomainEvent) -> bool:
        return self.wanted(event) or (self.access is not None and self.access.concerns(event))


def _any_change(event: DomainEvent) -> bool:
    return True


def _requirement_change(event: DomainEvent) -> bool:
    return event.type == "Requirement"


def _sprint_change(event: DomainEvent) -> bool:
    return event.type == "Sprint"


Locate = Callable[[], Awaitable[tuple[UUID, Keep]]]
"""What a stream follows, found on its first step: the product, and which of its events to keep."""


def _in(info: Info, node_type: type[LoadedNode], global_id: relay.GlobalID, keep: Keep) -> Locate:
    """The product of this object, looked up when the stream starts (NOT_FOUND then, as for a query)."""

    async def locate() -> tuple[UUID, Keep]:
        _, product = await _product_of(info, node_type, global_id)
        return product, keep

    return locate


async def _stream(
    info: Info,
    target: tuple[UUID, Keep] | Locate,
    since: str | None,
    make: Callable[[DomainEvent], Awaitable[Any]],
) -> AsyncGenerator[Any, None]:
    """The product's events that `keep` accepts, each after an access check, as `make(event)` (`SKIP` skips one,
    `END` ends the stream). Over WebSocket, its first step looks the target up (`_in(...)` or a `Locate` of its own:
    NOT_FOUND then, as for a query), opens the hub's subscription and hands it to the deliverer, and the generator
    ends there; called directly (no sink), it iterates the hub's subscription and yields each payload."""
    product_id, keep = target if isinstance(target, tuple) else await target()
    delivery = _Delivery(info)
    context = info.context
    viewer = context.member
    access = context.access
    cursor = _cursor(since)

    interest = _Interest(product_id, keep, access)
    wanted, relevant = interest.wanted, interest.relevant
    hub = context.runtime.hub
    options: dict[str, Any] = {
        "since": cursor,
        "predicate": relevant,
        "product_id": product_id,
        "owner": viewer.api_key_id or viewer.user_id,
        "limit_per_owner": context.runtime.settings.ws_max_subscriptions_per_identity,
    }
    try:
        if delivery.direct:
            delivery.register(info, await hub.open(viewer.organization_id, **options), wanted, make)
            return
        async with hub.subscribe(viewer.organization_id, **options) as subscription:
            async for event in subscription:
                if access is not None and access.concerns(event):
                    # The member's role, the key or the organization changed: check in full, now.
                    access.stale = True
                if not await still_allowed(info):
                    return
                if not wanted(event):
                    continue
                async with context.event_scope():
                    payload = await make(event)
                    if payload is END:
                        return
                    if payload is not SKIP:
                        yield payload
    except CursorExpiredError as error:
        raise ValidationError(str(error), field="since", code=Code.OUT_OF_RANGE) from None
    except TooManySubscriptionsError as error:
        raise PrismError(str(error), code=Code.RATE_LIMITED) from None
    except SubscriptionClosedError as error:
        raise PrismError(error.reason, code=Code.SUBSCRIPTION_CLOSED) from None


async def _first(info: Info, payload: Callable[[], Awaitable[Any]]) -> AsyncGenerator[Any, None]:
    """One payload of this subscriber's own (a dashboard's first state), by the same route as the events'."""
    delivery = _Delivery(info)
    if delivery.direct:
        with suppress(SinkClosedError):
            if await delivery.send(payload) is not END:
                return
        raise _EndedError
    async with info.context.event_scope():
        value = await payload()
        if value is END:
            raise _EndedError
        if value is not SKIP:
            yield value


class _EndedError(Exception):
    """The subscription ended before its first event."""


ProductId = Annotated[relay.GlobalID, strawberry.argument(description="The product to follow.")]
Since = Annotated[
    str | None,
    strawberry.argument(description="Resume after this cursor: first what was missed since, then live changes."),
]


@strawberry.type(description="Changes as they are committed, over WebSocket at /graphql (graphql-transport-ws).")
class Subscription(PresenceSubscription, AiPrdSubscription):
    @strawberry.subscription(
        description="Everything that changes in a product: requirements, sprints, releases, documents, comments, "
        "roadmaps and the product itself, in commit order.",
        permission_classes=[CanRead],
    )
    async def product_activity(
        self, info: Info, product_id: ProductId, since: Since = None
    ) -> AsyncGenerator[ActivityEvent, None]:
        return _stream(info, _in(info, Product, product_id, _any_change), since, _of(ActivityEvent.of))

    @strawberry.subscription(
        description="Requirements of a product created, changed or deleted, in commit order.",
        permission_classes=[CanRead],
    )
    async def requirement_changed(
        self, info: Info, product_id: ProductId, since: Since = None
    ) -> AsyncGenerator[RequirementChange, None]:
        return _stream(info, _in(info, Product, product_id, _requirement_change), since, _of(RequirementChange.of))

    @strawberry.subscription(
        description="Sprints of a product created, changed (started, closed, renamed, ...) or deleted.",
        permission_classes=[CanRead],
    )
    async def sprint_changed(
        self, info: Info, product_id: ProductId, since: Since = None
    ) -> AsyncGenerator[SprintChange, None]:
        return _stream(info, _in(info, Product, product_id, _sprint_change), since, _of(SprintChange.of))

    @strawberry.subscription(
        description=(
            "A sprint's live dashboard: the sprint as it is now (select its report, burndown and requirements), first "
            "when you subscribe, then again after every change to the sprint or to a requirement in it, entering it "
            "or leaving it. Ends when the sprint is deleted."
        ),
        permission_classes=[CanRead],
    )
    async def sprint_dashboard(
        self,
        info: Info,
        sprint_id: Annotated[relay.GlobalID, strawberry.argument(description="The sprint to follow.")],
    ) -> AsyncGenerator[Sprint, None]:
        sprint, product = await _product_of(info, Sprint, sprint_id)
        wanted = str(sprint)
        # Changes committed from here on are replayed: none is missed between the first answer and the live ones.
        cursor = await info.context.runtime.hub.position(info.context.member.organization_id)

        async def current(_event: DomainEvent | None = None) -> Sprint | object:
            found = await load_node(info, Sprint, sprint)
            return END if found is None else found  # deleted

        try:
            async for first in _first(info, current):
                yield first
        except _EndedError:
            return

        def in_sprint(event: DomainEvent) -> bool:
            if event.type == "Sprint":
                return event.entity_id == sprint
            if event.type != "Requirement":
                return False
            now, before = event.payload.get("data", {}), event.payload.get("updatedFrom", {})
            return bool(now.get("sprintId") == wanted or before.get("sprintId") == wanted)

        async for state in _stream(info, (product, in_sprint), str(cursor), current):
            yield state

    @strawberry.subscription(
        description="Comments added to one requirement or one document (pass exactly one of the two ids).",
        permission_classes=[CanRead],
    )
    async def comment_added(
        self,
        info: Info,
        requirement_id: Annotated[
            relay.GlobalID | None, strawberry.argument(description="Follow this requirement's comments.")
        ] = None,
        document_id: Annotated[
            relay.GlobalID | None, strawberry.argument(description="Follow this document's comments.")
        ] = None,
        since: Since = None,
    ) -> AsyncGenerator[Comment, None]:
        async def locate() -> tuple[UUID, Keep]:
            if (requirement_id is None) == (document_id is None):
                raise ValidationError("Pass exactly one of requirementId and documentId.", field="requirementId")
            if requirement_id is not None:
                subject, product = await _product_of(info, Requirement, requirement_id)
                key = "requirementId"
            else:
                assert document_id is not None
                subject, product = await _product_of(info, Document, document_id)
                key = "documentId"
            wanted = str(subject)

            def added_here(event: DomainEvent) -> bool:
                return (
                    event.type == "Comment"
                    and event.action is Action.CREATE
                    and event.payload.get("data", {}).get(key) == wanted
                )

            return product, added_here

        async def comment(event: DomainEvent) -> Comment | object:
            found = await load_node(info, Comment, event.entity_id)
            return SKIP if found is None else found  # deleted again before this event was read

        return _stream(info, locate, since, comment)

    @strawberry.subscription(
        description="One document changed (title, body, status: a new version) or deleted.",
        permission_classes=[CanRead],
    )
    async def document_changed(
        self,
        info: Info,
        document_id: Annotated[relay.GlobalID, strawberry.argument(description="The document to follow.")],
        since: Since = None,
    ) -> AsyncGenerator[DocumentChange, None]:
        async def locate() -> tuple[UUID, Keep]:
            document, product = await _product_of(info, Document, document_id)

            def this_document(event: DomainEvent) -> bool:
                return event.type == "Document" and event.entity_id == document

            return product, this_document

        return _stream(info, locate, since, _of(DocumentChange.of))
