"""The server's database role: checked by its effective privileges at start-up, and confined to its own database.

A second PRISM database on the same PostgreSQL server, owned by an unprivileged role as on a managed service, plays
"database B"; the test run's own database and login role play "database A".
"""

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy.engine import make_url

from prism.app import build_app
from prism.config import Settings
from prism.db import migrate
from prism.db.engine import build_engine
from prism.db.roles import check_connection_role, database_group_role, drop_database, ensure_login_role, url_for_role
from tests.conftest import APP_ROLE
from tests.test_production_guards import production, refusal


async def _as_superuser(server_url: str, *statements: str, database: str | None = None) -> None:
    server = make_url(server_url).set(drivername="postgresql")
    conn = await asyncpg.connect((server.set(database=database) if database else server).render_as_string(False))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
async def other_database(server_url: str) -> AsyncIterator[str]:
    """Database B: migrated, owned by an unprivileged role; its owner's URL. Its login role is `<owner>_api`."""
    suffix = uuid.uuid4().hex[:10]
    name, owner = f"prism_roles_{suffix}", f"prism_roles_owner_{suffix}"
    await _as_superuser(
        server_url,
        f"CREATE ROLE {owner} LOGIN CREATEROLE NOSUPERUSER NOBYPASSRLS",
        f'CREATE DATABASE "{name}" OWNER {owner}',
    )
    url = make_url(server_url).set(database=name, username=owner, password=None).render_as_string(False)
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        await ensure_login_role(url, f"{owner}_api")
        yield url
    finally:
        await drop_database(server_url, name)
        await _as_superuser(
            server_url,
            f"DROP ROLE IF EXISTS {owner}_api",
            f"DROP ROLE IF EXISTS {owner}_lever",
            f"DROP OWNED BY {owner}",
            f"DROP ROLE {owner}",
        )


def _names(url: str) -> tuple[str, str, str]:
    """Database B's name, owner and login role."""
    parsed = make_url(url)
    assert parsed.database is not None
    assert parsed.username is not None
    return parsed.database, parsed.username, f"{parsed.username}_api"


async def test_a_login_role_made_by_ensure_app_role_passes_the_check_and_starts_in_production(
    other_database: str, settings: Settings
) -> None:
    _, _, login = _names(other_database)
    engine = build_engine(url_for_role(other_database, login), pool_size=1, max_overflow=0)
    try:
        check = await check_connection_role(engine)
    finally:
        await engine.dispose()
    assert check.problems == []
    assert check.group == await database_group_role(other_database)

    app = build_app(
        production(settings, database_url=url_for_role(other_database, login), database_admin_url=other_database)
    )
    async with LifespanManager(app):
        assert app.state.runtime().settings.environment == "production"


# Ways a login role can get round row-level security without owning a table or being a superuser itself:
# a statement (run as a superuser) that gives it the lever, and the words the refusal names it with.
LEVERS = {
    # PostgreSQL 16 and later make a role's creator a member of it: undone first, or the grant would be circular.
    "member-of-the-owner": (
        ["REVOKE {login} FROM {owner} CASCADE", "GRANT {owner} TO {login}"],
        "is, or is a member of, {owner}, the owner",
    ),
    "member-of-a-bypassrls-role": (
        ["CREATE ROLE {owner}_lever NOLOGIN BYPASSRLS", "GRANT {owner}_lever TO {login}"],
        "member of {owner}_lever, with SUPERUSER or BYPASSRLS",
    ),
    "truncate": (["GRANT TRUNCATE ON requirement TO {login}"], "TRUNCATE on requirement"),
    "references": (["GRANT REFERENCES ON app_user TO {login}"], "REFERENCES on app_user"),
    "createrole": (["ALTER ROLE {login} CREATEROLE"], "CREATEROLE"),
    "bypassrls": (["ALTER ROLE {login} BYPASSRLS"], "it has BYPASSRLS"),
    "another-databases-group": (["GRANT {group_a} TO {login}"], "member of {group_a}, which other PRISM databases"),
    "connect-for-everyone": (['GRANT CONNECT ON DATABASE "{database}" TO PUBLIC'], "every role may connect"),
}


@pytest.mark.parametrize("lever", list(LEVERS))
async def test_production_refuses_a_role_that_can_get_round_row_level_security(
    other_database: str, server_url: str, database_url: str, settings: Settings, lever: str
) -> None:
    database, owner, login = _names(other_database)
    names = {"database": database, "owner": owner, "login": login, "group_a": await database_group_role(database_url)}
    statements, named = LEVERS[lever]
    await _as_superuser(server_url, *(statement.format(**names) for statement in statements), database=database)

    message = await refusal(
        production(settings, database_url=url_for_role(other_database, login), database_admin_url=other_database)
    )

    assert message.startswith(f"The database role '{login}' is not bound by row-level security"), message
    assert named.format(**names) in message


async def test_outside_production_a_member_of_the_owner_starts_with_a_warning(
    other_database: str, server_url: str, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    _, owner, login = _names(other_database)
    # PostgreSQL 16 and later make a role's creator a member of it: undone first, or the grant would be circular.
    await _as_superuser(server_url, f"REVOKE {login} FROM {owner} CASCADE", f"GRANT {owner} TO {login}")
    app = build_app(
        settings.model_copy(
            update={"database_url": url_for_role(other_database, login), "database_admin_url": other_database}
        )
    )
    async with LifespanManager(app):
        assert app.state.runtime().settings.environment == "test"
    # The app's logging writes to stderr (configure_logging replaces the handlers caplog would read).
    warnings = [line for line in capsys.readouterr().err.splitlines() if "WARNING" in line]
    assert any(f"is, or is a member of, {owner}, the owner" in line for line in warnings), warnings


async def test_the_server_role_of_one_database_can_neither_connect_to_nor_read_another(
    other_database: str, server_url: str, database_url: str, app_database_url: str
) -> None:
    database_b, _, login_b = _names(other_database)
    for own in (app_database_url, url_for_role(other_database, login_b)):
        conn = await asyncpg.connect(own)
        assert await conn.fetchval("SELECT 1") == 1
        await conn.close()

    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await asyncpg.connect(url_for_role(other_database, APP_ROLE))
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await asyncpg.connect(url_for_role(database_url, login_b))

    # Were database B opened to every role again, A's role would find no privilege there: B's tables and look-ups
    # are granted to B's group alone.
    await _as_superuser(server_url, f'GRANT CONNECT ON DATABASE "{database_b}" TO PUBLIC')
    conn = await asyncpg.connect(url_for_role(other_database, APP_ROLE))
    try:
        for statement in (
            "SELECT count(*) FROM organization",
            "SELECT count(*) FROM app_user",
            "SELECT prism_user_id_by_email('someone@example.com')",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetchval(statement)
    finally:
        await conn.close()


async def test_ensure_app_role_moves_a_role_made_before_0007_from_the_shared_group_to_the_databases_own(
    server_url: str,
) -> None:
    name = f"prism_roles_upgrade_{uuid.uuid4().hex[:8]}"
    login = f"{name}_api"
    await _as_superuser(server_url, f'CREATE DATABASE "{name}"')
    url = make_url(server_url).set(database=name).render_as_string(False)
    try:
        await asyncio.to_thread(migrate.upgrade, url, "0006")
        assert await ensure_login_role(url, login) == "prism_app"  # what a server set up before 0007 has
        await asyncio.to_thread(migrate.upgrade, url)
        # Until ensure-app-role runs again the old role cannot even connect: the shared group lost everything here.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await asyncpg.connect(url_for_role(url, login))

        group = await ensure_login_role(url, login)

        assert group == f"prism_app_{name}"
        engine = build_engine(url_for_role(url, login), pool_size=1, max_overflow=0)
        try:
            check = await check_connection_role(engine)
        finally:
            await engine.dispose()
        assert (check.group, check.in_group, check.other_groups, check.problems) == (group, True, (), [])
    finally:
        await drop_database(server_url, name)
        await _as_superuser(server_url, f"DROP ROLE IF EXISTS {login}")
