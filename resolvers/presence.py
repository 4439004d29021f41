"""Presence: who is viewing or editing a product, requirement or document (prism/events/presence.py).

Being subscribed to `presence(targetId, mode)` is being present: the subscription joins when it starts, renews its
entry every `PRISM_PRESENCE_HEARTBEAT_SECONDS` while it runs, leaves when it ends, and sends the list of who is there
whenever it changes, on whichever replica the others are. A client that vanishes without ending its subscription
drops out after `PRISM_PRESENCE_TTL_SECONDS`. The `presence(targetId)` query reads the same list once.
"""

import asyncio
import enum
import uuid
from collections.abc import AsyncGenerator
from typing import Annotated, Any
from uuid import UUID

import strawberry
from strawberry import relay

from prism.errors import NotFoundError
from prism.events.presence import PresenceEntry
from resolvers.context import Context
from resolvers.documents import Document
from resolvers.identity import User
from resolvers.live import still_allowed
from resolvers.node import find_node, load_node
from resolvers.permissions import CanRead
from resolvers.products import Product
from resolvers.requirements import Requirement

__all__ = ["PresenceQuery", "PresenceSubscription"]

Info = strawberry.Info[Context, None]

TARGET_TYPES: dict[str, Any] = {"Product": Product, "Requirement": Requirement, "Document": Document}


@strawberry.enum(description="What a present user is doing.")
class PresenceMode(enum.Enum):
    VIEWING = strawberry.enum_value("VIEWING", description="Looking at it.")
    EDITING = strawberry.enum_value("EDITING", description="Changing it (an open editor).")


@strawberry.type(description="A user present on a product, requirement or document.")
class Presence:
    mode: PresenceMode = strawberry.field(description="EDITING when any of the user's clients edits, else VIEWING.")
    user_id: strawberry.Private[UUID]

    @strawberry.field(description="Who.")
    async def user(self, info: Info) -> User | None:
        return await load_node(info, User, self.user_id)


def _people(entries: list[PresenceEntry]) -> list[tuple[UUID, str]]:
    """One line per user (a user with several clients is there once; EDITING wins), editors first, then by id."""
    modes: dict[UUID, str] = {}
    for entry in entries:
        if modes.get(entry.user_id) != "EDITING":
            modes[entry.user_id] = entry.mode
    return sorted(modes.items(), key=lambda item: (item[1] != "EDITING", str(item[0])))


def _presences(people: list[tuple[UUID, str]]) -> list[Presence]:
    return [Presence(mode=PresenceMode[mode], user_id=user_id) for user_id, mode in people]


async def _target(info: Info, target_id: relay.GlobalID) -> str:
    """The target's key (`Type:uuid`) once it is known to be visible; NOT_FOUND as for a query otherwise."""
    node_type = TARGET_TYPES.get(target_id.type_name)
    if node_type is None:
        raise NotFoundError("No product, requirement or document with this id.", field="targetId")
    async with info.context.event_scope():
        node = await find_node(info, node_type, str(target_id))
    return f"{target_id.type_name}:{node.uuid}"


async def _leave(hub: Any, organization: UUID, target: str, user_id: UUID, connection: str) -> None:
    await hub.store.leave(organization, target, user_id, connection)
    await hub.announce(organization, target)


TargetId = Annotated[
    relay.GlobalID, strawberry.argument(description="A product, requirement or document, by global id.")
]


@strawberry.type
class PresenceQuery:
    @strawberry.field(
        description="Who is viewing or editing a product, requirement or document now (editors first).",
        permission_classes=[CanRead],
    )
    async def presence(self, info: Info, target_id: TargetId) -> list[Presence]:
        target = await _target(info, target_id)
        store = info.context.runtime.presence.store
        return _presences(_people(await store.present(info.context.member.organization_id, target)))


@strawberry.type
class PresenceSubscription:
    @strawberry.subscription(
        description=(
            "Be present on a product, requirement or document while subscribed, and receive who is there (editors "
            "first) now and whenever it changes. Leaving is ending the subscription; a client that vanishes drops "
            "out after the presence TTL (30 s)."
        ),
        permission_classes=[CanRead],
    )
    async def presence(
        self,
        info: Info,
        target_id: TargetId,
        mode: Annotated[PresenceMode, strawberry.argument(description="What you are doing.")] = PresenceMode.VIEWING,
    ) -> AsyncGenerator[list[Presence], None]:
        context = info.context
        viewer = context.member
        target = await _target(info, target_id)
        settings = context.runtime.settings
        hub = context.runtime.presence
        organization, connection, doing = viewer.organization_id, uuid.uuid4().hex, str(mode.name)
        ttl = settings.presence_ttl_seconds
        with hub.watch(organization, target) as changed:
            await hub.store.touch(organization, target, viewer.user_id, connection, doing, ttl)
            await hub.announce(organization, target)
            try:
                last: list[tuple[UUID, str]] | None = None
                while True:
                    changed.clear()
                    people = _people(await hub.store.present(organization, target))
                    if people != last:
                        if not await still_allowed(info):
                            return
                        async with context.event_scope():
                            yield _presences(people)
                        last = people
                    try:
                        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that
                        # races its timeout, and a subscription whose client left would then heartbeat for ever.
                        async with asyncio.timeout(settings.presence_heartbeat_seconds):
                            await changed.wait()
                    except TimeoutError:
                        await hub.store.touch(organization, target, viewer.user_id, connection, doing, ttl)
            finally:
                # Shielded: a subscription ended by a disconnect may be cancelled again while it leaves, and an
                # unfinished leave would keep the user present until the TTL.
                await asyncio.shield(_leave(hub, organization, target, viewer.user_id, connection))
