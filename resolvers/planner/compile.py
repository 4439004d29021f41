"""Compiling an operation into a plan, from the types' declarations, or deciding that the resolvers answer it.

A field is plannable when its type declares what it reads (resolvers/declarations.py, resolvers/common.Related,
resolvers/connections.connection_field):

- a column: a field of a `@reads` type without a resolver of its own, read with the declared conversion and
  serialized by its GraphQL type; a Node's `id` is its global id;
- a relation in the type's `related`: to-one ("one", the row whose id is in a column), to-many ("many") or a count;
- a field in the type's `derived` (a requirement's key);
- a connection made by `connection_field` over the node it is on or the viewer's organization, with `first/after/
  last/before`, its `filter`/`orderBy` turned into the source's filter and order as the resolver does, and any of
  `nodes`, `edges { cursor node }`, `pageInfo` and `totalCount`;
- `__typename` anywhere;
- the root fields of resolvers/planner/roots.py.

A field may carry permission classes that depend on the viewer's role only (IsAuthenticated, CanRead): they are
checked once per request before the plan runs. Anything else (a resolver with Python logic, a union or interface,
a list of scalars, a mutation or subscription) makes the whole operation fall back to the resolvers: one operation
is planned or not as a whole. Fields are collected with graphql-core's own `collect_fields`, so fragments, aliases
and `@skip`/`@include` give the same keys in the same order as on the resolver path.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from enum import EnumMeta
from math import isfinite
from operator import itemgetter
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLError,
    GraphQLField,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLString,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    ValueNode,
    VariableNode,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetailsList, collect_fields, collect_subfields
from strawberry import relay
from strawberry.permission import PermissionExtension
from strawberry.types.field import StrawberryField

from prism.db.statements import column_values
from resolvers.common import Related, node_class
from resolvers.connections import ConnectionSpec, connection_spec
from resolvers.declarations import Declaration, Derived, Read
from resolvers.list_bounds import list_maximum
from resolvers.permissions import ROLE_PERMISSIONS
from resolvers.planner.plans import (
    Connection,
    ConnectionPart,
    Constant,
    Count,
    DerivedValue,
    FallbackError,
    FieldPlan,
    Leaf,
    ObjectPlan,
    Relation,
    RelationSource,
    RootPlan,
)

__all__ = ["ROLE_PERMISSIONS", "Compiler", "NotPlannableError", "Parent"]


_EDGE_FIELDS = frozenset({"cursor", "node"})
_PAGE_INFO_FIELDS = frozenset({"hasNextPage", "hasPreviousPage", "startCursor", "endCursor"})


class NotPlannableError(Exception):
    """The operation selects something the planner does not answer; the resolvers answer the whole operation."""


class Parent:
    """The object whose list the nodes being compiled are in: its class, its plan (whose rows a relation to it
    reads) and the list's parent column."""

    def __init__(self, cls: type[Any], plan: ObjectPlan, column: str) -> None:
        self.cls = cls
        self.plan = plan
        self.column = column


RootCompiler = Callable[["Compiler", GraphQLField, StrawberryField, FieldDetailsList], FieldPlan]


class Compiler:
    """Compiles one operation of a validated document for one shape of its variables."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Any,
        variable_values: Any,
        operation: OperationDefinitionNode,
        roots: Mapping[str, RootCompiler],
    ) -> None:
        self.schema = schema
        self._fragments = fragments
        self._variables = variable_values
        self._operation = operation
        self._roots = roots
        self.permissions: dict[type[Any], None] = {}

    def compile(self) -> RootPlan:
        """The plan of the operation; NotPlannableError when any field of it is not plannable."""
        if self._operation.operation is not OperationType.QUERY:
            raise NotPlannableError("only queries are planned")
        root_type = self.schema.query_type
        assert root_type is not None
        collected = collect_fields(self.schema, self._fragments, self._variables, root_type, self._operation)
        if collected.new_defer_usages:
            raise NotPlannableError("@defer")
        plan = ObjectPlan(type_name=root_type.name)
        for key, details in collected.grouped_field_set.items():
            name = details[0].node.name.value
            if name == "__typename":
                plan.fields.append((key, Constant(root_type.name)))
                continue
            definition = root_type.fields.get(name)
            strawberry_field = _strawberry_field(definition)
            if definition is None or strawberry_field is None:
                raise NotPlannableError(name)
            self._permissions(strawberry_field)
            spec = connection_spec(strawberry_field)
            if spec is not None and spec.parent_kind == "organization":
                plan.fields.append((key, self.connection(definition, strawberry_field, spec, details, None)))
                continue
            compile_root = self._roots.get(name)
            if compile_root is None:
                raise NotPlannableError(name)
            plan.fields.append((key, compile_root(self, definition, strawberry_field, details)))
        return RootPlan(root=plan, permissions=tuple(self.permissions))

    def subfields(self, gql_type: GraphQLObjectType, details: FieldDetailsList) -> dict[str, FieldDetailsList]:
        """The grouped fields selected on an object of `gql_type` by these field nodes."""
        collected = collect_subfields(self.schema, self._fragments, self._variables, self._operation, gql_type, details)
        if collected.new_defer_usages:
            raise NotPlannableError("@defer")
        return collected.grouped_field_set

    def object(self, output: GraphQLOutputType, details: FieldDetailsList, parent: Parent | None = None) -> ObjectPlan:
        """The plan of an object of a declared type (a Node or a row type) selected by `details`."""
        gql_type = _object_type(output)
        cls = _origin(gql_type)
        declared: Declaration | None = getattr(cls, "__declaration__", None)
        if declared is None:
            raise NotPlannableError(gql_type.name)
        plan = ObjectPlan(type_name=gql_type.name)
        for key, field_details in self.subfields(gql_type, details).items():
            plan.fields.append((key, self._field(gql_type, cls, declared, field_details, parent, plan)))
        return plan

    def _field(
        self,
        gql_type: GraphQLObjectType,
        cls: type[Any],
        declared: Declaration,
        details: FieldDetailsList,
        parent: Parent | None,
        plan: ObjectPlan,
    ) -> FieldPlan:
        name = details[0].node.name.value
        if name == "__typename":
            return Constant(gql_type.name)
        definition = gql_type.fields[name]
        strawberry_field = _strawberry_field(definition)
        if strawberry_field is None:
            raise NotPlannableError(f"{gql_type.name}.{name}")
        python_name = strawberry_field.python_name
        if name == "id" and python_name in ("id", "_id") and issubclass(cls, relay.Node):
            plan.columns["id"] = None
            return Leaf(_global_id(gql_type.name), reads=("id",))
        if definition.args and connection_spec(strawberry_field) is None:
            raise NotPlannableError(f"{gql_type.name}.{name} takes arguments")
        if strawberry_field.base_resolver is None and not strawberry_field.extensions:
            read = declared.fields.get(python_name)
            if read is not None:
                plan.columns.update(dict.fromkeys(read.columns))
                return _leaf_plan(read, definition.type)
        related: Mapping[str, Related] = getattr(cls, "related", {})
        derived: Mapping[str, Derived] = getattr(cls, "derived", {})
        if strawberry_field.extensions:
            self._permissions(strawberry_field)
        if name in related:
            return self._related(gql_type, related[name], definition, details, cls, parent, plan)
        if name in derived:
            return self._derived(derived[name], related, cls, parent, plan)
        spec = connection_spec(strawberry_field)
        if spec is not None and spec.parent_kind == "node":
            if spec.build is not None and not set(spec.build_gives) <= set(getattr(spec.node_type()[0], "derived", {})):
                raise NotPlannableError(f"{gql_type.name}.{name} builds its nodes itself")
            return self.connection(definition, strawberry_field, spec, details, cls, plan)
        raise NotPlannableError(f"{gql_type.name}.{name}")

    def _related(
        self,
        gql_type: GraphQLObjectType,
        related: Related,
        definition: GraphQLField,
        details: FieldDetailsList,
        cls: type[Any],
        parent: Parent | None,
        plan: ObjectPlan,
    ) -> FieldPlan:
        if related.kind == "count":
            assert related.column is not None
            plan.columns[related.column] = None
            return Count(loader=related.loader, column=related.column)
        if related.kind == "one":
            child = self.object(definition.type, details, None)
            source = self.relation_source(related, cls, parent, plan, child.row_columns())
            return Relation("one", source, child, nullable=not isinstance(definition.type, GraphQLNonNull))
        if related.kind == "many" and related.column is not None:
            child = self.object(definition.type, details, None)
            source = self.relation_source(related, cls, parent, plan, child.row_columns())
            return Relation("many", source, child, maximum=list_maximum(gql_type, definition))
        raise NotPlannableError(f"{gql_type.name}.{definition.ast_node}")

    def _derived(
        self,
        derived: Derived,
        related: Mapping[str, Related],
        cls: type[Any],
        parent: Parent | None,
        plan: ObjectPlan,
    ) -> FieldPlan:
        relation = related.get(derived.relation)
        if relation is None or relation.kind != "one":
            raise NotPlannableError(f"{cls.__name__}: derived from {derived.relation}")
        plan.columns.update(dict.fromkeys(derived.columns))
        return DerivedValue(derived, self.relation_source(relation, cls, parent, plan, ("id", *derived.reads)))

    def relation_source(
        self, related: Related, cls: type[Any], parent: Parent | None, plan: ObjectPlan, columns: tuple[str, ...]
    ) -> RelationSource:
        """Where a relation's rows come from, for nodes of `cls` planned by `plan` (in the list of `parent`, if
        any), reading `columns` of the target rows."""
        target = node_class(related.target)
        declared: Declaration | None = getattr(target, "__declaration__", None)
        if declared is None:
            raise NotPlannableError(target.__name__)
        from_parent = (
            related.kind == "one"
            and parent is not None
            and related.column is not None
            and related.column == parent.column
            and parent.cls is target
        )
        if from_parent:
            assert parent is not None
            parent.plan.columns.update(dict.fromkeys(columns))
        if related.column is not None:
            if not from_parent:
                # A key the run reads; the object whose list the node is in comes with the node instead.
                plan.columns[related.column] = None
            build_node = None
        else:
            # The key comes from the node the resolvers would build (a history event's sides): build it the same way.
            own: Declaration = getattr(cls, "__declaration__")  # noqa: B009 - declared types only get here
            plan.columns.update(dict.fromkeys(own.column_names))
            build_node = cls.from_row
        return RelationSource(
            loader=related.loader,
            columns=columns,
            column=related.column,
            key=related.key,
            build_node=build_node,
            from_parent=from_parent,
        )

    def connection(
        self,
        definition: GraphQLField,
        strawberry_field: StrawberryField,
        spec: ConnectionSpec,
        details: FieldDetailsList,
        cls: type[Any] | None,
        plan: ObjectPlan | None = None,
    ) -> Connection:
        """The plan of a connection field (on a node of `cls` planned by `plan`, or of the organization when `cls` is
        None)."""
        for permission in spec.permission_classes:
            self._permission(permission)
        connection_type = _object_type(definition.type)
        node_cls, _ = spec.node_type()
        nodes_parent = Parent(cls, plan, spec.source.parent_column) if cls is not None and plan is not None else None
        if plan is not None:
            plan.columns["id"] = None  # each row's list is the list of its id
        parts: list[tuple[str, ConnectionPart]] = []
        for key, part_details in self.subfields(connection_type, details).items():
            name = part_details[0].node.name.value
            if name == "__typename":
                parts.append((key, ConnectionPart("constant", constant=connection_type.name)))
            elif name == "nodes":
                child = self.object(connection_type.fields[name].type, part_details, nodes_parent)
                parts.append((key, ConnectionPart("nodes", child=child)))
            elif name == "totalCount":
                parts.append((key, ConnectionPart("totalCount")))
            elif name == "edges":
                edge_type = _object_type(connection_type.fields[name].type)
                fields: list[tuple[str, str | Constant]] = []
                child = None
                for edge_key, edge_details in self.subfields(edge_type, part_details).items():
                    edge_field = edge_details[0].node.name.value
                    if edge_field == "__typename":
                        fields.append((edge_key, Constant(edge_type.name)))
                    elif edge_field in _EDGE_FIELDS:
                        if edge_field == "node":
                            # Two keys for the node (aliases) would need two plans; one is all clients send.
                            if child is not None:
                                raise NotPlannableError("edges with two node keys")
                            child = self.object(edge_type.fields["node"].type, edge_details, nodes_parent)
                        fields.append((edge_key, edge_field))
                    else:
                        raise NotPlannableError(f"{edge_type.name}.{edge_field}")
                parts.append((key, ConnectionPart("edges", child=child, fields=fields)))
            elif name == "pageInfo":
                info_type = _object_type(connection_type.fields[name].type)
                info_fields: list[tuple[str, str | Constant]] = []
                for info_key, info_details in self.subfields(info_type, part_details).items():
                    info_field = info_details[0].node.name.value
                    if info_field == "__typename":
                        info_fields.append((info_key, Constant(info_type.name)))
                    elif info_field in _PAGE_INFO_FIELDS:
                        info_fields.append((info_key, info_field))
                    else:
                        raise NotPlannableError(f"{info_type.name}.{info_field}")
                parts.append((key, ConnectionPart("pageInfo", fields=info_fields)))
            else:
                raise NotPlannableError(f"{connection_type.name}.{name}")
        if node_cls is None:
            raise NotPlannableError("connection without a node type")
        return Connection(
            spec=spec,
            definition=definition,
            strawberry_field=strawberry_field,
            node=details[0].node,
            parts=parts,
            nullable=not isinstance(definition.type, GraphQLNonNull),
            constant=not any(_uses_variables(argument.value) for argument in details[0].node.arguments or ()),
            cursors=any(
                field in ("cursor", "startCursor", "endCursor")
                for _, part in parts
                if part.kind in ("edges", "pageInfo")
                for _, field in part.fields
            ),
        )

    def _permissions(self, strawberry_field: StrawberryField) -> None:
        for extension in strawberry_field.extensions:
            if not isinstance(extension, PermissionExtension):
                raise NotPlannableError(f"{strawberry_field.python_name}: a field extension")
            for permission in extension.permissions:
                self._permission(type(permission))

    def _permission(self, permission: type[Any]) -> None:
        if permission not in ROLE_PERMISSIONS:
            raise NotPlannableError(f"{permission.__name__} is not a role check")
        self.permissions[permission] = None


def _uses_variables(value: ValueNode) -> bool:
    """Whether an argument's value reads a variable, at any depth."""
    if isinstance(value, VariableNode):
        return True
    if isinstance(value, ListValueNode):
        return any(map(_uses_variables, value.values))
    if isinstance(value, ObjectValueNode):
        return any(_uses_variables(field.value) for field in value.fields)
    return False


def _strawberry_field(definition: GraphQLField | None) -> StrawberryField | None:
    if definition is None:
        return None
    found = definition.extensions.get("strawberry-definition")
    return found if isinstance(found, StrawberryField) else None


def _object_type(output: GraphQLOutputType) -> GraphQLObjectType:
    named = output.of_type if isinstance(output, GraphQLNonNull) else output
    if isinstance(named, GraphQLList):
        named = named.of_type
        named = named.of_type if isinstance(named, GraphQLNonNull) else named
    if not isinstance(named, GraphQLObjectType):
        raise NotPlannableError(f"{named} is not an object type")
    return named


def _origin(gql_type: GraphQLObjectType) -> type[Any]:
    definition = gql_type.extensions.get("strawberry-definition")
    origin = getattr(definition, "origin", None)
    if not isinstance(origin, type):
        raise NotPlannableError(gql_type.name)
    return origin


def _global_id(type_name: str) -> Callable[[Any], str]:
    def global_id(row: Any) -> str:
        return relay.to_base64(type_name, str(row["id"]))

    return global_id


_FLOAT_TYPES = frozenset((float, type(None)))
_BOOLEAN_TYPES = frozenset((bool, type(None)))


def _leaf_column(read: Read, output: GraphQLOutputType) -> Callable[[Sequence[Any]], list[Any]] | None:
    """Every row's value of a column read as is, or of an enum column, in one pass at C speed; None for others."""
    nullable = not isinstance(output, GraphQLNonNull)
    named = output.of_type if isinstance(output, GraphQLNonNull) else output
    convert = read.convert
    if len(read.columns) != 1:
        return None
    column_name = read.column
    if convert is None and named in (GraphQLString, GraphQLID):

        def column(rows: Sequence[Any]) -> list[Any]:
            values = column_values(rows, column_name)
            # `all` first: a truth test per value is several times cheaper than `None in` (an equality test per
            # value), and only an empty string (or a null) sends it on to the exact test.
            if not nullable and not all(values) and None in values:
                raise FallbackError(read.column)
            return values

        return column
    if convert is None and named in (GraphQLFloat, GraphQLInt, GraphQLBoolean):
        serialize = named.serialize  # type: ignore[attr-defined]
        # The values graphql-core's serializer returns unchanged pass at C speed; others (a Decimal, an int for a
        # Float, a value out of range) go through the serializer, so the answer and its errors stay the same.
        if named is GraphQLFloat:

            def passes(value: Any) -> bool:
                return value is None or (type(value) is float and isfinite(value))

            def all_pass(values: list[Any]) -> bool:
                # Only floats and nulls, and no infinity or NaN among them (a sum that overflows takes the slow path).
                return set(map(type, values)) <= _FLOAT_TYPES and isfinite(sum(filter(None, values)))
        elif named is GraphQLInt:

            def passes(value: Any) -> bool:
                return value is None or (type(value) is int and -2147483648 <= value <= 2147483647)

            def all_pass(values: list[Any]) -> bool:
                return all(map(passes, values))
        else:

            def passes(value: Any) -> bool:
                return value is None or type(value) is bool

            def all_pass(values: list[Any]) -> bool:
                return set(map(type, values)) <= _BOOLEAN_TYPES

        def scalar_column(rows: Sequence[Any]) -> list[Any]:
            values = column_values(rows, column_name)
            if not all_pass(values):
                try:
                    values = [value if passes(value) else serialize(value) for value in values]
                except GraphQLError:
                    raise FallbackError(read.column) from None  # the resolvers answer with the field's error
            if not nullable and not all(values) and None in values:
                raise FallbackError(read.column)
            return values

        return scalar_column
    if isinstance(convert, EnumMeta) and is_leaf_type(named):
        names: dict[Any, Any] = {member.value: named.serialize(member) for member in convert}  # type: ignore[attr-defined, var-annotated]
        if nullable:
            names[None] = None
        answer = names.__getitem__

        def enum_column(rows: Sequence[Any]) -> list[Any]:
            try:
                return list(map(answer, column_values(rows, column_name)))
            except KeyError:
                raise FallbackError(read.column) from None

        return enum_column
    return None


def _leaf_plan(read: Read, output: GraphQLOutputType) -> Leaf:
    """The plan of a field that reads a declared column; `relabel` gives it over a joined row's labelled columns."""

    def relabel(labels: Mapping[str, str]) -> Leaf:
        moved = replace(read, column=labels[read.column], using=tuple(map(labels.__getitem__, read.using)))
        return _leaf_plan(moved, output)

    return Leaf(_leaf(read, output), _leaf_column(read, output), reads=read.columns, relabel=relabel)


def _leaf(read: Read, output: GraphQLOutputType) -> Callable[[Any], Any]:
    """The serialized value of a declared column for a row, as graphql-core would write it."""
    nullable = not isinstance(output, GraphQLNonNull)
    named = output.of_type if isinstance(output, GraphQLNonNull) else output
    if not is_leaf_type(named):
        raise NotPlannableError(f"{named} is not a scalar or an enum")
    convert = read.convert
    # Text read as text: graphql-core's String and ID serializers return a str as it is.
    serialize = None if named in (GraphQLString, GraphQLID) and convert is None else named.serialize  # type: ignore[attr-defined]
    if len(read.columns) == 1:
        fetch = itemgetter(read.column)
        if isinstance(convert, EnumMeta) and serialize is not None:
            # An enum column: each stored value's answer is known now, one dictionary lookup per row.
            names = {member.value: serialize(member) for member in convert}  # type: ignore[var-annotated]

            def enum(row: Any) -> Any:
                value = fetch(row)
                if value is None:
                    if nullable:
                        return None
                    raise FallbackError(read.column)
                return names[value]

            return enum
        if convert is None and serialize is None:

            def plain(row: Any) -> Any:
                value = fetch(row)
                if value is None and not nullable:
                    raise FallbackError(read.column)
                return value

            return plain

        def converted(row: Any) -> Any:
            value = fetch(row)
            if convert is not None:
                value = convert(value)
            if value is None:
                if nullable:
                    return None
                raise FallbackError(read.column)
            return value if serialize is None else serialize(value)

        return converted
    fetch_all = itemgetter(*read.columns)

    def combined(row: Any) -> Any:
        assert convert is not None, "a field reading several columns converts them"
        value = convert(*fetch_all(row))
        if value is None:
            if nullable:
                return None
            raise FallbackError(read.column)
        return value if serialize is None else serialize(value)

    return combined
