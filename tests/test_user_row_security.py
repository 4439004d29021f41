"""Row-level security for what people own (accounts, sessions, tokens, recovery codes), forced on every table, and
the named look-ups that signing in goes through (migration 0005, prism/db/lookups.py).

Raw SQL through the server's own login role, scoped as one user of one organization, tries to read and change
another person's rows; the look-ups are checked for what they answer and who may call them.
"""

import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.helpers import Account, GraphQLClient, join_organization, sign_up, uuid_of

USER_TABLES = ("app_user", "auth_session", "refresh_token", "user_token", "recovery_code")


@pytest.fixture
async def app_connection(app_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(make_url(app_database_url).render_as_string(hide_password=False))
    try:
        yield conn
    finally:
        await conn.close()


async def _scoped(conn: asyncpg.Connection, organization_id: Any, user_id: Any) -> Any:
    transaction = conn.transaction()
    await transaction.start()
    await conn.execute(
        "SELECT set_config('prism.org_id', $1, true), set_config('prism.user_id', $2, true)",
        str(organization_id or ""),
        str(user_id or ""),
    )
    return transaction


async def test_every_table_with_an_organization_or_a_user_has_row_level_security_enabled_and_forced(
    database_url: str,
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            """
            SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind = 'r' AND (
              c.relname IN ('organization', 'app_user') OR EXISTS (
                SELECT 1 FROM information_schema.columns col
                WHERE col.table_schema = 'public' AND col.table_name = c.relname
                  AND col.column_name IN ('organization_id', 'user_id', 'session_id')))
            """
        )
    finally:
        await conn.close()
    tables = {row["relname"]: (row["relrowsecurity"], row["relforcerowsecurity"]) for row in rows}
    assert set(USER_TABLES) <= set(tables)
    assert {"membership", "requirement", "audit_log", "organization"} <= set(tables)
    assert {name: flags for name, flags in tables.items() if flags != (True, True)} == {}


async def test_as_one_user_raw_sql_sees_only_their_own_sessions_tokens_and_codes(
    account: Account, other_account: Account, app_connection: asyncpg.Connection
) -> None:
    me, them = uuid_of(account.user_id), uuid_of(other_account.user_id)
    for someone in (account, other_account):  # a one-time token each (sign-up mails none: no account exists then)
        await someone.gql(
            "mutation($e: String!) { requestPasswordReset(input: {email: $e}) { ok } }", {"e": someone.email}
        )
    transaction = await _scoped(app_connection, uuid_of(account.organization_id), me)
    try:
        for table in ("auth_session", "user_token"):
            owners = await app_connection.fetch(f"SELECT DISTINCT user_id FROM {table}")  # noqa: S608 - constants
            assert [row["user_id"] for row in owners] == [me], table
        refresh_owners = await app_connection.fetch(
            "SELECT DISTINCT s.user_id FROM refresh_token r JOIN auth_session s ON s.id = r.session_id"
        )
        assert [row["user_id"] for row in refresh_owners] == [me]
        assert await app_connection.fetchval("SELECT count(*) FROM refresh_token") >= 1
        assert await app_connection.fetchval("SELECT count(*) FROM app_user WHERE id = $1", them) == 0
        # Changing another person's account or sessions touches nothing.
        changed = await app_connection.execute("UPDATE app_user SET name = 'owned' WHERE id = $1", them)
        assert changed == "UPDATE 0"
        revoked = await app_connection.execute("UPDATE auth_session SET revoked_at = now() WHERE user_id = $1", them)
        assert revoked == "UPDATE 0"
        assert await app_connection.execute("DELETE FROM recovery_code WHERE user_id = $1", them) == "DELETE 0"
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app_connection.execute(
                "INSERT INTO user_token (id, user_id, purpose, token_hash, expires_at, created_at) "
                "VALUES ($1, $2, 'RESET_PASSWORD', 'x', now() + interval '1 hour', now())",
                uuid.uuid4(),
                them,
            )
    finally:
        await transaction.rollback()


async def test_a_user_sees_the_accounts_of_their_organizations_members_and_nobody_else(
    account: Account, other_account: Account, gql: GraphQLClient, database_url: str, app_connection: asyncpg.Connection
) -> None:
    teammate = await join_organization(gql, database_url, account)
    transaction = await _scoped(app_connection, uuid_of(account.organization_id), uuid_of(account.user_id))
    try:
        visible = {row["id"] for row in await app_connection.fetch("SELECT id FROM app_user")}
    finally:
        await transaction.rollback()
    assert visible == {uuid_of(account.user_id), uuid_of(teammate.user_id)}

    transaction = await _scoped(app_connection, None, None)
    try:
        for table in USER_TABLES:
            assert await app_connection.fetchval(f"SELECT count(*) FROM {table}") == 0, table  # noqa: S608
    finally:
        await transaction.rollback()


async def test_the_named_look_ups_answer_one_question_each_and_open_nothing_else(
    account: Account,
    other_account: Account,
    app_connection: asyncpg.Connection,
    database_url: str,
    app_database_url: str,
) -> None:
    me = uuid_of(account.user_id)
    transaction = await _scoped(app_connection, None, None)  # nothing in scope: the look-ups still answer
    try:
        assert await app_connection.fetchval("SELECT prism_user_id_by_email($1)", account.email) == me
        assert await app_connection.fetchval("SELECT prism_user_id_by_email('nobody@example.com')") is None
        role = await app_connection.fetchval("SELECT prism_member_role($1, $2)", uuid_of(account.organization_id), me)
        assert role == "OWNER"
        foreign = await app_connection.fetchval(
            "SELECT prism_member_role($1, $2)", uuid_of(other_account.organization_id), me
        )
        assert foreign is None
        unknown = hashlib.sha256(b"not a token").hexdigest()
        assert await app_connection.fetchval("SELECT prism_refresh_token_owner($1)", unknown) is None
        assert await app_connection.fetchval("SELECT prism_user_token_owner($1, 'RESET_PASSWORD')", unknown) is None
        # A look-up answers with an id, never a row: the caller still sees nothing of the account itself.
        assert await app_connection.fetchval("SELECT count(*) FROM app_user") == 0
    finally:
        await transaction.rollback()

    conn = await asyncpg.connect(database_url)
    try:
        # prism_app_role() only names the database's group role (migration 0007): it reads nothing.
        functions = await conn.fetch(
            """
            SELECT p.proname, pg_get_userbyid(p.proowner) = t.tableowner AS owned_like_the_tables, p.prosecdef,
                   p.proconfig, has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_call,
                   has_function_privilege(prism_app_role(), p.oid, 'EXECUTE') AS server_may_call,
                   (SELECT lanname FROM pg_language WHERE oid = p.prolang) AS language
            FROM pg_proc p, pg_tables t
            WHERE p.proname LIKE 'prism\\_%' AND p.proname <> 'prism_app_role'
              AND t.schemaname = 'public' AND t.tablename = 'app_user'
            """
        )
        server_is_owner = await conn.fetchval(
            "SELECT pg_has_role($1, tableowner, 'MEMBER') FROM pg_tables WHERE tablename = 'app_user'",
            make_url(app_database_url).username,
        )
    finally:
        await conn.close()
    assert {row["proname"] for row in functions} == {
        "prism_find_api_key",
        "prism_claim_sign_up",
        "prism_event_backlog",
        "prism_trim_event_log",
        "prism_active_sprints",
        "prism_find_invitation",
        "prism_member_role",
        "prism_request_sign_up",
        "prism_refresh_token_owner",
        "prism_user_id_by_email",
        "prism_user_token_owner",
    }
    assert all(
        (row["owned_like_the_tables"], row["prosecdef"], row["proconfig"], row["public_may_call"])
        == (True, True, ["search_path=public"], False)
        and row["server_may_call"]
        for row in functions
    ), [dict(row) for row in functions]
    assert server_is_owner is False
    # Every request's first statement calls it: PL/pgSQL keeps the plan of its body for the session, where a SQL
    # function with a SET clause (not inlined) was parsed and planned again at each call (migration 0027).
    assert {row["proname"]: row["language"] for row in functions}["prism_member_role"] == "plpgsql"


async def test_sign_ups_awaiting_confirmation_are_closed_to_the_servers_role(
    gql: Any, app_connection: asyncpg.Connection
) -> None:
    await sign_up(gql)  # leaves nothing behind; a request for a fresh address stays until it is confirmed
    await gql(
        "mutation($i: SignUpInput!) { signUp(input: $i) { emailVerificationRequired } }",
        {
            "i": {
                "email": f"pending-{uuid.uuid4().hex[:8]}@example.com",
                "password": "correct-horse-battery",
                "name": "Pending",
                "organizationName": "Pending",
            }
        },
    )
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_connection.fetch("SELECT * FROM sign_up_request")
