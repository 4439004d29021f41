"""Comments on requirements and documents.

Only a comment's author may edit it; its author or an organization OWNER or ADMIN (who moderate) may delete it.
"""

from uuid import UUID

from sqlmodel.ext.asyncio.session import AsyncSession

from prism.auth.access import require_on_product
from prism.auth.rbac import Permission, Viewer
from prism.db.base import utcnow
from prism.db.tables import Comment, Document, Requirement
from prism.db.unit_of_work import UnitOfWork
from prism.errors import ForbiddenError, ValidationError
from prism.services.attachments import delete_attachments
from prism.services.audit import RequestMeta, record
from prism.services.validation import check_version, clean_text, get_for_update, get_owned
from prism.storage import ObjectStore

__all__ = ["BODY_MAX", "CommentService"]

BODY_MAX = 20_000
"""Roles that may delete other members' comments."""


class CommentService:
    """Writes to comments."""

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

    async def add(self, *, requirement_id: UUID | None, document_id: UUID | None, body: str) -> Comment:
        """Comment on exactly one requirement or document."""
        if (requirement_id is None) == (document_id is None):
            raise ValidationError("Give exactly one of requirementId and documentId.", field="requirementId")
        body = clean_text(body, "body", max_length=BODY_MAX)
        async with self._uow.session(self._org) as session:
            subject: Requirement | Document
            if requirement_id is not None:
                subject = await get_owned(session, Requirement, requirement_id, self._org, "requirementId")
            else:
                assert document_id is not None
                subject = await get_owned(session, Document, document_id, self._org, "documentId")
            await require_on_product(session, self._viewer, subject.product_id)
            comment = Comment(
                organization_id=self._org,
                requirement_id=requirement_id,
                document_id=document_id,
                author_id=self._viewer.user_id,
                body=body,
            )
            session.add(comment)
        return comment

    async def update(self, comment_id: UUID, version: int, body: str) -> Comment:
        """Rewrite a comment: its author only, from its current version."""
        body = clean_text(body, "body", max_length=BODY_MAX)
        async with self._uow.session(self._org) as session:
            comment = await get_for_update(session, Comment, comment_id, self._org, "id")
            await require_on_product(session, self._viewer, await self._product_of(session, comment))
            if comment.author_id != self._viewer.user_id:
                raise ForbiddenError("Only the author of a comment may edit it.")
            check_version(comment.version, version, "comment")
            comment.body = body
            comment.version += 1
            comment.updated_at = utcnow()
            session.add(comment)
        return comment

    async def delete(self, comment_id: UUID) -> Comment:
        """Delete a comment: its author, or an OWNER or ADMIN of the organization."""
        async with self._uow.session(self._org) as session:
            comment = await get_for_update(session, Comment, comment_id, self._org, "id")
            await require_on_product(session, self._viewer, await self._product_of(session, comment))
            if comment.author_id != self._viewer.user_id and not self._viewer.can(Permission.MODERATE):
                raise ForbiddenError("Only the author of a comment, an OWNER or an ADMIN may delete it.")
            record(
                session,
                organization_id=self._org,
                action="comment.deleted",
                meta=self._meta,
                actor=self._viewer,
                target_type="Comment",
                target_id=comment.id,
                details={"authorId": str(comment.author_id)},
            )
            await delete_attachments(session, self._uow, self._storage, self._org, "comment_id", comment.id)
            await session.delete(comment)
        return comment

    async def _product_of(self, session: AsyncSession, comment: Comment) -> UUID:
        """The product whose requirement or document a comment is on (product roles apply to its comments)."""
        if comment.requirement_id is not None:
            return (await get_owned(session, Requirement, comment.requirement_id, self._org, "id")).product_id
        assert comment.document_id is not None
        return (await get_owned(session, Document, comment.document_id, self._org, "id")).product_id
