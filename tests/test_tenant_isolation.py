"""Tenant isolation in PostgreSQL itself: row-level security holds even when application code forgets a filter.

These tests talk raw SQL through the same login role the server uses (a member of the database's group role), with
organization A set for the transaction, and try to read and write organization B's rows.
"""

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from strawberry.relay import GlobalID

from prism.app import build_app  # noqa: F401  (registers every table)
from prism.db.access_tables import ACCESS_TENANT_TABLES
from prism.db.adoption_tables import ADOPTION_TENANT_TABLES
from prism.db.event_tables import EVENT_TENANT_TABLES
from prism.db.tables import TENANT_TABLES
from tests.helpers import Account, create_product, create_requirement

ALL_TENANT_TABLES = (*TENANT_TABLES, *ACCESS_TENANT_TABLES, *EVENT_TENANT_TABLES, *ADOPTION_TENANT_TABLES)


def _uuid(global_id: str) -> str:
    return GlobalID.from_id(global_id).node_id


@pytest.fixture
async def app_connection(app_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(make_url(app_database_url).render_as_string(hide_password=False))
    try:
        yield conn
    finally:
        await conn.close()


async def _as_tenant(conn: asyncpg.Connection, organization_id: str | None) -> Any:
    transaction = conn.transaction()
    await transaction.start()
    await conn.execute("SELECT set_config('prism.org_id', $1, true)", organization_id or "")
    return transaction


async def test_the_server_role_is_bound_by_row_level_security(app_connection: asyncpg.Connection) -> None:
    row = await app_connection.fetchrow("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
    assert row is not None
    assert (row["rolsuper"], row["rolbypassrls"]) == (False, False)
    owned = await app_connection.fetchval(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user"
    )
    assert owned == 0
    without_rls = await app_connection.fetch(
        "SELECT relname FROM pg_class WHERE relname = ANY($1::text[]) AND NOT relrowsecurity",
        list(ALL_TENANT_TABLES),
    )
    assert without_rls == []


async def test_with_organization_a_set_raw_sql_cannot_read_organization_b(
    account: Account, other_account: Account, app_connection: asyncpg.Connection
) -> None:
    product_b = await create_product(other_account, key="SECRET")
    await create_requirement(other_account, product_b["id"], title="B's roadmap secret")
    org_a, org_b = _uuid(account.organization_id), _uuid(other_account.organization_id)

    transaction = await _as_tenant(app_connection, org_a)
    try:
        for table in ALL_TENANT_TABLES:
            leaked = await app_connection.fetchval(
                f"SELECT count(*) FROM {table} WHERE organization_id <> $1::uuid",  # noqa: S608 - known tables
                org_a,
            )
            assert leaked == 0, f"{table} shows rows of another organization"
        assert await app_connection.fetchval("SELECT count(*) FROM product WHERE key = 'SECRET'") == 0
        assert await app_connection.fetchval("SELECT count(*) FROM organization WHERE id = $1::uuid", org_b) == 0
    finally:
        await transaction.rollback()

    transaction = await _as_tenant(app_connection, None)
    try:
        assert await app_connection.fetchval("SELECT count(*) FROM requirement") == 0
    finally:
        await transaction.rollback()


async def test_with_organization_a_set_raw_sql_cannot_change_organization_b(
    account: Account, other_account: Account, app_connection: asyncpg.Connection
) -> None:
    product_b = await create_product(other_account, key="THEIRS", name="Theirs")
    requirement_b = await create_requirement(other_account, product_b["id"], title="Keep me")
    await create_product(account, key="MINE")
    org_a, org_b = _uuid(account.organization_id), _uuid(other_account.organization_id)

    transaction = await _as_tenant(app_connection, org_a)
    try:
        assert await app_connection.execute("UPDATE product SET name = 'pwned' WHERE key = 'THEIRS'") == "UPDATE 0"
        assert (
            await app_connection.execute("DELETE FROM requirement WHERE id = $1::uuid", _uuid(requirement_b["id"]))
            == "DELETE 0"
        )
        assert (
            await app_connection.execute(
                "UPDATE membership SET role = 'VIEWER' WHERE organization_id = $1::uuid", org_b
            )
            == "UPDATE 0"
        )
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            await app_connection.execute(
                "INSERT INTO label (id, organization_id, name, color, description, created_at, updated_at) "
                "VALUES (gen_random_uuid(), $1::uuid, 'planted', '#000000', '', now(), now())",
                org_b,
            )
    finally:
        await transaction.rollback()

    transaction = await _as_tenant(app_connection, org_a)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            await app_connection.execute(
                "UPDATE product SET organization_id = $1::uuid WHERE organization_id = $2::uuid", org_b, org_a
            )
    finally:
        await transaction.rollback()

    data = await other_account('{ requirement(key: "THEIRS-1") { title product { name } } }')
    assert data["requirement"] == {"title": "Keep me", "product": {"name": "Theirs"}}


async def test_organization_settings_do_not_leak_from_one_transaction_to_the_next(
    account: Account, app_connection: asyncpg.Connection
) -> None:
    await create_product(account)
    transaction = await _as_tenant(app_connection, _uuid(account.organization_id))
    assert await app_connection.fetchval("SELECT count(*) FROM product") >= 1
    await transaction.commit()
    # The next transaction on the same (pooled) connection starts with no organization and sees nothing.
    assert await app_connection.fetchval("SELECT count(*) FROM product") == 0
