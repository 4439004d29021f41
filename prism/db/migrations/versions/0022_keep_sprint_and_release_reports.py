"""keep sprint and release reports

`report` records each sprint or release report a member asked for: kind, format, subject, state (QUEUED, RUNNING,
READY, FAILED), and once built, the key, size and sha256 of its file in object storage, or why it failed. A tenant
table: row-level security binds it like the others.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_ORG = "NULLIF(current_setting('prism.org_id', true), '')::uuid"


def upgrade() -> None:
    op.create_table(
        "report",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("object_key", sa.String(length=255), nullable=True),
        sa.Column("file_name", sa.String(length=255), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("requested_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('SPRINT', 'RELEASE')", name=op.f("ck_report_kind")),
        sa.CheckConstraint("format IN ('CSV', 'JSON', 'PDF')", name=op.f("ck_report_format")),
        sa.CheckConstraint("state IN ('QUEUED', 'RUNNING', 'READY', 'FAILED')", name=op.f("ck_report_state")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_report_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["app_user.id"],
            name=op.f("fk_report_requested_by_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report")),
    )
    op.create_index("ix_report_organization_id_created_at", "report", ["organization_id", "created_at"])
    group = str(op.get_bind().execute(sa.text("SELECT prism_app_role()")).scalar_one())
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON report TO {group}")
    op.execute("ALTER TABLE report ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE report FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON report "
        f"USING (organization_id = {CURRENT_ORG}) WITH CHECK (organization_id = {CURRENT_ORG})"
    )


def downgrade() -> None:
    op.drop_table("report")
