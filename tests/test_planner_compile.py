"""What the planner decides from a document alone: which operations it plans, what it caches, which permission checks
a plan carries. No database: the documents are compiled against the schema, as the executor compiles them."""

import math
from decimal import Decimal
from typing import Any

import pytest
from graphql import GraphQLBoolean, GraphQLError, GraphQLFloat, GraphQLInt, GraphQLNonNull, parse
from graphql.execution.executor import Executor

from prism.db.statements import MappedRow
from resolvers.declarations import Read
from resolvers.permissions import CanRead, IsAuthenticated
from resolvers.planner import Planner
from resolvers.planner.compile import _leaf_column
from resolvers.planner.plans import Connection, FallbackError, Leaf, RootPlan
from resolvers.schema import build_schema

SCHEMA = build_schema()._schema


def executor(query: str, variables: dict[str, Any] | None = None, document: Any = None) -> Executor:
    built = Executor.build(SCHEMA, document or parse(query), raw_variable_values=variables or {})
    assert isinstance(built, Executor), built
    return built


def plan_of(planner: Planner, built: Executor) -> RootPlan | None:
    return planner.plan(SCHEMA, built.fragments, built.variable_values, built.operation)


@pytest.mark.parametrize(
    "query",
    [
        "{ products(first: 5) { nodes { key name requirements(first: 3) { totalCount nodes { key status } } } } }",
        '{ product(key: "A") { id key sprints(first: 2) { edges { cursor node { name } } pageInfo { endCursor } } } }',
        '{ requirement(key: "A-1") { title labels { name } childCount parent { key } assignee { name } } }',
        "{ viewer { user { name } organization { slug } role } }",
        '{ node(id: "UHJvZHVjdDox") { id ... on Product { key } ... on Requirement { title } } }',
        "query($show: Boolean!) { products { nodes { key @include(if: $show) ...Named } } } "
        "fragment Named on Product { name }",
    ],
)
def test_queries_over_declared_fields_are_planned(query: str) -> None:
    assert plan_of(Planner(), executor(query, {"show": True})) is not None


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("{ products { nodes { velocity { meanCompletedPoints } } } }", "a resolver with Python logic"),
        ("{ viewer { organizations { role } } }", "a resolver that is not a declared relation"),
        ("{ organization { members { nodes { role } } } }", "a list whose parent is computed"),
        ("{ __schema { queryType { name } } }", "introspection"),
        ('mutation { createLabel(input: {name: "x"}) { label { name } } }', "a mutation"),
    ],
)
def test_an_operation_with_one_field_the_planner_does_not_know_is_left_to_the_resolvers(query: str, why: str) -> None:
    assert plan_of(Planner(), executor(query)) is None, why


def test_a_plan_is_compiled_once_per_document_and_shape_of_its_boolean_variables() -> None:
    planner = Planner()
    document = parse(
        "query($first: Int, $show: Boolean!) { products(first: $first) { nodes { key name @include(if: $show) } } }"
    )
    first = plan_of(planner, executor("", {"first": 2, "show": True}, document))
    again = plan_of(planner, executor("", {"first": 7, "show": True}, document))
    assert first is again
    assert planner.compilations == 1
    hidden = plan_of(planner, executor("", {"first": 7, "show": False}, document))
    assert planner.compilations == 2
    assert first is not None
    assert hidden is not None
    nodes = first.root.fields[0][1]
    assert isinstance(nodes, Connection)
    shown_keys = [key for key, _ in nodes.parts[0][1].child.fields]  # type: ignore[union-attr]
    assert isinstance(hidden.root.fields[0][1], Connection)
    hidden_keys = [key for key, _ in hidden.root.fields[0][1].parts[0][1].child.fields]  # type: ignore[union-attr]
    assert (shown_keys, hidden_keys) == (["key", "name"], ["key"])


def test_a_plan_carries_the_role_checks_of_its_root_fields_and_reads_only_the_columns_it_needs() -> None:
    plan = plan_of(Planner(), executor("{ viewer { role } products(first: 1) { nodes { key } } }"))
    assert plan is not None
    assert set(plan.permissions) == {IsAuthenticated, CanRead}
    products = plan.root.fields[1][1]
    assert isinstance(products, Connection)
    child = products.parts[0][1].child
    assert child is not None
    # The id only when something reads it: a thousand rows of a nested list would each decode a UUID for nothing.
    assert list(child.columns) == ["key"]
    assert isinstance(child.fields[0][1], Leaf)
    wanted = {
        "{ products(first: 1) { nodes { id key } } }": ["id", "key"],
        "{ products(first: 1) { nodes { key requirements(first: 2) { nodes { title } } } } }": ["key", "id"],
        "{ products(first: 1) { nodes { __typename } } }": [],
    }
    for document, columns in wanted.items():
        found = plan_of(Planner(), executor(document))
        assert found is not None
        connection = found.root.fields[0][1]
        assert isinstance(connection, Connection)
        assert connection.parts[0][1].child is not None
        assert list(connection.parts[0][1].child.columns) == columns, document
        assert connection.parts[0][1].child.row_columns() == tuple(dict.fromkeys(("id", *columns)))


def _row(value: Any) -> MappedRow:
    """A row as the planner reads it: by column name."""
    return MappedRow(value=value)


@pytest.mark.parametrize(
    ("output", "values"),
    [
        (GraphQLFloat, [1.5, None, 0.0, -2.25]),
        (GraphQLFloat, [1.5, 2, Decimal("3.5"), True]),
        (GraphQLInt, [1, None, -2147483648, 2147483647]),
        (GraphQLInt, [1.0, 2, False]),
        (GraphQLBoolean, [True, None, False]),
        (GraphQLBoolean, [1, 0, True]),
    ],
)
def test_a_number_or_boolean_column_answers_as_graphql_cores_serializer_would(output: Any, values: list[Any]) -> None:
    """The planner's column of Float, Int and Boolean values: those the serializer returns as they are pass at C
    speed, the others (an int for a Float, a Decimal, a float for an Int) go through the serializer."""
    column = _leaf_column(Read("value"), output)
    assert column is not None
    answer = column([_row(value) for value in values])
    assert answer == [None if value is None else output.serialize(value) for value in values]
    assert [type(item) for item in answer] == [
        type(None) if value is None else type(output.serialize(value)) for value in values
    ]


@pytest.mark.parametrize(
    ("output", "value"),
    [(GraphQLFloat, math.inf), (GraphQLFloat, math.nan), (GraphQLInt, 2147483648), (GraphQLInt, 1.5)],
)
def test_a_number_graphql_cannot_represent_is_left_to_the_resolvers(output: Any, value: Any) -> None:
    """graphql-core refuses the value (a field error on the resolver path): the resolvers answer the request."""
    column = _leaf_column(Read("value"), output)
    assert column is not None
    with pytest.raises(GraphQLError):
        output.serialize(value)
    with pytest.raises(FallbackError):
        column([_row(1), _row(value)])


def test_a_null_in_a_non_null_number_column_is_left_to_the_resolvers() -> None:
    column = _leaf_column(Read("value"), GraphQLNonNull(GraphQLFloat))
    assert column is not None
    assert column([_row(1.0)]) == [1.0]
    with pytest.raises(FallbackError):
        column([_row(1.0), _row(None)])


@pytest.mark.parametrize(
    ("query", "constant"),
    [
        ("{ products(first: 2) { nodes { key } } }", True),
        ('{ products(first: 2, filter: {search: "x"}) { nodes { key } } }', True),
        ("query($first: Int) { products(first: $first) { nodes { key } } }", False),
        ("query($search: String) { products(filter: {search: $search}) { nodes { key } } }", False),
    ],
)
def test_a_connection_whose_arguments_read_no_variable_converts_them_once_per_plan(query: str, constant: bool) -> None:
    plan = plan_of(Planner(), executor(query, {"first": 2, "search": "x"}))
    assert plan is not None
    products = plan.root.fields[0][1]
    assert isinstance(products, Connection)
    assert products.constant is constant


@pytest.mark.parametrize(
    ("query", "cursors"),
    [
        ("{ products(first: 2) { nodes { key } totalCount pageInfo { hasNextPage } } }", False),
        ("{ products(first: 2) { edges { node { key } } } }", False),
        ("{ products(first: 2) { edges { cursor } } }", True),
        ("{ products(first: 2) { nodes { key } pageInfo { endCursor } } }", True),
    ],
)
def test_a_connection_reads_its_rows_sort_values_only_when_it_answers_a_cursor(query: str, cursors: bool) -> None:
    plan = plan_of(Planner(), executor(query))
    assert plan is not None
    products = plan.root.fields[0][1]
    assert isinstance(products, Connection)
    assert products.cursors is cursors
