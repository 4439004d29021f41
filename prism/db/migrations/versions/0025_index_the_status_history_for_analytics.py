"""index the status history for analytics

The cumulative flow counts every STATUS and CREATED event of a product's requirements per day. A partial index of
just those events, covering the columns it reads (from_value, to_value, created_at), lets PostgreSQL answer it with
an index-only scan instead of reading every event of the organization (docs/performance.md).

Revision ID: 0025
Revises: 0020
Create Date: 2026-12-02 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_requirement_event_organization_id_status_history",
        "requirement_event",
        ["organization_id", "requirement_id", "created_at"],
        postgresql_include=["from_value", "to_value"],
        postgresql_where=sa.text("kind IN ('STATUS', 'CREATED')"),
    )


def downgrade() -> None:
    op.drop_index("ix_requirement_event_organization_id_status_history", table_name="requirement_event")
