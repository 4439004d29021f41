"""The Relay `Node` machinery: global ids, and fetching any node by id through the request's loaders."""

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Self, TypeVar
from uuid import UUID

from strawberry import Info, relay

from loaders.rows import RowLoader
from prism.auth.rbac import Permission
from prism.errors import NotFoundError
from resolvers.common import Related, decode_id, row_loader
from resolvers.declarations import Row

__all__ = ["MAX_NODES", "NODE_TYPES", "LoadedNode", "find_node", "load_node"]

NodeT = TypeVar("NodeT", bound="LoadedNode")
RowLoaderT = TypeVar("RowLoaderT", bound=RowLoader[Any])

NODE_TYPES: dict[str, type["LoadedNode"]] = {}
"""Every Node type by GraphQL name, for `node(id:)` and `nodes(ids:)`."""
MAX_NODES = 100
"""The most ids `nodes(ids:)` takes."""


class LoadedNode(relay.Node):
    """A Node whose rows come from a by-id loader, `loader`, built once per request by the request's Loaders and
    reading the columns the type declares (`rows`)."""

    loader: ClassVar[type[RowLoader[UUID]]]
    related: ClassVar[Mapping[str, Related]] = {}
    """The fields a connection may answer for all its nodes at once (see Related)."""
    read_permission: ClassVar[Permission] = Permission.READ
    """What a viewer needs to fetch this type by id through `node`/`nodes`; the type's own list queries check the
    same. Without it the node answers as if it did not exist."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        NODE_TYPES[cls.__name__] = cls

    @classmethod
    def from_row(cls, row: Row, /, **given: object) -> Self:
        """The node for `row`, derived from the type's declaration (resolvers.declarations.reads)."""
        raise NotImplementedError(f"{cls.__name__} declares no table (resolvers.declarations.reads)")

    @classmethod
    def rows(cls, info: Info) -> RowLoader[UUID]:
        """The request's loader of this type's rows by id, reading only the columns the type's declaration names."""
        return row_loader(info, cls.loader, cls)

    @classmethod
    def rows_by(cls, info: Info, loader: type[RowLoaderT]) -> RowLoaderT:
        """The request's `loader` (rows of this type by another key), reading the columns the type declares."""
        return row_loader(info, loader, cls)

    def related_value(self, name: str, info: Info) -> Any:
        """A Related field's value: what the node's connection prefetched, else an awaitable that loads it.

        Resolvers of Related fields are plain functions returning this, so a prefetched value costs no task.
        """
        prefetched: dict[str, Any] | None = getattr(self, "prefetched", None)
        if prefetched is not None and name in prefetched:
            return prefetched[name]
        return self._load_related(self.related[name], info)

    async def _load_related(self, related: Related, info: Info) -> Any:
        key = related.key(self)
        if key is None:
            return None
        return related.build(await related.request_loader(info).load(key))

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
        rows = await cls.rows(info).load_many([i for i in ids if i is not None])
        found = iter(rows)
        return [None if i is None else _build(cls, next(found)) for i in ids]


async def load_node(info: Info, node_type: type[NodeT], row_id: UUID | None) -> NodeT | None:
    """A related node through its type's loader: None when there is no id or the row is not visible."""
    if row_id is None:
        return None
    row = await node_type.rows(info).load(row_id)
    return None if row is None else node_type.from_row(row)


async def find_node(info: Info, node_type: type[NodeT], global_id: str) -> NodeT:
    """A root lookup by global id: BAD_USER_INPUT when malformed, NOT_FOUND when absent, of another type or
    another organization's (the three are indistinguishable on purpose)."""
    node = await load_node(info, node_type, decode_id(global_id, node_type.__name__))
    if node is None:
        raise NotFoundError(f"No {node_type.__name__} with this id.", field="id")
    return node


def _build(cls: type[NodeT], row: Row | None) -> NodeT | None:
    return None if row is None else cls.from_row(row)
