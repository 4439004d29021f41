"""Cursor pagination for any list that can grow, batched across parents.

A `ListKey` asks for one page of rows of one table under one parent (a product's requirements, an organization's
products). Keys that differ only in their parent are answered by a single statement that ranks rows per parent
with a window function, so a nested connection costs one statement per level, not one per parent.
Cursors are opaque: they encode the sort value and the id of a row (keyset pagination, stable under inserts), and
name the list and sort field they came from, so a cursor handed to another list is refused instead of misread.
"""

import base64
import binascii
import math
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import groupby
from operator import attrgetter, itemgetter
from typing import Any
from uuid import UUID

import orjson
import sqlalchemy as sa
from aiodataloader import DataLoader
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import Grouping
from sqlalchemy.types import TypeDecorator

from prism.db.statements import ColumnRows, MappedRow, any_of, kept
from prism.db.tenancy import tenant_select, unit_organization
from prism.db.unit_of_work import UnitOfWork

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "CountKey",
    "CountLoader",
    "InvalidCursorError",
    "JoinedRows",
    "ListKey",
    "ListSource",
    "NestedList",
    "Order",
    "OutOfOrderError",
    "PageLoader",
    "PageOfRows",
    "Window",
    "aggregatable",
    "decode_cursor",
    "encode_cursor",
    "list_name",
    "read_counts",
    "read_pages",
    "read_pages_with_lists",
    "validate_cursor",
]

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50


class InvalidCursorError(ValueError):
    """A cursor that this server did not issue for this list."""


@dataclass(frozen=True)
class Window:
    """Which slice of the ordered list: `first` after a cursor, or `last` before one."""

    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None

    @property
    def backwards(self) -> bool:
        return self.last is not None and self.first is None

    @property
    def size(self) -> int:
        if self.backwards:
            assert self.last is not None
            return self.last
        return self.first if self.first is not None else DEFAULT_PAGE_SIZE


@dataclass(frozen=True)
class Order:
    """A sort field (a key of the source's `order_fields`) and its direction."""

    field: str
    descending: bool = False


@dataclass(frozen=True)
class ListSource:
    """What can be listed: a tenant table, the column that names the parent, filters and sort fields."""

    name: str
    table: sa.Table
    parent_column: str
    order_fields: dict[str, Callable[[sa.Table], sa.ColumnElement[Any]]]
    where: Callable[[sa.Table, Any], list[sa.ColumnElement[bool]]]

    def __hash__(self) -> int:
        return hash(self.name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ListSource) and other.name == self.name


@dataclass(frozen=True)
class ListKey:
    """One page of `source` rows under `parent`, filtered by `filter` (a hashable value the source understands)."""

    source: ListSource
    parent: UUID
    filter: Hashable
    order: Order
    window: Window
    columns: tuple[str, ...] = ()
    """The columns the rows need (those the node type declares); empty: every column of the table. The id, the
    parent column and the sort value are always read, for cursors and grouping."""


@dataclass(frozen=True)
class PageOfRows:
    """The rows of one page, whether more lie beyond either end, and the cursors of its rows on demand.

    A cursor is encoded only when asked for (`cursor`): a query that selects `nodes` needs the page's two ends at
    most (`pageInfo`), not a cursor per row.
    """

    rows: Sequence[Any]
    """`sa.Row`s, `DriverRow`s or `MappedRow`s (read by name), or `ColumnRows` (a nested list read as arrays)."""
    list_name: str
    has_next_page: bool
    has_previous_page: bool

    def cursor(self, index: int) -> str:
        """The cursor of the row at `index` (negative counts from the end)."""
        row = self.rows[index]
        return encode_cursor(row._sort, row.id, self.list_name)

    @property
    def start_cursor(self) -> str | None:
        return self.cursor(0) if self.rows else None

    @property
    def end_cursor(self) -> str | None:
        return self.cursor(-1) if self.rows else None


@dataclass(frozen=True)
class JoinedRows:
    """Rows of another table a page's statement reads with each of its rows (`LEFT JOIN LATERAL`): the row whose id
    is in the page row's `foreign_key`, as `select(key)` reads it (`RowLoader.for_key`: the loader's own select,
    scope and columns), its columns labelled `<prefix><column>` (but its id, which is the foreign key: `_joined`).
    `identity` names the select (loader and columns): with the foreign key and prefix it is what the kept
    statement's key holds."""

    foreign_key: str
    prefix: str
    identity: Hashable
    select: Callable[[sa.ColumnElement[Any]], sa.Select[Any]] = field(compare=False, hash=False)

    @property
    def found(self) -> str:
        """The label of the column that says whether the row was found (its id is the foreign key: `_joined`)."""
        return f"{self.prefix}_found"  # no column's name starts with an underscore


def list_name(source: ListSource, order: Order) -> str:
    """What a cursor names as its list: the source and the sort field (the direction may change between pages)."""
    return f"{source.name}/{order.field}"


def encode_cursor(sort_value: Any, row_id: UUID, name: str) -> str:
    """An opaque cursor for a row at a sort position of the list called `name`."""
    if isinstance(sort_value, datetime | date):
        sort_value = sort_value.isoformat()
    raw = orjson.dumps([name, sort_value, str(row_id)])
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, name: str) -> tuple[Any, UUID]:
    """The sort value and row id a cursor of list `name` encodes; anything else raises InvalidCursorError."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        issued_for, value, row_id = orjson.loads(raw)
        if not isinstance(row_id, str):
            raise TypeError("the row id of a cursor is a string")
        parsed = UUID(row_id)
    except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError) as err:
        raise InvalidCursorError("The cursor is not valid for this list.") from err
    if issued_for != name:
        raise InvalidCursorError("The cursor belongs to another list or sort order.")
    return value, parsed


def _typed(value: Any, expression: sa.ColumnElement[Any]) -> Any:
    """A cursor's sort value as the sort expression's type; one the database could not take is refused here.

    Cursors come back from clients, who may forge them: a number past the column's range, a NUL in a string or a
    value of another type would otherwise fail in PostgreSQL and answer INTERNAL_SERVER_ERROR.
    """
    sql_type = expression.type
    try:
        python_type = sql_type.python_type
    except NotImplementedError:
        python_type = None
    if python_type in (datetime, date):
        if not isinstance(value, str):
            raise _invalid_cursor()
        try:
            return datetime.fromisoformat(value) if python_type is datetime else date.fromisoformat(value)
        except ValueError as err:
            raise _invalid_cursor() from err
    if python_type is int:
        bits = next((size for kind, size in _INTEGER_BITS if isinstance(sql_type, kind)), 64)
        if isinstance(value, bool) or not isinstance(value, int) or not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
            raise _invalid_cursor()
        return value
    if python_type is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise _invalid_cursor()
        return value
    if not isinstance(value, str) or "\x00" in value:
        raise _invalid_cursor()
    return value


_INTEGER_BITS = ((sa.SmallInteger, 16), (sa.BigInteger, 64), (sa.Integer, 32))


def _invalid_cursor() -> InvalidCursorError:
    return InvalidCursorError("The cursor is not valid for this list.")


def _position(cursor: str, name: str, sort: sa.ColumnElement[Any]) -> tuple[Any, UUID]:
    value, row_id = decode_cursor(cursor, name)
    return _typed(value, sort), row_id


def validate_cursor(source: ListSource, order: Order, cursor: str) -> None:
    """Raise InvalidCursorError unless this list issued the cursor, so callers can refuse it before loading."""
    _position(cursor, list_name(source, order), source.order_fields[order.field](source.table))


def _after(sort: sa.ColumnElement[Any], id_column: sa.ColumnElement[Any], end: str, descending: bool) -> Any:
    """Rows past a cursor's position, the position bound as `:<end>_value` and `:<end>_id` (`_cursor_parameters`)."""
    position = sa.tuple_(sa.bindparam(f"{end}_value", type_=sort.type), sa.bindparam(f"{end}_id", type_=id_column.type))
    if descending:
        return sa.tuple_(sort, id_column) < position
    return sa.tuple_(sort, id_column) > position


def _cursor_parameters(source: ListSource, order: Order, window: Window) -> dict[str, Any]:
    """The bound values of a page statement's cursor positions; a cursor this list did not issue raises
    InvalidCursorError."""
    parameters: dict[str, Any] = {}
    name = list_name(source, order)
    sort = source.order_fields[order.field](source.table)
    for end, cursor in (("after", window.after), ("before", window.before)):
        if cursor is not None:
            parameters[f"{end}_value"], parameters[f"{end}_id"] = _position(cursor, name, sort)
    return parameters


def _shape(window: Window) -> Window:
    """What a kept page statement's text depends on in `window`: its sizes, and whether a cursor is given (never the
    cursor itself, which is client input of any length)."""
    return Window(
        first=window.first,
        after="" if window.after is not None else None,
        last=window.last,
        before="" if window.before is not None else None,
    )


def _page_statement(
    source: ListSource,
    list_filter: Hashable,
    order: Order,
    window: Window,
    columns: tuple[str, ...],
    single: bool,
    cursors: bool = True,
    joins: tuple[JoinedRows, ...] = (),
) -> sa.Select[Any]:
    """The statement of one page of each of a group's parents, the parents bound as one array (`:parents`), and the
    cursors' positions as parameters too (`_cursor_parameters`), built once per shape (`prism.db.statements.kept`):
    the shape has whether a cursor is given, never the cursor itself, which is client input of any length. Without
    `cursors` the rows lack their sort value (`_sort`), which only a cursor reads. Each of `joins` adds the columns
    of a related row to every row of the page (null when there is none, or none visible)."""
    shape = _shape(window)
    key = ("page", source, list_filter, order, shape, columns, single, cursors, joins)
    built: sa.Select[Any] = kept(
        key, lambda: _build_page_statement(source, list_filter, order, shape, columns, single, cursors, joins)
    )
    return built


def _build_page_statement(
    source: ListSource,
    list_filter: Hashable,
    order: Order,
    window: Window,
    columns: tuple[str, ...],
    single: bool,
    cursors: bool = True,
    joins: tuple[JoinedRows, ...] = (),
    parent_key: sa.ColumnElement[Any] | None = None,
    numbered: bool = False,
) -> sa.Select[Any]:
    """The page statement (see `_page_statement`). With `parent_key` (a column of another statement's rows, for a
    lateral select), the page of that one parent instead of the array `:parents`, each row with its sort value and
    id as ORDER_VALUE and ORDER_ID (for `_in_order`). With `numbered` (a single parent), each row is numbered in the
    page's order (`_position`)."""
    table = source.table
    sort = source.order_fields[order.field](table)
    parent = table.c[source.parent_column]
    # Walking backwards reads the list in reverse and flips the page afterwards.
    descending = order.descending != window.backwards
    if parent_key is not None:
        parents = parent == parent_key
    elif single:
        # The one parent as `= (:parents)[1]`, not `= ANY(:parents)`: an equality, so an index that starts with the
        # parent column and goes on in the page's order (a product's requirements: rank, then id) reads the page's
        # rows in order and stops at its end; PostgreSQL 15 sorts every row of an `= ANY` scan. Same array bound.
        bound = Grouping(sa.cast(sa.bindparam("parents"), postgresql.ARRAY(parent.type)))
        parents = parent == bound[sa.literal_column("1")]
    else:
        parents = any_of(parent, "parents")
    conditions = [parents, *source.where(table, list_filter)]
    if window.after is not None:
        conditions.append(_after(sort, table.c.id, "after", order.descending))
    if window.before is not None:
        conditions.append(_after(sort, table.c.id, "before", not order.descending))
    ordering = [sort.desc(), table.c.id.desc()] if descending else [sort.asc(), table.c.id.asc()]
    limit = window.size + 1
    sort_label = [sort.label("_sort")] if cursors else []
    # A lateral list's rows come grouped under their parent's row, in order: they need neither the parent's key nor
    # their own id unless the caller reads them (or their cursors are wanted). Each is a UUID per row to decode.
    always = (("id",) if cursors else ()) if parent_key is not None else ("id", source.parent_column)
    read = [table.c[name] for name in dict.fromkeys((*always, *columns))] if columns else list(table.c)
    if single:
        numbers: list[sa.ColumnElement[Any]] = []
        if parent_key is not None:
            numbers = [sort.label(ORDER_VALUE), table.c.id.label(ORDER_ID)]
        elif numbered:
            numbers = [sa.func.row_number().over(order_by=ordering).label("_position")]
        statement = tenant_select(table, unit_organization(), *read, *sort_label, *numbers).where(*conditions)
        statement = _joined(statement, table, joins).order_by(*ordering).limit(limit)
    else:
        position = sa.func.row_number().over(partition_by=parent, order_by=ordering).label("_position")
        # The joins' foreign keys, which the caller may not read (`columns`), are the subquery's for the joins.
        named = {column.name for column in read}
        keys = [table.c[name] for name in dict.fromkeys(join.foreign_key for join in joins) if name not in named]
        inner = tenant_select(table, unit_organization(), *read, *keys, *sort_label, position).where(*conditions)
        ranked = inner.subquery("ranked")
        # Not the rank itself: nobody reads it once the statement has cut and ordered the pages.
        hidden = {"_position", *(key.name for key in keys)}
        wanted = [column for column in ranked.c if column.name not in hidden]
        statement = _joined(
            sa.select(*wanted).select_from(ranked),  # unscoped: reads the scoped subquery above
            ranked,
            joins,
        )
        statement = statement.where(ranked.c._position <= limit).order_by(
            ranked.c[source.parent_column], ranked.c._position
        )
    return statement


def _joined(statement: sa.Select[Any], rows: Any, joins: tuple[JoinedRows, ...]) -> sa.Select[Any]:
    """`statement` (whose rows come from `rows`, a table or a subquery) with each join's row beside each row: a
    lateral select of at most one row (by id), so the page keeps its rows, its order and its limit. The related
    row's id is the foreign key itself, so it is not read again: `<prefix>_found` says whether a row was found
    (a boolean decodes for nothing; a UUID per row does not)."""
    for join in joins:
        related = join.select(rows.c[join.foreign_key]).lateral()  # unscoped: the loader's tenant select (for_key)
        statement = statement.outerjoin(related, sa.true()).add_columns(
            *(column.label(f"{join.prefix}{column.name}") for column in related.c if column.name != "id"),
            related.c.id.is_not(None).label(join.found),
        )
    return statement


class PageLoader(DataLoader[ListKey, PageOfRows]):
    """Pages of any list source; one statement per distinct (source, filter, order, window, columns)."""

    def __init__(self, reader: UnitOfWork, organization_id: UUID) -> None:
        super().__init__()
        self._reader = reader
        self._organization_id = organization_id

    async def batch_load_fn(self, keys: Sequence[ListKey]) -> list[PageOfRows]:
        groups: dict[tuple[Any, ...], list[ListKey]] = defaultdict(list)
        for key in keys:
            groups[(key.source, key.filter, key.order, key.window, key.columns)].append(key)
        pages: dict[ListKey, PageOfRows] = {}
        for group in groups.values():
            pages.update(await self._load_group(group))
        return [pages[key] for key in keys]

    async def _load_group(self, keys: list[ListKey]) -> dict[ListKey, PageOfRows]:
        head = keys[0]
        source, window = head.source, head.window
        parents = [k.parent for k in keys]
        statement = _page_statement(source, head.filter, head.order, window, head.columns, len(keys) == 1)
        parameters = _cursor_parameters(source, head.order, window)
        parameters["parents"] = parents
        rows = await self._reader.all(statement, parameters)
        parent_of = attrgetter(source.parent_column)
        pages = _pages(rows, parents, parent_of, window, list_name(source, head.order))
        return dict(zip(keys, pages, strict=True))


async def read_pages(
    reader: UnitOfWork,
    source: ListSource,
    list_filter: Hashable,
    order: Order,
    window: Window,
    columns: tuple[str, ...],
    parents: Sequence[UUID],
    cursors: bool = True,
    joins: tuple[JoinedRows, ...] = (),
) -> list[PageOfRows]:
    """One page for each of `parents` (distinct), in one statement, as PageLoader reads them, the rows read by the
    driver (`UnitOfWork.driver_rows`: by column name, `row["title"]`); InvalidCursorError for a cursor this list
    did not issue. The planned executor's batch: one call per level, no loader key per parent. Without `cursors`
    the rows cannot give cursors (they lack their sort value): for a page whose cursors nobody asks for."""
    statement = _page_statement(source, list_filter, order, window, columns, len(parents) == 1, cursors, joins)
    parameters = _cursor_parameters(source, order, window)
    parameters["parents"] = list(parents)
    rows = await reader.driver_rows(statement, parameters)
    return _pages(rows, parents, itemgetter(source.parent_column), window, list_name(source, order))


@dataclass(frozen=True)
class NestedList:
    """A list of each row of a page (a product's requirements in a page of products) that the page's statement reads
    too, as a `LEFT JOIN LATERAL` of the list's own page statement for the row's id: its source, filter, order,
    window (forward, from the start: no cursor given), columns, whether its rows give cursors, and its joins."""

    source: ListSource
    list_filter: Hashable
    order: Order
    window: Window
    columns: tuple[str, ...]
    cursors: bool
    joins: tuple[JoinedRows, ...] = ()


_AGGREGATABLE: dict[Hashable, bool] = {}


def aggregatable(nested: NestedList) -> bool:
    """Whether `read_pages_with_lists` can read the list as arrays: none of the columns its rows have is an array
    itself (SQLAlchemy has no array of arrays, and PostgreSQL's `array_agg` of arrays needs them all one size).
    Worked out once per source, columns, order and joins."""
    key = (nested.source, nested.columns, nested.order, nested.joins)
    known = _AGGREGATABLE.get(key)
    if known is None:
        table = nested.source.table
        columns: list[sa.ColumnElement[Any]] = [table.c[name] for name in nested.columns or table.c.keys()]
        columns.append(nested.source.order_fields[nested.order.field](table))
        for join in nested.joins:
            columns.extend(join.select(table.c[join.foreign_key]).selected_columns)  # unscoped: only its columns
        known = not any(isinstance(column.type, sa.ARRAY) for column in columns)
        if len(_AGGREGATABLE) >= 1024:
            del _AGGREGATABLE[next(iter(_AGGREGATABLE))]
        _AGGREGATABLE[key] = known
    return known


ORDER_VALUE, ORDER_ID = "_order_value", "_order_id"
"""The sort value and id of each row of a nested list's page statement, which `_in_order` reads and nobody else."""

IN_ORDER = "_in_order"
"""The column of a nested list's `_in_order` check in `_nested_statement`'s rows."""


def _list_order(rows: Any, descending: bool) -> tuple[sa.ColumnElement[Any], ...]:
    """The order of a nested list's rows in `rows` (a subquery with ORDER_VALUE and ORDER_ID), as its page statement
    orders them: sort value then id, both descending or both ascending."""
    value, key = rows.c[ORDER_VALUE], rows.c[ORDER_ID]
    return (value.desc(), key.desc()) if descending else (value.asc(), key.asc())


def _in_order(rows: Any, descending: bool) -> sa.ColumnElement[Any]:
    """Whether `array_agg` received `rows` (a subquery with ORDER_VALUE and ORDER_ID) in their order (`_list_order`):
    their ids aggregated in that order, which an aggregate's own ORDER BY guarantees, equal to their ids aggregated
    as they came. Null for no row.

    PostgreSQL does not promise the second order, though it gives it for a subquery whose ORDER BY and LIMIT nothing
    joined above reorders. This check costs one sort of each list's rows inside the aggregate; `row_number()` in the
    page statement, which it replaced, cost PostgreSQL a window set up again for each list (about 0.8 ms per
    dashboard, docs/performance.md)."""
    key = rows.c[ORDER_ID]
    ordered = sa.func.array_agg(postgresql.aggregate_order_by(key, *_list_order(rows, descending)))
    return (ordered == sa.func.array_agg(key)).label(IN_ORDER)


def aggregates_ordered(reader: UnitOfWork) -> bool:
    """Whether a nested list's arrays are aggregated each with the list's order (`array_agg(title ORDER BY rank, id)`),
    which PostgreSQL guarantees, instead of as they come and checked (`_in_order`): from PostgreSQL 16 on, whose
    planner sees that the list's page statement already gives its rows in that order and sorts nothing for it. An
    older server sorts each array's values again for each list (seven sorts a list for the dashboard), which costs
    more than the check; a server not connected to yet is taken for an older one."""
    version = reader.server_major_version
    return version is not None and version >= 16


OUTER = "_o_"
"""The prefix of the page's own columns in a statement that reads a nested list with it (the list's columns keep
their names: they are arrays, one per column, of the list's rows)."""


class _Aggregated(TypeDecorator[list[Any]]):
    """The type of `array_agg(column)`: a list of the column's values, each as the column's own type decodes it.
    No result processor when the column's type has none (asyncpg's list is the value, and the statement can be
    read by the driver: `prism.db.statements.DriverForm.exact`); the array's otherwise, which applies the item's."""

    impl = postgresql.ARRAY
    cache_ok = True

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        array: postgresql.ARRAY[Any] = self.impl_instance  # type: ignore[assignment]
        item = array.item_type.dialect_impl(dialect).result_processor(dialect, coltype)
        if item is None:
            return None
        return super().result_processor(dialect, coltype)


def _nested_statement(
    source: ListSource,
    list_filter: Hashable,
    order: Order,
    window: Window,
    columns: tuple[str, ...],
    cursors: bool,
    joins: tuple[JoinedRows, ...],
    nested: NestedList,
    ordered: bool = False,
) -> sa.Select[Any]:
    """One parent's page (`:parents`, one id) and, beside each of its rows, the page of its nested list aggregated
    into arrays, one per column of the list's rows (`array_agg` over the list's own page statement, a `LATERAL`
    select for the row's id): one row per page row, in the page's order. A thousand list rows are twenty arrays'
    elements on fifty rows, where one row each cost PostgreSQL a row to form, send and sort, and the client a
    record to decode and a lookup by name per column (docs/performance.md, "Nested lists as arrays"). With
    `ordered` (`aggregates_ordered`), each array is aggregated in the list's order; without, as the rows come, and
    `_in_order` says whether that was their order."""
    shape = _shape(window)
    key = ("page with lists", source, list_filter, order, shape, columns, cursors, joins, nested, ordered)

    def build() -> sa.Select[Any]:
        page = _build_page_statement(source, list_filter, order, shape, columns, True, cursors, joins, None, True)
        outer = page.subquery("page")
        rows = (
            _build_page_statement(
                nested.source,
                nested.list_filter,
                nested.order,
                nested.window,
                nested.columns,
                True,
                nested.cursors,
                nested.joins,
                outer.c.id,
            )
            .correlate(outer)
            .subquery("items")
        )
        aggregated = [column for column in rows.c if column.name not in (ORDER_VALUE, ORDER_ID)]
        descending = nested.order.descending != nested.window.backwards
        arrays: list[sa.ColumnElement[Any]]
        if ordered:
            ordering = _list_order(rows, descending)
            arrays = [
                sa.func.array_agg(postgresql.aggregate_order_by(c, *ordering), type_=_Aggregated(c.type)).label(c.name)
                for c in aggregated
            ]
        else:
            # Aggregated as read: the subquery's rows come in its order (its ORDER BY and LIMIT, nothing joined above
            # them), which `_in_order` checks for each list (`read_pages_with_lists`).
            arrays = [sa.func.array_agg(c, type_=_Aggregated(c.type)).label(c.name) for c in aggregated]
            arrays.append(_in_order(rows, descending))
        lists = (
            sa.select(*arrays)  # unscoped: aggregates the scoped page statement above
            .select_from(rows)
            .lateral("list")
        )
        return (
            sa.select(*(column.label(OUTER + column.name) for column in outer.c), *lists.c)  # unscoped: as above
            .select_from(outer.join(lists, sa.true()))
            .order_by(outer.c._position)
        )

    built: sa.Select[Any] = kept(key, build)
    return built


async def read_pages_with_lists(
    reader: UnitOfWork,
    source: ListSource,
    list_filter: Hashable,
    order: Order,
    window: Window,
    columns: tuple[str, ...],
    parent: UUID,
    cursors: bool,
    joins: tuple[JoinedRows, ...],
    nested: NestedList,
) -> tuple[PageOfRows, list[PageOfRows]]:
    """`read_pages` for one parent, and the nested list's page of each row of that page, in one statement: the
    page (its rows `MappedRow`s of its own columns), and a page per row of it, in order, its rows `ColumnRows`.
    OutOfOrderError when a list's rows were not aggregated in their order (`_in_order`)."""
    ordered = aggregates_ordered(reader)
    statement = _nested_statement(source, list_filter, order, window, columns, cursors, joins, nested, ordered)
    parameters = _cursor_parameters(source, order, window)
    parameters["parents"] = [parent]
    rows = await reader.driver_rows(statement, parameters)
    labels = list(rows[0].keys()) if rows else []  # `keys()`: an asyncpg record iterates over its values
    outer_labels = [label for label in labels if label.startswith(OUTER)]
    names = [label[len(OUTER) :] for label in outer_labels]
    page_rows = [MappedRow(zip(names, map(row.__getitem__, outer_labels), strict=True)) for row in rows]
    (page,) = _pages(page_rows, [parent], itemgetter(source.parent_column), window, list_name(source, order))
    # The page's rows are the first of those read (reversed for a backwards page), as `_pages` cut them.
    kept = rows[: len(page.rows)]
    if window.backwards:
        kept.reverse()
    list_labels = [label for label in labels if not label.startswith(OUTER) and label != IN_ORDER]
    size, name = nested.window.size, list_name(nested.source, nested.order)
    lists = []
    checked = IN_ORDER in labels
    for row in kept:
        # A list's rows have a column at least (its page statement reads some of the columns or every one), and
        # there are labels when there are rows.
        values = row[list_labels[0]]
        if values is None:  # no list row: every aggregate of no rows is null
            lists.append(PageOfRows(ColumnRows({label: [] for label in list_labels}, 0), name, False, False))
            continue
        if checked and not row[IN_ORDER]:
            raise OutOfOrderError("a nested list's rows came out of their order")
        count = len(values)
        found = ColumnRows({label: row[label] for label in list_labels}, count)
        more = count > size
        lists.append(PageOfRows(found[:size] if more else found, name, more, False))
    return page, lists


class OutOfOrderError(RuntimeError):
    """The rows of a nested list came aggregated in another order than theirs (PostgreSQL does not promise to
    aggregate a subquery's rows in its order; `read_pages_with_lists` checks that it did)."""


def _pages(
    rows: Sequence[Any],
    parents: Sequence[UUID],
    parent_of: Callable[[Any], UUID],
    window: Window,
    name: str,
    grouped: bool = False,
) -> list[PageOfRows]:
    """The page of each of `parents` from the rows of a page statement (grouped by parent, in order; `grouped`: even
    for one parent, whose rows may then be none of the statement's)."""
    by_parent: dict[UUID, list[Any]]
    if len(parents) == 1 and not grouped:
        by_parent = {parents[0]: list(rows)}
    else:
        # The statement orders the rows by parent: one group per parent, cut at C speed.
        by_parent = {parent: list(group) for parent, group in groupby(rows, parent_of)}
    size, backwards = window.size, window.backwards
    has_next_default = window.before is not None
    has_previous_default = window.after is not None
    result = []
    for parent in parents:
        found = by_parent.get(parent, [])
        more = len(found) > size
        page = found[:size] if more else found
        if backwards:
            page.reverse()
        result.append(
            PageOfRows(
                rows=page,
                list_name=name,
                has_next_page=has_next_default if backwards else more,
                has_previous_page=more if backwards else has_previous_default,
            )
        )
    return result


@dataclass(frozen=True)
class CountKey:
    """How many `source` rows lie under `parent` with `filter`."""

    source: ListSource
    parent: UUID
    filter: Hashable


def _count_statement(source: ListSource, list_filter: Hashable) -> sa.Select[Any]:
    table = source.table
    parent = table.c[source.parent_column]
    return (
        tenant_select(table, unit_organization(), parent.label("parent"), sa.func.count().label("total"))
        .where(any_of(parent, "parents"), *source.where(table, list_filter))
        .group_by(parent)
    )


def _kept_count_statement(source: ListSource, list_filter: Hashable) -> sa.Select[Any]:
    statement: sa.Select[Any] = kept(("count", source, list_filter), lambda: _count_statement(source, list_filter))
    return statement


async def read_counts(
    reader: UnitOfWork, source: ListSource, list_filter: Hashable, parents: Sequence[UUID]
) -> list[int]:
    """How many `source` rows lie under each of `parents` with `filter`, in one statement, as CountLoader counts
    them, read by the driver (`UnitOfWork.driver_rows`): the planned executor's `totalCount` of a level."""
    statement = _kept_count_statement(source, list_filter)
    rows = await reader.driver_rows(statement, {"parents": list(parents)})
    found = dict(zip(map(itemgetter("parent"), rows), map(itemgetter("total"), rows), strict=True))
    return [found.get(parent, 0) for parent in parents]


class CountLoader(DataLoader[CountKey, int]):
    """Total counts for connections, one grouped statement per distinct (source, filter)."""

    def __init__(self, reader: UnitOfWork, organization_id: UUID) -> None:
        super().__init__()
        self._reader = reader
        self._organization_id = organization_id

    async def batch_load_fn(self, keys: Sequence[CountKey]) -> list[int]:
        groups: dict[tuple[Any, ...], list[CountKey]] = defaultdict(list)
        for key in keys:
            groups[(key.source, key.filter)].append(key)
        counts: dict[CountKey, int] = {}
        for group in groups.values():
            source, list_filter = group[0].source, group[0].filter
            statement = _kept_count_statement(source, list_filter)
            rows = await self._reader.all(statement, {"parents": [k.parent for k in group]})
            found = {row.parent: row.total for row in rows}
            counts.update({key: found.get(key.parent, 0) for key in group})
        return [counts[key] for key in keys]
