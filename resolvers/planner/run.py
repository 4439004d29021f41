"""Running a plan: one batch per relation and list of each level, rows assembled straight into dicts.

The statements are the loaders' own (the same classes, keys, columns and kept statements the resolvers use), so
the SQL is the same tenant-scoped batch SQL on the request's unit of work, and row-level security applies as on the
resolver path. The batches are the plan's own, though: a level's pages or rows by id are one call for all its keys
(`loaders.pagination.read_pages`, `PlanRun.rows`), without a loader key and future per key, and their rows are read
by asyncpg itself (`UnitOfWork.driver_rows`), without SQLAlchemy's result and row objects. Every row the plan reads
is read by column name (`row["title"]`): a driver row, or a `MappedRow` for the few loads that still go through a
loader (a lookup by key, a requirement's parent). A level's values are computed a column at a time (every row's
value of one key), then zipped into one dict per row. Every object counts its keys as work, as the metered executor
counts them on the resolver path.
"""

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from itertools import accumulate, chain, compress, groupby, repeat
from operator import attrgetter, is_, itemgetter, sub
from typing import Any, cast
from uuid import UUID

import sqlalchemy as sa
from graphql import GraphQLError, GraphQLNonNull, located_error
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path
from strawberry import relay
from strawberry.types.arguments import convert_arguments

from loaders.pagination import (
    InvalidCursorError,
    JoinedRows,
    NestedList,
    Order,
    OutOfOrderError,
    PageOfRows,
    Window,
    aggregatable,
    read_counts,
    read_pages,
    read_pages_with_lists,
    validate_cursor,
)
from prism.db.statements import ColumnRows, MappedRow, column_values, mapped
from prism.errors import PrismError
from resolvers.common import window
from resolvers.node import MAX_NODES
from resolvers.planner.plans import (
    Connection,
    Constant,
    ContextObject,
    Count,
    DerivedValue,
    FallbackError,
    FieldPlan,
    Leaf,
    Lookup,
    NodeLookup,
    ObjectPlan,
    Relation,
    RelationSource,
    RootPlan,
)

__all__ = ["PlanRun"]


def _tokens(keys: list[Any]) -> list[Any]:
    """A key for each of `keys` that hashes fast and is equal where they are: the 16 bytes of a UUID (a UUID hashes
    in Python the first time, about half a microsecond: a thousand rows' foreign keys would cost half a
    millisecond), the keys themselves when they are not all UUIDs or null; None stays None."""
    kinds = set(map(type, keys))
    nulls = _NONE in kinds
    kinds.discard(_NONE)
    if len(kinds) != 1 or not issubclass(next(iter(kinds)), UUID):
        return keys
    if nulls:
        return [None if key is None else key.bytes for key in keys]
    return list(map(_BYTES, keys))


def _derived(field: DerivedValue, targets: Sequence[Any], rows: Sequence[Any]) -> list[Any]:
    """A derived field's value for each row, from its related row in `targets` and its own columns."""
    derived = field.derived
    value = derived.value
    if len(derived.columns) == 1:
        many = getattr(value, "many", None)
        if many is not None:
            return many(targets, column_values(rows, derived.columns[0]))  # type: ignore[no-any-return]
        return list(map(value, targets, column_values(rows, derived.columns[0])))
    fetch = itemgetter(*derived.columns)
    return [value(target, *fetch(row)) for target, row in zip(targets, rows, strict=True)]


def _keys_in(value: Any) -> int:
    """The keys of the objects in an answer's value (an object, a list, a leaf): the work completing it counts."""
    if type(value) is dict:
        return len(value) + sum(map(_keys_in, value.values()))
    if type(value) is list:
        return sum(map(_keys_in, value))
    return 0


def _repeated_work(values: list[Any]) -> int:
    """The work of completing again each object of `values` that is the same as an earlier one (rows sharing a
    related row share its object): the resolvers complete one object per row, its keys and its objects' keys."""
    places = list(map(id, values))
    if len(set(places)) == len(places):
        return 0
    objects = dict(zip(places, values, strict=True))
    counts = Counter(places)
    return sum(_keys_in(objects[place]) * (count - 1) for place, count in counts.items() if count > 1)


def _parents(parents: Sequence[Any] | None) -> Sequence[Any]:
    """The rows of the objects whose lists the nodes are in, for a relation to that object (`from_parent`): its key
    is not read with the nodes, so without them the resolvers answer (never the case: a list's nodes come with them)."""
    if parents is None:
        raise FallbackError("a relation to the list's object, without it")
    return parents


async def _all_or_none(awaitables: Iterable[Awaitable[list[Any]]]) -> list[list[Any]]:
    """`asyncio.gather` of sibling fields, which stops the others when one fails: the request goes on without the
    plan (the resolvers answer it), and no batch of the abandoned plan may still read on the request's connection
    while they do (a unit's reads are shielded: a statement already sent finishes before the next one starts)."""
    tasks = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


_BYTES = attrgetter("bytes")
_NONE = type(None)


@dataclass(frozen=True)
class _Join:
    """A to-one relation of a connection's nodes read with the page (`JoinedRows`), and the batch of `PlanRun.rows`
    whose rows it gives: the loader and columns, the related row's column names (but its id, the foreign key) and
    their labels in the page. `direct`: every field that reads the relation is answered from those labelled columns
    alone (`_Direct`), so its rows are not kept for a batch by id."""

    rows: JoinedRows
    batch: tuple[Any, tuple[str, ...]]
    names: tuple[str, ...]
    labels: tuple[str, ...]
    direct: bool = False
    keyed: bool = True
    """Whether the page's rows have the foreign key: a direct join's is not read when nothing else needs it."""


def _rows_by_id(plan: ObjectPlan, counts: dict[tuple[str, ...], int]) -> dict[tuple[str, ...], int]:
    """How many fields of `plan` and of the plans below it read rows by id (or key) with each set of columns: the
    batches of `PlanRun.rows` that rows a page read beside its own could serve (whatever the loader: an upper bound)."""
    for _, field in plan.fields:
        if isinstance(field, Relation | DerivedValue):
            counts[field.source.columns] = counts.get(field.source.columns, 0) + 1
        if isinstance(field, Lookup):
            columns = field.child.row_columns()
            counts[columns] = counts.get(columns, 0) + 1
        if isinstance(field, Relation | Lookup | ContextObject):
            _rows_by_id(field.child, counts)
        elif isinstance(field, Connection):
            for _, part in field.parts:
                if part.child is not None:
                    _rows_by_id(part.child, counts)
        elif isinstance(field, NodeLookup):
            for _, child in field.types.values():
                if child is not None:
                    columns = child.row_columns()
                    counts[columns] = counts.get(columns, 0) + 1
                    _rows_by_id(child, counts)
    return counts


def _columns_read(field: Connection, directs: dict[int, Any]) -> set[str] | None:
    """The columns of its rows that the fields of a connection's nodes read in Python, but the keys of its direct
    relations (`_Direct`); None when a field may read any of them."""
    read: set[str] = set()
    for _, part in field.parts:
        for _, child in part.child.fields if part.child is not None else ():
            if id(child) in directs or isinstance(child, Constant):
                continue
            if isinstance(child, Leaf) and child.reads:
                read.update(child.reads)
            elif isinstance(child, Relation | DerivedValue) and child.source.column is not None:
                if not child.source.from_parent:
                    read.add(child.source.column)
                if isinstance(child, DerivedValue):
                    read.update(child.derived.columns)
            elif isinstance(child, Count):
                read.add(child.column)
            elif isinstance(child, Connection):
                read.add("id")
            else:
                return None
    return read


@dataclass(frozen=True)
class _Direct:
    """A to-one relation whose object is made of the joined row's columns alone (an assignee's name): each node's
    object is built from its own page row, where `found` says whether there is one, each value by a leaf over the
    labelled columns (`Leaf.relabel`). No foreign key is read in Python, no key hashed, no row kept."""

    found: str
    values: tuple[Leaf | Constant, ...]


def _direct(relation: Any, names: tuple[str, ...], prefix: str, found: str) -> _Direct | None:
    """How `relation` is answered from its join's columns, or None when its object needs anything else (its id, a
    column not read, a relation or list of its own)."""
    if not isinstance(relation, Relation) or relation.kind != "one":
        return None
    labels = {name: prefix + name for name in names}
    values: list[Leaf | Constant] = []
    for _, child in relation.child.fields:
        if isinstance(child, Constant):
            values.append(child)
        elif isinstance(child, Leaf) and child.relabel is not None and child.reads and set(child.reads) <= set(labels):
            values.append(child.relabel(labels))
        else:
            return None
    return _Direct(found, tuple(values))


def _node_columns(field: Connection) -> tuple[str, ...]:
    """The columns a connection's page reads: what the plans of its nodes (and edges' nodes) need, and the id when
    its rows give cursors (the id alone when nothing else); not the keys only its direct joins read (`_joins`)."""
    columns: dict[str, None] = {"id": None} if field.cursors else {}
    for _, part in field.parts:
        if part.child is not None:
            columns.update(part.child.columns)
    for join in field.arguments["joins"]:
        if not join.keyed:
            columns.pop(join.rows.foreign_key, None)
    return tuple(columns) or ("id",)


def _nested_connection(field: Connection) -> Connection | None:
    """The connection among the fields of `field`'s nodes (or edges' nodes) when there is exactly one, of nodes
    (a product's requirements in a page of products), once per plan; None otherwise."""
    if "nested" in field.arguments:
        return field.arguments["nested"]  # type: ignore[no-any-return]
    found = [
        child
        for _, part in field.parts
        if part.child is not None
        for _, child in part.child.fields
        if isinstance(child, Connection)
    ]
    nested = found[0] if len(found) == 1 and found[0].spec.parent_kind == "node" else None
    field.arguments["nested"] = nested
    return nested


def _joins(field: Connection, by_id: dict[tuple[str, ...], int]) -> tuple[_Join, ...]:
    """The to-one relations (and derived values) of the connection's nodes whose rows its page statement can read
    with each row (a loader with `for_key`: rows by id, as `PlanRun.rows` would read them), once per plan. A direct
    join's foreign key is not read when no other field of the nodes reads it and no field of the plan (`by_id`, the
    root plan's `_rows_by_id`) reads rows by id with the same columns, which the joined rows would otherwise serve:
    a UUID per row decoded for nothing."""
    known = field.arguments.get("joins")
    if known is not None:
        return known  # type: ignore[no-any-return]
    joins: dict[tuple[Any, ...], _Join] = {}
    readers: dict[tuple[Any, ...], list[Any]] = {}
    for _, part in field.parts:
        for _, child in part.child.fields if part.child is not None else ():
            source = getattr(child, "source", None)
            if not isinstance(child, Relation | DerivedValue) or (isinstance(child, Relation) and child.kind != "one"):
                continue
            if source is None or source.from_parent or source.column is None:
                continue
            for_key = getattr(source.loader, "for_key", None)
            identity = (source.loader, source.columns, source.column)
            readers.setdefault(identity, []).append(child)
            if for_key is None or identity in joins:
                continue
            probe = for_key(source.columns, sa.column(source.column))
            if probe is None:
                continue
            # The related row's id is the foreign key, not read again (`loaders.pagination._joined`).
            names = tuple(column.name for column in probe.selected_columns if column.name != "id")
            prefix = f"_j{len(joins)}_"
            joins[identity] = _Join(
                rows=JoinedRows(
                    source.column, prefix, (source.loader, source.columns), partial(for_key, source.columns)
                ),
                batch=(source.loader, source.columns),
                names=names,
                labels=tuple(prefix + name for name in names),
            )
    directs: dict[int, _Direct] = {}
    for identity, join in joins.items():
        answered = [
            (reader, _direct(reader, join.names, join.rows.prefix, join.rows.found)) for reader in readers[identity]
        ]
        if all(direct is not None for _, direct in answered):
            joins[identity] = replace(join, direct=True)
            directs.update((id(reader), direct) for reader, direct in answered if direct is not None)
    read = _columns_read(field, directs)
    unkeyed = {
        identity
        for identity, join in joins.items()
        if join.direct
        and read is not None
        and join.rows.foreign_key not in read
        and by_id.get(join.batch[1], 0) == len(readers[identity])
    }
    for identity, join in joins.items():
        # The page's rows have a column or not: every join on the same key (`a: assignee { name } b: assignee {
        # email }`) must do without it, or the one whose rows a batch by id keeps would find no key to keep them by.
        same_key = [other for other, joined in joins.items() if joined.rows.foreign_key == join.rows.foreign_key]
        if all(other in unkeyed for other in same_key):
            joins[identity] = replace(join, keyed=False)
    found = tuple(joins.values())
    field.arguments["directs"] = directs
    field.arguments["joins"] = found
    return found


class _Info:
    """What a permission class or an argument conversion reads of `info`: the context."""

    def __init__(self, context: Any) -> None:
        self.context = context


class PlanRun:
    """One request's execution of a plan; `work` counts the keys of every object built."""

    def __init__(self, context: Any, variable_values: Any, strawberry_schema: Any) -> None:
        self.context = context
        self.variables = variable_values
        self._schema = strawberry_schema
        self.work = 0
        self.errors: list[tuple[GraphQLError, Path]] = []
        """Field errors to report (a root lookup's NOT_FOUND), with where they are."""
        self._found: dict[tuple[Any, tuple[str, ...]], dict[Any, Any]] = {}
        """The rows read by id so far, per loader and columns (None: no visible row), as a loader caches them."""
        self._pending: dict[tuple[Any, tuple[str, ...]], tuple[dict[Any, None], asyncio.Future[None]]] = {}
        """The batch of rows by id each loader and columns is about to read, which sibling fields may join."""
        self._keys_read: dict[str, tuple[Sequence[Any], list[Any], list[Any]]] = {}
        """The last list of rows whose keys in a column were read, with those keys and their tokens (`_keys_of`)."""
        self._by_id: dict[tuple[str, ...], int] = {}
        """The root plan's `_rows_by_id`."""
        self._unkept: dict[tuple[Any, tuple[str, ...]], list[tuple[_Join, Sequence[Any]]]] = {}
        """Rows pages read beside their own (`_joins`) that no batch by id has needed yet, per batch (`rows`)."""
        self._directs: dict[int, tuple[_Direct, Sequence[Any]]] = {}
        """The to-one relations answered from their page's joined columns (`_Direct`), by the plan's id, with the
        page rows they are answered for."""
        self._lists: dict[int, tuple[list[Any], list[PageOfRows]]] = {}
        """Pages a level's statement read for the connection of the level below (by the plan's id), with the ids of
        the rows they belong to, in order (`_nested`)."""

    @property
    def loaders(self) -> Any:
        """The request's loaders (only once the permission checks have let a signed-in viewer through)."""
        return self.context.loaders

    async def rows(self, loader: Any, columns: tuple[str, ...], keys: Sequence[Any]) -> list[Any]:
        """The row of each of `keys` (distinct, none null) that `loader` reads with `columns`, None for a key that
        names no visible row: one statement for the keys not read before in this request, by the driver when the
        loader reads by id with a kept statement (`RowLoader.by_ids`), through the loader otherwise."""
        built = self.loaders.rows(loader, columns)
        statement = built.by_ids() if hasattr(built, "by_ids") else None
        if statement is None:
            return mapped(await built.load_many(keys))
        unkept = self._unkept.pop((loader, columns), None)
        for join, page_rows in unkept or ():
            self._keep_joined(join, page_rows)
        found = self._found.get((loader, columns))
        if found is None:
            found = self._found[(loader, columns)] = {}
        wanted = [key for key in keys if key not in found] if found else keys
        if wanted:
            pending = self._pending.get((loader, columns))
            if pending is not None:
                # A sibling field's batch of the same rows, not sent yet: these keys go with it.
                pending[0].update(dict.fromkeys(wanted))
                await pending[1]
            else:
                await self._read_batch(statement, (loader, columns), found, wanted, built.key_column)
            if not all(map(found.__contains__, wanted)):
                raise FallbackError("a batch of rows was not read")
        return list(map(found.__getitem__, keys))

    def _nested(self, field: Connection, distinct: Sequence[Any]) -> tuple[Connection, NestedList] | None:
        """The one list of the connection's nodes that its page statement can read with its rows (`NestedList`): for a
        page of one parent, a list of each node read forwards from its start (no cursor given); None otherwise."""
        if len(distinct) != 1:
            return None
        inner = _nested_connection(field)
        if inner is None:
            return None
        list_filter, order, window = self._list_arguments(inner)
        if window.after is not None or window.before is not None or window.backwards:
            return None
        joins = tuple(join.rows for join in _joins(inner, self._by_id))
        nested = NestedList(inner.spec.source, list_filter, order, window, _node_columns(inner), inner.cursors, joins)
        # A list with a column that is an array cannot come as arrays: each level reads its own (`read_pages`).
        return (inner, nested) if aggregatable(nested) else None

    def _keys_of(self, rows: Sequence[Any], column: str) -> tuple[list[Any], list[Any]]:
        """The key in `column` of each of `rows`, and its token (`_tokens`), read once per list of rows: a page's
        joined relation (`_keep_joined`) and the relation's own field read the same thousand foreign keys."""
        known = self._keys_read.get(column)
        if known is not None and known[0] is rows:
            return known[1], known[2]
        keys = column_values(rows, column)
        tokens = _tokens(keys)
        self._keys_read[column] = (rows, keys, tokens)
        return keys, tokens

    def _keep_joined(self, join: "_Join", rows: Sequence[Any]) -> None:
        """The related rows a page's statement read beside its rows (`_joins`), kept as `rows` would have read them
        by id: the relation's batch then finds every key it needs and sends no statement."""
        found = self._found.get(join.batch)
        if found is None:
            found = self._found[join.batch] = {}
        names, labels, found_label = ("id", *join.names), join.labels, join.rows.found
        keys, tokens = self._keys_of(rows, join.rows.foreign_key)
        # The first row of each distinct key, found by its UUID's 16 bytes (an asyncpg UUID hashes in Python).
        first = dict(zip(reversed(tokens), reversed(range(len(keys))), strict=True))
        first.pop(None, None)
        for index in first.values():
            key, row = keys[index], rows[index]
            if key in found:
                continue
            if row[found_label]:
                found[key] = MappedRow(zip(names, (key, *map(row.__getitem__, labels)), strict=True))
            else:
                found[key] = None

    async def _read_batch(
        self,
        statement: Any,
        batch: tuple[Any, tuple[str, ...]],
        found: dict[Any, Any],
        wanted: Sequence[Any],
        key_column: str = "id",
    ) -> None:
        """Read the rows of `wanted` and of the keys sibling fields add in the meantime (one step of the event
        loop, as a DataLoader waits), in one statement, into `found`."""
        keys = dict.fromkeys(wanted)
        done = asyncio.get_running_loop().create_future()
        self._pending[batch] = (keys, done)
        try:
            await asyncio.sleep(0)
            del self._pending[batch]
            read = await self.loaders.reader.driver_rows(statement, {"ids": list(keys)})
            found.update(zip(map(itemgetter(key_column), read), read, strict=True))
            for key in keys:
                found.setdefault(key, None)
        finally:
            self._pending.pop(batch, None)
            done.set_result(None)

    async def row(self, loader: Any, columns: tuple[str, ...], key: Any) -> Any:
        """The row of one key (`rows`)."""
        (found,) = await self.rows(loader, columns, [key])
        return found

    def check_permissions(self, plan: RootPlan) -> None:
        """The role checks of the plan's fields, once; a refusal is answered by the resolvers (FallbackError)."""
        info = _Info(self.context)
        for permission in plan.permissions:
            try:
                permission().has_permission(None, info)
            except PrismError as error:
                raise FallbackError("permission") from error

    async def root(self, plan: RootPlan) -> dict[str, Any]:
        """The answer's `data`."""
        self.check_permissions(plan)
        if plan.by_id is None:
            plan.by_id = _rows_by_id(plan.root, {})
        self._by_id = plan.by_id
        (data,) = await self.objects(plan.root, [None])
        return data

    def arguments(self, definition: Any, node: Any, strawberry_field: Any) -> dict[str, Any]:
        """A field's arguments for this request, converted to Python as Strawberry gives them to its resolver."""
        raw = get_argument_values(definition, node, self.variables)
        return convert_arguments(
            raw,
            strawberry_field.arguments,
            scalar_registry=self._schema.schema_converter.scalar_registry,
            config=self._schema.config,
        )

    async def objects(
        self, plan: ObjectPlan, rows: Sequence[Any], parents: Sequence[Any] | None = None
    ) -> list[dict[str, Any]]:
        """One dict per row; `parents`: for nodes of a list, the row of the object each one's list belongs to."""
        if not rows:
            return []
        if not plan.fields:
            # Every field skipped (`@include(if: false)`): an empty object per row, as graphql-core completes it.
            return [{} for _ in rows]
        keys = [key for key, _ in plan.fields]
        columns: list[list[Any] | None] = [None] * len(keys)
        pending: list[tuple[int, Awaitable[list[Any]]]] = []
        for index, (_, field) in enumerate(plan.fields):
            if isinstance(field, Leaf):
                columns[index] = field.values(rows)
            elif isinstance(field, Constant):
                columns[index] = [field.value] * len(rows)
            elif isinstance(field, DerivedValue) and field.source.from_parent and parents is not None:
                # From the rows of the objects whose lists these are: nothing to read, nothing to wait for.
                columns[index] = _derived(field, parents, rows)
            elif isinstance(field, Lookup):
                pending.append((index, self._lookup(field, keys[index])))
            else:
                pending.append((index, self._column(field, rows, parents)))
        if len(pending) == 1:
            index, awaitable = pending[0]
            columns[index] = await awaitable
        elif pending:
            for (index, _), column in zip(pending, await _all_or_none(a for _, a in pending), strict=True):
                columns[index] = column
        self.work += len(keys) * len(rows)
        return plan.assemble(columns)  # type: ignore[arg-type]

    async def _column(self, field: FieldPlan, rows: Sequence[Any], parents: Sequence[Any] | None) -> list[Any]:
        if isinstance(field, Relation):
            return await self._relation(field, rows, parents)
        if isinstance(field, Count):
            keys = column_values(rows, field.column)
            tokens = _tokens(keys)
            distinct = dict(zip(tokens, keys, strict=True))
            loader = self.loaders.get(field.loader)
            if hasattr(loader, "counts_by_ids") and tokens is not keys and None not in distinct:
                # One statement, read by the driver: a row for each key with a count, 0 for the others.
                wanted = {"ids": list(distinct.values())}
                read = await self.loaders.reader.driver_rows(loader.counts_by_ids(), wanted)
                counted = map(_BYTES, map(itemgetter("parent"), read))
                found = dict(zip(counted, map(itemgetter("total"), read), strict=True))
                return list(map(found.get, tokens, repeat(0)))
            counts = await loader.load_many(list(distinct.values()))
            return list(map(dict(zip(distinct, counts, strict=True)).__getitem__, tokens))
        if isinstance(field, DerivedValue):
            targets = await self._targets(field.source, rows, parents)
            # Not `None in targets`: that compares every row with None through the row's __eq__.
            if any(map(is_, targets, repeat(None))):
                raise FallbackError(field.derived.relation)
            return _derived(field, targets, rows)
        if isinstance(field, Connection):
            return await self._connection(field, rows)
        if isinstance(field, NodeLookup):
            return await (self._nodes(field) if field.many else self._node(field))
        if isinstance(field, ContextObject):
            return await self.objects(field.child, [field.make(self.context)])
        raise AssertionError(f"unknown field plan {field!r}")

    def _keys(self, source: RelationSource, rows: Sequence[Any]) -> list[Any]:
        if source.column is not None:
            return column_values(rows, source.column)
        assert source.build_node is not None
        build, key = source.build_node, source.key
        return [key(build(row)) for row in rows]

    async def _targets(self, source: RelationSource, rows: Sequence[Any], parents: Sequence[Any] | None) -> list[Any]:
        """The related row of each row (None when the key is null or the row is not visible)."""
        if source.from_parent:
            return list(_parents(parents))
        keys = self._keys(source, rows)
        tokens = _tokens(keys)
        distinct = dict(zip(tokens, keys, strict=True))
        distinct.pop(None, None)
        loaded = await self.rows(source.loader, source.columns, list(distinct.values()))
        # A null key is in no batch, so `found.get` answers it None as it does a row that is not visible.
        return list(map(dict(zip(distinct, loaded, strict=True)).get, tokens))

    def _direct_relation(self, field: Relation, direct: _Direct, rows: Sequence[Any]) -> list[Any]:
        """A to-one relation's object for each row from the row's joined columns (`_Direct`), null where no row was
        joined (a null key, a row not visible); an object per row, as the resolvers complete one per row."""
        flags = column_values(rows, direct.found)
        if all(flags):
            present = rows
        else:
            present = rows.compress(flags) if type(rows) is ColumnRows else list(compress(rows, flags))
        if len(present) != len(rows) and not field.nullable:
            raise FallbackError("a null in a non-null relation")
        plan = field.child
        if not plan.fields:
            objects: list[Any] = [{} for _ in present]
        else:
            objects = plan.assemble(
                [
                    value.values(present) if isinstance(value, Leaf) else [value.value] * len(present)
                    for value in direct.values
                ]
            )
            self.work += len(plan.fields) * len(present)
        if len(present) == len(rows):
            return objects
        built = iter(objects)
        return [next(built) if flag else None for flag in flags]

    async def _relation(self, field: Relation, rows: Sequence[Any], parents: Sequence[Any] | None) -> list[Any]:
        direct = self._directs.get(id(field))
        if direct is not None and direct[1] is rows:
            return self._direct_relation(field, direct[0], rows)
        if field.kind == "one":
            source = field.source
            if source.from_parent:
                of_list = _parents(parents)
                places = list(map(id, of_list))
                distinct = dict(zip(places, of_list, strict=True))
                built = dict(zip(distinct, await self.objects(field.child, list(distinct.values())), strict=True))
                values = list(map(built.__getitem__, places))
            else:
                # One object per distinct key; a key that is null or names no visible row answers null.
                if source.column is not None:
                    keys, tokens = self._keys_of(rows, source.column)
                else:
                    keys = self._keys(source, rows)
                    tokens = _tokens(keys)
                wanted = dict(zip(tokens, keys, strict=True))
                wanted.pop(None, None)
                loaded = await self.rows(source.loader, source.columns, list(wanted.values()))
                found = [(token, row) for token, row in zip(wanted, loaded, strict=True) if row is not None]
                objects = await self.objects(field.child, [row for _, row in found])
                by_token = dict(zip([token for token, _ in found], objects, strict=True))
                answer: Callable[[Any], Any] = by_token.get
                values = list(map(answer, tokens))
            if not field.nullable and None in values:
                raise FallbackError("a null in a non-null relation")
            self.work += _repeated_work(values)
            return values
        keys = self._keys(field.source, rows)
        tokens = _tokens(keys)
        distinct = dict(zip(tokens, keys, strict=True))
        loader = self.loaders.rows(field.source.loader, field.source.columns)
        if hasattr(loader, "lists_by_ids") and tokens is not keys and None not in distinct:
            # One statement, read by the driver, its rows in order of their key: one group per key that has any.
            read = await self.loaders.reader.driver_rows(loader.lists_by_ids(), {"ids": list(distinct.values())})
            key = itemgetter(loader.list_key)
            groups = {parent.bytes: list(group) for parent, group in groupby(read, key)}
            lists = [groups.get(token, []) for token in distinct]
        else:
            lists = [mapped(items) for items in await loader.load_many(list(distinct.values()))]
        sizes = list(map(len, lists))
        if field.maximum is not None and sizes and max(sizes) > field.maximum:
            raise FallbackError("a list over its maximum")
        members: list[Any] = await self.objects(field.child, list(chain.from_iterable(lists)))
        # Each key's objects are a slice of the level's, cut at C speed.
        ends = list(accumulate(sizes))
        built_lists = list(map(members.__getitem__, map(slice, map(sub, ends, sizes), ends)))  # type: ignore[arg-type]
        if len(built_lists) == len(tokens):
            return built_lists  # every row's key is its own (a list per row id)
        by_token = dict(zip(distinct, built_lists, strict=True))
        return [list(by_token[token]) for token in tokens]

    async def _lookup(self, field: Lookup, key: str) -> list[Any]:
        try:
            arguments = self.arguments_of(field)
            row = await field.find(self, arguments)
        except (PrismError, GraphQLError) as error:
            raise FallbackError("lookup") from error
        if row is None:
            if field.missing is None or isinstance(field.definition.type, GraphQLNonNull):
                raise FallbackError("not found")
            path = Path(None, key, None)
            self.errors.append((located_error(field.missing(arguments), list(field.nodes), path.as_list()), path))
            return [None]
        return await self.objects(field.child, [row])

    async def _node(self, field: NodeLookup) -> list[Any]:
        try:
            given = get_argument_values(field.definition, field.node, self.variables)["id"]
            global_id = given if isinstance(given, relay.GlobalID) else relay.GlobalID.from_id(str(given))
            row_id = UUID(global_id.node_id)
        except (GraphQLError, ValueError, TypeError, KeyError) as error:
            raise FallbackError("node id") from error
        cls, plan = field.types.get(global_id.type_name, (None, None))
        if cls is None or plan is None or not self.context.member.can(cls.read_permission):
            raise FallbackError("node type")
        row = await self.row(cls.loader, plan.row_columns(), row_id)
        if row is None:
            raise FallbackError("node not found")
        return await self.objects(plan, [row])

    async def _nodes(self, field: NodeLookup) -> list[Any]:
        """`nodes(ids:)` as the resolvers answer it: per id, null when its type is unknown or not readable by the
        viewer's role, its id is not a UUID, or its row is not visible; the rows loaded per type, in one batch."""
        try:
            given = get_argument_values(field.definition, field.node, self.variables)["ids"]
            global_ids = [gid if isinstance(gid, relay.GlobalID) else relay.GlobalID.from_id(str(gid)) for gid in given]
        except (GraphQLError, ValueError, TypeError, KeyError) as error:
            raise FallbackError("node ids") from error
        if len(global_ids) > MAX_NODES:
            raise FallbackError("too many ids")
        wanted: list[tuple[str, UUID] | None] = []
        by_type: dict[str, dict[UUID, None]] = {}
        for global_id in global_ids:
            cls, plan = field.types.get(global_id.type_name, (None, None))
            if cls is None or not self.context.member.can(cls.read_permission):
                wanted.append(None)
                continue
            try:
                row_id = UUID(global_id.node_id)
            except ValueError:
                wanted.append(None)
                continue
            if plan is None:
                raise FallbackError("node type")
            wanted.append((global_id.type_name, row_id))
            by_type.setdefault(global_id.type_name, {})[row_id] = None
        found: dict[tuple[str, UUID], Any] = {}
        for type_name, row_ids in by_type.items():
            cls, plan = field.types[type_name]
            assert plan is not None
            rows = await self.rows(cls.loader, plan.row_columns(), list(row_ids))
            found.update(((type_name, row_id), row) for row_id, row in zip(row_ids, rows, strict=True))
        # One object per id, repeats included, as the resolvers complete each item of the list (and count its work).
        answer: list[Any] = [None] * len(wanted)
        for type_name, (_, plan) in field.types.items():
            places = [
                (index, found[key])
                for index, key in enumerate(wanted)
                if key is not None and key[0] == type_name and found.get(key) is not None
            ]
            if places and plan is not None:
                objects = await self.objects(plan, [row for _, row in places])
                for (index, _), built in zip(places, objects, strict=True):
                    answer[index] = built
        return [answer]

    def arguments_of(self, field: Lookup) -> dict[str, Any]:
        """A root lookup's arguments for this request, as GraphQL values (ids and keys are strings)."""
        return get_argument_values(field.definition, field.node, self.variables)

    def _list_arguments(self, field: Connection) -> tuple[Any, Order, Window]:
        """A connection's filter, order and window for this request (FallbackError for arguments its resolver would
        refuse); converted once per plan when they read no variable."""
        known = field.arguments.get("converted") if field.constant else None
        if known is not None:
            return known  # type: ignore[no-any-return]
        spec = field.spec
        try:
            arguments = self.arguments(field.definition, field.node, field.strawberry_field)
            if spec.arguments is None:
                list_filter, order = spec.filter, spec.order
            else:
                list_filter, order = spec.arguments.convert(arguments.get("filter"), arguments.get("order_by"))
            page_window = window(arguments["first"], arguments["after"], arguments["last"], arguments["before"])
            for cursor in (arguments["after"], arguments["before"]):
                if cursor is not None:
                    validate_cursor(spec.source, order, cursor)
        except (PrismError, InvalidCursorError, GraphQLError) as error:
            raise FallbackError("connection arguments") from error
        if field.constant:
            field.arguments["converted"] = (list_filter, order, page_window)
        return list_filter, order, page_window

    async def _connection(self, field: Connection, rows: Sequence[Any]) -> list[Any]:
        spec = field.spec
        list_filter, order, page_window = self._list_arguments(field)
        joins = _joins(field, self._by_id)
        columns = _node_columns(field)
        parents: list[UUID] = (
            [self.context.member.organization_id] * len(rows)
            if spec.parent_kind == "organization"
            else column_values(rows, "id")
        )
        distinct = list(dict.fromkeys(parents))
        joined = tuple(join.rows for join in joins)
        read: list[PageOfRows]
        known = self._lists.pop(id(field), None)
        nested = self._nested(field, distinct) if known is None else None
        if known is not None and known[0] == distinct:
            # The page statement of the level above read these pages with its own rows.
            read = known[1]
        elif nested is not None:
            inner, nested_list = nested
            try:
                page, lists = await read_pages_with_lists(
                    self.loaders.reader,
                    spec.source,
                    list_filter,
                    order,
                    page_window,
                    columns,
                    distinct[0],
                    field.cursors,
                    joined,
                    nested_list,
                )
            except OutOfOrderError as error:
                raise FallbackError("a nested list out of order") from error
            read = [page]
            self._lists[id(inner)] = (list(map(itemgetter("id"), page.rows)), lists)
        else:
            read = await read_pages(
                self.loaders.reader,
                spec.source,
                list_filter,
                order,
                page_window,
                columns,
                distinct,
                field.cursors,
                joined,
            )
        wants_count = any(part.kind == "totalCount" for _, part in field.parts)
        totals: list[int] | None = None
        if wants_count:
            totals = await read_counts(self.loaders.reader, spec.source, list_filter, distinct)
        if len(distinct) != len(parents):
            by_parent = dict(zip(distinct, read, strict=True))
            pages = list(map(by_parent.__getitem__, parents))
            if totals is not None:
                by_parent_total = dict(zip(distinct, totals, strict=True))
                totals = list(map(by_parent_total.__getitem__, parents))
        else:
            pages = read
        sizes = [len(page.rows) for page in pages]
        # The pages' rows in one list, and each one's parent row, at C speed (a thousand rows on the dashboard);
        # the lists a level above read as arrays stay arrays, one list per column (`ColumnRows`).
        flat: Sequence[Any]
        first = pages[0].rows if pages else None
        if isinstance(first, ColumnRows):
            flat = ColumnRows.concat([cast(ColumnRows, page.rows) for page in pages], list(first.columns))
        else:
            flat = list(chain.from_iterable(page.rows for page in pages))
        for join in joins:
            if join.direct:
                # Kept only if a batch by id asks for these rows after all (a level below: `rows`).
                if join.keyed:
                    self._unkept.setdefault(join.batch, []).append((join, flat))
            else:
                self._keep_joined(join, flat)
        for relation, direct in field.arguments["directs"].items():
            self._directs[relation] = (direct, flat)
        if len(pages) != len(rows):
            raise AssertionError("a page for each row")
        flat_parents = list(chain.from_iterable(map(repeat, rows, sizes)))
        built_parts: dict[int, list[list[dict[str, Any]]]] = {}
        for number, (_, part) in enumerate(field.parts):
            if part.child is not None:
                built = await self.objects(part.child, flat, flat_parents)
                ends = list(accumulate(sizes))
                built_parts[number] = list(map(built.__getitem__, map(slice, map(sub, ends, sizes), ends)))  # type: ignore[arg-type]
        answers = []
        for index, page in enumerate(pages):
            answer: dict[str, Any] = {}
            for number, (key, part) in enumerate(field.parts):
                if part.kind == "nodes":
                    answer[key] = built_parts[number][index]
                elif part.kind == "totalCount":
                    assert totals is not None
                    answer[key] = totals[index]
                elif part.kind == "constant":
                    answer[key] = part.constant
                elif part.kind == "edges":
                    edges = []
                    nodes = built_parts[number][index] if number in built_parts else page.rows
                    for position, node in enumerate(nodes):
                        edge: dict[str, Any] = {}
                        for edge_key, edge_field in part.fields:
                            if isinstance(edge_field, Constant):
                                edge[edge_key] = edge_field.value
                            elif edge_field == "cursor":
                                edge[edge_key] = page.cursor(position)
                            else:
                                edge[edge_key] = node
                        edges.append(edge)
                    self.work += len(part.fields) * len(edges)
                    answer[key] = edges
                else:
                    info: dict[str, Any] = {}
                    for info_key, info_field in part.fields:
                        if isinstance(info_field, Constant):
                            info[info_key] = info_field.value
                        elif info_field == "hasNextPage":
                            info[info_key] = page.has_next_page
                        elif info_field == "hasPreviousPage":
                            info[info_key] = page.has_previous_page
                        elif info_field == "startCursor":
                            info[info_key] = page.start_cursor
                        else:
                            info[info_key] = page.end_cursor
                    self.work += len(part.fields)
                    answer[key] = info
            answers.append(answer)
        self.work += len(field.parts) * len(pages)
        return answers
