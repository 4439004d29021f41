"""member role in PL/pgSQL

`prism_member_role(org, user)` is called by every request's first statement (prism/db/lookups.py: the statement
that scopes the transaction and reads the caller's role). As a SQL function with a SET clause (its search_path) it
cannot be inlined, so PostgreSQL parsed and planned its body again at every call; PL/pgSQL keeps the plan of its one
statement for the session. Same signature, result, owner, grants, SECURITY DEFINER and search_path (CREATE OR
REPLACE keeps the owner and grants). Measured with pgbench as the server's role (BEGIN, the scope statement,
ROLLBACK; prepared; 5,000 transactions, three alternating runs each): 0.153-0.164 ms per transaction before,
0.072-0.106 ms after (docs/performance.md).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-03 08:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LOOKUP = "SELECT role FROM membership WHERE organization_id = p_organization_id AND user_id = p_user_id"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION prism_member_role(p_organization_id uuid, p_user_id uuid) RETURNS text
        LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
        BEGIN
            RETURN ({_LOOKUP});
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION prism_member_role(p_organization_id uuid, p_user_id uuid) RETURNS text
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
            {_LOOKUP}
        $$
        """
    )
