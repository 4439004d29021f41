"""an event log written with every change, numbered per organization, doubling as the outbox

`event` holds every committed change to an organization's entities (prism/db/outbox.py writes it in the transaction
of the change); `event_counter` numbers them per organization in commit order. Both are tenant tables: row-level
security enabled and FORCEd, the tenant policy, and the server's group role granted only what it needs: it reads and
appends events and marks them published (UPDATE of `published_at` alone), never rewrites or deletes one.

The relay that republishes events a crash or a broker outage left unpublished must find them in every organization
before it knows which: `prism_event_backlog(before, limit)` answers, as the tables' owner, the organizations that
have events older than `before` still unpublished, and nothing else. The relay then reads and marks each
organization's events in a transaction scoped to it, like any other request.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-09 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_ORG = "NULLIF(current_setting('prism.org_id', true), '')::uuid"

BACKLOG = "prism_event_backlog(timestamp with time zone, integer)"
BACKLOG_DEFINITION = """
CREATE FUNCTION prism_event_backlog(p_before timestamptz, p_limit integer) RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT organization_id FROM event
    WHERE published_at IS NULL AND occurred_at < p_before
    GROUP BY organization_id
    ORDER BY min(occurred_at)
    LIMIT p_limit
$$
"""


def upgrade() -> None:
    op.create_table(
        "event",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("version", sa.SmallInteger(), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=True),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column("actor_api_key_id", sa.Uuid(), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("action IN ('create', 'update', 'remove')", name=op.f("ck_event_action")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_event_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", "sequence", name=op.f("pk_event")),
        sa.UniqueConstraint("id", name=op.f("uq_event_id")),
    )
    op.create_index(
        "ix_event_organization_id_product_id_sequence",
        "event",
        ["organization_id", "product_id", "sequence"],
        unique=False,
    )
    op.create_index(
        "ix_event_unpublished",
        "event",
        ["organization_id", "sequence"],
        unique=False,
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "event_counter",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_event_counter_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", name=op.f("pk_event_counter")),
    )

    group = str(op.get_bind().execute(sa.text("SELECT prism_app_role()")).scalar_one())
    op.execute(f"GRANT SELECT, INSERT ON event TO {group}")
    op.execute(f"GRANT UPDATE (published_at) ON event TO {group}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON event_counter TO {group}")
    for table in ("event", "event_counter"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (organization_id = {CURRENT_ORG}) WITH CHECK (organization_id = {CURRENT_ORG})"
        )
    # The owner reads every organization's backlog inside the function alone (acting for another session user).
    op.execute("CREATE POLICY lookup_read ON event FOR SELECT TO CURRENT_USER USING (session_user <> current_user)")
    op.execute(BACKLOG_DEFINITION)
    op.execute(f"REVOKE ALL ON FUNCTION {BACKLOG} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {BACKLOG} TO {group}")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {BACKLOG}")
    op.drop_table("event_counter")
    op.drop_index("ix_event_unpublished", table_name="event")
    op.drop_index("ix_event_organization_id_product_id_sequence", table_name="event")
    op.drop_table("event")
