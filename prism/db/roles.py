"""The database role PRISM's server connects as, and the check that it cannot bypass row-level security."""

import logging
import re
from dataclasses import dataclass

import asyncpg
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["APP_GROUP_ROLE", "RoleCheck", "check_connection_role", "ensure_login_role", "url_for_role"]

logger = logging.getLogger(__name__)

APP_GROUP_ROLE = "prism_app"
"""Created by migration 0004: holds the table privileges; row-level security applies to its members."""

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class RoleCheck:
    """What the server's database role can do that would defeat tenant isolation."""

    name: str
    superuser: bool
    bypass_rls: bool
    owned_tables: int

    @property
    def safe(self) -> bool:
        return not (self.superuser or self.bypass_rls or self.owned_tables)


async def ensure_login_role(admin_url: str, name: str, password: str | None = None) -> None:
    """Create (once) a login role that is a member of `prism_app` and nothing more; set its password if given."""
    if not _ROLE_NAME.match(name):
        raise ValueError(f"invalid role name {name!r}")
    conn = await asyncpg.connect(make_url(admin_url).set(drivername="postgresql").render_as_string(False))
    try:
        # Identifiers cannot be bound as parameters; `name` is validated above.
        await conn.execute(
            f"""
            DO $$
            BEGIN
                CREATE ROLE {name} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
            EXCEPTION WHEN duplicate_object THEN NULL;
            END $$;
            GRANT {APP_GROUP_ROLE} TO {name};
            """
        )
        if password is not None:
            # format() quotes the literal server-side: the password never becomes part of SQL text we build.
            statement = await conn.fetchval(
                "SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text)", name, password
            )
            await conn.execute(statement)
    finally:
        await conn.close()


def url_for_role(admin_url: str, name: str) -> str:
    """The admin URL with another user (no password: for servers that trust local connections, like embedded)."""
    return make_url(admin_url).set(username=name, password=None).render_as_string(hide_password=False)


async def check_connection_role(engine: AsyncEngine) -> RoleCheck:
    """Inspect the role the engine connects as."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.text(  # unscoped: the connecting role in the PostgreSQL catalog, no tenant table
                    "SELECT current_user AS name, r.rolsuper AS superuser, r.rolbypassrls AS bypass_rls, "
                    "(SELECT count(*) FROM pg_tables t WHERE t.schemaname = 'public' AND t.tableowner = current_user)"
                    " AS owned_tables FROM pg_roles r WHERE r.rolname = current_user"
                )
            )
        ).one()
    return RoleCheck(
        name=row.name, superuser=row.superuser, bypass_rls=row.bypass_rls, owned_tables=int(row.owned_tables)
    )
