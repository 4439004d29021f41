"""The schema is the contract: committed as schema.graphql, described everywhere, and guarded on every mutation."""

from pathlib import Path

from click.testing import CliRunner
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    specified_directives,
)
from starlette.applications import Starlette

from prism.cli import main

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"
BUILT_IN_SCALARS = {"String", "Int", "Float", "Boolean", "ID"}
PUBLIC_MUTATIONS = {"signUp", "logIn"}


def graphql_schema(app: Starlette) -> GraphQLSchema:
    return app.state.schema._schema  # type: ignore[no-any-return]


def test_schema_graphql_is_what_prism_schema_export_prints() -> None:
    result = CliRunner().invoke(main, ["schema", "export"])
    assert result.exit_code == 0, result.output
    committed = SCHEMA_FILE.read_text()
    assert result.output == committed, (
        "schema.graphql is out of date with the code: run `make schema` (prism schema export -o schema.graphql) "
        "and commit the result"
    )


def test_the_app_serves_the_schema_that_is_exported(app: Starlette) -> None:
    from resolvers.schema import schema_sdl

    assert schema_sdl(app.state.schema) == SCHEMA_FILE.read_text(), "run `make schema`"


def undescribed(schema: GraphQLSchema) -> list[str]:
    """Every type, field, argument, input field and enum value without a description, by schema coordinate."""
    missing: list[str] = []

    def check(coordinate: str, description: str | None) -> None:
        if not (description or "").strip():
            missing.append(coordinate)

    for name, type_ in schema.type_map.items():
        if name.startswith("__") or name in BUILT_IN_SCALARS:
            continue
        check(name, type_.description)
        if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in type_.fields.items():
                check(f"{name}.{field_name}", field.description)
                for arg_name, arg in field.args.items():
                    check(f"{name}.{field_name}({arg_name}:)", arg.description)
        elif isinstance(type_, GraphQLInputObjectType):
            for field_name, input_field in type_.fields.items():
                check(f"{name}.{field_name}", input_field.description)
        elif isinstance(type_, GraphQLEnumType):
            for value_name, value in type_.values.items():
                check(f"{name}.{value_name}", value.description)
        elif isinstance(type_, GraphQLUnionType):
            pass  # a union's members are types, checked on their own
    for directive in schema.directives:
        if directive in specified_directives:
            continue
        check(f"@{directive.name}", directive.description)
        for arg_name, arg in directive.args.items():
            check(f"@{directive.name}({arg_name}:)", arg.description)
    return missing


def test_everything_in_the_schema_has_a_description(app: Starlette) -> None:
    missing = undescribed(graphql_schema(app))
    assert missing == [], (
        "GraphiQL is the integrators' manual; describe these (strawberry.field/argument/enum_value description=): "
        + ", ".join(missing)
    )


def test_every_mutation_but_sign_up_and_log_in_declares_permission_classes(app: Starlette) -> None:
    mutation = app.state.schema.get_type_by_name("Mutation")
    unguarded = sorted(
        field.graphql_name or app.state.schema.config.name_converter.get_graphql_name(field)
        for field in mutation.fields
        if not field.permission_classes
    )
    assert unguarded == sorted(PUBLIC_MUTATIONS), (
        f"mutations without permission_classes: {sorted(set(unguarded) - PUBLIC_MUTATIONS)}"
    )


def test_every_query_field_declares_permission_classes(app: Starlette) -> None:
    query = app.state.schema.get_type_by_name("Query")
    name_of = app.state.schema.config.name_converter.get_graphql_name
    unguarded = sorted(name_of(field) for field in query.fields if not field.permission_classes)
    assert unguarded == [], f"query fields without permission_classes: {unguarded}"
