"""Keeping the vector index in step with the database: requirements' and documents' texts are (re)indexed, or
dropped when gone."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from prism.ai.vectors import IndexedText, VectorIndex
from prism.db.tables import Document, Requirement
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork

__all__ = [
    "DOCUMENT",
    "REQUIREMENT",
    "Reindexed",
    "document_text",
    "index_documents",
    "index_requirements",
    "organization_ids",
    "reindex_organization",
    "requirement_text",
]

PAGE = 200
REQUIREMENT = "requirement"
DOCUMENT = "document"
"""The `kind` of a vector: what table its id is a row of."""


def requirement_text(title: str, description: str, acceptance_criteria: str) -> str:
    """The text a requirement is embedded from: what it is called, what it says and how it is accepted."""
    return "\n".join(part for part in (title, description, acceptance_criteria) if part)


def document_text(title: str, body: str) -> str:
    """The text a document is embedded from: its title and its markdown body (the index embeds the start)."""
    return "\n".join(part for part in (title, body) if part)


@dataclass(frozen=True)
class _Source:
    """How one kind of source is read and turned into the text its vector is embedded from."""

    kind: str
    table: Any
    columns: tuple[str, ...]

    def read(self) -> list[Any]:
        """The columns a vector is built from."""
        return [self.table.c.id, self.table.c.product_id, *(self.table.c[c] for c in self.columns)]

    def indexed(self, organization_id: UUID, row: Any) -> IndexedText:
        values = [getattr(row, column) for column in self.columns]
        text = requirement_text(*values) if self.kind == REQUIREMENT else document_text(*values)
        return IndexedText(
            id=row.id, organization_id=organization_id, product_id=row.product_id, kind=self.kind, text=text
        )


_REQUIREMENTS = _Source(
    REQUIREMENT,
    Requirement.__table__,  # type: ignore[attr-defined]
    ("title", "description", "acceptance_criteria"),
)
_DOCUMENTS = _Source(DOCUMENT, Document.__table__, ("title", "body"))  # type: ignore[attr-defined]


async def _index(
    source: _Source, index: VectorIndex, engine: AsyncEngine, organization_id: UUID, ids: Sequence[UUID]
) -> tuple[int, int]:
    async with UnitOfWork(engine, organization_id) as reader:
        found = await reader.all(
            tenant_select(source.table, organization_id, *source.read()).where(source.table.c.id.in_(list(ids)))
        )
    present = {row.id for row in found}
    gone = [i for i in ids if i not in present]
    await index.upsert([source.indexed(organization_id, row) for row in found])
    await index.delete(organization_id, gone)
    return len(found), len(gone)


async def index_requirements(
    index: VectorIndex, engine: AsyncEngine, organization_id: UUID, ids: Sequence[UUID]
) -> tuple[int, int]:
    """Index the requirements of `ids` as they are now; those deleted meanwhile leave the index. (indexed, dropped)"""
    return await _index(_REQUIREMENTS, index, engine, organization_id, ids)


async def index_documents(
    index: VectorIndex, engine: AsyncEngine, organization_id: UUID, ids: Sequence[UUID]
) -> tuple[int, int]:
    """Index the documents of `ids` as they are now; those deleted meanwhile leave the index. (indexed, dropped)"""
    return await _index(_DOCUMENTS, index, engine, organization_id, ids)


@dataclass(frozen=True)
class Reindexed:
    """How many sources of each kind a reindex embedded."""

    requirements: int
    documents: int


async def _reindex_all(source: _Source, index: VectorIndex, engine: AsyncEngine, organization_id: UUID) -> int:
    count = 0
    after: UUID | None = None
    while True:
        statement = tenant_select(source.table, organization_id, *source.read()).order_by(source.table.c.id).limit(PAGE)
        if after is not None:
            statement = statement.where(source.table.c.id > after)
        async with UnitOfWork(engine, organization_id) as reader:
            rows = await reader.all(statement)
        await index.upsert([source.indexed(organization_id, row) for row in rows])
        count += len(rows)
        if len(rows) < PAGE:
            return count
        after = rows[-1].id


async def reindex_organization(index: VectorIndex, engine: AsyncEngine, organization_id: UUID) -> Reindexed:
    """Drop an organization's vectors and index every one of its requirements and documents again."""
    await index.delete_organization(organization_id)
    return Reindexed(
        requirements=await _reindex_all(_REQUIREMENTS, index, engine, organization_id),
        documents=await _reindex_all(_DOCUMENTS, index, engine, organization_id),
    )


async def organization_ids(engine: AsyncEngine) -> list[UUID]:
    """Every organization's id, for `prism ai reindex` over the owner's connection."""
    every = sa.text("SELECT id FROM organization ORDER BY id")  # unscoped: the operator's reindex walks every tenant
    async with engine.connect() as conn:
        rows = (await conn.execute(every)).all()
    return [row.id for row in rows]
