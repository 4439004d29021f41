"""version AI prompts per organization and cache AI answers

`ai_prompt` keeps an organization's overrides of the prompt templates PRISM ships (prism/ai/prompts): one row per
saved revision, the current one being the newest not retired, so the runs of every revision stay comparable.
`ai_run` gains the prompt's key (the version was already there) and whether the answer came from the response
cache. A tenant table: row-level security binds `ai_prompt` like the others.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02 02:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_ORG = "NULLIF(current_setting('prism.org_id', true), '')::uuid"


def upgrade() -> None:
    op.create_table(
        "ai_prompt",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=20000), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_ai_prompt_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["app_user.id"], name=op.f("fk_ai_prompt_created_by_id_app_user"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_prompt")),
        sa.UniqueConstraint("organization_id", "key", "revision", name="uq_ai_prompt_organization_id_key_revision"),
    )
    group = str(op.get_bind().execute(sa.text("SELECT prism_app_role()")).scalar_one())
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ai_prompt TO {group}")
    op.execute("ALTER TABLE ai_prompt ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE ai_prompt FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON ai_prompt "
        f"USING (organization_id = {CURRENT_ORG}) WITH CHECK (organization_id = {CURRENT_ORG})"
    )
    op.add_column("ai_run", sa.Column("prompt_key", sa.String(length=64), nullable=False, server_default=""))
    op.execute("UPDATE ai_run SET prompt_key = feature")
    op.alter_column("ai_run", "prompt_key", server_default=None)
    op.add_column("ai_run", sa.Column("cached", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.alter_column("ai_run", "cached", server_default=None)


def downgrade() -> None:
    op.drop_column("ai_run", "cached")
    op.drop_column("ai_run", "prompt_key")
    op.drop_table("ai_prompt")
