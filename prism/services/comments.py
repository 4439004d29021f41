"""Comments on requirements and documents.

Only a comment's author may edit it; its author or an organization OWNER or ADMIN (who moderate) may delete it.
"""

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from prism.auth.rbac import Permission, Viewer, require
from prism.db.base import utcnow
from prism.db.engine import transaction
from prism.db.tables import Comment, Document, Requirement
from prism.errors import ForbiddenError, ValidationError
from prism.services.validation import check_version, clean_text, get_for_update, get_owned

__all__ = ["BODY_MAX", "CommentService"]

BODY_MAX = 20_000
"""Roles that may delete other members' comments."""


class CommentService:
    """Writes to comments."""

    def __init__(self, engine: AsyncEngine, viewer: Viewer) -> None:
        self._engine = engine
        self._viewer = viewer

    @property
    def _org(self) -> UUID:
        return self._viewer.organization_id

    async def add(self, *, requirement_id: UUID | None, document_id: UUID | None, body: str) -> Comment:
        """Comment on exactly one requirement or document."""
        require(self._viewer, Permission.WRITE)
        if (requirement_id is None) == (document_id is None):
            raise ValidationError("Give exactly one of requirementId and documentId.", field="requirementId")
        body = clean_text(body, "body", max_length=BODY_MAX)
        async with transaction(self._engine, self._org) as session:
            if requirement_id is not None:
                await get_owned(session, Requirement, requirement_id, self._org, "requirementId")
            if document_id is not None:
                await get_owned(session, Document, document_id, self._org, "documentId")
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
        require(self._viewer, Permission.WRITE)
        body = clean_text(body, "body", max_length=BODY_MAX)
        async with transaction(self._engine, self._org) as session:
            comment = await get_for_update(session, Comment, comment_id, self._org, "id")
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
        require(self._viewer, Permission.WRITE)
        async with transaction(self._engine, self._org) as session:
            comment = await get_for_update(session, Comment, comment_id, self._org, "id")
            if comment.author_id != self._viewer.user_id and not self._viewer.can(Permission.MODERATE):
                raise ForbiddenError("Only the author of a comment, an OWNER or an ADMIN may delete it.")
            await session.delete(comment)
        return comment
