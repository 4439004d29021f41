"""keep what a sprint committed to when it started

sprint_commitment holds, for each started sprint, the requirements it held at its start with their estimates then:
the sprint report compares it with the history of what happened next (prism.domain.sprint_report). It is a tenant
table like the others: row-level security enabled and FORCEd, the tenant policy, the server's group role granted
the usual rights. A partial index finds the requirements that ever entered a sprint (SPRINT events by `to_value`).

Sprints started before this migration get their commitment rebuilt from history: each requirement whose last
SPRINT event at or before the sprint's start put it in the sprint, with its last estimate at that moment; one
estimated only after the start (in the planning meeting that follows it, say) takes the first estimate recorded
while the sprint ran, so a sprint started before estimating is not rebuilt as a commitment to zero points. The
rebuild lifts FORCE on the tables it reads and writes for its own transaction (the owner running it would see no
rows otherwise) and puts it back.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_ORG = "NULLIF(current_setting('prism.org_id', true), '')::uuid"
REBUILD_READS = ("sprint", "requirement_event", "sprint_commitment")

REBUILD = """
INSERT INTO sprint_commitment (organization_id, requirement_id, sprint_id, estimate, created_at)
SELECT s.organization_id, member.requirement_id, s.id, COALESCE(estimate.value, planned.value), s.started_at
FROM sprint s
CROSS JOIN LATERAL (
    SELECT DISTINCT ON (e.requirement_id) e.requirement_id, e.to_value
    FROM requirement_event e
    WHERE e.organization_id = s.organization_id
      AND e.kind = 'SPRINT'
      AND e.created_at <= s.started_at
      AND e.requirement_id IN (
          SELECT entered.requirement_id FROM requirement_event entered
          WHERE entered.organization_id = s.organization_id
            AND entered.kind = 'SPRINT'
            AND entered.to_value = s.id::text
      )
    ORDER BY e.requirement_id, e.created_at DESC, e.id DESC
) member
LEFT JOIN LATERAL (
    SELECT e.to_value::double precision AS value
    FROM requirement_event e
    WHERE e.organization_id = s.organization_id
      AND e.requirement_id = member.requirement_id
      AND e.kind = 'ESTIMATE'
      AND e.created_at <= s.started_at
    ORDER BY e.created_at DESC, e.id DESC
    LIMIT 1
) estimate ON true
LEFT JOIN LATERAL (
    SELECT e.to_value::double precision AS value
    FROM requirement_event e
    WHERE e.organization_id = s.organization_id
      AND e.requirement_id = member.requirement_id
      AND e.kind = 'ESTIMATE'
      AND e.created_at > s.started_at
      AND (s.closed_at IS NULL OR e.created_at < s.closed_at)
    ORDER BY e.created_at, e.id
    LIMIT 1
) planned ON true
WHERE s.started_at IS NOT NULL AND member.to_value = s.id::text
"""


def upgrade() -> None:
    op.create_table(
        "sprint_commitment",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("requirement_id", sa.Uuid(), nullable=False),
        sa.Column("sprint_id", sa.Uuid(), nullable=False),
        sa.Column("estimate", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_sprint_commitment_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requirement_id"],
            ["requirement.id"],
            name=op.f("fk_sprint_commitment_requirement_id_requirement"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sprint_id"], ["sprint.id"], name=op.f("fk_sprint_commitment_sprint_id_sprint"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("requirement_id", "sprint_id", name=op.f("pk_sprint_commitment")),
    )
    op.create_index(
        "ix_sprint_commitment_organization_id_sprint_id",
        "sprint_commitment",
        ["organization_id", "sprint_id"],
        unique=False,
    )
    op.create_index(
        "ix_requirement_event_organization_id_to_value_sprint",
        "requirement_event",
        ["organization_id", "to_value"],
        unique=False,
        postgresql_where=sa.text("kind = 'SPRINT'"),
    )
    # The server's group role: the database's own where a migration gave it one (prism_app_role() names it),
    # else the cluster-wide prism_app of migration 0004.
    op.execute(
        """
        DO $$
        BEGIN
            IF to_regprocedure('prism_app_role()') IS NOT NULL THEN
                EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON sprint_commitment TO %I', prism_app_role());
            ELSE
                GRANT SELECT, INSERT, UPDATE, DELETE ON sprint_commitment TO prism_app;
            END IF;
        END $$;
        """
    )
    op.execute("ALTER TABLE sprint_commitment ENABLE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON sprint_commitment "
        f"USING (organization_id = {CURRENT_ORG}) WITH CHECK (organization_id = {CURRENT_ORG})"
    )

    for table in REBUILD_READS:
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(REBUILD)
    for table in REBUILD_READS:
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    op.drop_index("ix_requirement_event_organization_id_to_value_sprint", table_name="requirement_event")
    op.drop_index("ix_sprint_commitment_organization_id_sprint_id", table_name="sprint_commitment")
    op.drop_table("sprint_commitment")
