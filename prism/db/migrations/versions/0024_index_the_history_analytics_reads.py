"""index the history analytics reads

Sprint reports, burndowns and burnups read the SPRINT, STATUS, CREATED and ESTIMATE events of the requirements of a
few sprints; the cumulative flow counts every STATUS and CREATED event of a product per day. A partial index of just
those kinds by requirement, covering the columns they read, turns the first into a few index probes per requirement
(the planner read every event of the organization instead: 190 ms for one sprint's burndown on the analytics
benchmark, 26 ms with it) and the second into an index-only scan (docs/performance.md).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-02 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_requirement_event_organization_id_analytics",
        "requirement_event",
        ["organization_id", "requirement_id", "created_at"],
        postgresql_include=["kind", "from_value", "to_value"],
        postgresql_where=sa.text("kind IN ('SPRINT', 'STATUS', 'CREATED', 'ESTIMATE')"),
    )


def downgrade() -> None:
    op.drop_index("ix_requirement_event_organization_id_analytics", table_name="requirement_event")
