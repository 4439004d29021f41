"""index a product's requirements in page order

A product's requirements are listed by rank, then id (the default order of `Product.requirements` and of the
dashboard's page of each product: `ORDER BY rank, id ... LIMIT first + 1`). The index on (organization, product,
rank) did not give that order, so PostgreSQL read every requirement of the product, joined each one's assignee and
sorted them before it cut the page: a product of 500 requirements cost 500 rows for a page of 20. With the id in the
index the rows come in page order and the scan stops at the page's end (no sort; docs/performance.md).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-03 08:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_requirement_organization_id_product_id_rank_id",
        "requirement",
        ["organization_id", "product_id", "rank", "id"],
    )
    op.drop_index("ix_requirement_organization_id_product_id_rank", table_name="requirement")


def downgrade() -> None:
    op.create_index(
        "ix_requirement_organization_id_product_id_rank", "requirement", ["organization_id", "product_id", "rank"]
    )
    op.drop_index("ix_requirement_organization_id_product_id_rank_id", table_name="requirement")
