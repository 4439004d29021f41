"""Comments: the type, and the mutations that add, edit and delete comments on requirements and documents."""

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Self
from uuid import UUID

import strawberry
from strawberry import relay

from loaders.pagination import Order
from loaders.sources import COMMENTS_BY_REQUIREMENT, TimeFilter
from prism.errors import PrismError
from resolvers.common import (
    CREATED_AT_DESCRIPTION,
    UPDATED_AT_DESCRIPTION,
    Connection,
    TimeRange,
    UserError,
    decode_id,
    load_connection,
    time_filter,
    user_errors,
    user_errors_field,
)
from resolvers.context import Context
from resolvers.identity import User
from resolvers.node import LoadedNode, load_node
from resolvers.permissions import CanWrite

if TYPE_CHECKING:
    from resolvers.documents import Document
    from resolvers.requirements import Requirement

__all__ = ["Comment", "CommentFilter", "CommentsMutation", "CommentsQuery", "comment_filter", "requirement_comments"]

Info = strawberry.Info[Context, None]
DocumentType = Annotated["Document", strawberry.lazy("resolvers.documents")]
RequirementType = Annotated["Requirement", strawberry.lazy("resolvers.requirements")]


@strawberry.type(description="A remark on a requirement or a document.")
class Comment(LoadedNode):
    loader = "comment_by_id"

    id: relay.NodeID[str]
    body: str = strawberry.field(description="The text, in markdown (1-20,000 characters).")
    created_at: datetime = strawberry.field(description="When it was written.")
    updated_at: datetime = strawberry.field(description="When it was last edited.")
    version: int = strawberry.field(description="Increases with every edit; send it back to update.")
    author_id: strawberry.Private[UUID | None]
    requirement_id: strawberry.Private[UUID | None]
    document_id: strawberry.Private[UUID | None]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=str(row.id),
            body=row.body,
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
            author_id=row.author_id,
            requirement_id=row.requirement_id,
            document_id=row.document_id,
        )

    @strawberry.field(description="Who wrote it; null once they left the organization.")
    async def author(self, info: Info) -> User | None:
        return await load_node(info, User, self.author_id)

    @strawberry.field(description="The requirement it is on; null when it is on a document.")
    async def requirement(self, info: Info) -> RequirementType | None:
        from resolvers.requirements import Requirement

        return await load_node(info, Requirement, self.requirement_id)

    @strawberry.field(description="The document it is on; null when it is on a requirement.")
    async def document(self, info: Info) -> DocumentType | None:
        from resolvers.documents import Document

        return await load_node(info, Document, self.document_id)


@strawberry.input(description="Which comments to list; fields combine with AND.")
class CommentFilter:
    created_at: TimeRange | None = strawberry.field(default=None, description=CREATED_AT_DESCRIPTION)
    updated_at: TimeRange | None = strawberry.field(default=None, description=UPDATED_AT_DESCRIPTION)


def comment_filter(filter: CommentFilter | None) -> TimeFilter:
    """The loader's filter for a `comments` connection."""
    return time_filter(filter.created_at, filter.updated_at) if filter else TimeFilter()


async def requirement_comments(
    info: Info,
    requirement_id: UUID,
    filter: CommentFilter | None = None,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Connection[Comment]:
    """A requirement's comments, oldest first (the `Requirement.comments` connection)."""
    return await load_connection(
        info,
        source=COMMENTS_BY_REQUIREMENT,
        parent=requirement_id,
        filter=comment_filter(filter),
        order=Order("CREATED_AT"),
        first=first,
        after=after,
        last=last,
        before=before,
        build=Comment.from_row,
    )


@strawberry.type
class CommentsQuery:
    """Comments are read through the `comments` connections of requirements and documents, or `node(id:)`."""


@strawberry.input(description="A new comment on exactly one requirement or document.")
class AddCommentInput:
    requirement_id: strawberry.ID | None = strawberry.field(
        default=None, description="The requirement to comment on; give this or documentId, not both."
    )
    document_id: strawberry.ID | None = strawberry.field(
        default=None, description="The document to comment on; give this or requirementId, not both."
    )
    body: str = strawberry.field(description="The text, in markdown, 1-20,000 characters.")


@strawberry.input(description="A new text for a comment; only its author may edit it.")
class UpdateCommentInput:
    id: strawberry.ID = strawberry.field(description="The comment to edit.")
    version: int = strawberry.field(description="The version you last saw; a newer one fails with CONFLICT.")
    body: str = strawberry.field(description="The new text, in markdown, 1-20,000 characters.")


@strawberry.input(description="A comment to delete; its author, an OWNER or an ADMIN may delete it.")
class DeleteCommentInput:
    id: strawberry.ID = strawberry.field(description="The comment to delete.")


@strawberry.type(description="The result of a comment mutation.")
class CommentPayload:
    comment: Comment | None = strawberry.field(description="The comment after the change; null on failure.")
    user_errors: list[UserError] = user_errors_field()


@strawberry.type(description="The result of deleting a comment.")
class DeleteCommentPayload:
    deleted_id: strawberry.ID | None = strawberry.field(description="The global id of the deleted comment.")
    user_errors: list[UserError] = user_errors_field()


@strawberry.type
class CommentsMutation:
    @strawberry.mutation(
        description="Comment on a requirement or a document (give exactly one of them).",
        permission_classes=[CanWrite],
    )
    async def add_comment(self, info: Info, input: AddCommentInput) -> CommentPayload:
        try:
            row = await info.context.services.comments.add(
                requirement_id=(
                    None
                    if input.requirement_id is None
                    else decode_id(input.requirement_id, "Requirement", "requirementId")
                ),
                document_id=None
                if input.document_id is None
                else decode_id(input.document_id, "Document", "documentId"),
                body=input.body,
            )
        except PrismError as error:
            return CommentPayload(comment=None, user_errors=user_errors(error))
        return CommentPayload(comment=Comment.from_row(row), user_errors=[])

    @strawberry.mutation(
        description="Edit a comment. Only its author may; anyone else gets FORBIDDEN.", permission_classes=[CanWrite]
    )
    async def update_comment(self, info: Info, input: UpdateCommentInput) -> CommentPayload:
        try:
            row = await info.context.services.comments.update(decode_id(input.id, "Comment"), input.version, input.body)
        except PrismError as error:
            return CommentPayload(comment=None, user_errors=user_errors(error))
        return CommentPayload(comment=Comment.from_row(row), user_errors=[])

    @strawberry.mutation(
        description="Delete a comment. Its author, an OWNER or an ADMIN may; anyone else gets FORBIDDEN.",
        permission_classes=[CanWrite],
    )
    async def delete_comment(self, info: Info, input: DeleteCommentInput) -> DeleteCommentPayload:
        try:
            await info.context.services.comments.delete(decode_id(input.id, "Comment"))
        except PrismError as error:
            return DeleteCommentPayload(deleted_id=None, user_errors=user_errors(error))
        return DeleteCommentPayload(deleted_id=input.id, user_errors=[])
