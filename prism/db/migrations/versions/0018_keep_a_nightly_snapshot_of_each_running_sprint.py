"""keep a nightly snapshot of each running sprint

`sprint_snapshot` holds, per running sprint and day, the figures its burndown computes for that day (scope, done and
remaining, in points and in requirements), taken by a nightly job (prism.jobs). It is a tenant table: row-level
security binds it like the others.

The job starts from `prism_active_sprints(limit, after)`, which lists the running sprints of every organization
(organization and sprint ids only), as the tables' owner through a `lookup_read` policy on `sprint` that only a
SECURITY DEFINER function gets (acting for another session user); then it reads each sprint in a transaction scoped to
its organization. The server's role may call the function and still may not read another organization's sprints.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-12 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_ORG = "NULLIF(current_setting('prism.org_id', true), '')::uuid"
ACTIVE = "prism_active_sprints(integer, uuid)"
ACTIVE_DEFINITION = """
CREATE FUNCTION prism_active_sprints(p_limit integer, p_after uuid)
RETURNS TABLE (organization_id uuid, sprint_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT s.organization_id, s.id FROM sprint s
    WHERE s.state = 'ACTIVE' AND s.started_at IS NOT NULL AND (p_after IS NULL OR s.id > p_after)
    ORDER BY s.id
    LIMIT p_limit
$$
"""


def upgrade() -> None:
    op.create_table(
        "sprint_snapshot",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("sprint_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("scope_points", sa.Float(), nullable=False),
        sa.Column("done_points", sa.Float(), nullable=False),
        sa.Column("remaining_points", sa.Float(), nullable=False),
        sa.Column("scope_count", sa.Integer(), nullable=False),
        sa.Column("done_count", sa.Integer(), nullable=False),
        sa.Column("remaining_count", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_sprint_snapshot_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sprint_id"], ["sprint.id"], name=op.f("fk_sprint_snapshot_sprint_id_sprint"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("organization_id", "sprint_id", "day", name=op.f("pk_sprint_snapshot")),
    )
    group = str(op.get_bind().execute(sa.text("SELECT prism_app_role()")).scalar_one())
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON sprint_snapshot TO {group}")
    op.execute("ALTER TABLE sprint_snapshot ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE sprint_snapshot FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON sprint_snapshot "
        f"USING (organization_id = {CURRENT_ORG}) WITH CHECK (organization_id = {CURRENT_ORG})"
    )
    op.execute("CREATE POLICY lookup_read ON sprint FOR SELECT TO CURRENT_USER USING (session_user <> current_user)")
    op.execute(ACTIVE_DEFINITION)
    op.execute(f"REVOKE ALL ON FUNCTION {ACTIVE} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {ACTIVE} TO {group}")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {ACTIVE}")
    op.execute("DROP POLICY IF EXISTS lookup_read ON sprint")
    op.drop_table("sprint_snapshot")
