"""Declarative list fields and mutation payloads: a connection or a mutation in a few lines instead of a dozen.

`connection_field` builds a Relay connection field from what makes one list differ from another: the node type,
the `ListSource` it pages through, the parent row, the default order, and optionally a filter (and ordering) input
with the function that turns it into the source's filter. The node type may be a lazy reference
(`Annotated["Sprint", strawberry.lazy("resolvers.sprints")]`): a product's sprints are declared on `Product`
without `resolvers.products` importing `resolvers.sprints`, which imports it. The node class is resolved the way
Strawberry resolves the annotation, on first use, once the schema holds every type.

`payload` runs a mutation's service call and answers its payload: the result built into the payload's fields, or
the domain error as `userErrors` with those fields null (and whatever `refused` adds). `answer` is its general form,
for a payload built as a whole.
"""

import inspect
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

import sqlalchemy as sa
import strawberry
from graphql import GraphQLObjectType, GraphQLSchema
from strawberry import relay
from strawberry.permission import PermissionExtension
from strawberry.types.field import StrawberryField

from loaders.pagination import ListSource, Order
from loaders.sources import NoFilter, TimeFilter
from prism.errors import PrismError
from resolvers.common import (
    After,
    Before,
    Connection,
    First,
    Last,
    Related,
    UserError,
    load_connection,
    node_class,
    node_fields,
    time_filter,
    user_errors,
)
from resolvers.declarations import Derived, partial_rows
from resolvers.permissions import ROLE_PERMISSIONS

__all__ = [
    "ConnectionSpec",
    "ListArguments",
    "answer",
    "connection_field",
    "connection_spec",
    "node_class",
    "payload",
    "public_user_errors",
    "time_ranges",
]

FilterT = TypeVar("FilterT")
OrderT = TypeVar("OrderT")
PayloadT = TypeVar("PayloadT")
ResultT = TypeVar("ResultT")


@dataclass(frozen=True)
class ListArguments(Generic[FilterT, OrderT]):
    """The `filter` (and `orderBy`) arguments of a list field and how they become the source's filter and order."""

    filter: Any
    """The filter's input type (or a lazy reference to it)."""
    convert: Callable[[FilterT | None, OrderT | None], tuple[Hashable, Order]]
    """The source's filter and order for the arguments given (None when omitted)."""
    order_by: Any = None
    """The ordering's input type, when the list can be sorted by the client."""
    filter_description: str = "Which ones."
    order_by_description: str = "Sort order."


def time_ranges(filter: Any, order: Order, *, created: str = "created_at", created_name: str = "createdAt") -> Any:
    """The `filter` argument of a list that filters only by its `createdAt` and `updatedAt` ranges (a filter input
    with those two fields, or `created` for the first), sorted by `order`."""

    def convert(given: Any, order_by: None) -> tuple[Hashable, Order]:
        if given is None:
            return TimeFilter(), order
        return time_filter(getattr(given, created), given.updated_at, created_name=created_name), order

    return ListArguments(filter=filter, convert=convert)


def _root_uuid(root: Any, info: strawberry.Info) -> UUID:
    return root.uuid  # type: ignore[no-any-return]


def _organization(root: Any, info: strawberry.Info) -> UUID:
    return info.context.member.organization_id  # type: ignore[no-any-return]


@dataclass(frozen=True)
class ConnectionSpec:
    """What makes one connection field differ from another (see `connection_field`); the planner reads it too."""

    node: Any
    source: ListSource
    order: Order
    parent: Callable[[Any, strawberry.Info], UUID]
    arguments: ListArguments[Any, Any] | None
    build: Callable[[Any, type[Any]], Callable[[Any], Any]] | None
    filter: Hashable
    build_gives: tuple[str, ...] = ()
    permission_classes: tuple[type[Any], ...] = ()
    _node_class: list[tuple[type[Any], tuple[str, ...]]] = field(default_factory=list)

    @property
    def parent_kind(self) -> str:
        """Whose list it is: "node" (the node the field is on), "organization" (the viewer's), else "custom"."""
        if self.parent is _root_uuid:
            return "node"
        return "organization" if self.parent is _organization else "custom"

    def node_type(self) -> tuple[type[Any], tuple[str, ...]]:
        """The node class and the columns its declaration reads (all, when it declares none)."""
        if not self._node_class:
            found = node_class(self.node)
            declared = getattr(found, "__declaration__", None)
            self._node_class.append((found, tuple(c.name for c in declared.columns) if declared else ()))
        return self._node_class[0]

    async def resolve(self, root: Any, info: strawberry.Info, kwargs: dict[str, Any]) -> Connection[Any]:
        if self.arguments is None:
            list_filter, order = self.filter, self.order
        else:
            list_filter, order = self.arguments.convert(kwargs.get("filter"), kwargs.get("order_by"))
        node_type, columns = self.node_type()
        selected = _selected_columns(info, node_type) if columns and self.build_gives_only else None
        return await load_connection(
            info,
            source=self.source,
            parent=self.parent(root, info),
            filter=list_filter,
            order=order,
            first=kwargs["first"],
            after=kwargs["after"],
            last=kwargs["last"],
            before=kwargs["before"],
            build=node_type.from_row if self.build is None else self.build(root, node_type),
            columns=columns if selected is None else selected,
            partial=None if selected is None else partial_rows(node_type),
        )

    @property
    def build_gives_only(self) -> bool:
        """Whether the nodes are built by their type's `from_row` alone, or by a `build` that only gives it the
        fields `build_gives` names (a product's requirements their product's key): then a node built from a row
        with some columns only has the fields those give, and the page may read only the selected fields' columns."""
        return self.build is None or bool(self.build_gives)


def _selected_columns(info: strawberry.Info, node_type: type[Any]) -> tuple[str, ...] | None:
    """The columns the resolvers read for the fields the query selects on the connection's nodes (fragments
    included, directives not evaluated: a superset), in the type's declaration order; None when that is every
    column, or when a selected field is not declared (a resolver that may read any attribute of its node)."""
    names = node_fields(info)
    key = (node_type, tuple(names))
    if key in _SELECTED_COLUMNS:
        return _SELECTED_COLUMNS[key]
    found = _columns_read(info._raw_info.schema, node_type, names)
    if len(_SELECTED_COLUMNS) >= 1024:
        _SELECTED_COLUMNS.clear()
    _SELECTED_COLUMNS[key] = found
    return found


_SELECTED_COLUMNS: dict[tuple[type[Any], tuple[str, ...]], tuple[str, ...] | None] = {}
"""`_selected_columns` by node type and selected field names."""


def _columns_read(schema: GraphQLSchema, node_type: type[Any], names: Sequence[str]) -> tuple[str, ...] | None:
    declared = getattr(node_type, "__declaration__", None)
    definition = getattr(node_type, "__strawberry_definition__", None)
    if declared is None or definition is None or partial_rows(node_type) is None:
        return None
    gql_type = schema.get_type(definition.name)
    if not isinstance(gql_type, GraphQLObjectType):
        return None
    related: Mapping[str, Related] = getattr(node_type, "related", {})
    derived: Mapping[str, Derived] = getattr(node_type, "derived", {})
    wanted: dict[str, None] = {"id": None}
    for name in names:
        if name == "__typename":
            continue
        gql_field = gql_type.fields.get(name)
        strawberry_field = gql_field.extensions.get("strawberry-definition") if gql_field is not None else None
        if name == "id" and issubclass(node_type, relay.Node):
            continue  # the global id, from the id column
        if not isinstance(strawberry_field, StrawberryField) or not _role_checks_only(strawberry_field):
            return None
        read = declared.fields.get(strawberry_field.python_name)
        spec = connection_spec(strawberry_field)
        if strawberry_field.base_resolver is None and read is not None:
            wanted.update(dict.fromkeys(read.columns))
        elif name in related and related[name].column is not None:
            wanted[related[name].column] = None  # type: ignore[index]
        elif name in derived and related.get(derived[name].relation) and related[derived[name].relation].column:
            wanted.update(dict.fromkeys(derived[name].columns))
            wanted[related[derived[name].relation].column] = None  # type: ignore[index]
        elif spec is not None and spec.parent is _root_uuid and spec.build is None:
            continue  # the node's own list: its id (a list that builds its nodes itself may read any of the node's)
        else:
            return None
    if any(hasattr(sa.Row, column) for column in wanted):
        return None  # read by name through the row's own attribute, not as a column (`readable_rows`)
    selected = tuple(column for column in declared.column_names if column in wanted)
    # None, not (): a page given no columns reads every column of its table, declared or not (review 13).
    return None if not selected or len(selected) == len(declared.column_names) else selected


def _role_checks_only(strawberry_field: StrawberryField) -> bool:
    return all(
        isinstance(extension, PermissionExtension)
        and all(type(permission) in ROLE_PERMISSIONS for permission in extension.permissions)
        for extension in strawberry_field.extensions
    )


def connection_spec(strawberry_field: StrawberryField) -> ConnectionSpec | None:
    """The declaration of a field made by `connection_field`, or None (the planner reads it too)."""
    resolver = strawberry_field.base_resolver
    spec = getattr(resolver.wrapped_func, "connection", None) if resolver is not None else None
    return spec if isinstance(spec, ConnectionSpec) else None


def connection_field(
    node: Any,
    *,
    source: ListSource,
    description: str,
    order: Order | None = None,
    filter: Hashable | None = None,
    arguments: ListArguments[Any, Any] | None = None,
    parent: Callable[[Any, strawberry.Info], UUID] = _root_uuid,
    of_organization: bool = False,
    build: Callable[[Any, type[Any]], Callable[[Any], Any]] | None = None,
    build_gives: Sequence[str] = (),
    permission_classes: Sequence[type[Any]] = (),
) -> Any:
    """A Relay connection field over `source`, with `first/after/last/before` (and `filter`/`orderBy` when
        `arguments` says so).

        The parent is the node the field is on (its `uuid`), the viewer's organization with `of_organization`, or what
        `parent(root, info)` returns. Rows become nodes with the node type's `from_row`, or with the function
        `build(root, node_class)` returns. Without `arguments`, the list is sorted by `order` and restricted by `filter`
    (the source's filter object; none by default). `build_gives`: the fields `build` fills in that the node type
    also declares `Derived` (resolvers/declarations.py), so a planner may answer the list without calling `build`.
    """
    if arguments is None and order is None:
        raise TypeError("a connection without arguments needs an order")
    if arguments is not None and (order is not None or filter is not None):
        raise TypeError("a connection's arguments give its filter and order")
    spec = ConnectionSpec(
        node=node,
        source=source,
        order=order or Order("ID"),
        parent=_organization if of_organization else parent,
        arguments=arguments,
        build=build,
        filter=NoFilter() if filter is None else filter,
        build_gives=tuple(build_gives),
        permission_classes=tuple(permission_classes),
    )

    async def resolve_connection(self: Any, info: strawberry.Info, **kwargs: Any) -> Connection[Any]:
        return await spec.resolve(self, info, kwargs)

    # What the planner (resolvers/planner) reads to answer the field without this resolver.
    resolve_connection.connection = spec  # type: ignore[attr-defined]

    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [
        inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter("info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=strawberry.Info),
    ]
    if arguments is not None:
        parameters.append(
            inspect.Parameter(
                "filter",
                keyword,
                default=None,
                annotation=Annotated[
                    arguments.filter | None, strawberry.argument(description=arguments.filter_description)
                ],
            )
        )
        if arguments.order_by is not None:
            parameters.append(
                inspect.Parameter(
                    "order_by",
                    keyword,
                    default=None,
                    annotation=Annotated[
                        arguments.order_by | None, strawberry.argument(description=arguments.order_by_description)
                    ],
                )
            )
    for name, annotation in (("first", First), ("after", After), ("last", Last), ("before", Before)):
        parameters.append(inspect.Parameter(name, keyword, default=None, annotation=annotation))
    resolve_connection.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        parameters,
        return_annotation=Connection[node],  # type: ignore[valid-type]
    )
    return strawberry.field(
        resolver=resolve_connection, description=description, permission_classes=list(permission_classes)
    )


def _nothing_more(error: PrismError) -> Mapping[str, object]:
    return {}


async def payload(
    payload_type: Callable[..., PayloadT],
    call: Callable[[], Awaitable[ResultT]],
    /,
    *,
    errors: Callable[[PrismError], list[UserError]] = user_errors,
    refused: Callable[[PrismError], Mapping[str, object]] = _nothing_more,
    **fields: Callable[[ResultT], object],
) -> PayloadT:
    """A mutation's payload: each of `fields` built from what `call()` returned and no user errors, or, when
    `call()` raises a domain error, those fields null and the error in `userErrors`.

    Authorization errors are not user errors and propagate (see `user_errors`); a mutation that needs no token
    answers every refusal in its payload (`errors=public_user_errors`). `refused(error)` gives the payload's other
    fields when the call fails (`ok: false`, `retryAfterSeconds`). Everything the call decodes or validates belongs
    inside `call`, so a malformed id answers as a user error like any other.
    """

    def failed(error: PrismError) -> PayloadT:
        return payload_type(**{**dict.fromkeys(fields), **refused(error), "user_errors": errors(error)})

    def built(result: ResultT) -> PayloadT:
        return payload_type(**{name: build(result) for name, build in fields.items()}, user_errors=[])

    return await answer(call, built, failed)


async def answer(
    call: Callable[[], Awaitable[ResultT]],
    built: Callable[[ResultT], PayloadT],
    failed: Callable[[PrismError], PayloadT],
) -> PayloadT:
    """A mutation's payload when `payload`'s field-by-field form does not fit (a sign-in answers an MFA challenge
    with its own user error): `built(result)`, or `failed(error)` when `call()` raises a domain error."""
    try:
        result = await call()
    except PrismError as error:
        return failed(error)
    return built(result)


def public_user_errors(error: PrismError) -> list[UserError]:
    """userErrors for a mutation that needs no token: every refusal, authentication ones included, is answered in
    the payload, since there is no session to be unauthenticated from."""
    return [UserError.from_error(error)]
