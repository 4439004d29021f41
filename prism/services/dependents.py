"""Rows that point at a row about to be deleted, changed through the session before it goes.

The database would cascade them (`ON DELETE CASCADE`, `SET NULL`), but a change the database makes by itself has no
event (prism/db/outbox.py): a subscriber would keep a comment whose requirement is gone, or a roadmap item that
still links to a deleted requirement. So a use case that deletes a row first deletes (or detaches) the rows of
event tables that point at it, one by one through the session, each with its event, and flushes them before the
row's own delete.
"""

from typing import Any
from uuid import UUID

from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from prism.db.base import utcnow
from prism.db.tenancy import tenant_select

__all__ = ["delete_dependents", "detach_dependents"]


async def _pointing_at(
    session: AsyncSession, organization_id: UUID, table: type[SQLModel], column: str, row_id: UUID
) -> list[Any]:
    statement = tenant_select(table, organization_id).where(getattr(table, column) == row_id).with_for_update()
    return list((await session.exec(statement)).all())


async def delete_dependents(
    session: AsyncSession, organization_id: UUID, table: type[SQLModel], column: str, row_id: UUID
) -> int:
    """Delete the rows of `table` whose `column` is `row_id`, each with its event; returns how many."""
    rows = await _pointing_at(session, organization_id, table, column, row_id)
    for row in rows:
        await session.delete(row)
    await session.flush()
    return len(rows)


async def detach_dependents(
    session: AsyncSession, organization_id: UUID, table: type[SQLModel], column: str, row_id: UUID
) -> int:
    """Clear `column` on the rows of `table` that point at `row_id`, each with its event; returns how many."""
    rows = await _pointing_at(session, organization_id, table, column, row_id)
    now = utcnow()
    for row in rows:
        setattr(row, column, None)
        # A change like any other: a client syncing by updatedAt (or holding a version) must see it.
        if hasattr(row, "updated_at"):
            row.updated_at = now
        if hasattr(row, "version"):
            row.version += 1
    await session.flush()
    return len(rows)
