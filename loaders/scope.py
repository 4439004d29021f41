"""The one door to tenant data: every loader select starts here, scoped to the request's organization."""

from typing import Any
from uuid import UUID

import sqlalchemy as sa

__all__ = ["scoped"]


def scoped(table: sa.Table, organization_id: UUID, *columns: Any) -> sa.Select[Any]:
    """A select of `columns` (default: every column) from a tenant table, limited to one organization."""
    select = sa.select(*columns) if columns else sa.select(table)
    return select.select_from(table).where(table.c.organization_id == organization_id)
