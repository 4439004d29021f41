"""keep a tombstone for each deleted requirement

A sync client mirrors requirements; when one is deleted, `deletedRequirements` tells it which to remove. Each
tombstone keeps the requirement's id (its global id stays `Requirement:<id>`), key, product, when and by whom. Old
tombstones are purged after the retention period (prism.services.requirements.TOMBSTONE_RETENTION). A tenant table
like the others: row-level security enabled and FORCEd, the tenant policy, the server's group role granted the usual
rights.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_ORG = "NULLIF(current_setting('prism.org_id', true), '')::uuid"


def upgrade() -> None:
    op.create_table(
        "deleted_requirement",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_by_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_deleted_requirement_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["product.id"], name=op.f("fk_deleted_requirement_product_id_product"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["deleted_by_id"],
            ["app_user.id"],
            name=op.f("fk_deleted_requirement_deleted_by_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deleted_requirement")),
    )
    op.create_index(
        "ix_deleted_requirement_organization_id_deleted_at",
        "deleted_requirement",
        ["organization_id", "deleted_at"],
        unique=False,
    )
    op.create_index(
        "ix_deleted_requirement_organization_id_product_id_deleted_at",
        "deleted_requirement",
        ["organization_id", "product_id", "deleted_at"],
        unique=False,
    )
    # The server's group role: the database's own where a migration gave it one (prism_app_role() names it),
    # else the cluster-wide prism_app of migration 0004.
    op.execute(
        """
        DO $$
        BEGIN
            IF to_regprocedure('prism_app_role()') IS NOT NULL THEN
                EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON deleted_requirement TO %I', prism_app_role());
            ELSE
                GRANT SELECT, INSERT, UPDATE, DELETE ON deleted_requirement TO prism_app;
            END IF;
        END $$;
        """
    )
    op.execute("ALTER TABLE deleted_requirement ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE deleted_requirement FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON deleted_requirement "
        f"USING (organization_id = {CURRENT_ORG}) WITH CHECK (organization_id = {CURRENT_ORG})"
    )


def downgrade() -> None:
    op.drop_index("ix_deleted_requirement_organization_id_product_id_deleted_at", table_name="deleted_requirement")
    op.drop_index("ix_deleted_requirement_organization_id_deleted_at", table_name="deleted_requirement")
    op.drop_table("deleted_requirement")
