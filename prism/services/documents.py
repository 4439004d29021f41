"""Documents (PRDs, specs, notes) of a product and their version history.

Every document starts at version 1 of its history; each edit that changes its title or body saves the new text as
the next document_version, so earlier wordings can always be read back. Status changes alone are not versions.
Deleting a document deletes its versions and comments with it (the database cascades).
"""

from dataclasses import dataclass
from uuid import UUID

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from prism.auth.access import require_on_product
from prism.auth.rbac import Viewer
from prism.db.base import utcnow
from prism.db.job_queue import INDEX_DOCUMENTS_TASK, defer_job
from prism.db.tables import Comment, Document, DocumentVersion, Product
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.domain.enums import DocumentKind, DocumentStatus
from prism.errors import Code, ValidationError
from prism.services.attachments import delete_attachments
from prism.services.audit import RequestMeta, record
from prism.services.dependents import delete_dependents
from prism.services.validation import check_version, clean_text, get_for_update, get_owned
from prism.storage import ObjectStore

__all__ = ["BODY_MAX", "TITLE_MAX", "DocumentChanges", "DocumentService"]

TITLE_MAX = 255
BODY_MAX = 200_000


@dataclass(frozen=True)
class DocumentChanges:
    """The fields an update may set; None leaves a field as it is."""

    title: str | None = None
    body: str | None = None
    status: DocumentStatus | None = None


class DocumentService:
    """Writes to documents and their versions."""

    def __init__(
        self, uow: UnitOfWork, viewer: Viewer, meta: RequestMeta | None = None, storage: ObjectStore | None = None
    ) -> None:
        self._uow = uow
        self._viewer = viewer
        self._meta = meta or RequestMeta()
        self._storage = storage

    @property
    def _org(self) -> UUID:
        return self._viewer.organization_id

    async def create(self, *, product_id: UUID, kind: DocumentKind, title: str, body: str = "") -> Document:
        """Create a draft document of a product together with its version 1."""
        title = clean_text(title, "title", max_length=TITLE_MAX)
        body = clean_text(body, "body", max_length=BODY_MAX, required=False)
        async with self._uow.session(self._org) as session:
            product = await get_owned(session, Product, product_id, self._org, "productId")
            await require_on_product(session, self._viewer, product.id)
            if product.archived_at is not None:
                raise ValidationError("The product is archived.", field="productId", code=Code.INVALID_STATE)
            document = Document(
                organization_id=self._org,
                product_id=product.id,
                kind=kind.value,
                title=title,
                body=body,
                author_id=self._viewer.user_id,
            )
            session.add(document)
            await session.flush()
            session.add(self._version(document, 1))
            await self._reindex(session, document.id)
        return document

    async def update(self, document_id: UUID, version: int, changes: DocumentChanges) -> Document:
        """Edit a document, refusing a stale version; a new title or body is saved as the next version."""
        title = clean_text(changes.title, "title", max_length=TITLE_MAX) if changes.title is not None else None
        body = (
            clean_text(changes.body, "body", max_length=BODY_MAX, required=False) if changes.body is not None else None
        )
        async with self._uow.session(self._org) as session:
            document = await get_for_update(session, Document, document_id, self._org, "id")
            await require_on_product(session, self._viewer, document.product_id)
            check_version(document.version, version, "document")
            text_changed = (title is not None and title != document.title) or (
                body is not None and body != document.body
            )
            if title is not None:
                document.title = title
            if body is not None:
                document.body = body
            if changes.status is not None:
                document.status = changes.status.value
            document.version += 1
            document.updated_at = utcnow()
            session.add(document)
            if text_changed:
                # The document row is locked, so no other edit can take the same number.
                latest = (
                    await session.exec(
                        tenant_select(DocumentVersion, self._org, sa.func.max(DocumentVersion.number)).where(
                            DocumentVersion.document_id == document.id
                        )
                    )
                ).one()
                session.add(self._version(document, (latest or 0) + 1))
                await self._reindex(session, document.id)
        return document

    async def delete(self, document_id: UUID, version: int) -> Document:
        """Delete a document with its versions and comments, refusing a stale version."""
        async with self._uow.session(self._org) as session:
            document = await get_for_update(session, Document, document_id, self._org, "id")
            await require_on_product(session, self._viewer, document.product_id)
            check_version(document.version, version, "document")
            record(
                session,
                organization_id=self._org,
                action="document.deleted",
                meta=self._meta,
                actor=self._viewer,
                target_type="Document",
                target_id=document.id,
                details={"title": document.title, "kind": document.kind},
            )
            await delete_attachments(session, self._uow, self._storage, self._org, "document_id", document.id)
            await delete_dependents(session, self._org, Comment, "document_id", document.id)
            await session.delete(document)
            await self._reindex(session, document.id)
        return document

    async def _reindex(self, session: AsyncSession, document_id: UUID) -> None:
        """Queue the document's vector update with the change: it exists exactly when the change commits."""
        await defer_job(
            session, INDEX_DOCUMENTS_TASK, {"organization_id": str(self._org), "document_ids": [str(document_id)]}
        )

    def _version(self, document: Document, number: int) -> DocumentVersion:
        return DocumentVersion(
            organization_id=self._org,
            document_id=document.id,
            number=number,
            title=document.title,
            body=document.body,
            author_id=self._viewer.user_id,
        )
