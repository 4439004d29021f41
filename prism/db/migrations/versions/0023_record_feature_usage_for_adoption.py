"""record feature usage for adoption

`feature` names what a product ships (a key SDKs report, a name, the requirement that shipped it); `usage_event` holds
one row per use of a feature by a pseudonymous user, unique by the reporter's event id within the organization, so a
replayed batch inserts nothing twice. Adoption, active users and retention are computed from it by time, hence the
indexes on (organization, feature, time) and (organization, product, time). Tenant tables: row-level security binds
them like the others.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-02 02:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_ORG = "NULLIF(current_setting('prism.org_id', true), '')::uuid"


def _bind_to_tenants(table: str) -> None:
    group = str(op.get_bind().execute(sa.text("SELECT prism_app_role()")).scalar_one())
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {group}")
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} "
        f"USING (organization_id = {CURRENT_ORG}) WITH CHECK (organization_id = {CURRENT_ORG})"
    )


def upgrade() -> None:
    op.create_table(
        "feature",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("requirement_id", sa.Uuid(), nullable=True),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_feature_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["product.id"], name=op.f("fk_feature_product_id_product"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["requirement_id"],
            ["requirement.id"],
            name=op.f("fk_feature_requirement_id_requirement"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature")),
        sa.UniqueConstraint(
            "organization_id", "product_id", "key", name=op.f("uq_feature_organization_id_product_id_key")
        ),
    )
    op.create_index("ix_feature_organization_id_requirement_id", "feature", ["organization_id", "requirement_id"])
    _bind_to_tenants("feature")

    op.create_table(
        "usage_event",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("feature_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("user_key", sa.String(length=255), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("properties", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.CheckConstraint("octet_length(properties::text) <= 16384", name=op.f("ck_usage_event_properties_size")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_usage_event_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["product.id"], name=op.f("fk_usage_event_product_id_product"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["feature_id"], ["feature.id"], name=op.f("fk_usage_event_feature_id_feature"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_event")),
        sa.UniqueConstraint("organization_id", "event_id", name=op.f("uq_usage_event_organization_id_event_id")),
    )
    op.create_index(
        "ix_usage_event_organization_id_feature_id_occurred_at",
        "usage_event",
        ["organization_id", "feature_id", "occurred_at"],
    )
    op.create_index(
        "ix_usage_event_organization_id_product_id_occurred_at",
        "usage_event",
        ["organization_id", "product_id", "occurred_at"],
    )
    _bind_to_tenants("usage_event")


def downgrade() -> None:
    op.drop_table("usage_event")
    op.drop_table("feature")
