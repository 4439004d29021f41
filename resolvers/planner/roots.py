"""The root fields the planner answers besides the organization's lists: each translates its arguments as its
resolver does, and leaves every refusal (a bad argument, NOT_FOUND) to that resolver.

Adding one: a function compiling the field into a `Lookup` (a row found from the arguments) or a `ContextObject` (an
object made from the request's context), registered in ROOTS under the field's GraphQL name. The resolver stays the
reference: tests/test_planner_differential.py runs both on the same data.
"""

from collections.abc import Mapping
from typing import Any

from graphql import GraphQLField, GraphQLInterfaceType, GraphQLList, GraphQLNonNull, GraphQLObjectType
from graphql.execution.collect_fields import FieldDetailsList
from strawberry.types.field import StrawberryField

from loaders.rows import (
    OrganizationByIdLoader,
    ProductByIdLoader,
    ProductByKeyLoader,
    RequirementByIdLoader,
    RequirementByKeyLoader,
    UserByIdLoader,
)
from prism.db.statements import MappedRow
from resolvers.common import Related, decode_id
from resolvers.enums import Role
from resolvers.identity import Organization, User
from resolvers.node import NODE_TYPES
from resolvers.planner.compile import Compiler, NotPlannableError, RootCompiler
from resolvers.planner.plans import (
    Constant,
    ContextObject,
    FallbackError,
    FieldPlan,
    Leaf,
    Lookup,
    NodeLookup,
    ObjectPlan,
    Relation,
)
from resolvers.planner.run import PlanRun
from resolvers.products import product_not_found
from resolvers.requirement_filters import parse_key
from resolvers.requirement_queries import requirement_not_found

__all__ = ["ROOTS"]


def _product(
    compiler: Compiler, definition: GraphQLField, field: StrawberryField, details: FieldDetailsList
) -> FieldPlan:
    child = compiler.object(definition.type, details)
    columns = child.row_columns()

    async def find(run: PlanRun, arguments: dict[str, Any]) -> Any:
        given_id, key = arguments.get("id"), arguments.get("key")
        if (given_id is None) == (key is None):
            raise FallbackError("pass exactly one of id and key")
        if given_id is not None:
            return await run.row(ProductByIdLoader, columns, decode_id(given_id, "Product"))
        wanted = str(key).strip().upper()
        return await run.row(ProductByKeyLoader, columns, wanted) if len(wanted) <= 10 else None

    return Lookup(
        definition=definition,
        node=details[0].node,
        find=find,
        child=child,
        nodes=tuple(d.node for d in details),
        missing=lambda arguments: product_not_found(by_id=arguments.get("id") is not None),
    )


def _requirement(
    compiler: Compiler, definition: GraphQLField, field: StrawberryField, details: FieldDetailsList
) -> FieldPlan:
    child = compiler.object(definition.type, details)
    columns = child.row_columns()

    async def find(run: PlanRun, arguments: dict[str, Any]) -> Any:
        key, given_id = arguments.get("key"), arguments.get("id")
        if (key is None) == (given_id is None):
            raise FallbackError("pass exactly one of key and id")
        if key is not None:
            return await run.row(RequirementByKeyLoader, columns, parse_key(key))
        return await run.row(RequirementByIdLoader, columns, decode_id(str(given_id), "Requirement"))

    return Lookup(
        definition=definition,
        node=details[0].node,
        find=find,
        child=child,
        nodes=tuple(d.node for d in details),
        missing=lambda arguments: requirement_not_found(by_key=arguments.get("key") is not None),
    )


def _organization(
    compiler: Compiler, definition: GraphQLField, field: StrawberryField, details: FieldDetailsList
) -> FieldPlan:
    child = compiler.object(definition.type, details)
    columns = child.row_columns()

    async def find(run: PlanRun, arguments: dict[str, Any]) -> Any:
        return await run.row(OrganizationByIdLoader, columns, run.context.member.organization_id)

    return Lookup(
        definition=definition,
        node=details[0].node,
        find=find,
        child=child,
        nodes=tuple(d.node for d in details),
    )


class _ViewerRow(MappedRow):
    """What `viewer` is made of: the signed-in user (`user_id`), their organization (`organization_id`) and their
    role there (`role`), read by name as the planner reads every row."""

    __slots__ = ()


def _viewer(
    compiler: Compiler, definition: GraphQLField, field: StrawberryField, details: FieldDetailsList
) -> FieldPlan:
    viewer_type = definition.type.of_type if hasattr(definition.type, "of_type") else definition.type
    assert isinstance(viewer_type, GraphQLObjectType)
    plan = ObjectPlan(type_name=viewer_type.name)
    relations = {
        "user": Related.joins(UserByIdLoader, "user_id", User),
        "organization": Related.joins(OrganizationByIdLoader, "organization_id", Organization),
    }
    for key, field_details in compiler.subfields(viewer_type, details).items():
        name = field_details[0].node.name.value
        if name == "__typename":
            plan.fields.append((key, Constant(viewer_type.name)))
        elif name == "role":
            plan.fields.append((key, Leaf(_role)))
        elif name in relations:
            child = compiler.object(viewer_type.fields[name].type, field_details)
            source = compiler.relation_source(relations[name], _ViewerRow, None, plan, child.row_columns())
            plan.fields.append((key, Relation("one", source, child, nullable=False)))
        else:
            raise NotPlannableError(f"{viewer_type.name}.{name}")

    def make(context: Any) -> _ViewerRow:
        member = context.member
        return _ViewerRow(user_id=member.user_id, organization_id=member.organization_id, role=member.role.value)

    return ContextObject(make=make, child=plan)


def _node(compiler: Compiler, definition: GraphQLField, field: StrawberryField, details: FieldDetailsList) -> FieldPlan:
    return _node_lookup(compiler, definition, details, many=False)


def _nodes(
    compiler: Compiler, definition: GraphQLField, field: StrawberryField, details: FieldDetailsList
) -> FieldPlan:
    return _node_lookup(compiler, definition, details, many=True)


def _node_lookup(compiler: Compiler, definition: GraphQLField, details: FieldDetailsList, *, many: bool) -> FieldPlan:
    output = definition.type.of_type if isinstance(definition.type, GraphQLNonNull) else definition.type
    if many:
        output = output.of_type if isinstance(output, GraphQLList) else output
    interface = output.of_type if isinstance(output, GraphQLNonNull) else output
    assert isinstance(interface, GraphQLInterfaceType)
    types: dict[str, tuple[type[Any], ObjectPlan | None]] = {}
    for gql_type in compiler.schema.get_possible_types(interface):
        cls = NODE_TYPES.get(gql_type.name)
        if cls is None:
            continue
        try:
            plan: ObjectPlan | None = compiler.object(gql_type, details)
        except NotPlannableError:
            plan = None
        types[gql_type.name] = (cls, plan)
    return NodeLookup(definition=definition, node=details[0].node, types=types, many=many)


def _role(row: _ViewerRow) -> str:
    return Role(row["role"]).name


ROOTS: Mapping[str, RootCompiler] = {
    "product": _product,
    "requirement": _requirement,
    "organization": _organization,
    "viewer": _viewer,
    "node": _node,
    "nodes": _nodes,
}
"""The root fields with a planner of their own, by GraphQL name (connections of the organization need none)."""
