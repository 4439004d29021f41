"""Checks that walk a GraphQL document (depth, aliases, cost) stay linear in its size, however fragments nest.

A fragment spreading the next one twice, thirty times over, names 2**30 selections; walking each spread again took
4.5 s at 20 levels and never finished at 30. The walkers count the selections they visit, so these tests bound the
work itself rather than the time it takes.
"""

import pytest
from graphql import DocumentNode, FieldNode, FragmentSpreadNode, InlineFragmentNode, OperationDefinitionNode, parse
from graphql.language import Visitor, visit
from starlette.applications import Starlette

from resolvers.cost import COST_CEILING, CostCompiler, CostPlans, operation_cost
from resolvers.document_limits import ShapeWalker
from tests.helpers import Account, GraphQLClient

LEVELS_AND_SPREADS = [(30, 2), (32, 3), (40, 5), (30, 10)]


def nested_fragments(levels: int, spreads: int, innermost: str) -> str:
    """`{ ...F0 }` where each fragment selects `__typename` and spreads the next one `spreads` times."""
    fragments = [
        f"fragment F{level} on Query {{ __typename {f'...F{level + 1} ' * spreads} }}" for level in range(levels - 1)
    ]
    fragments.append(f"fragment F{levels - 1} on Query {{ {innermost} }}")
    return "query Nested { ...F0 } " + " ".join(fragments)


def selections_in(document: DocumentNode) -> int:
    """How many selections (fields, inline fragments, spreads) the document's text holds."""

    class Count(Visitor):
        total = 0

        def enter(self, node: object, *args: object) -> None:
            if isinstance(node, FieldNode | InlineFragmentNode | FragmentSpreadNode):
                Count.total += 1

    visit(document, Count())
    return Count.total


def operation(document: DocumentNode) -> OperationDefinitionNode:
    return next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))


@pytest.mark.parametrize(("levels", "spreads"), LEVELS_AND_SPREADS)
def test_the_depth_and_alias_walk_visits_each_selection_once_and_still_counts_every_spread(
    levels: int, spreads: int
) -> None:
    document = parse(nested_fragments(levels, spreads, "a: viewer { role }"))
    walker = ShapeWalker(document)

    shape = walker.operation(operation(document))

    assert walker.visited <= selections_in(document)
    assert shape.aliases == spreads ** (levels - 1)  # the alias of the innermost fragment, once per path to it
    assert shape.depth == 1


@pytest.mark.parametrize(("levels", "spreads"), LEVELS_AND_SPREADS)
def test_the_cost_compiler_visits_each_selection_once_and_still_counts_every_spread(
    app: Starlette, levels: int, spreads: int
) -> None:
    schema = app.state.schema._schema
    document = parse(nested_fragments(levels, spreads, "viewer { role }"))
    compiler = CostCompiler(schema, document)

    compiler.operation(operation(document))

    assert compiler.visited <= selections_in(document)
    expected = 2  # the innermost fragment: viewer and role
    for _ in range(levels - 1):
        expected = 1 + spreads * expected  # __typename, then each spread of the next fragment
    assert operation_cost(schema, document, operation(document), {}) == min(expected, COST_CEILING)


@pytest.mark.parametrize(("levels", "spreads"), LEVELS_AND_SPREADS)
async def test_nested_fragments_with_aliases_are_refused_by_the_alias_limit(
    gql: GraphQLClient, levels: int, spreads: int
) -> None:
    # Anonymous on purpose: the limits run before anything needs a signed-in viewer.
    result = await gql.run(nested_fragments(levels, spreads, "a: viewer { role }"))

    assert result.codes == ["QUERY_TOO_COMPLEX"]
    assert f"uses {spreads ** (levels - 1)} aliases" in result.errors[0]["message"]
    assert result.data is None


@pytest.mark.parametrize(("levels", "spreads"), LEVELS_AND_SPREADS)
async def test_nested_fragments_without_aliases_are_refused_by_the_cost_limit(
    account: Account, levels: int, spreads: int
) -> None:
    result = await account.run(nested_fragments(levels, spreads, "viewer { role }"))

    assert result.codes == ["QUERY_TOO_COMPLEX"]
    assert result.errors[0]["extensions"]["cost"] > 1_000_000
    assert result.data is None


async def test_fragments_nested_deeper_than_the_interpreter_recurses_are_refused(gql: GraphQLClient) -> None:
    chain = " ".join(f"fragment F{n} on Query {{ ...F{n + 1} }}" for n in range(600))
    result = await gql.run(f"{{ ...F0 }} {chain} fragment F600 on Query {{ __typename }}")

    assert "QUERY_TOO_COMPLEX" in result.codes
    assert result.data is None


def test_a_document_is_compiled_once_and_evaluated_with_each_requests_variables(app: Starlette) -> None:
    schema = app.state.schema._schema
    document = parse("query($first: Int) { products(first: $first) { nodes { id } } }")
    plans = CostPlans()

    small = plans.cost(schema, document, operation(document), {"first": 2})
    large = plans.cost(schema, document, operation(document), {"first": 100})
    default = plans.cost(schema, document, operation(document), {})

    assert (small, large, default) == (1 + 2 * 2, 1 + 100 * 2, 1 + 50 * 2)
    assert plans.compilations == 1
