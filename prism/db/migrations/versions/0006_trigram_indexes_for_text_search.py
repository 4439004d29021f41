"""trigram indexes for text search, where PostgreSQL has pg_trgm

The `search` filters match a substring anywhere in a requirement's title or description, or a product's name or key
(`ILIKE '%text%'`, wildcards taken literally). No B-tree serves that, so every search read the organization's whole
table. With the pg_trgm extension (shipped with PostgreSQL's contrib modules, on every managed service), GIN
trigram indexes serve `ILIKE` directly. The embedded PostgreSQL that `make run` starts has no contrib modules: there
the migration creates nothing and search stays a scan, bounded by the statement timeout and the query cost like any
other read. These indexes are therefore not declared on the models; `OPTIONAL_INDEXES` tells the schema comparison
to expect them or not.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 01:35:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# index name -> (table, column)
# index name -> (table, column); prism.db.migrate.OPTIONAL_INDEXES names them for the schema comparison.
OPTIONAL_INDEXES = {
    "ix_requirement_title_trgm": ("requirement", "title"),
    "ix_requirement_description_trgm": ("requirement", "description"),
    "ix_product_name_trgm": ("product", "name"),
}


def upgrade() -> None:
    statements = "\n".join(
        f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({column} gin_trgm_ops);"
        for name, (table, column) in OPTIONAL_INDEXES.items()
    )
    op.execute(
        f"""
        DO $$
        BEGIN
            IF EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
                CREATE EXTENSION IF NOT EXISTS pg_trgm;
                {statements}
            ELSE
                RAISE NOTICE 'pg_trgm is not available: text search runs without an index';
            END IF;
        END $$;
        """
    )


def downgrade() -> None:
    for name in OPTIONAL_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    # The extension may serve others on this database: it is left in place.
