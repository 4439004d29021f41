"""one active sprint per product

The sprint service already refuses to start a second sprint while one is active (it locks the product row); this
partial unique index makes the database refuse it too, whatever writes the row.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "uq_sprint_one_active_per_product",
        "sprint",
        ["organization_id", "product_id"],
        unique=True,
        postgresql_where=sa.text("state = 'ACTIVE'"),
    )


def downgrade() -> None:
    op.drop_index("uq_sprint_one_active_per_product", table_name="sprint")
