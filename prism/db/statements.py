"""Statements built once and kept: SQLAlchemy's constructors cost more CPU than PostgreSQL spends running the
small batched selects the loaders send, so a loader builds each shape of statement once and binds what changes
(a batch's keys, as one array) at execution."""

from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, compress
from operator import itemgetter
from typing import Any, overload

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

__all__ = [
    "ColumnRows",
    "DriverForm",
    "DriverRow",
    "MappedRow",
    "any_of",
    "column_values",
    "driver_form",
    "kept",
    "mapped",
]

_KEPT: dict[Hashable, Any] = {}
_LIMIT = 1024


def kept(key: Hashable, build: Callable[[], Any]) -> Any:
    """The statement kept for `key`, built by `build` the first time (at most a bounded number; oldest out first).

    `key` must name everything the statement bakes in. A tenant select in a kept statement reads the organization
    of the unit of work that runs it (`prism.db.tenancy.unit_organization()`): one statement serves every
    organization, and the bound keeps the statements of every shape, however many organizations a process serves.
    """
    statement = _KEPT.get(key)
    if statement is None:
        statement = build()
        if len(_KEPT) >= _LIMIT:
            del _KEPT[next(iter(_KEPT))]
        _KEPT[key] = statement
    return statement


def any_of(column: sa.ColumnElement[Any], name: str) -> sa.ColumnElement[bool]:
    """`column = ANY(:name)`, the values bound as one array: the SQL text stays the same whatever their number, so
    asyncpg prepares it once per connection (an `IN` list is a new statement for each length)."""
    return column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(column.type)))


class _ColumnsAsAttributes:
    """`row.title` for a row read by name (`row["title"]`), as SQLAlchemy's rows answer it."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]  # type: ignore[index]
        except KeyError:
            raise AttributeError(name) from None


class DriverRow(_ColumnsAsAttributes, asyncpg.Record):
    """A row read straight from asyncpg (`UnitOfWork.driver_rows`): a tuple by position, a mapping by column name
    (`row["title"]`, at C speed: what hot loops use) and, for code written against SQLAlchemy's rows, an object
    with the columns as attributes (`row.title`, slower: a Python call per access)."""

    __slots__ = ()


class MappedRow(_ColumnsAsAttributes, dict[str, Any]):
    """A row the driver did not read (a loader's SQLAlchemy row, an object made from the request's context) with
    the access `DriverRow` gives by name: `row["title"]` and `row.title`."""

    __slots__ = ()


class ColumnRows(Sequence[MappedRow]):
    """Rows held as one list per column (`columns[name][i]` is row i's value): what a statement that aggregates a
    nested list into arrays reads (`loaders.pagination.read_pages_with_lists`), a few arrays per parent row where
    there were a thousand records. `column_values` reads a column as the list it is; a row (`rows[i]`, iterating)
    is made as a `MappedRow` on demand, for code that reads one row at a time (a cursor, a kept joined row).
    The lists are shared, never changed: a slice or a concatenation makes new ones."""

    __slots__ = ("_size", "columns")

    def __init__(self, columns: dict[str, list[Any]], size: int) -> None:
        self.columns = columns  # taken as it is: every caller makes a new one
        self._size = size

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, index: int) -> MappedRow: ...

    @overload
    def __getitem__(self, index: slice) -> "ColumnRows": ...

    def __getitem__(self, index: int | slice) -> "MappedRow | ColumnRows":
        if isinstance(index, slice):
            columns = {name: values[index] for name, values in self.columns.items()}
            return ColumnRows(columns, len(range(*index.indices(self._size))))
        if not -self._size <= index < self._size:
            raise IndexError(index)
        return MappedRow(zip(self.columns, map(itemgetter(index), self.columns.values()), strict=True))

    def __iter__(self) -> Iterator[MappedRow]:
        names = tuple(self.columns)
        for values in zip(*self.columns.values(), strict=True):
            yield MappedRow(zip(names, values, strict=True))

    def column(self, name: str) -> list[Any]:
        """Every row's value of `name` (KeyError for a column it does not have, as a row's `row[name]`)."""
        return self.columns[name]

    def compress(self, selectors: Sequence[Any]) -> "ColumnRows":
        """The rows whose selector is true, as `itertools.compress` would keep them."""
        kept = sum(map(bool, selectors))
        return ColumnRows({name: list(compress(values, selectors)) for name, values in self.columns.items()}, kept)

    @staticmethod
    def concat(parts: Sequence["ColumnRows"], names: Sequence[str]) -> "ColumnRows":
        """The rows of `parts` one after the other (each has every column of `names`)."""
        columns = {name: list(chain.from_iterable(part.columns[name] for part in parts)) for name in names}
        return ColumnRows(columns, sum(map(len, parts)))


def column_values(rows: Sequence[Any], name: str) -> list[Any]:
    """Every row's value of the column `name`: the list itself for `ColumnRows` (not to be changed), one pass at C
    speed over rows read by name (`DriverRow`, `MappedRow`) otherwise."""
    if type(rows) is ColumnRows:
        return rows.columns[name]
    return list(map(itemgetter(name), rows))


def mapped(rows: Sequence[Any]) -> list[Any]:
    """SQLAlchemy rows (or None) as `MappedRow`s, for code that reads rows by column name."""
    return [None if row is None else MappedRow(row._mapping) for row in rows]


@dataclass(eq=False)
class DriverForm:
    """A kept select compiled once for asyncpg: its text with `$n` placeholders, and how its arguments are made.

    `exact` says whether asyncpg's own values are those SQLAlchemy would return (no column has a result processor
    for the types PostgreSQL answered with); None until a first run through SQLAlchemy has shown it.
    """

    sql: str
    names: tuple[str, ...]
    defaults: dict[str, Any]
    processors: dict[str, Callable[[Any], Any]]
    exact: bool | None = None

    def arguments(self, parameters: Mapping[str, Any] | None) -> list[Any]:
        """The positional arguments for these bound `parameters` (the statement's own values for the others)."""
        values = []
        processors = self.processors
        for name in self.names:
            value = parameters[name] if parameters is not None and name in parameters else self.defaults[name]
            processor = processors.get(name)
            values.append(value if processor is None else processor(value))
        return values

    def learn(self, result: Any) -> None:
        """Record from a SQLAlchemy result of this statement whether asyncpg's values can be used as they come."""
        keys = list(result.keys())
        # SQLAlchemy's own list of the result processors it chose for the types PostgreSQL answered with; should a
        # version keep them elsewhere, the statement stays on SQLAlchemy (the same rows, more slowly).
        processors = getattr(getattr(result, "_metadata", None), "_processors", None)
        # The names asyncpg's records answer to: PostgreSQL's (a label over 63 bytes comes back truncated, which
        # SQLAlchemy maps back to its full name and asyncpg does not).
        description = getattr(getattr(result, "cursor", None), "description", None)
        names = [column[0] for column in description] if description is not None else None
        self.exact = (
            processors is not None
            and names == keys
            and len(processors) == len(keys) == len(set(keys))
            and all(processor is None for processor in processors)
        )


_FORMS: dict[tuple[int, int], tuple[Any, Any, DriverForm | None]] = {}


def driver_form(statement: Any, dialect: Any) -> DriverForm | None:
    """The asyncpg form of a kept `statement` under `dialect` (compiled once), or None when it has none: a
    statement whose text depends on its values (an expanding `IN`, literal values) runs through SQLAlchemy."""
    key = (id(statement), id(dialect))
    entry = _FORMS.get(key)
    if entry is not None and entry[0] is statement and entry[1] is dialect:
        return entry[2]
    compiled = statement.compile(dialect=dialect)
    form: DriverForm | None = None
    if (
        compiled.positional
        and dialect.paramstyle == "numeric_dollar"
        and not compiled.post_compile_params
        and not compiled.literal_execute_params
        and compiled.positiontup is not None
    ):
        names = tuple(compiled.positiontup)
        binds = compiled.binds
        defaults = {name: binds[name].effective_value for name in names if not binds[name].required}
        processors = {name: p for name, p in compiled._bind_processors.items() if name in names}
        form = DriverForm(sql=compiled.string, names=names, defaults=defaults, processors=processors)
    if len(_FORMS) >= _LIMIT:
        del _FORMS[next(iter(_FORMS))]
    _FORMS[key] = (statement, dialect, form)
    return form
