"""The Relay `Node` machinery: global ids, and fetching any node by id through the request's loaders."""

from collections.abc import Iterable
from typing import Any, ClassVar, Self
from uuid import UUID

from strawberry import Info, relay

from prism.auth.rbac import Permission

__all__ = ["NODE_TYPES", "LoadedNode"]

NODE_TYPES: dict[str, type["LoadedNode"]] = {}
"""Every Node type by GraphQL name, for `node(id:)` and `nodes(ids:)`."""


class LoadedNode(relay.Node):
    """A Node whose rows come from a by-id loader named `loader` on the request's Loaders."""

    loader: ClassVar[str]
    read_permission: ClassVar[Permission] = Permission.READ
    """What a viewer needs to fetch this type by id through `node`/`nodes`; the type's own list queries check the
    same. Without it the node answers as if it did not exist."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        NODE_TYPES[cls.__name__] = cls

    @classmethod
    def from_row(cls, row: Any) -> Self:
        raise NotImplementedError

    @property
    def uuid(self) -> UUID:
        """The row id inside this node's global id."""
        return UUID(str(self.id))  # type: ignore[attr-defined]

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        node_ids = list(node_ids)
        if not info.context.member.can(cls.read_permission):
            return [None for _ in node_ids]
        ids: list[UUID | None] = []
        for node_id in node_ids:
            try:
                ids.append(UUID(node_id))
            except ValueError:
                ids.append(None)
        loader = getattr(info.context.loaders, cls.loader)
        rows = await loader.load_many([i for i in ids if i is not None])
        found = iter(rows)
        return [None if i is None else _build(cls, next(found)) for i in ids]


def _build(cls: type[LoadedNode], row: Any) -> Any:
    return None if row is None else cls.from_row(row)
