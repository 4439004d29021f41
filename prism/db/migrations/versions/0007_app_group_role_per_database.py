"""a group role of its own for each database's server, and the right to connect for that role alone

Migration 0004 granted the tables to `prism_app`, one group role for the whole PostgreSQL cluster. Every PRISM
database on a server granted the same group, so the login role of database A, a member of `prism_app`, could connect
to database B (CONNECT is granted to PUBLIC by default) and read it: the tenant setting that row-level security
checks is set by the connecting role itself.

This migration gives the database a group role of its own, `prism_app_<database>` (the name shortened, cleaned and
suffixed with a hash when the database's name is not a plain lower-case identifier of 53 characters at most), moves
to it every grant `prism_app` had here (tables, sequences, the schema, the sign-in look-ups), and lets only that
group connect: CONNECT is revoked from PUBLIC. The database's owner and superusers still connect. The function
`prism_app_role()` names the group, so `prism db ensure-app-role` and the server's start-up check find it, also
after the database is renamed. A login role that was a member of `prism_app` has no access here any more until
`prism db ensure-app-role` makes it a member of the new group (it also takes it out of `prism_app`).

A later migration that adds a table grants it to the group: `GRANT ... TO` the name `prism_app_role()` returns.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 10:00:00
"""

import hashlib
import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHARED_GROUP = "prism_app"
LOOKUPS = (
    "prism_find_api_key(text)",
    "prism_find_invitation(text)",
    "prism_member_role(uuid, uuid)",
    "prism_user_id_by_email(text)",
    "prism_user_token_owner(text, text)",
    "prism_refresh_token_owner(text)",
)
_PLAIN = re.compile(r"[a-z_][a-z0-9_]{0,52}")


def group_name(database: str) -> str:
    """The database's group role: `prism_app_<database>`, kept a valid identifier of 63 characters at most."""
    if _PLAIN.fullmatch(database):
        return f"prism_app_{database}"
    cleaned = re.sub(r"[^a-z0-9_]", "_", database.lower())[:40]
    return f"prism_app_{cleaned}_{hashlib.sha256(database.encode()).hexdigest()[:8]}"


def _grant_everything(group: str) -> None:
    """What 0004 and 0005 granted to prism_app, granted to `group`."""
    op.execute(f"GRANT USAGE ON SCHEMA public TO {group}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {group}")
    op.execute(f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {group}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {group}")
    for function in LOOKUPS:
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {group}")


def _revoke_everything(group: str) -> None:
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {group}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {group}")
    op.execute(f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM {group}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {group}")


def _database() -> tuple[str, str]:
    """The current database's name, raw and quoted as an identifier."""
    bind = op.get_bind()
    name = str(bind.execute(sa.text("SELECT current_database()")).scalar_one())
    return name, bind.dialect.identifier_preparer.quote(name)


def upgrade() -> None:
    database, quoted = _database()
    group = group_name(database)
    op.execute(
        f"""
        DO $$
        BEGIN
            CREATE ROLE {group} NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
        EXCEPTION WHEN duplicate_object THEN NULL;  -- left by an earlier database of the same name
        END $$;
        """
    )
    _grant_everything(group)
    _revoke_everything(SHARED_GROUP)
    op.execute(f"GRANT CONNECT ON DATABASE {quoted} TO {group}")
    op.execute(f"REVOKE CONNECT ON DATABASE {quoted} FROM PUBLIC")
    op.execute(f"CREATE FUNCTION prism_app_role() RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT '{group}'::text $$")


def downgrade() -> None:
    _, quoted = _database()
    group = str(op.get_bind().execute(sa.text("SELECT prism_app_role()")).scalar_one())
    op.execute("DROP FUNCTION prism_app_role()")
    op.execute(f"GRANT CONNECT ON DATABASE {quoted} TO PUBLIC")
    _grant_everything(SHARED_GROUP)
    _revoke_everything(group)
    op.execute(f"REVOKE ALL ON DATABASE {quoted} FROM {group}")
    # The group served this database alone; its members lose nothing they need elsewhere.
    op.execute(f"DROP ROLE {group}")
