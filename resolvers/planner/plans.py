"""What a compiled plan is made of: one `ObjectPlan` per selection set, one field plan per response key.

A plan says, for each object the answer holds, which value each of its keys takes and where that value comes from
(a column of the object's row, a batched loader, a page of a list). Plans hold no request state: the arguments
that depend on variables are read again for each request (`Connection.arguments`, `Lookup.arguments`).
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from aiodataloader import DataLoader
from graphql import FieldNode, GraphQLField
from strawberry.types.field import StrawberryField

from resolvers.connections import ConnectionSpec
from resolvers.declarations import Derived

__all__ = [
    "Connection",
    "ConnectionPart",
    "Constant",
    "ContextObject",
    "Count",
    "DerivedValue",
    "FallbackError",
    "FieldPlan",
    "Leaf",
    "Lookup",
    "NodeLookup",
    "ObjectPlan",
    "Relation",
    "RelationSource",
    "RootPlan",
]

Row: TypeAlias = Any
"""A row of a Core select (sa.Row), or None where a root has no row."""


class FallbackError(Exception):
    """This request of a planned operation is answered by the resolvers instead: it needs an error or a behaviour
    the plan does not reproduce (a refused role, a bad argument, a null in a non-null field, a list over its
    maximum). Raised before anything is written to the answer; the resolvers then run the operation from the start.
    """


@dataclass(frozen=True)
class Constant:
    """A value known when the plan is compiled (`__typename`)."""

    value: Any


@dataclass(frozen=True)
class Leaf:
    """A scalar or enum read from the row: `get(row)` is the serialized value (FallbackError for a null where the
    schema says non-null); `many(rows)`, when given, every row's at once (a column read as is, an enum)."""

    get: Callable[[Row], Any]
    many: Callable[[Sequence[Row]], list[Any]] | None = None
    reads: tuple[str, ...] = ()
    """The columns of the row it reads (a global id: the id); empty when not known (the viewer's role)."""
    relabel: "Callable[[Mapping[str, str]], Leaf] | None" = field(default=None, compare=False)
    """The same leaf over rows whose columns are named `labels[column]`: a joined row's columns in its page's row."""

    def values(self, rows: Sequence[Row]) -> list[Any]:
        """The value for each row."""
        if self.many is not None:
            return self.many(rows)
        get = self.get
        return [get(row) for row in rows]


@dataclass(frozen=True)
class RelationSource:
    """Where a to-one relation's row comes from: the row `loader` answers for the key in the node's `column` (or
    that `key` computes from the node built by `build_node`), or, with `from_parent`, the row of the object whose
    list the node is in (a product's requirements' product)."""

    loader: type[DataLoader[Any, Any]]
    columns: tuple[str, ...]
    """The columns of the target rows to read (what the plan of the relation's objects needs)."""
    column: str | None
    key: Callable[[Any], Any]
    build_node: Callable[[Row], Any] | None
    from_parent: bool = False


@dataclass(frozen=True)
class Relation:
    """A relation to rows of another type: one ("one", nullable or not), a list ("many", at most `maximum`)."""

    kind: str
    source: RelationSource
    child: "ObjectPlan"
    nullable: bool = True
    maximum: int | None = None


@dataclass(frozen=True)
class Count:
    """An integer a loader answers for the key in the row's `column` (a requirement's childCount)."""

    loader: type[DataLoader[Any, Any]]
    column: str


@dataclass(frozen=True)
class DerivedValue:
    """A field computed from a to-one relation's row and the row's columns (`resolvers.declarations.Derived`)."""

    derived: Derived
    source: RelationSource


@dataclass(frozen=True)
class ConnectionPart:
    """One key of a connection object: "nodes", "edges", "pageInfo", "totalCount" or a constant (`__typename`).

    `child`: the plan of the nodes (for "nodes", and for "edges" its node); `fields`: the keys of an edge or of the
    page info, each "cursor", "node", "hasNextPage", "hasPreviousPage", "startCursor", "endCursor" or a Constant.
    """

    kind: str
    child: "ObjectPlan | None" = None
    fields: Sequence[tuple[str, "str | Constant"]] = ()
    constant: Any = None


@dataclass(frozen=True)
class Connection:
    """A Relay connection field answered by the page and count loaders the resolvers use."""

    spec: ConnectionSpec
    definition: GraphQLField
    strawberry_field: StrawberryField
    node: FieldNode
    parts: Sequence[tuple[str, ConnectionPart]]
    nullable: bool
    constant: bool = False
    cursors: bool = True
    """Whether it answers a cursor (an edge's, the page's start or end): only then do its rows need their sort value."""
    """Whether its arguments read no variable: then they are converted once, for every request (`arguments`)."""
    arguments: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """With `constant`, the filter, order and window its arguments gave the first request that had valid ones."""


@dataclass(frozen=True)
class Lookup:
    """A root field answering one row (product(id:|key:), requirement(key:|id:)): `find(run, arguments)` returns the
    row or None; then the field is null with the error `missing(arguments)` (NOT_FOUND), as its resolver answers,
    or, without `missing`, the resolvers answer the request."""

    definition: GraphQLField
    node: FieldNode
    find: Callable[..., Any]
    child: "ObjectPlan"
    nodes: tuple[FieldNode, ...] = ()
    """Every node of the field in the document (an error names them all, as graphql-core's do)."""
    missing: Callable[[dict[str, Any]], Exception] | None = None


@dataclass(frozen=True)
class NodeLookup:
    """`node(id:)`: the row of the type the global id names, planned for each type that may answer; a type whose
    selection is not plannable (None) leaves the request to the resolvers. With `many`, `nodes(ids:)`: a list in
    the ids' order, null for each id that names nothing visible."""

    definition: GraphQLField
    node: FieldNode
    types: Mapping[str, tuple[type[Any], "ObjectPlan | None"]]
    many: bool = False


@dataclass(frozen=True)
class ContextObject:
    """A root field whose object is made from the request's context (`viewer`): `make(context)` is its row."""

    make: Callable[[Any], Any]
    child: "ObjectPlan"


FieldPlan: TypeAlias = (
    Constant | Leaf | Relation | Count | DerivedValue | Connection | Lookup | NodeLookup | ContextObject
)


@dataclass(eq=False)
class ObjectPlan:
    """The keys of one object of the answer, in the order graphql-core would write them."""

    type_name: str
    fields: list[tuple[str, FieldPlan]] = field(default_factory=list)
    columns: dict[str, None] = field(default_factory=dict)
    """The columns its rows need (an ordered set): what its fields read, and what its children's keys are in. Rows
    are read with these and no others, as PostgreSQL-side projection would. The id is one of them only when
    something reads it (a global id, a list of the row, a key, a cursor): a row read by id has it anyway, and a
    thousand rows of a nested list would each decode a UUID for nothing (docs/performance.md)."""
    _assemble: Callable[[list[list[Any]]], list[dict[str, Any]]] | None = None

    def row_columns(self) -> tuple[str, ...]:
        """The columns to read its rows by id (or key) with: the id, then `columns`. Every such loader reads the id
        anyway (and a joined row's id is its foreign key, not read again), so naming it costs no UUID; leaving it out
        would make `("key",)` and `("id", "key")` two batches of the same rows (a derived value reads
        `("id", *reads)`), a statement more for the same rows. Never empty: a loader reads every column of a row when
        it is given none."""
        return tuple(dict.fromkeys(("id", *self.columns)))

    def assemble(self, columns: list[list[Any]]) -> list[dict[str, Any]]:
        """One dict per row from the values of each key for every row (`columns[i]` holds the i-th key's)."""
        if self._assemble is None:
            self._assemble = _assembler([key for key, _ in self.fields])
        return self._assemble(columns)


def _assembler(keys: list[str]) -> Callable[[list[list[Any]]], list[dict[str, Any]]]:
    # Generated once per plan: a dict display per row is several times faster than dict(zip(keys, values)), and
    # this runs once for every object of the answer.
    names = [f"v{index}" for index in range(len(keys))]
    columns = [f"c{index}" for index in range(len(keys))]
    entries = ", ".join(f"{key!r}: {name}" for key, name in zip(keys, names, strict=True))
    source = (
        f"def assemble(columns):\n"
        f"    {', '.join(columns)}, = columns\n"
        f"    return [{{{entries}}} for {', '.join(names)}, in zip({', '.join(columns)})]\n"
    )
    namespace: dict[str, Any] = {}
    exec(compile(source, "<planned object>", "exec"), namespace)  # noqa: S102 - keys are GraphQL names, quoted by repr
    function: Callable[[list[list[Any]]], list[dict[str, Any]]] = namespace["assemble"]
    return function


@dataclass(eq=False)
class RootPlan:
    """A planned operation: the root object's plan and the permission checks its root fields need (run once per
    request, before any SQL)."""

    root: ObjectPlan
    permissions: tuple[type[Any], ...]
    by_id: dict[tuple[str, ...], int] | None = None
    """How many of its fields read rows by id (or key) with each set of columns, worked out by its first run."""
