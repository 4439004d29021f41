"""roll usage up by feature and day

`usage_day` holds, per feature and UTC day, how many usage events it had and which users (a sorted array of
numbers); `usage_user` gives each pseudonymous user key of an organization its number, which each event now carries
(`usage_event.user_number`). Recording usage keeps them in its transaction, from the events it newly inserted;
adoption, active users and retention read them instead of every raw event of the window (0.4-0.8 s on the analytics
benchmark's 200,000 events). The days a window cuts still read their events: the (organization, product, time) index
of `usage_event` now covers the feature and the user's number, so that read is an index-only scan. Tenant tables:
row-level security binds them like the others.

This migration numbers the users of the events already recorded and rolls those events up (the statement the seed
uses, prism.db.usage_days). The tables' owner reads every organization's events for it: row-level security is forced
on `usage_event`, so it lifts that for itself inside this migration's transaction and forces it again before the end
(a superuser bypasses it anyway).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-02 07:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0026"
down_revision: str | None = "0025"
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
        "usage_user",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("user_key", sa.String(length=255), nullable=False),
        sa.Column("number", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_usage_user_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", "user_key", name=op.f("pk_usage_user")),
    )
    op.create_table(
        "usage_day",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("feature_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("user_numbers", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_usage_day_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["feature_id"], ["feature.id"], name=op.f("fk_usage_day_feature_id_feature"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["product.id"], name=op.f("fk_usage_day_product_id_product"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("organization_id", "feature_id", "day", name=op.f("pk_usage_day")),
    )
    op.create_index(
        "ix_usage_day_organization_id_product_id_day", "usage_day", ["organization_id", "product_id", "day"]
    )
    op.add_column("usage_event", sa.Column("user_number", sa.BigInteger(), nullable=True))
    _backfill()
    op.alter_column("usage_event", "user_number", nullable=False)
    op.drop_index("ix_usage_event_organization_id_product_id_occurred_at", table_name="usage_event")
    op.create_index(
        "ix_usage_event_organization_id_product_id_occurred_at",
        "usage_event",
        ["organization_id", "product_id", "occurred_at"],
        postgresql_include=["feature_id", "user_number"],
    )
    _bind_to_tenants("usage_user")
    _bind_to_tenants("usage_day")


def _backfill() -> None:
    from prism.db.usage_days import rebuild_usage_days

    op.execute("ALTER TABLE usage_event NO FORCE ROW LEVEL SECURITY")
    op.execute(
        "INSERT INTO usage_user (organization_id, user_key) "
        "SELECT DISTINCT organization_id, user_key FROM usage_event ORDER BY 1, 2"
    )
    op.execute(
        "UPDATE usage_event e SET user_number = u.number FROM usage_user u "
        "WHERE u.organization_id = e.organization_id AND u.user_key = e.user_key"
    )
    op.execute(rebuild_usage_days())
    op.execute("ALTER TABLE usage_event FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    op.drop_index("ix_usage_event_organization_id_product_id_occurred_at", table_name="usage_event")
    op.create_index(
        "ix_usage_event_organization_id_product_id_occurred_at",
        "usage_event",
        ["organization_id", "product_id", "occurred_at"],
    )
    op.drop_column("usage_event", "user_number")
    op.drop_table("usage_day")
    op.drop_table("usage_user")
