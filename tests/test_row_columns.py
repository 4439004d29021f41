"""Loaders read the columns the GraphQL types declare: a row fetched by id (a node, a to-one relation, a root
lookup) carries what its type is built from and nothing more, in the same number of statements."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import uuid4

import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from loaders import Loaders
from loaders.rows import ProductByKeyLoader, RequirementByKeyLoader, RowLoader, SprintByIdLoader
from resolvers.declarations import declaration
from resolvers.node import NODE_TYPES, LoadedNode
from resolvers.schema import build_schema
from tests.doubles import CapturingReader
from tests.helpers import Account, create_product, create_requirement, create_sprint

UNDECLARED = {
    "app_user": ("password_hash", "totp_secret", "totp_enabled_at", "email_verified_at"),
    "organization": ("require_mfa",),
    "product": ("next_number",),
}
"""Columns of tables read by id that no GraphQL type declares: a by-id load must not select them."""


def _node_types() -> list[type[LoadedNode]]:
    build_schema()
    return sorted(NODE_TYPES.values(), key=lambda node_type: node_type.__name__)


def _selected(statement: Any) -> set[str]:
    return {column.name for column in statement.selected_columns}


@pytest.mark.parametrize("node_type", _node_types(), ids=lambda node_type: node_type.__name__)
async def test_a_by_id_loader_reads_the_columns_its_type_declares_and_no_others(node_type: type[LoadedNode]) -> None:
    declared = declaration(node_type)
    organization_id = uuid4()
    reader = CapturingReader()
    loader = node_type.loader(reader, organization_id, declared.column_names)  # type: ignore[arg-type]
    # Only the request's own organization is visible: any other id is answered without a statement.
    await loader.load_many([organization_id, uuid4()])
    (statement,) = reader.statements
    assert _selected(statement) - {"_product_key"} == {"id", *declared.column_names}
    undeclared = {column.name for column in declared.table.c} - set(declared.column_names)
    assert not _selected(statement) & undeclared, f"{node_type.__name__} reads columns it does not declare"


async def test_a_by_id_loader_given_no_columns_reads_the_whole_row() -> None:
    reader = CapturingReader()
    await SprintByIdLoader(reader, uuid4()).load(uuid4())  # type: ignore[arg-type]
    (statement,) = reader.statements
    assert _selected(statement) == set(SprintByIdLoader.table.c.keys())


@pytest.mark.parametrize(
    ("loader", "key", "type_name", "keyed_on"),
    [
        (ProductByKeyLoader, "PRISM", "Product", {"id", "key"}),
        (RequirementByKeyLoader, ("PRISM", 12), "Requirement", {"id", "number", "_product_key"}),
    ],
)
async def test_a_by_key_loader_reads_the_declared_columns_and_what_it_keys_on(
    loader: type[RowLoader[Any]], key: Any, type_name: str, keyed_on: set[str]
) -> None:
    build_schema()
    declared = declaration(NODE_TYPES[type_name]).column_names
    reader = CapturingReader()
    await loader(reader, uuid4(), declared).load(key)  # type: ignore[arg-type]
    (statement,) = reader.statements
    assert _selected(statement) == {*declared, *keyed_on}


async def test_loads_of_one_type_share_one_loader_per_column_set() -> None:
    build_schema()
    loaders = Loaders(reader=None, organization_id=uuid4())  # type: ignore[arg-type]
    sprint = NODE_TYPES["Sprint"]
    columns = declaration(sprint).column_names
    reading = loaders.rows(SprintByIdLoader, columns)
    assert loaders.rows(SprintByIdLoader, columns) is reading
    assert reading.columns == columns
    assert loaders.get(SprintByIdLoader) is not reading
    assert loaders.get(SprintByIdLoader).columns == ()


@contextmanager
def captured_sql(app: Starlette) -> Iterator[list[str]]:
    """The SQL the app's engine sends while the block runs."""
    statements: list[str] = []
    engine = app.state.runtime().engine.sync_engine

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def _select_lists(statements: list[str], table: str) -> list[str]:
    """The select lists (SELECT ... FROM) of the statements that read `table`."""
    found = []
    for statement in statements:
        if re.search(rf"\bFROM\b.*\b{table}\b", statement, re.DOTALL) is None:
            continue
        found.extend(re.findall(r"SELECT (.*?)\sFROM\b", statement, re.DOTALL))
    return found


async def test_nodes_and_relations_loaded_by_id_select_only_declared_columns(account: Account, app: Starlette) -> None:
    product = await create_product(account)
    sprint = await create_sprint(account, product["id"])
    requirement = await create_requirement(account, product["id"], assigneeId=account.user_id, sprintId=sprint["id"])
    query = """
      query($user: ID!, $key: String!, $product: ID!) {
        viewer { user { name } organization { name } }
        node(id: $user) { ... on User { email } }
        product(id: $product) { key }
        requirement(key: $key) { title product { name } assignee { name } sprint { name } }
      }
    """
    variables = {"user": account.user_id, "key": requirement["key"], "product": product["id"]}
    with captured_sql(app) as statements:
        result = await account.run(query, variables)
    assert not result.errors, result.errors
    assert result.data["requirement"]["sprint"] == {"name": "Sprint 1"}
    assert result.data["node"]["email"] == account.email
    for table, columns in UNDECLARED.items():
        select_lists = _select_lists(statements, table)
        assert select_lists, f"nothing read {table}: {statements}"
        for select_list in select_lists:
            for column in columns:
                assert column not in select_list, f"{table}.{column} was read: {select_list}"


async def test_a_requirements_labels_are_read_with_the_label_types_columns(account: Account, app: Starlette) -> None:
    product = await create_product(account)
    created = await account(
        "mutation($i: CreateLabelInput!) { createLabel(input: $i) { label { id } userErrors { code } } }",
        {"i": {"name": "Backend", "color": "#112233"}},
    )
    label = created["createLabel"]["label"]["id"]
    requirement = await create_requirement(account, product["id"], labelIds=[label])
    query = """query($id: ID!) { product(id: $id) { requirements(first: 5) {
        nodes { key labels { name color } } } } }"""
    with captured_sql(app) as statements:
        result = await account.run(query, {"id": product["id"]})
    assert not result.errors, result.errors
    assert result.data["product"]["requirements"]["nodes"] == [
        {"key": requirement["key"], "labels": [{"name": "Backend", "color": "#112233"}]}
    ]
    reads = [s for s in statements if "JOIN label" in s]
    assert len(reads) == 1, statements
    [select_list] = re.findall(r"SELECT (.*?)\sFROM\b", reads[0], re.DOTALL)
    assert "label.name" in select_list
    assert "label.organization_id" not in select_list  # declared by no GraphQL field of Label
