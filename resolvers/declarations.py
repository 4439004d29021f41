"""GraphQL types declared against their tables: which field reads which column, said once.

`@reads(tables.Product)` above `@strawberry.type` declares that each field of the type (public or private) reads
the column of the same name, unless `columns` names another column or a conversion (`kind=Read("kind",
RequirementKind)`). A conversion that needs another column of the row too names it (`Read("from_value",
status_of, using=("kind",))`: the value before a change means a status only for a STATUS event). From that
declaration follow:

- `from_row`, generated once per type as one constructor call (`cls(id=str(row.id), key=row.key, ...)`), as fast as
  the hand-written methods it replaces; fields that no column backs may be given to it by keyword
  (`Session.from_row(row, current=True)`);
- `declaration(Type)`: the table, and for each field the columns it reads and how, which a planner (issue 10) can
  turn into SQL without calling Python per field, and `Declaration.columns`, the columns a loader of the type needs
  (pages and by-id loads read those and no others).

A field with a default that no column backs (`prefetched`, a value filled in later) is not read from the row. A field
without a default that no column backs is an error when the module is imported, as is a column the table lacks.
Relations are declared next to the fields that answer them (`Related`, `connection_field`).
"""

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import EnumMeta
from functools import cached_property
from typing import Any, Self, TypeAlias, TypeVar

import sqlalchemy as sa
from sqlmodel import SQLModel

__all__ = ["Declaration", "Derived", "Read", "Row", "RowType", "declaration", "reads"]

TypeT = TypeVar("TypeT", bound=type)

Row: TypeAlias = sa.Row[Any] | SQLModel
"""What a type is built from: a row of a Core select (what loaders answer) or a table model (what services
return). Either has the table's columns as attributes; a Core row may hold only the columns its select named."""


@dataclass(frozen=True)
class Read:
    """The column a field reads, and the function that turns the column's value into the field's (None: as is).

    `using`: other columns the conversion needs, passed after the value (`convert(row.from_value, row.kind)`).
    """

    column: str
    convert: Callable[..., Any] | None = None
    using: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the field reads: its own, then those its conversion uses."""
        return (self.column, *self.using)


@dataclass(frozen=True)
class Derived:
    """A field computed from the row of a to-one relation and the row's own columns, declared next to the resolver
    that computes it, so that a planner (resolvers/planner) can answer it without calling that resolver: a
    requirement's `key` is `Derived("product", ("number",), lambda product, number: f"{product.key}-{number}",
    reads=("key",))`.

    Declared in the type's `derived` mapping (GraphQL field name -> Derived); `relation` names a to-one `Related` of
    the same type.
    """

    relation: str
    columns: tuple[str, ...]
    value: Callable[..., Any]
    """The field's value from the related row (never None: the relation must be non-null) and the columns."""
    reads: tuple[str, ...] = ()
    """The columns of the related row that `value` reads."""


@dataclass(frozen=True)
class Declaration:
    """What a GraphQL type reads from its table."""

    table: sa.Table
    fields: Mapping[str, Read]
    """Python attribute name -> the column read, for every field built from the row."""

    @cached_property
    def column_names(self) -> tuple[str, ...]:
        """The names of the table's columns the type reads, each once, in declaration order."""
        return tuple(dict.fromkeys(name for read in self.fields.values() for name in read.columns))

    @property
    def columns(self) -> list[sa.Column[Any]]:
        """The table's columns the type reads, each once, in declaration order."""
        return [self.table.c[name] for name in self.column_names]


class RowType:
    """The base of a type built from rows that is not a Node: `from_row` comes from its declaration (`reads`)."""

    @classmethod
    def from_row(cls, row: Row, /, **given: object) -> Self:
        """The object for `row`; `given`: the fields no column backs (see `reads`)."""
        raise NotImplementedError(f"{cls.__name__} declares no table (resolvers.declarations.reads)")


def _table(source: type[SQLModel] | sa.Table) -> sa.Table:
    table = getattr(source, "__table__", source)
    if not isinstance(table, sa.Table):
        raise TypeError(f"{source!r} is not a table")
    return table


def reads(source: type[SQLModel] | sa.Table, **columns: str | Read) -> Callable[[TypeT], TypeT]:
    """Declare that a Strawberry type's fields read `source`'s columns; derive its `from_row` (see the module).

    When the class defines `from_row` itself (to add what the row does not hold), the derived function is
    `from_columns` and the class's `from_row` calls it.
    """
    table = _table(source)

    def decorate(cls: TypeT) -> TypeT:
        declared: dict[str, Read] = {}
        for field in dataclasses.fields(cls):
            if not field.init:
                continue
            spec = columns.get(field.name)
            if spec is None:
                if field.name == "id":
                    spec = Read("id", str)
                elif field.name in table.c:
                    spec = Read(field.name)
                elif field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING:
                    continue
                else:
                    raise TypeError(f"{cls.__name__}.{field.name}: no column `{field.name}` in {table.name}")
            read = Read(spec) if isinstance(spec, str) else spec
            for name in read.columns:
                if name not in table.c:
                    raise TypeError(f"{cls.__name__}.{field.name}: no column `{name}` in {table.name}")
            declared[field.name] = read
        unknown = set(columns) - set(declared)
        if unknown:
            raise TypeError(f"{cls.__name__}: {sorted(unknown)} are not fields")
        cls.__declaration__ = Declaration(table=table, fields=declared)  # type: ignore[attr-defined]
        derived = _from_row(cls.__name__, declared, _plain_fields(cls, declared), cls)
        name = "from_columns" if "from_row" in vars(cls) else "from_row"
        setattr(cls, name, classmethod(derived))
        return cls

    return decorate


def declaration(cls: type) -> Declaration:
    """What `cls` reads from its table (TypeError when it declares nothing)."""
    found = getattr(cls, "__declaration__", None)
    if not isinstance(found, Declaration):
        raise TypeError(f"{cls.__name__} declares no table")
    return found


class _Members(dict[Any, Any]):
    """An enum's members by value; a value that is not one is converted by calling the enum, as without this."""

    def __init__(self, enum: EnumMeta) -> None:
        super().__init__((member.value, member) for member in enum)  # type: ignore[var-annotated]
        self.enum = enum

    def __missing__(self, value: Any) -> Any:
        return self.enum(value)


def _plain_fields(cls: type, declared: Mapping[str, Read]) -> tuple[dict[str, Any], frozenset[str]] | None:
    """What the dataclass `__init__` of `cls` sets besides the declared columns (each field's default, in field
    order, None for a declared one), and the fields a caller may give it (its arguments no column backs), when that
    is all it does; else None.

    All it does: `__init__` is the one dataclasses generated (not frozen, no `__post_init__`, no `__setattr__`,
    `__new__` or metaclass `__call__` of the class's own), every field it sets is a declared column or has a plain
    default (no default factory) and is no data descriptor of the class (which `__init__` would set through it), and
    instances keep their attributes in a `__dict__`. Fields with init=False and a plain default are not set: as with
    `__init__`, the class attribute answers them. Then a row's object can be made with its `__dict__` given at
    once, which builds the same object in about half the time (measured for a requirement: 3.6 us, 1.9 us).
    """
    init = vars(cls).get("__init__")
    params = getattr(cls, "__dataclass_params__", None)
    if (
        init is None
        or getattr(getattr(init, "__code__", None), "co_filename", None) != "<string>"  # dataclasses' own source
        or params is None
        or not params.init
        or params.frozen
        or hasattr(cls, "__post_init__")
        or cls.__setattr__ is not object.__setattr__  # type: ignore[comparison-overlap]
        or cls.__new__ is not object.__new__  # type: ignore[comparison-overlap] # `cls(...)` calls it, not this
        or type(cls).__call__ is not type.__call__  # type: ignore[comparison-overlap] # a metaclass's, likewise
    ):
        return None
    probe: Any = object.__new__(cls)
    try:
        probe.__dict__ = {}
    except (AttributeError, TypeError):
        return None
    values: dict[str, Any] = {}
    givable: set[str] = set()
    for field in dataclasses.fields(cls):
        if field.default_factory is not dataclasses.MISSING:
            return None
        if not field.init:
            continue  # __init__ leaves it to the class attribute (its default, if any)
        attribute = next((vars(base)[field.name] for base in cls.__mro__ if field.name in vars(base)), None)
        if hasattr(type(attribute), "__set__") or hasattr(type(attribute), "__delete__"):
            return None  # a data descriptor (a property, a descriptor-typed field): __init__ sets it through it
        if field.name in declared:
            values[field.name] = None
        elif field.default is not dataclasses.MISSING:
            values[field.name] = field.default  # what __init__ sets: the argument's default
            givable.add(field.name)
        else:
            return None  # a required argument no column gives: only `cls(...)` says what is missing
    return values, frozenset(givable)


def _from_row(
    type_name: str,
    fields: Mapping[str, Read],
    plain: tuple[Mapping[str, Any], frozenset[str]] | None = None,
    owner: type | None = None,
) -> Callable[..., Any]:
    # One generated constructor call, as dataclasses generate __init__: a loop over the declaration per row would
    # cost several times the hand-written method on a page of a thousand rows. With `plain` (see `_plain_fields`)
    # the object is made with its `__dict__` at once instead of by `__init__`, unless `given` names a field that
    # is not a default one (`__init__` then raises, as it did), or the class is a subclass of `owner`, the class
    # `plain` describes.
    namespace: dict[str, Any] = {}
    arguments = []
    values: dict[str, str] = {}
    for index, (name, read) in enumerate(fields.items()):
        if isinstance(read.convert, EnumMeta) and not read.using:
            # A look-up of the member by value, calling the enum (its `_missing_`, its error) only for the others.
            namespace[f"_convert_{index}"] = _Members(read.convert)
        elif read.convert is not None:
            namespace[f"_convert_{index}"] = read.convert
        value = _value(read, index)
        arguments.append(f"{name}={value}")
        values[name] = value
    # `given`: the fields no column backs, when the caller knows them (they keep their defaults otherwise).
    arguments.append("**given")
    call = f"cls({', '.join(arguments)})"
    if plain is None or owner is None:
        source = f"def from_row(cls, row, /, **given):\n    return {call}\n"
    else:
        defaults, givable = plain
        entries = []
        for index, name in enumerate(defaults):
            if name in values:
                entries.append(f"{name!r}: {values[name]}")
            else:
                namespace[f"_default_{index}"] = defaults[name]
                entries.append(f"{name!r}: _default_{index}")
        namespace["_given"] = givable
        namespace["_new"] = object.__new__
        namespace["_owner"] = owner
        namespace["_partial"] = {}
        source = (
            "def from_row(cls, row, /, **given):\n"
            "    if _partial:\n"
            "        build = _partial.get(type(row))\n"
            "        if build is not None:\n"
            "            return build(cls, row, given)\n"
            "    if cls is not _owner or (given and not given.keys() <= _given):\n"
            f"        return {call}\n"
            "    node = _new(cls)\n"
            f"    node.__dict__ = {{{', '.join(entries)}, **given}}\n"
            "    return node\n"
        )
    exec(compile(source, f"<from_row of {type_name}>", "exec"), namespace)  # noqa: S102 - generated from the declaration
    function: Callable[..., Any] = namespace["from_row"]
    function.__qualname__ = f"{type_name}.from_row"
    if plain is not None and owner is not None:
        function.partial_rows = PartialRows(type_name, fields, plain[0], namespace)  # type: ignore[attr-defined]
    return function


class PartialRows:
    """Builders of a declared type's objects from rows that hold only some of its columns (a page read for the
    fields a query selects: `register`), by the rows' class, which the type's generated `from_row` looks up first.

    Such an object has the fields whose columns the row holds and the fields no column backs (their defaults, or
    what is given); the others are not set at all, so reading one raises AttributeError instead of answering a
    value the row did not have. Only for types whose `__init__` only sets attributes (`_plain_fields`), and only
    for the type itself (a subclass's `__init__` may do more)."""

    def __init__(
        self, type_name: str, fields: Mapping[str, Read], defaults: Mapping[str, Any], namespace: dict[str, Any]
    ):
        self._type_name = type_name
        self._fields = fields
        self._defaults = defaults
        self._namespace = namespace
        self._builders: dict[type, Callable[..., Any]] = namespace["_partial"]

    def register(self, row_class: type, columns: tuple[str, ...]) -> None:
        """Build objects from rows of `row_class`, which hold exactly `columns`, with the fields those give."""
        if row_class in self._builders:
            return
        present = set(columns)
        field_index = {name: index for index, name in enumerate(self._fields)}
        entries = []
        for index, name in enumerate(self._defaults):
            read = self._fields.get(name)
            if read is None:
                entries.append(f"{name!r}: _default_{index}")
            elif present.issuperset(read.columns):
                entries.append(f"{name!r}: {_value(read, field_index[name])}")
        source = (
            "def build(cls, row, given):\n"
            "    if cls is not _owner or (given and not given.keys() <= _given):\n"
            f"        raise TypeError('{self._type_name}: a row without all its columns builds its own objects only')\n"
            "    node = _new(cls)\n"
            f"    node.__dict__ = {{{', '.join([*entries, '**given'])}}}\n"
            "    return node\n"
        )
        # In the generated `from_row`'s globals (its converters, defaults, `_new`), defined into a dict of its own.
        made: dict[str, Any] = {}
        exec(compile(source, f"<partial from_row of {self._type_name}>", "exec"), self._namespace, made)  # noqa: S102
        if len(self._builders) >= 256:
            self._builders.clear()
        self._builders[row_class] = made["build"]


def _value(read: Read, index: int) -> str:
    # The expression generated for the `index`-th declared field (its converter, if any, is `_convert_{index}`).
    value = ", ".join(f"row.{column}" for column in read.columns)
    if isinstance(read.convert, EnumMeta) and not read.using:
        return f"_convert_{index}[{value}]"
    if read.convert is not None:
        return f"_convert_{index}({value})"
    return value


def partial_rows(cls: type) -> "PartialRows | None":
    """The builders of `cls`'s objects from rows with only some of its columns; None when it cannot have them."""
    declared = vars(cls).get("from_columns") or vars(cls).get("from_row")
    function = getattr(declared, "__func__", None)
    found = getattr(function, "partial_rows", None)
    return found if isinstance(found, PartialRows) else None
