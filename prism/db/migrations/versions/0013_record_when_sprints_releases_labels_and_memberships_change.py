"""record when sprints, releases, labels and memberships change

Integrators sync incrementally by asking what changed since their last sync (`updatedAt: {after: ...}`), so every
list that users edit needs an `updated_at`. Sprints, releases, labels and memberships had only `created_at`. Existing
rows take the latest time known to have touched them: a sprint its start or close, a release its release, the
others their creation.

The backfill lifts FORCE on the tables it writes for its own transaction (the owner running it would see no rows
otherwise) and puts it back, as migration 0011 does.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL = {
    "sprint": "GREATEST(created_at, started_at, closed_at)",
    "release": "GREATEST(created_at, released_at)",
    "label": "created_at",
    "membership": "created_at",
}


def upgrade() -> None:
    for table, value in BACKFILL.items():
        op.add_column(table, sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"UPDATE {table} SET updated_at = {value}")  # noqa: S608 - constants
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.alter_column(table, "updated_at", nullable=False)


def downgrade() -> None:
    for table in reversed(BACKFILL):
        op.drop_column(table, "updated_at")
