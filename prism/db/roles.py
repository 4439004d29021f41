"""The database role PRISM's server connects as, and the check that it cannot get round row-level security.

Each PRISM database has a group role of its own (migration 0007, named by the database's `prism_app_role()`) that
holds the table privileges and alone may connect; the server's login role is a member of it and of nothing else.
Before migration 0007 one group, `prism_app`, served every PRISM database of a PostgreSQL server.
"""

import logging
import re
from dataclasses import dataclass

import asyncpg
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "SHARED_GROUP_ROLE",
    "RoleCheck",
    "check_connection_role",
    "database_group_role",
    "drop_database",
    "ensure_login_role",
    "url_for_role",
]

logger = logging.getLogger(__name__)

SHARED_GROUP_ROLE = "prism_app"
"""Created by migration 0004 for the whole server; since migration 0007 each database has a group of its own."""

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
#: Table privileges that get round row-level security: TRUNCATE empties a table whatever the policies say,
#: REFERENCES lets a foreign key probe for rows the policies hide, TRIGGER runs the role's code as whoever writes.
_DANGEROUS_TABLE_PRIVILEGES = ("TRUNCATE", "REFERENCES", "TRIGGER")


def _plain_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _group_of(conn: asyncpg.Connection) -> str | None:
    """The connected database's group role (migration 0007), None before that migration."""
    if await conn.fetchval("SELECT to_regprocedure('public.prism_app_role()')") is None:
        return None
    group = str(await conn.fetchval("SELECT prism_app_role()"))
    if not _ROLE_NAME.match(group):
        raise ValueError(f"prism_app_role() names an invalid role: {group!r}")
    return group


async def database_group_role(url: str) -> str | None:
    """The group role of the database at `url` that its server's login role belongs to; None before migration 0007."""
    conn = await asyncpg.connect(_plain_url(url))
    try:
        return await _group_of(conn)
    finally:
        await conn.close()


async def drop_database(server_url: str, name: str) -> None:
    """Drop a database and its group role, which would otherwise outlive it (roles belong to the server)."""
    server = make_url(server_url).set(drivername="postgresql")
    try:
        group = await database_group_role(server.set(database=name).render_as_string(hide_password=False))
    except asyncpg.InvalidCatalogNameError:
        group = None
    conn = await asyncpg.connect(server.render_as_string(hide_password=False))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if group is not None:
            await conn.execute(f"DROP ROLE IF EXISTS {group}")
    finally:
        await conn.close()


ROLE_STATEMENT_TIMEOUT = "60s"
"""The statement timeout `prism db ensure-app-role` gives the server's login role itself."""


async def ensure_login_role(admin_url: str, name: str, password: str | None = None) -> str:
    """Create (once) a login role that is a member of the database's group role and nothing more; the group.

    The role's password is set when given. A role made before migration 0007 is also taken out of `prism_app`,
    which other databases on the server may still grant their tables to.
    """
    if not _ROLE_NAME.match(name):
        raise ValueError(f"invalid role name {name!r}")
    conn = await asyncpg.connect(_plain_url(admin_url))
    try:
        group = await _group_of(conn) or SHARED_GROUP_ROLE
        # Identifiers cannot be bound as parameters; `name` and `group` are validated above.
        await conn.execute(
            f"""
            DO $$
            BEGIN
                CREATE ROLE {name} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
            EXCEPTION WHEN duplicate_object THEN NULL;
            END $$;
            GRANT {group} TO {name};
            """
        )
        # A backstop for any client of the role: the server also sets a tighter timeout on each connection
        # (PRISM_DATABASE_STATEMENT_TIMEOUT_SECONDS); another client using the role cannot run a statement forever.
        await conn.execute(f"ALTER ROLE {name} SET statement_timeout = '{ROLE_STATEMENT_TIMEOUT}'")
        if group != SHARED_GROUP_ROLE and await conn.fetchval(
            "SELECT EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
            "JOIN pg_roles r ON r.oid = m.member WHERE g.rolname = $1 AND r.rolname = $2)",
            SHARED_GROUP_ROLE,
            name,
        ):
            await conn.execute(f"REVOKE {SHARED_GROUP_ROLE} FROM {name}")
        if password is not None:
            # format() quotes the literal server-side: the password never becomes part of SQL text we build.
            statement = await conn.fetchval(
                "SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text)", name, password
            )
            await conn.execute(statement)
    finally:
        await conn.close()
    return group


def url_for_role(admin_url: str, name: str) -> str:
    """The admin URL with another user (no password: for servers that trust local connections, like embedded)."""
    return make_url(admin_url).set(username=name, password=None).render_as_string(hide_password=False)


@dataclass(frozen=True)
class RoleCheck:
    """What the server's database role can do that would defeat tenant isolation, from its effective privileges.

    Ownership alone says little: a member of the owner's role acts as the owner (SET ROLE, or inherited privileges),
    a member of a superuser or BYPASSRLS role can become one, and some table privileges get round the policies.
    """

    name: str
    database: str
    superuser: bool
    bypass_rls: bool
    create_role: bool
    privileged_roles: tuple[str, ...]
    """Roles with SUPERUSER or BYPASSRLS that this role is a member of (it may SET ROLE to them)."""
    owners: tuple[str, ...]
    """Owners of PRISM's tables and sign-in look-ups that this role is, or is a member of."""
    table_privileges: tuple[tuple[str, str], ...]
    """(privilege, table) pairs of _DANGEROUS_TABLE_PRIVILEGES held on tables it does not own."""
    group: str | None
    """This database's group role (migration 0007); None before that migration."""
    in_group: bool
    other_groups: tuple[str, ...]
    """Group roles of other PRISM databases (and the former shared `prism_app`) this role is a member of."""
    public_may_connect: bool
    """Whether every role on the server may connect to this database."""

    @property
    def problems(self) -> list[str]:
        """Each way this role (or its database) leaves tenant isolation to the application alone."""
        found = []
        if self.superuser:
            found.append("it is a superuser")
        if self.bypass_rls:
            found.append("it has BYPASSRLS")
        if self.privileged_roles:
            found.append(f"it is a member of {_names(self.privileged_roles)}, with SUPERUSER or BYPASSRLS")
        if self.owners:
            found.append(f"it is, or is a member of, {_names(self.owners)}, the owner of PRISM's tables")
        for privilege in _DANGEROUS_TABLE_PRIVILEGES:
            tables = [table for held, table in self.table_privileges if held == privilege]
            if tables:
                found.append(f"it holds {privilege} on {_names(tables)}")
        if self.create_role:
            found.append("it has CREATEROLE (it could make itself a member of the owner)")
        if self.other_groups:
            found.append(f"it is a member of {_names(self.other_groups)}, which other PRISM databases grant")
        if self.group is not None and not self.in_group:
            found.append(f"it is not a member of {self.group}, this database's group (run prism db ensure-app-role)")
        if self.group is not None and self.public_may_connect:
            found.append(f"every role may connect to database {self.database!r} (CONNECT is granted to PUBLIC)")
        return found

    @property
    def safe(self) -> bool:
        return not self.problems


def _names(names: list[str] | tuple[str, ...]) -> str:
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


_CHECK = sa.text(  # unscoped: the connecting role's privileges in the PostgreSQL catalog, no tenant table
    """
    SELECT r.rolname AS name, current_database() AS database, r.rolsuper AS superuser,
           r.rolbypassrls AS bypass_rls, r.rolcreaterole AS create_role,
           ARRAY(SELECT g.rolname::text FROM pg_roles g
                 WHERE g.oid <> r.oid AND (g.rolsuper OR g.rolbypassrls) AND pg_has_role(r.oid, g.oid, 'MEMBER')
                 ORDER BY 1) AS privileged_roles,
           ARRAY(SELECT DISTINCT pg_get_userbyid(owner)::text FROM (
                     SELECT c.relowner AS owner FROM pg_class c
                     WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
                     UNION
                     SELECT p.proowner FROM pg_proc p
                     WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef
                 ) AS owned WHERE pg_has_role(r.oid, owner, 'MEMBER') ORDER BY 1) AS owners,
           ARRAY(SELECT ARRAY[privilege, c.relname::text] FROM pg_class c
                 CROSS JOIN unnest(CAST(:privileges AS text[])) AS privilege
                 WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
                   AND NOT pg_has_role(r.oid, c.relowner, 'MEMBER') AND has_table_privilege(r.oid, c.oid, privilege)
                 ORDER BY 1) AS table_privileges,
           ARRAY(SELECT g.rolname::text FROM pg_roles g
                 WHERE (g.rolname = :shared OR g.rolname LIKE 'prism\\_app\\_%') AND g.oid <> r.oid
                   AND g.rolname IS DISTINCT FROM CAST(:group AS text) AND pg_has_role(r.oid, g.oid, 'MEMBER')
                 ORDER BY 1) AS other_groups,
           CAST(:group AS text) IS NOT NULL AND pg_has_role(r.oid, CAST(:group AS text), 'MEMBER') AS in_group,
           has_database_privilege('public', current_database(), 'CONNECT') AS public_may_connect
    FROM pg_roles r WHERE r.rolname = current_user
    """
)


async def check_connection_role(engine: AsyncEngine) -> RoleCheck:
    """Inspect the effective privileges of the role the engine connects as, in the database it connects to."""
    async with engine.connect() as conn:
        found = sa.text("SELECT to_regprocedure('public.prism_app_role()')")  # unscoped: the catalog, no table
        group = None
        if (await conn.execute(found)).scalar() is not None:
            named = sa.text("SELECT prism_app_role()")  # unscoped: a constant the migration wrote, no table
            group = str((await conn.execute(named)).scalar())
        row = (
            await conn.execute(
                _CHECK,
                {"privileges": list(_DANGEROUS_TABLE_PRIVILEGES), "shared": SHARED_GROUP_ROLE, "group": group},
            )
        ).one()
    return RoleCheck(
        name=row.name,
        database=row.database,
        superuser=row.superuser,
        bypass_rls=row.bypass_rls,
        create_role=row.create_role,
        privileged_roles=tuple(row.privileged_roles),
        owners=tuple(row.owners),
        table_privileges=tuple((privilege, table) for privilege, table in row.table_privileges),
        group=group,
        in_group=bool(row.in_group),
        other_groups=tuple(row.other_groups) if group is not None else (),
        public_may_connect=bool(row.public_may_connect),
    )
