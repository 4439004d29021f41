"""Migrations: a fresh database goes up, all the way down and up again, and ends exactly as the models describe."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, make_url
from sqlmodel import SQLModel

import prism.app  # noqa: F401  (imports every module that defines tables, as the running app does)
from prism.db import migrate
from prism.db.engine import build_engine
from prism.db.roles import drop_database, ensure_login_role, url_for_role


@pytest.fixture
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    """An empty database of its own on the test server, dropped afterwards."""
    server = make_url(server_url).set(drivername="postgresql")
    name = f"prism_migrations_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(server.render_as_string(hide_password=False))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        await drop_database(server_url, name)


async def inspect(url: str, check: Any) -> Any:
    """Run `check(sync_connection)` against the database."""
    engine = build_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(check)
    finally:
        await engine.dispose()


def tables(connection: Connection) -> set[str]:
    return set(sa.inspect(connection).get_table_names())


def differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_object": migrate.include_object}
    )
    return compare_metadata(context, SQLModel.metadata)  # type: ignore[no-any-return]


async def test_upgrade_downgrade_and_upgrade_again_end_at_the_models(fresh_database: str) -> None:
    head = ScriptDirectory.from_config(migrate.alembic_config(fresh_database)).get_current_head()
    model_tables = set(SQLModel.metadata.tables)

    await asyncio.to_thread(migrate.upgrade, fresh_database, "head")
    assert await asyncio.to_thread(migrate.current_revision, fresh_database) == head
    assert await inspect(fresh_database, tables) == model_tables | {"alembic_version"}

    await asyncio.to_thread(migrate.downgrade, fresh_database, "base")
    assert await asyncio.to_thread(migrate.current_revision, fresh_database) is None
    assert await inspect(fresh_database, tables) <= {"alembic_version"}

    await asyncio.to_thread(migrate.upgrade, fresh_database, "head")
    assert await asyncio.to_thread(migrate.current_revision, fresh_database) == head
    found = await inspect(fresh_database, differences)
    assert found == [], (
        "the migrated schema differs from the SQLModel tables; add a migration "
        f"(alembic autogenerate, then read and fix it): {found}"
    )


def test_the_migration_history_is_one_line_of_described_steps() -> None:
    scripts = ScriptDirectory.from_config(migrate.alembic_config("postgresql://unused/unused"))
    assert len(scripts.get_heads()) == 1, f"several heads: {scripts.get_heads()}; merge them"
    revisions = list(scripts.walk_revisions())
    assert revisions[-1].down_revision is None
    for revision in revisions:
        assert revision.doc, f"migration {revision.revision} needs a message saying what it does"


@pytest.fixture
async def database_of_an_unprivileged_owner(server_url: str) -> AsyncIterator[str]:
    """An empty database owned by a login role that is not a superuser (as on a managed PostgreSQL service)."""
    server = make_url(server_url).set(drivername="postgresql")
    suffix = uuid.uuid4().hex[:10]
    name, owner = f"prism_owned_{suffix}", f"prism_owner_{suffix}"
    conn = await asyncpg.connect(server.render_as_string(hide_password=False))
    try:
        await conn.execute(f"CREATE ROLE {owner} LOGIN CREATEROLE NOSUPERUSER NOBYPASSRLS")
        await conn.execute(f'CREATE DATABASE "{name}" OWNER {owner}')
    finally:
        await conn.close()
    try:
        yield server.set(database=name, username=owner, password=None).render_as_string(hide_password=False)
    finally:
        await drop_database(server_url, name)
        conn = await asyncpg.connect(server.render_as_string(hide_password=False))
        try:
            await conn.execute(f"DROP ROLE IF EXISTS {owner}_api")
            await conn.execute(f"DROP OWNED BY {owner}")
            await conn.execute(f"DROP ROLE {owner}")
        finally:
            await conn.close()


async def test_an_unprivileged_owner_migrates_and_seeds_and_is_itself_bound_by_row_level_security(
    database_of_an_unprivileged_owner: str,
    app_database_url: str,  # creates the server's login role, which the check below connects as
) -> None:
    from prism.seed import DEMO_EMAIL, DEMO_SLUG, seed_demo

    url = database_of_an_unprivileged_owner
    await asyncio.to_thread(migrate.upgrade, url)
    await seed_demo(url)
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is False
        # FORCEd row-level security: the owner, with no organization or user set, sees no tenant or user rows...
        assert await conn.fetchval("SELECT count(*) FROM organization") == 0
        assert await conn.fetchval("SELECT count(*) FROM app_user") == 0
        assert await conn.fetchval("SELECT count(*) FROM requirement") == 0
    finally:
        await conn.close()
    # The server's role finds the demo through the named look-ups and reads it in its scopes; a second seed (as the
    # owner, who cannot search) finds its earlier run by the demo's fixed ids and changes nothing.
    app_role = f"{make_url(url).username}_api"
    await ensure_login_role(url, app_role)
    conn = await asyncpg.connect(url_for_role(url, app_role))
    try:
        user_id = await conn.fetchval("SELECT prism_user_id_by_email($1)", DEMO_EMAIL)
        assert user_id is not None
        async with conn.transaction():
            await conn.execute("SELECT set_config('prism.user_id', $1, true)", str(user_id))
            organization_id = await conn.fetchval("SELECT organization_id FROM membership")
        async with conn.transaction():
            await conn.execute("SELECT set_config('prism.org_id', $1, true)", str(organization_id))
            assert await conn.fetchval("SELECT slug FROM organization") == DEMO_SLUG
            requirements = await conn.fetchval("SELECT count(*) FROM requirement")
        assert requirements > 0
        assert await seed_demo(url) == "The demo organization exists already; nothing changed."
        async with conn.transaction():
            await conn.execute("SELECT set_config('prism.org_id', $1, true)", str(organization_id))
            assert await conn.fetchval("SELECT count(*) FROM requirement") == requirements
    finally:
        await conn.close()


async def test_text_search_is_served_by_trigram_indexes_where_postgresql_has_pg_trgm(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        available = await conn.fetchval("SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'")
        indexes = {
            row["indexname"]
            for row in await conn.fetch("SELECT indexname FROM pg_indexes WHERE indexname LIKE '%\\_trgm'")
        }
        plan = ""
        if available:
            async with conn.transaction():
                await conn.execute("SET LOCAL enable_seqscan = off")  # a tiny table would be scanned anyway
                rows = await conn.fetch(
                    "EXPLAIN SELECT id FROM requirement "
                    "WHERE title ILIKE '%checkout%' OR description ILIKE '%checkout%'"
                )
                plan = "\n".join(row[0] for row in rows)
    finally:
        await conn.close()
    if available:  # CI's PostgreSQL; the embedded one ships no contrib modules, and search runs unindexed there
        assert indexes == set(migrate.OPTIONAL_INDEXES)
        assert "ix_requirement_title_trgm" in plan, plan
        assert "ix_requirement_description_trgm" in plan, plan
    else:
        assert indexes == set()
