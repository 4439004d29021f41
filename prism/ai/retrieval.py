"""Keeping the vector index in step with the database: a requirement's text is (re)indexed, or dropped when gone."""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from prism.ai.vectors import IndexedText, VectorIndex
from prism.db.tables import Requirement
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork

__all__ = ["index_requirements", "organization_ids", "reindex_organization", "requirement_text"]

PAGE = 200


def requirement_text(title: str, description: str, acceptance_criteria: str) -> str:
    """The text a requirement is embedded from: what it is called, what it says and how it is accepted."""
    return "\n".join(part for part in (title, description, acceptance_criteria) if part)


_TABLE = Requirement.__table__  # type: ignore[attr-defined]
_COLUMNS = (_TABLE.c.id, _TABLE.c.product_id, _TABLE.c.title, _TABLE.c.description, _TABLE.c.acceptance_criteria)


def _select(organization_id: UUID) -> Any:
    return tenant_select(_TABLE, organization_id, *_COLUMNS)


def _indexed(organization_id: UUID, row: Any) -> IndexedText:
    return IndexedText(
        id=row.id,
        organization_id=organization_id,
        product_id=row.product_id,
        kind="requirement",
        text=requirement_text(row.title, row.description, row.acceptance_criteria),
    )


async def index_requirements(
    index: VectorIndex, engine: AsyncEngine, organization_id: UUID, ids: Sequence[UUID]
) -> tuple[int, int]:
    """Index the requirements of `ids` as they are now; those deleted meanwhile leave the index. (indexed, dropped)"""
    async with UnitOfWork(engine, organization_id) as reader:
        found = await reader.all(_select(organization_id).where(_TABLE.c.id.in_(list(ids))))
    present = {row.id for row in found}
    gone = [i for i in ids if i not in present]
    await index.upsert([_indexed(organization_id, row) for row in found])
    await index.delete(organization_id, gone)
    return len(found), len(gone)


async def reindex_organization(index: VectorIndex, engine: AsyncEngine, organization_id: UUID) -> int:
    """Drop an organization's vectors and index every one of its requirements again; how many."""
    await index.delete_organization(organization_id)
    count = 0
    after: UUID | None = None
    while True:
        statement = _select(organization_id).order_by(_TABLE.c.id).limit(PAGE)
        if after is not None:
            statement = statement.where(_TABLE.c.id > after)
        async with UnitOfWork(engine, organization_id) as reader:
            rows = await reader.all(statement)
        await index.upsert([_indexed(organization_id, row) for row in rows])
        count += len(rows)
        if len(rows) < PAGE:
            return count
        after = rows[-1].id


async def organization_ids(engine: AsyncEngine) -> list[UUID]:
    """Every organization's id, for `prism ai reindex` over the owner's connection."""
    every = sa.text("SELECT id FROM organization ORDER BY id")  # unscoped: the operator's reindex walks every tenant
    async with engine.connect() as conn:
        rows = (await conn.execute(every)).all()
    return [row.id for row in rows]
