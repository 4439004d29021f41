"""Attachments: files on requirements, comments and documents, their contents in object storage.

The row and its event are written in the request's transaction; the content is stored before the row is flushed (an
upload whose transaction then rolls back leaves an object no row names, under a random key nobody can guess). A
deleted attachment's content is removed only once the deletion has committed, so a rollback never loses a file.
"""

from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID, uuid4

import sqlalchemy as sa
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from prism.auth.access import require_on_product
from prism.auth.rbac import Permission, Viewer
from prism.db.tables import Attachment, Comment, Document, Requirement
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.errors import ForbiddenError, ValidationError
from prism.services.audit import RequestMeta, record
from prism.services.validation import get_for_update, get_owned
from prism.storage import ObjectStore, StorageLimitError, object_key
from prism.storage.base import sha256_hex

__all__ = ["AttachmentLimits", "AttachmentService", "UploadedFile", "delete_attachments"]

NAME_MAX = 255


@dataclass(frozen=True)
class AttachmentLimits:
    """How big an attachment may be and which content types it may have (`*` allows any)."""

    max_bytes: int
    content_types: tuple[str, ...]

    def check(self, size: int, content_type: str) -> None:
        if size > self.max_bytes:
            raise StorageLimitError(f"The file is larger than {self.max_bytes} bytes.", field="file")
        if "*" not in self.content_types and content_type not in self.content_types:
            raise StorageLimitError(
                f"Files of type {content_type!r} are not accepted; allowed: {', '.join(self.content_types)}.",
                field="file",
            )


class UploadedFile(Protocol):
    """A file part of an upload as the web layer hands it over (Starlette's UploadFile is one)."""

    @property
    def filename(self) -> str | None: ...

    @property
    def content_type(self) -> str | None: ...

    async def read(self, size: int = -1) -> bytes: ...


async def _read(file: Any, max_bytes: int) -> bytes:
    """The whole content of an uploaded file, refused (OUT_OF_RANGE) past `max_bytes` without reading further."""
    if not callable(getattr(file, "read", None)):
        raise ValidationError("`file` must be a file part of a multipart request (docs/api.md, Files).", field="file")
    content: bytes = await file.read(max_bytes + 1)
    if len(content) > max_bytes:
        raise StorageLimitError(f"The file is larger than {max_bytes} bytes.", field="file")
    return content


def _clean_name(name: str | None) -> str:
    # Browsers send a base name; some clients send a path. Keep the last segment, without control characters.
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return base[:NAME_MAX] or "file"


def _clean_type(content_type: str | None) -> str:
    return (content_type or "application/octet-stream").split(";")[0].strip().lower() or "application/octet-stream"


class AttachmentService:
    """Uploads and deletions of attachments."""

    def __init__(
        self,
        uow: UnitOfWork,
        viewer: Viewer,
        storage: ObjectStore,
        limits: AttachmentLimits,
        meta: RequestMeta | None = None,
    ) -> None:
        self._uow = uow
        self._viewer = viewer
        self._storage = storage
        self._limits = limits
        self._meta = meta or RequestMeta()

    @property
    def _org(self) -> UUID:
        return self._viewer.organization_id

    async def upload(
        self,
        *,
        requirement_id: UUID | None,
        comment_id: UUID | None,
        document_id: UUID | None,
        file: UploadedFile,
    ) -> Attachment:
        """Attach a file to exactly one requirement, comment or document. The subject is checked before the file is
        read, so a foreign or unknown id is NOT_FOUND whatever was sent."""
        if sum(subject is not None for subject in (requirement_id, comment_id, document_id)) != 1:
            raise ValidationError("Give exactly one of requirementId, commentId and documentId.", field="requirementId")
        async with self._uow.session(self._org) as session:
            product_id = await self._product_of(session, requirement_id, comment_id, document_id)
            await require_on_product(session, self._viewer, product_id)
            content = await _read(file, self._limits.max_bytes)
            clean_type = _clean_type(file.content_type)
            self._limits.check(len(content), clean_type)
            name = file.filename
            attachment_id = uuid4()
            key = object_key(self._org, attachment_id)
            await self._storage.put(key, content, clean_type)
            attachment = Attachment(
                id=attachment_id,
                organization_id=self._org,
                product_id=product_id,
                requirement_id=requirement_id,
                comment_id=comment_id,
                document_id=document_id,
                name=_clean_name(name),
                content_type=clean_type,
                size=len(content),
                sha256=sha256_hex(content),
                object_key=key,
                uploaded_by_id=self._viewer.user_id,
            )
            session.add(attachment)
        return attachment

    async def delete(self, attachment_id: UUID) -> Attachment:
        """Delete an attachment: its uploader, or an OWNER or ADMIN of the organization."""
        async with self._uow.session(self._org) as session:
            attachment = await get_for_update(session, Attachment, attachment_id, self._org, "id")
            await require_on_product(session, self._viewer, attachment.product_id)
            if attachment.uploaded_by_id != self._viewer.user_id and not self._viewer.can(Permission.MODERATE):
                raise ForbiddenError("Only the uploader of an attachment, an OWNER or an ADMIN may delete it.")
            record(
                session,
                organization_id=self._org,
                action="attachment.deleted",
                meta=self._meta,
                actor=self._viewer,
                target_type="Attachment",
                target_id=attachment.id,
                details={"name": attachment.name, "sha256": attachment.sha256},
            )
            await session.delete(attachment)
            self._remove_after_commit([attachment.object_key])
        return attachment

    def _remove_after_commit(self, keys: list[str]) -> None:
        storage = self._storage

        async def remove() -> None:
            for key in keys:
                await storage.delete(key)

        self._uow.after_commit(remove)

    async def _product_of(
        self, session: AsyncSession, requirement_id: UUID | None, comment_id: UUID | None, document_id: UUID | None
    ) -> UUID:
        if requirement_id is not None:
            return (await get_owned(session, Requirement, requirement_id, self._org, "requirementId")).product_id
        if document_id is not None:
            return (await get_owned(session, Document, document_id, self._org, "documentId")).product_id
        assert comment_id is not None
        comment = await get_owned(session, Comment, comment_id, self._org, "commentId")
        if comment.requirement_id is not None:
            return (await get_owned(session, Requirement, comment.requirement_id, self._org, "commentId")).product_id
        assert comment.document_id is not None
        return (await get_owned(session, Document, comment.document_id, self._org, "commentId")).product_id


async def delete_attachments(
    session: AsyncSession,
    uow: UnitOfWork,
    storage: ObjectStore | None,
    organization_id: UUID,
    column: str,
    row_id: UUID,
) -> int:
    """Delete the attachments of a requirement, document or comment about to go (those of its comments too), each
    with its event; their contents are removed once the deletion commits. Returns how many.

    Without a store (a command-line deletion) the rows still go; their objects stay until removed by hand.
    """
    statement = tenant_select(Attachment, organization_id).where(getattr(Attachment, column) == row_id)
    if column in ("requirement_id", "document_id"):
        comments = tenant_select(Comment, organization_id, Comment.id).where(getattr(Comment, column) == row_id)
        statement = tenant_select(Attachment, organization_id).where(
            sa.or_(getattr(Attachment, column) == row_id, col(Attachment.comment_id).in_(comments.scalar_subquery()))
        )
    rows = list((await session.exec(statement.with_for_update())).all())
    for row in rows:
        await session.delete(row)
    await session.flush()
    keys = [row.object_key for row in rows]
    if keys and storage is not None:

        async def remove() -> None:
            for key in keys:
                await storage.delete(key)

        uow.after_commit(remove)
    return len(rows)
