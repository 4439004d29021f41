"""Every list field has a bound in the cost model, and the executor holds operations to what they may cost.

The review that found this nested plain lists (a team's members, each member's teams, each team's members...): the
cost model multiplied connections by their page size but counted plain lists once, so an operation estimated at
601 resolved 271,455 objects and froze the server. These tests walk the live schema instead of trusting a list of
fields someone remembered to declare.
"""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    OperationDefinitionNode,
    get_named_type,
    is_leaf_type,
    parse,
)
from starlette.applications import Starlette

from resolvers.cost import operation_cost
from resolvers.list_bounds import is_list, list_maximum
from resolvers.members import MEMBERS_PER_TEAM_LISTED, TEAMS_PER_MEMBER_LISTED
from tests.helpers import (
    Account,
    add_comment,
    app_with,
    create_label,
    create_product,
    create_requirement,
    create_sprint,
    join_organization,
    uuid_of,
)

PAGE = 10
IDS = 3
MAX_DEPTH = 12


# --- a walk over the live schema --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One level of a generated selection: a field (with its arguments) or an inline fragment on a type."""

    text: str
    target: str  # the type this step leads to
    field: bool
    is_list: bool
    factor: int  # how many items this level multiplies by (page size, ids, the list's maximum); 1 if not a list


Path = tuple[Step, ...]


def composite_list_fields(schema: GraphQLSchema) -> Iterator[tuple[GraphQLNamedType, str, GraphQLField]]:
    """Every field of an object or interface type (introspection aside) that returns a list of objects."""
    for type_ in schema.type_map.values():
        if type_.name.startswith("__") or not isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
            continue
        for name, field in type_.fields.items():
            if is_list(field.type) and not is_leaf_type(get_named_type(field.type)):
                yield type_, name, field


def literal(type_: Any) -> str:
    """A GraphQL literal of an input type (required fields only); ids are syntactically fine but point at nothing."""
    if isinstance(type_, GraphQLNonNull):
        return literal(type_.of_type)
    if isinstance(type_, GraphQLList):
        return "[" + ", ".join(literal(type_.of_type) for _ in range(IDS)) + "]"
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLInputObjectType):
        fields = [f"{n}: {literal(f.type)}" for n, f in type_.fields.items() if isinstance(f.type, GraphQLNonNull)]
        return "{" + ", ".join(fields) + "}"
    assert isinstance(type_, GraphQLScalarType)
    return {"Int": "1", "Float": "1.0", "Boolean": "false", "ID": f'"{uuid.uuid4()}"'}.get(type_.name, '"X-1"')


def field_step(parent: GraphQLNamedType, name: str, field: GraphQLField) -> Step:
    arguments = [f"{a}: {literal(arg.type)}" for a, arg in field.args.items() if isinstance(arg.type, GraphQLNonNull)]
    if "first" in field.args:
        arguments.append(f"first: {PAGE}")
    text = f"{name}({', '.join(arguments)}) {{" if arguments else f"{name} {{"
    factor = 1
    if is_list(field.type):
        maximum = list_maximum(parent, field)
        assert maximum is not None, f"{parent.name}.{name} returns a list without a maximum"
        # Every connection in the schema is reached through a field given `first`: its items count by the page.
        page = name in ("nodes", "edges") and "pageInfo" in getattr(parent, "fields", {})
        factor = PAGE if page else IDS if "ids" in field.args else maximum
    return Step(text, get_named_type(field.type).name, field=True, is_list=is_list(field.type), factor=factor)


def moves(schema: GraphQLSchema, type_: GraphQLNamedType) -> Iterator[Step]:
    """Where a selection on `type_` can go next: into a composite field, or into a fragment on a possible type."""
    if isinstance(type_, GraphQLUnionType | GraphQLInterfaceType):
        for possible in schema.get_possible_types(type_):
            yield Step(f"... on {possible.name} {{", possible.name, field=False, is_list=False, factor=1)
    if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
        for name, field in type_.fields.items():
            # Paths go through real data: ids made up for node(id:) and nodes(ids:) find nothing to nest into.
            by_made_up_id = type_ is schema.query_type and name in ("node", "nodes")
            if not is_leaf_type(get_named_type(field.type)) and name != "pageInfo" and not by_made_up_id:
                yield field_step(type_, name, field)


def lists_in(path: Path) -> int:
    return sum(step.is_list for step in path)


def fields_in(path: Path) -> int:
    return sum(step.field for step in path)


def best_paths(schema: GraphQLSchema, forward: bool) -> dict[tuple[str, int], Path]:
    """For every type and every number of field levels, the path through the most lists (at most 4): from the query
    root to the type (`forward`), or from the type onwards."""
    best: dict[tuple[str, int], Path] = {}
    types = [t for t in schema.type_map.values() if not t.name.startswith("__") and not is_leaf_type(t)]
    root = schema.query_type
    assert root is not None
    if forward:
        best[(root.name, 0)] = ()
    else:
        best.update({(t.name, 0): () for t in types})
    for levels in range(MAX_DEPTH + 1):
        changed = True
        while changed:  # fragments on possible types lead on without a field level
            changed = False
            for type_ in types:
                for step in moves(schema, type_):
                    cost = levels + step.field
                    if forward:
                        here = best.get((type_.name, levels))
                        key, candidate = (step.target, cost), None if here is None else (*here, step)
                    else:
                        there = best.get((step.target, levels))
                        key, candidate = (type_.name, cost), None if there is None else (step, *there)
                    if candidate is None or cost > MAX_DEPTH or lists_in(candidate) > 4:
                        continue
                    known = best.get(key)
                    if known is None or lists_in(candidate) > lists_in(known):
                        best[key] = candidate
                        changed = changed or not step.field
    return best


def walks(schema: GraphQLSchema) -> list[tuple[str, Path]]:
    """For every list of objects, a selection from the query root through it and through as many other lists as the
    depth limit leaves room for (up to 4 in all)."""
    into, onwards = best_paths(schema, forward=True), best_paths(schema, forward=False)
    found = []
    for owner, name, field in composite_list_fields(schema):
        step = field_step(owner, name, field)
        candidates = [
            (*into[(owner.name, before)], step, *onwards[(step.target, after)])
            for before in range(MAX_DEPTH)
            for after in range(MAX_DEPTH)
            if (owner.name, before) in into and (step.target, after) in onwards and before + 1 + after <= MAX_DEPTH
        ]
        if candidates:  # lists only mutations reach (payloads) are covered by the static test below
            found.append(
                (f"{owner.name}.{name}", max(candidates, key=lambda path: (min(lists_in(path), 4), -len(path))))
            )
    return found


def spell(path: Path, how: str) -> str:
    """The path as a query document: nested selections, each list's items in a named fragment, or each list's items
    in an inline fragment on their type."""
    segments: list[list[Step]] = [[]]
    for step in path:
        segments[-1].append(step)
        if step.is_list:
            segments.append([])
    items = [segment[-1].target for segment in segments[:-1]]
    if how == "fragments":
        bodies = []
        for n, segment in enumerate(segments):
            inner = f"...L{n + 1}" if n + 1 < len(segments) else "__typename"
            body = " ".join(s.text for s in segment) + f" {inner} " + "}" * len(segment)
            bodies.append(body if n == 0 else f"fragment L{n} on {items[n - 1]} {{ {body} }}")
        return f"query Walk {{ {bodies[0]} }} " + " ".join(bodies[1:])
    text = "__typename"
    for n in reversed(range(len(segments))):
        inner = " ".join(s.text for s in segments[n]) + f" {text} " + "}" * len(segments[n])
        text = f"... on {items[n - 1]} {{ {inner} }}" if how == "inline" and n > 0 else inner
    return f"query Walk {{ {text} }}"


def lower_bound(path: Path) -> int:
    """What the items alone must cost: the product of every list's multiplier."""
    product = 1
    for step in path:
        product *= step.factor
    return product


# --- static: the cost model multiplies every list -------------------------------------------------------------------


def test_every_list_field_of_the_schema_has_a_maximum_and_the_cost_model_multiplies_by_it(app: Starlette) -> None:
    schema = app.state.schema._schema
    checked = 0
    for type_ in schema.type_map.values():
        if type_.name.startswith("__") or not isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
            continue
        for name, field in type_.fields.items():
            if not is_list(field.type):
                continue
            maximum = list_maximum(type_, field)
            assert maximum is not None, f"{type_.name}.{name} has no maximum"
            assert 0 < maximum <= 200, f"{type_.name}.{name}: {maximum}"
            if is_leaf_type(get_named_type(field.type)):
                continue  # a list of scalars costs its field; the executor cuts it at its maximum all the same
            arguments = ", ".join(f"{a}: {literal(arg.type)}" for a, arg in field.args.items() if a != "ids")
            if "ids" in field.args:
                arguments = ", ".join(filter(None, [arguments, f"ids: {literal(field.args['ids'].type)}"]))
            selection = f"{name}({arguments})" if arguments else name
            document = parse(
                f"query Static {{ ...Owner }} fragment Owner on {type_.name} {{ {selection} {{ __typename }} }}"
            )
            operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
            expected = IDS if "ids" in field.args else maximum
            assert operation_cost(schema, document, operation, {}) == 1 + expected, f"{type_.name}.{name}"
            checked += 1
    assert checked >= 40  # every connection's edges and nodes, members, teams, labels, userErrors, nodes(ids:)...


# --- over HTTP: nested lists are refused before they run or bounded while they run --------------------------------


@pytest.fixture
async def populated(account: Account) -> Account:
    """An organization with a little of everything, so the walks that run resolve real objects."""
    product = await create_product(account, key="WALK")
    epic = await create_requirement(account, product["id"], title="Epic", kind="EPIC")
    label = await create_label(account)
    sprint = await create_sprint(account, product["id"])
    story = await create_requirement(
        account, product["id"], parentId=epic["id"], labelIds=[label["id"]], sprintId=sprint["id"]
    )
    await add_comment(account, requirementId=story["id"])
    await add_to_new_team(account, "Walkers", [account])
    return account


async def add_to_new_team(owner: Account, name: str, people: list[Account]) -> None:
    team = (await owner("mutation($n: String!) { createTeam(input: {name: $n}) { team { id } } }", {"n": name}))[
        "createTeam"
    ]["team"]
    for person in people:
        await owner(
            "mutation($t: ID!, $u: ID!) { addTeamMember(input: {teamId: $t, userId: $u}) { userErrors { code } } }",
            {"t": team["id"], "u": person.user_id},
        )


@pytest.mark.parametrize("how", ["nested", "fragments", "inline"])
async def test_every_list_field_nested_three_or_four_deep_is_refused_before_it_runs_or_bounded_while_it_runs(
    app: Starlette, populated: Account, how: str
) -> None:
    schema = app.state.schema._schema
    outcomes = {"refused": 0, "ran": 0}
    found = walks(schema)
    # Most lists nest 3 or 4 deep within the depth limit; a few lead nowhere (labels, API keys, invitations,
    # audit entries, sessions) and are walked alone.
    assert sum(lists_in(path) >= 3 for _, path in found) >= 25
    for start, path in found:
        query = spell(path, how)
        response = await populated.gql.http.post(
            "/graphql",
            json={"query": query, "extensions": {"cost": True}},
            headers={"authorization": f"Bearer {populated.token}"},
        )
        body = response.json()
        assert response.status_code == 200, (start, body)
        codes = [e["extensions"]["code"] for e in body.get("errors", [])]
        assert "INTERNAL_SERVER_ERROR" not in codes, (start, query, body)
        if "QUERY_TOO_COMPLEX" in codes:
            error = next(e for e in body["errors"] if e["extensions"]["code"] == "QUERY_TOO_COMPLEX")
            assert body.get("data") is None, (start, body)
            assert error["extensions"]["cost"] >= lower_bound(path), (start, query, error)
            outcomes["refused"] += 1
        else:
            cost = body["extensions"]["cost"]
            assert lower_bound(path) <= cost["requested"] <= cost["maximum"], (start, query, cost)
            assert cost["actual"] <= cost["requested"], (start, query, cost)
            outcomes["ran"] += 1
    assert outcomes["refused"] > 0
    assert outcomes["ran"] > 0


# --- the nesting from the review -------------------------------------------------------------------------------------

TEAMS_OF_MEMBERS_OF_TEAMS = """{
  teams { nodes { name members { user { name } teams { name members { user { name } teams { name } } } } } }
}"""


async def test_team_members_and_member_teams_nested_are_refused_before_anything_runs(
    account: Account, database_url: str
) -> None:
    others = [await join_organization(account.gql, database_url, account, name=f"Member {n}") for n in range(3)]
    for n in range(3):
        await add_to_new_team(account, f"Team {n}", [account, *others])

    result = await account.run(TEAMS_OF_MEMBERS_OF_TEAMS)

    assert result.codes == ["QUERY_TOO_COMPLEX"]
    bound = 50 * MEMBERS_PER_TEAM_LISTED * TEAMS_PER_MEMBER_LISTED * MEMBERS_PER_TEAM_LISTED * TEAMS_PER_MEMBER_LISTED
    assert result.errors[0]["extensions"]["cost"] >= bound
    assert result.data is None
    assert result.sql_statements <= 3  # authentication only: no team was read


async def test_one_level_of_member_teams_runs_and_its_estimate_bounds_what_it_resolved(account: Account) -> None:
    await add_to_new_team(account, "Solo", [account])
    response = await account.gql.http.post(
        "/graphql",
        json={"query": "{ teams { nodes { members { teams { name } } } } }", "extensions": {"cost": True}},
        headers={"authorization": f"Bearer {account.token}"},
    )

    body = response.json()
    assert body["data"]["teams"]["nodes"] == [{"members": [{"teams": [{"name": "Solo"}]}]}]
    # teams 1 + 50 teams x (nodes 1 + members 1 + 200 members x (teams 1 + 50 teams x name 1))
    assert body["extensions"]["cost"]["requested"] == 1 + 50 * (
        2 + MEMBERS_PER_TEAM_LISTED * (1 + TEAMS_PER_MEMBER_LISTED)
    )
    # Query.teams, TeamConnection.nodes, Team.members, Member.teams, Team.name: one field each.
    assert body["extensions"]["cost"]["actual"] == 5


# --- while it runs: the executor stops what the estimate could not see ---------------------------------------------


async def test_an_operation_that_resolves_more_than_the_maximum_is_stopped_while_it_runs(settings: Any) -> None:
    # Introspection is bounded by the schema, not multiplied in the estimate: this one is estimated at a handful of
    # fields and resolves thousands.
    query = "{ __schema { types { name fields { name args { name } } } } }"
    async with app_with(settings, max_query_cost=500) as http:
        response = await http.post("/graphql", json={"query": query, "extensions": {"cost": True}})

    body = response.json()
    assert [e["extensions"]["code"] for e in body["errors"]] == ["QUERY_TOO_COMPLEX"]
    assert body["errors"][0]["extensions"]["maximum"] == 500
    assert body.get("data") is None
    assert body["extensions"]["cost"]["requested"] <= 500 < body["extensions"]["cost"]["actual"]


async def test_a_list_longer_than_its_maximum_is_cut_to_it_and_the_cut_is_reported(
    account: Account, database_url: str
) -> None:
    team = (await account('mutation { createTeam(input: {name: "Crowd"}) { team { id } } }'))["createTeam"]["team"]
    organization, team_id = uuid_of(account.organization_id), uuid_of(team["id"])
    users = [uuid.uuid4() for _ in range(MEMBERS_PER_TEAM_LISTED + 1)]
    conn = await asyncpg.connect(database_url)
    try:
        await conn.executemany(
            "INSERT INTO app_user (id, email, name, created_at) VALUES ($1, $2, 'Crowd', now())",
            [(u, f"crowd-{u.hex}@example.com") for u in users],
        )
        await conn.executemany(
            "INSERT INTO membership (id, organization_id, user_id, role, created_at, updated_at)"
            " VALUES ($1, $2, $3, 'VIEWER', now(), now())",
            [(uuid.uuid4(), organization, u) for u in users],
        )
        await conn.executemany(
            "INSERT INTO team_member (organization_id, team_id, user_id, created_at) VALUES ($1, $2, $3, now())",
            [(organization, team_id, u) for u in users],
        )
    finally:
        await conn.close()

    response = await account.gql.http.post(
        "/graphql",
        json={
            "query": "query($id: ID!) { node(id: $id) { ... on Team { members { role } } } }",
            "variables": {"id": team["id"]},
        },
        headers={"authorization": f"Bearer {account.token}"},
    )

    body = response.json()
    assert "errors" not in body, body
    assert len(body["data"]["node"]["members"]) == MEMBERS_PER_TEAM_LISTED
    assert body["extensions"]["truncated"] == [{"path": ["node", "members"], "maximum": MEMBERS_PER_TEAM_LISTED}]
