"""record when roadmaps, roadmap items and teams change

Like migration 0012 for sprints, releases, labels and memberships: roadmaps, their items and teams are edited by
people, so incremental sync needs their `updated_at`. Existing rows take their creation time. The backfill lifts
FORCE on the tables it writes for its own transaction and puts it back, as migration 0011 does.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("roadmap", "roadmap_item", "team")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"UPDATE {table} SET updated_at = created_at")  # noqa: S608 - constants
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.alter_column(table, "updated_at", nullable=False)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_column(table, "updated_at")
