"""The declarative helpers of the GraphQL layer: connection fields built by a factory, payloads built by a helper."""

from dataclasses import dataclass
from typing import Annotated, Any
from uuid import uuid4

import pytest
import strawberry
from graphql import GraphQLNonNull, GraphQLObjectType, get_named_type

from loaders.pagination import Order
from loaders.sources import SPRINTS_BY_PRODUCT
from prism.errors import Code, ForbiddenError, NotFoundError, ValidationError
from resolvers.common import UserError
from resolvers.connections import ListArguments, connection_field, node_class, payload
from resolvers.schema import build_schema

RELAY_ARGUMENTS = ["first", "after", "last", "before"]


def test_node_class_follows_a_lazy_reference_to_the_class_it_names() -> None:
    from resolvers.requirements import Requirement

    assert node_class(Annotated["Requirement", strawberry.lazy("resolvers.requirements")]) is Requirement
    assert node_class(Requirement) is Requirement


def test_node_class_refuses_what_names_no_type() -> None:
    with pytest.raises(TypeError):
        node_class("Requirement")


def test_a_connection_without_arguments_needs_an_order() -> None:
    with pytest.raises(TypeError, match="needs an order"):
        connection_field(object, source=SPRINTS_BY_PRODUCT, description="Sprints.")


def test_a_connection_with_arguments_takes_its_order_from_them() -> None:
    arguments: ListArguments[Any, None] = ListArguments(filter=int, convert=lambda f, o: (f, Order("NAME")))
    with pytest.raises(TypeError, match="arguments give"):
        connection_field(
            object, source=SPRINTS_BY_PRODUCT, description="Sprints.", arguments=arguments, order=Order("NAME")
        )


def _connection_fields() -> list[tuple[str, str, Any]]:
    schema = build_schema()._schema
    found = []
    for type_name, graphql_type in schema.type_map.items():
        if type_name.startswith("__") or not isinstance(graphql_type, GraphQLObjectType):
            continue
        for field_name, field in graphql_type.fields.items():
            target = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
            if get_named_type(target).name.endswith("Connection"):
                found.append((type_name, field_name, field))
    return found


def test_every_connection_field_takes_the_relay_arguments_last_and_described() -> None:
    fields = _connection_fields()
    assert len(fields) >= 20
    for type_name, field_name, field in fields:
        names = list(field.args)
        assert names[-4:] == RELAY_ARGUMENTS, f"{type_name}.{field_name}: {names}"
        for name, argument in field.args.items():
            assert argument.description, f"{type_name}.{field_name}({name}) has no description"


def test_factory_built_lists_answer_with_their_node_type_and_filter_input() -> None:
    schema = build_schema()._schema
    product = schema.type_map["Product"]
    assert isinstance(product, GraphQLObjectType)
    expected = {
        "requirements": ("RequirementConnection", ["filter", "orderBy", *RELAY_ARGUMENTS]),
        "sprints": ("SprintConnection", ["filter", *RELAY_ARGUMENTS]),
        "releases": ("ReleaseConnection", ["filter", *RELAY_ARGUMENTS]),
        "roadmaps": ("RoadmapConnection", ["filter", *RELAY_ARGUMENTS]),
        "documents": ("DocumentConnection", ["filter", *RELAY_ARGUMENTS]),
    }
    for name, (connection, arguments) in expected.items():
        field = product.fields[name]
        assert get_named_type(field.type).name == connection
        assert list(field.args) == arguments
    assert get_named_type(product.fields["sprints"].args["filter"].type).name == "SprintFilter"


@strawberry.type
class _Thing:
    name: str


@dataclass
class _ThingPayload:
    thing: _Thing | None
    user_errors: list[UserError]


async def test_payload_builds_each_field_from_what_the_call_returned() -> None:
    async def create() -> str:
        return "roadmap"

    answer = await payload(_ThingPayload, create, thing=lambda name: _Thing(name=name))
    assert answer == _ThingPayload(thing=_Thing(name="roadmap"), user_errors=[])


async def test_payload_answers_a_domain_error_as_a_user_error_with_the_fields_null() -> None:
    async def create() -> str:
        raise ValidationError("Too long.", field="title", code=Code.TOO_LONG)

    answer = await payload(_ThingPayload, create, thing=lambda name: _Thing(name=name))
    assert answer.thing is None
    assert answer.user_errors == [UserError(field=["input", "title"], message="Too long.", code="TOO_LONG")]


async def test_payload_runs_decoding_inside_the_call_so_a_bad_id_is_a_user_error() -> None:
    from resolvers.common import decode_id

    async def update(row_id: Any) -> str:
        return str(row_id)

    answer = await payload(
        _ThingPayload,
        lambda: update(decode_id(strawberry.relay.to_base64("Team", str(uuid4())), "Sprint")),
        thing=lambda name: _Thing(name=name),
    )
    assert answer.thing is None
    assert [error.code for error in answer.user_errors] == [NotFoundError("x").code.value]


async def test_payload_lets_authorization_errors_through() -> None:
    async def create() -> str:
        raise ForbiddenError("Not yours.")

    with pytest.raises(ForbiddenError):
        await payload(_ThingPayload, create, thing=lambda name: _Thing(name=name))


@dataclass
class _PasswordPayload:
    ok: bool
    user_errors: list[UserError]
    retry_after_seconds: int | None = None


async def test_payload_fills_in_what_a_refusal_answers_besides_the_null_fields() -> None:
    from prism.auth.throttle import ThrottledError
    from resolvers.accounts import retry_after

    async def change() -> None:
        raise ThrottledError("Too many attempts.", code=Code.RATE_LIMITED, retry_after_seconds=30)

    def refused(error: Any) -> dict[str, object]:
        return {"ok": False, "retry_after_seconds": retry_after(error)}

    answer = await payload(_PasswordPayload, change, refused=refused, ok=lambda _: True)
    assert (answer.ok, answer.retry_after_seconds) == (False, 30)
    assert len(answer.user_errors) == 1
    succeeded = await payload(_PasswordPayload, lambda: _returns(None), refused=refused, ok=lambda _: True)
    assert succeeded == _PasswordPayload(ok=True, user_errors=[])


async def _returns(value: Any) -> Any:
    return value


async def test_a_mutation_that_needs_no_token_answers_even_authentication_errors_in_its_payload() -> None:
    from prism.errors import UnauthenticatedError
    from resolvers.connections import public_user_errors

    async def verify() -> str:
        raise UnauthenticatedError("The link has expired.")

    answer = await payload(_ThingPayload, verify, errors=public_user_errors, thing=lambda name: _Thing(name=name))
    assert answer.thing is None
    assert [error.code for error in answer.user_errors] == ["UNAUTHENTICATED"]


async def test_answer_builds_the_whole_payload_from_the_result_or_the_refusal() -> None:
    from resolvers.connections import answer

    def failed(error: Any) -> _ThingPayload:
        return _ThingPayload(thing=None, user_errors=[UserError.from_error(error)])

    def built(name: str) -> _ThingPayload:
        return _ThingPayload(thing=_Thing(name=name), user_errors=[])

    assert await answer(lambda: _returns("roadmap"), built, failed) == built("roadmap")

    async def refuse() -> str:
        raise ValidationError("Too long.", field="title", code=Code.TOO_LONG)

    refusal = await answer(refuse, built, failed)
    assert (refusal.thing, [e.code for e in refusal.user_errors]) == (None, ["TOO_LONG"])


def test_no_mutation_catches_domain_errors_by_hand() -> None:
    """Every mutation answers through `payload` (or `answer`): a try/except PrismError in a resolver is the
    hand-written payload the helpers replace."""
    import ast
    from pathlib import Path

    by_hand = []
    for module in sorted(Path("resolvers").glob("*.py")):
        if module.name == "connections.py":
            continue
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ExceptHandler) and ast.unparse(node.type or ast.Constant(None)) == "PrismError":
                by_hand.append(f"{module}:{node.lineno}")
    assert by_hand == []


async def test_loaders_are_built_once_per_request_by_class_and_dropped_by_clear() -> None:
    from loaders import Loaders
    from loaders.rows import ProductByIdLoader, RowByIdLoader, SprintByIdLoader
    from prism.db.tables import Product, Sprint

    loaders = Loaders(reader=None, organization_id=uuid4())  # type: ignore[arg-type]
    products = loaders.get(ProductByIdLoader)
    assert loaders.get(ProductByIdLoader) is products
    assert loaders.get(SprintByIdLoader) is not products
    assert products.table is Product.__table__  # type: ignore[attr-defined]
    assert SprintByIdLoader.table is Sprint.__table__  # type: ignore[attr-defined]
    assert isinstance(products, RowByIdLoader)
    loaders.clear()
    assert loaders.get(ProductByIdLoader) is not products


def test_every_node_type_names_a_loader_class() -> None:
    from aiodataloader import DataLoader

    from resolvers.node import NODE_TYPES

    build_schema()
    assert len(NODE_TYPES) >= 15
    for name, node_type in NODE_TYPES.items():
        assert isinstance(node_type.loader, type), name
        assert issubclass(node_type.loader, DataLoader), name
        for field, related in node_type.related.items():
            assert issubclass(related.loader, DataLoader), f"{name}.{field}"
