"""Shared GraphQL building blocks: user errors, connections, global ids and pagination arguments."""

import enum
import operator
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, ForwardRef, Generic, TypeVar, get_args, get_origin
from uuid import UUID

import sqlalchemy as sa
import strawberry
from aiodataloader import DataLoader
from graphql import FieldNode, FragmentDefinitionNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode
from strawberry import relay
from strawberry.types.lazy_type import LazyType, StrawberryLazyReference

from loaders.pagination import (
    MAX_PAGE_SIZE,
    CountKey,
    CountLoader,
    InvalidCursorError,
    ListKey,
    ListSource,
    Order,
    PageLoader,
    PageOfRows,
    Window,
    validate_cursor,
)
from loaders.rows import LabelsByRequirementLoader, RowLoader
from loaders.sources import TimeFilter
from prism.errors import Code, NotFoundError, PrismError, ValidationError
from resolvers.declarations import PartialRows, Row
from resolvers.list_bounds import max_items

if TYPE_CHECKING:
    from resolvers.context import Context

__all__ = [
    "CREATED_AT_DESCRIPTION",
    "UPDATED_AT_DESCRIPTION",
    "After",
    "Before",
    "Connection",
    "Edge",
    "First",
    "Last",
    "Related",
    "SortDirection",
    "TimeRange",
    "UserError",
    "decode_id",
    "load_connection",
    "node_class",
    "prefetch",
    "row_loader",
    "time_filter",
    "user_errors",
    "user_errors_field",
    "zoned_time",
]

NodeType = TypeVar("NodeType")
RowLoaderT = TypeVar("RowLoaderT", bound=RowLoader[Any] | LabelsByRequirementLoader)

# The Relay pagination arguments, described once for every connection field.
First = Annotated[int | None, strawberry.argument(description="Page size from the start (max 100).")]
After = Annotated[str | None, strawberry.argument(description="Cursor to start after.")]
Last = Annotated[int | None, strawberry.argument(description="Page size from the end (max 100).")]
Before = Annotated[str | None, strawberry.argument(description="Cursor to end before.")]


def row_loader(info: strawberry.Info["Context", None], loader: type[RowLoaderT], node_type: type[Any]) -> RowLoaderT:
    """The request's `loader` of rows that become `node_type`, reading only the columns its declaration names (every
    column for a type that declares none)."""
    declared = getattr(node_type, "__declaration__", None)
    return info.context.loaders.rows(loader, declared.column_names if declared is not None else ())


@dataclass(frozen=True)
class Related:
    """A field without arguments whose value comes from one loader keyed by the node: a connection answers it for
    every node of its page with one loader call (`resolvers.common.prefetch`), instead of an asyncio task per node.
    """

    loader: type[DataLoader[Any, Any]]
    """The loader class; the request's Loaders builds it once."""
    key: Callable[[Any], Hashable | None]
    """The loader key for a node (None: the field is null, nothing to load)."""
    build: Callable[[Any], Any]
    """The field's value from what the loader answered for that key."""
    column: str | None = None
    """For a to-one relation declared with `joins`: the node's attribute (a column it reads) holding the key."""
    target: Any = None
    """For a to-one relation (`joins`, `to`): the type it points at (or a lazy reference to it). Its rows are read
    with the columns it declares."""
    kind: str = "custom"
    """What the planner (resolvers/planner) may make of it: "one" (a row of `target` or null), "many" (a list of
    `target` rows), "count" (an integer), "custom" (nothing: the field makes the operation fall back)."""

    @classmethod
    def joins(cls, loader: type[RowLoader[Any]], column: str, target: Any) -> "Related":
        """A to-one relation a planner can read: the `target` row whose id is in the node's `column` (the field is
        null when the column is, or when the row is not visible), loaded by id with `loader`."""
        return cls.to(loader, operator.attrgetter(column), target, column=column)

    @classmethod
    def to(
        cls,
        loader: type[RowLoader[Any]],
        key: Callable[[Any], Hashable | None],
        target: Any,
        *,
        column: str | None = None,
    ) -> "Related":
        """A to-one relation whose key the node computes (`key`): the `target` row `loader` answers for it, or null."""
        resolved: list[Callable[[Row], Any]] = []

        def build(row: Row | None) -> Any:
            if row is None:
                return None
            if not resolved:
                resolved.append(node_class(target).from_row)
            return resolved[0](row)

        return cls(loader=loader, key=key, build=build, column=column, target=target, kind="one")

    @classmethod
    def many(
        cls, loader: type[RowLoaderT], key: Callable[[Any], Hashable | None], target: Any, *, column: str | None = None
    ) -> "Related":
        """A to-many relation: the `target` rows `loader` answers for the node's key, read with the columns `target`
        declares. `column`: the row's column holding that key, for a planner (the node's `uuid` is its `id`)."""
        resolved: list[Callable[[Row], Any]] = []

        def build(rows: Sequence[Row]) -> list[Any]:
            if not resolved:
                resolved.append(node_class(target).from_row)
            return [resolved[0](row) for row in rows]

        return cls(loader=loader, key=key, build=build, target=target, column=column, kind="many")

    @classmethod
    def count(
        cls, loader: type[DataLoader[Any, int]], key: Callable[[Any], Hashable | None], *, column: str
    ) -> "Related":
        """An integer `loader` answers for the node's key (how many children), found in the row's `column`."""
        return cls(loader=loader, key=key, build=_same, column=column, kind="count")

    def request_loader(self, info: strawberry.Info["Context", None]) -> DataLoader[Any, Any]:
        """The request's loader for this field: for a to-one relation, the one reading its target's columns."""
        if self.target is None:
            return info.context.loaders.get(self.loader)
        return row_loader(info, self.loader, node_class(self.target))  # type: ignore[type-var]


def _same(value: Any) -> Any:
    return value


@strawberry.type(description="A problem with the input of a mutation; nothing was changed.")
class UserError:
    field: list[str] | None = strawberry.field(
        description='Path to the input field the error concerns, like ["input", "title"]; null when general.'
    )
    message: str = strawberry.field(description="What is wrong, written for a person.")
    code: str = strawberry.field(description="A stable code clients can branch on, like TOO_LONG or CONFLICT.")

    @classmethod
    def from_error(cls, error: PrismError) -> "UserError":
        """The user error for a domain error."""
        return cls(field=["input", error.field] if error.field else None, message=error.message, code=error.code.value)


USER_ERRORS_LISTED = 10
"""A payload reports at most this many user errors (today one: the first problem found)."""


def user_errors_field(description: str = "Why it failed; empty on success.") -> Any:
    """The `userErrors` field of a mutation payload."""
    return strawberry.field(description=description, metadata=max_items(USER_ERRORS_LISTED))


def user_errors(error: PrismError) -> list[UserError]:
    """A payload's userErrors for a domain error; authorization problems are not user errors and propagate."""
    if error.code in (Code.UNAUTHENTICATED, Code.FORBIDDEN):
        raise error
    return [UserError.from_error(error)]


@strawberry.input(description="A range of times; both ends are exclusive, either may be omitted.")
class TimeRange:
    after: datetime | None = strawberry.field(default=None, description="Strictly after this time (with a zone).")
    before: datetime | None = strawberry.field(default=None, description="Strictly before this time (with a zone).")


def zoned_time(value: datetime | None, field: str) -> datetime | None:
    """A time argument in UTC; one without a zone is refused, and one that UTC cannot hold (year 0 or 10000 once
    its offset is applied) is OUT_OF_RANGE rather than an internal error."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValidationError(f"{field} needs a time zone, like 2027-01-31T00:00:00Z.", field=field)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValidationError(f"{field} is out of range.", field=field, code=Code.OUT_OF_RANGE) from None


def time_filter(
    created_at: TimeRange | None, updated_at: TimeRange | None = None, *, created_name: str = "createdAt"
) -> TimeFilter:
    """The loader's time filter for a list's `createdAt` and `updatedAt` ranges; times without a zone are refused."""
    return TimeFilter(
        created_after=zoned_time(created_at.after, f"{created_name}.after") if created_at else None,
        created_before=zoned_time(created_at.before, f"{created_name}.before") if created_at else None,
        updated_after=zoned_time(updated_at.after, "updatedAt.after") if updated_at else None,
        updated_before=zoned_time(updated_at.before, "updatedAt.before") if updated_at else None,
    )


CREATED_AT_DESCRIPTION = "Created within this range."
UPDATED_AT_DESCRIPTION = (
    "Changed within this range. For incremental sync, pass `{after: <the newest updatedAt you hold>}` and read "
    "every page."
)


@strawberry.enum(description="Sort direction.")
class SortDirection(enum.Enum):
    ASC = strawberry.enum_value("ASC", description="Smallest first.")
    DESC = strawberry.enum_value("DESC", description="Largest first.")


@strawberry.type(description="A node of a connection with the cursor that points at it.")
class Edge(Generic[NodeType]):
    cursor: str = strawberry.field(description="Opaque cursor to pass as `after` or `before`.")
    node: NodeType = strawberry.field(description="The item.")


def _edges(root: strawberry.Parent["Connection[Any]"]) -> list[Edge[Any]]:
    # Built only when a query asks for them: most clients read `nodes`, and an edge object per row costs time.
    page = root._page
    return [Edge(cursor=page.cursor(index), node=node) for index, node in enumerate(root.nodes)]


def _page_info(root: strawberry.Parent["Connection[Any]"]) -> relay.PageInfo:
    # Built only when a query asks for it: its two cursors are encoded then, not for every page.
    page = root._page
    return relay.PageInfo(
        has_next_page=page.has_next_page,
        has_previous_page=page.has_previous_page,
        start_cursor=page.start_cursor,
        end_cursor=page.end_cursor,
    )


@strawberry.type(description="A page of a list, with cursors to fetch the pages around it (Relay connection).")
class Connection(Generic[NodeType]):
    edges: list[Edge[NodeType]] = strawberry.field(
        resolver=_edges,
        graphql_type=list[Edge[NodeType]],
        description="The items of this page with their cursors.",
        metadata=max_items(MAX_PAGE_SIZE),
    )
    nodes: list[NodeType] = strawberry.field(
        description="The items of this page, without cursors.", metadata=max_items(MAX_PAGE_SIZE)
    )
    page_info: relay.PageInfo = strawberry.field(
        resolver=_page_info,
        graphql_type=relay.PageInfo,
        description="Whether more pages exist, and cursors to reach them.",
    )
    _page: strawberry.Private[PageOfRows]
    """The rows behind `nodes`, whose cursors are encoded only for `edges`."""
    _count_key: strawberry.Private[CountKey]

    @strawberry.field(description="How many items the whole list holds, across all pages.")
    async def total_count(self, info: strawberry.Info["Context", None]) -> int:
        return await info.context.loaders.get(CountLoader).load(self._count_key)


def window(first: int | None, after: str | None, last: int | None, before: str | None) -> Window:
    """Validated pagination arguments: `first` and `last` are 0-100 and not both given."""
    if first is not None and last is not None:
        raise ValidationError("Pass either first or last, not both.", field="first")
    for name, value in (("first", first), ("last", last)):
        if value is not None and not 0 <= value <= MAX_PAGE_SIZE:
            raise ValidationError(f"{name} must be between 0 and {MAX_PAGE_SIZE}.", field=name, code=Code.OUT_OF_RANGE)
    return Window(first=first, after=after, last=last, before=before)


async def load_connection(
    info: strawberry.Info["Context", None],
    *,
    source: ListSource,
    parent: UUID,
    filter: Hashable,
    order: Order,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    build: Callable[[sa.Row[Any]], NodeType],
    columns: Sequence[str] = (),
    partial: PartialRows | None = None,
) -> Connection[NodeType]:
    """Load one page of a list through the request's page loader and wrap it as a connection.

    `columns`: the columns `build` reads (a declared type's, see resolvers/declarations.py); all when empty.
    `partial`: given when `columns` are some of the node type's only (those of the fields the query selects): the
    type's builders from such rows (`build` ends in its generated `from_row`, which builds nodes with the fields
    those columns give).
    """
    page_window = window(first, after, last, before)
    for field, cursor in (("after", after), ("before", before)):
        if cursor is None:
            continue
        try:
            validate_cursor(source, order, cursor)
        except InvalidCursorError as error:
            raise ValidationError(f"`{field}`: {error}", field=field, code=Code.BAD_USER_INPUT) from None
    key = ListKey(source=source, parent=parent, filter=filter, order=order, window=page_window, columns=tuple(columns))
    page = await info.context.loaders.get(PageLoader).load(key)
    rows = page.rows
    if partial is not None and rows:
        rows = readable_rows(rows, always=True)
        row_class = type(rows[0])
        partial.register(row_class, row_class.__row_columns__)  # type: ignore[attr-defined]
    else:
        rows = readable_rows(rows)
    nodes = [build(row) for row in rows]
    await prefetch(info, nodes)
    return Connection(
        nodes=nodes,
        _page=page,
        _count_key=CountKey(source=source, parent=parent, filter=filter),
    )


def readable_rows(rows: Sequence[Any], *, always: bool = False) -> Sequence[Any]:
    """A page's rows as tuples whose columns read as attributes at the cost of an index (`row.title`).

    A Core row finds a column by name through `__getattr__`, after the attribute look-up on its class has failed: on a
    thousand-row page built into nodes of twenty columns that is most of the building. The rows of one page come
    from one statement, so their columns are found once for the page. Rows of any other kind, rows whose columns
    are not all named once, and column names a Core row answers otherwise (`count`, `index`) are returned as they
    are. `always`: a single row too (a page of some columns only must be; AssertionError when it cannot be). Each
    such class knows its columns (`__row_columns__`).
    """
    if not rows or (len(rows) < 2 and not always) or type(rows[0]) is not sa.Row:
        if always and rows and not hasattr(type(rows[0]), "__row_columns__"):
            raise AssertionError("rows of some columns only that are not Core rows")
        return rows
    fields = rows[0]._fields
    readable = _READABLE_ROWS.get(fields)
    if readable is None:
        if len(fields) != len(rows[0]) or len(set(fields)) != len(fields) or any(hasattr(sa.Row, f) for f in fields):
            if always:
                raise AssertionError(f"rows of some columns only whose columns cannot be attributes: {fields}")
            return rows
        if len(_READABLE_ROWS) >= 1024:
            _READABLE_ROWS.clear()
        namespace: dict[str, Any] = {name: property(operator.itemgetter(i)) for i, name in enumerate(fields)}
        readable = _READABLE_ROWS[fields] = type(
            "ReadableRow", (tuple,), {"__slots__": (), "__row_columns__": fields, **namespace}
        )
    make = tuple.__new__
    return [make(readable, row) for row in rows]


_READABLE_ROWS: dict[tuple[str, ...], type[tuple[Any, ...]]] = {}
"""A tuple class per column layout, each column a property reading its index (see readable_rows)."""


async def prefetch(info: strawberry.Info["Context", None], nodes: Sequence[Any], *, plain_list: bool = False) -> None:
    """Answer the Related fields the query selects on a page's nodes with one loader call per field.

    Without it, every node's assignee (say) would be an async resolver awaiting the same batched loader: one asyncio
    task per node and field, about a thousand for a dashboard page. The loaders still batch across sibling pages,
    since every page of a level gets here in the same tick. `plain_list`: the nodes are the items of a list field
    (`[Requirement!]!`), not of a connection, so their fields are selected directly on it.
    """
    if not nodes:
        return
    related: Mapping[str, Related] = getattr(type(nodes[0]), "related", {})
    selected = _list_fields(info) if plain_list else node_fields(info)
    wanted = [name for name in selected if name in related] if related else []
    if not wanted:
        return
    pending = []
    for name in wanted:
        field = related[name]
        keys = [field.key(node) for node in nodes]
        distinct = [k for k in dict.fromkeys(keys) if k is not None]
        answer = field.request_loader(info).load_many(distinct)
        pending.append((name, field, keys, distinct, answer))
    for node in nodes:
        if node.prefetched is None:
            node.prefetched = {}
    for name, field, keys, distinct, answer in pending:
        built = {key: field.build(value) for key, value in zip(distinct, await answer, strict=True)}
        for node, key in zip(nodes, keys, strict=True):
            node.prefetched[name] = None if key is None else built[key]


def node_fields(info: strawberry.Info["Context", None]) -> list[str]:
    """The names of the fields selected on a connection's nodes (`nodes { ... }`, `edges { node { ... } }`)."""
    return _selected_names(info, plain_list=False)


def _list_fields(info: strawberry.Info["Context", None]) -> list[str]:
    """The names of the fields selected on the items of a plain list field."""
    return _selected_names(info, plain_list=True)


def _selected_names(info: strawberry.Info["Context", None], *, plain_list: bool) -> list[str]:
    """The names `node_fields` or `_list_fields` answer, read from the operation's syntax tree once per field.

    As Strawberry's `info.selected_fields` (which these read before), fragments count with their fields and
    directives are not evaluated; unlike it, no argument is converted and no object built, and the answer is kept
    by the field's nodes (a parsed document is cached and never changes): a dashboard asks it of every product's
    page with the same nodes.
    """
    raw = info._raw_info
    field_nodes = raw.field_nodes
    key = (plain_list, *map(id, field_nodes))
    cached = _SELECTED_NAMES.get(key)
    if cached is not None and all(a is b for a, b in zip(cached[0], field_nodes, strict=True)):
        return cached[1]
    fragments = raw.fragments
    names: dict[str, None] = {}
    for node in field_nodes:
        for field in _fields(node.selection_set, fragments):
            if plain_list:
                names[field.name.value] = None
            elif field.name.value == "nodes":
                names.update((f.name.value, None) for f in _fields(field.selection_set, fragments))
            elif field.name.value == "edges":
                for edge_field in _fields(field.selection_set, fragments):
                    if edge_field.name.value == "node":
                        names.update((f.name.value, None) for f in _fields(edge_field.selection_set, fragments))
    if len(_SELECTED_NAMES) >= 4096:
        _SELECTED_NAMES.clear()
    _SELECTED_NAMES[key] = (tuple(field_nodes), list(names))
    return list(names)


_SELECTED_NAMES: dict[tuple[Any, ...], tuple[tuple[FieldNode, ...], list[str]]] = {}
"""`_selected_names` by the field's nodes (their ids, the nodes kept so that an id is not reused meanwhile)."""


def _fields(
    selection_set: SelectionSetNode | None, fragments: Mapping[str, FragmentDefinitionNode]
) -> Iterator[FieldNode]:
    """The fields of a selection set, with the fields of its fragments in place of the fragments."""
    if selection_set is None:
        return
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields(selection.selection_set, fragments)
        elif isinstance(selection, FragmentSpreadNode):
            yield from _fields(fragments[selection.name.value].selection_set, fragments)


def node_class(node: Any) -> type[Any]:
    """The class a GraphQL type annotation names: the class itself, or the one a lazy reference points at."""
    if get_origin(node) is Annotated:
        target, *metadata = get_args(node)
        for reference in metadata:
            if isinstance(reference, StrawberryLazyReference):
                name = target.__forward_arg__ if isinstance(target, ForwardRef) else str(target)
                return reference.resolve_forward_ref(ForwardRef(name)).resolve_type()  # type: ignore[no-any-return]
        return node_class(target)
    if isinstance(node, LazyType):
        return node.resolve_type()  # type: ignore[no-any-return]
    if not isinstance(node, type):
        raise TypeError(f"{node!r} names no GraphQL type")
    return node


def decode_id(global_id: relay.GlobalID | strawberry.ID | str, type_name: str, field: str = "id") -> UUID:
    """The UUID inside a global id of the expected type; an id of another type or shape is simply not found."""
    try:
        gid = global_id if isinstance(global_id, relay.GlobalID) else relay.GlobalID.from_id(str(global_id))
        node_id = UUID(gid.node_id)
    except (ValueError, TypeError) as err:
        raise ValidationError(f"{field} is not a valid ID.", field=field, code=Code.BAD_USER_INPUT) from err
    if gid.type_name != type_name:
        raise NotFoundError(f"No {type_name} with this id.", field=field)
    return node_id
