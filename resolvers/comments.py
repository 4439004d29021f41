"""Comments: the type, and the mutations that add, edit and delete comments on requirements and documents."""

from datetime import datetime
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import strawberry
from strawberry import relay

from loaders.pagination import Order
from loaders.rows import CommentByIdLoader
from loaders.sources import ATTACHMENTS_BY_COMMENT
from prism.db.tables import Comment as CommentTable
from resolvers.common import (
    CREATED_AT_DESCRIPTION,
    UPDATED_AT_DESCRIPTION,
    TimeRange,
    UserError,
    decode_id,
    user_errors_field,
)
from resolvers.connections import connection_field, payload
from resolvers.context import Context
from resolvers.declarations import reads
from resolvers.documents import Document
from resolvers.identity import User
from resolvers.node import LoadedNode, load_node
from resolvers.permissions import CanWrite
from resolvers.requirements import Requirement

if TYPE_CHECKING:
    from resolvers.attachments import Attachment

__all__ = ["Comment", "CommentFilter", "CommentsMutation", "CommentsQuery"]

Info = strawberry.Info[Context, None]


@reads(CommentTable)
@strawberry.type(description="A remark on a requirement or a document.")
class Comment(LoadedNode):
    loader = CommentByIdLoader

    id: relay.NodeID[str]
    body: str = strawberry.field(description="The text, in markdown (1-20,000 characters).")
    created_at: datetime = strawberry.field(description="When it was written.")
    updated_at: datetime = strawberry.field(description="When it was last edited.")
    version: int = strawberry.field(description="Increases with every edit; send it back to update.")
    author_id: strawberry.Private[UUID | None]
    requirement_id: strawberry.Private[UUID | None]
    document_id: strawberry.Private[UUID | None]

    @strawberry.field(description="Who wrote it; null once they left the organization.")
    async def author(self, info: Info) -> User | None:
        return await load_node(info, User, self.author_id)

    @strawberry.field(description="The requirement it is on; null when it is on a document.")
    async def requirement(self, info: Info) -> Requirement | None:
        return await load_node(info, Requirement, self.requirement_id)

    @strawberry.field(description="The document it is on; null when it is on a requirement.")
    async def document(self, info: Info) -> Document | None:
        return await load_node(info, Document, self.document_id)

    attachments = connection_field(
        Annotated["Attachment", strawberry.lazy("resolvers.attachments")],
        source=ATTACHMENTS_BY_COMMENT,
        order=Order("CREATED_AT"),
        description="Files attached to it, oldest first.",
    )


@strawberry.input(description="Which comments to list; fields combine with AND.")
class CommentFilter:
    created_at: TimeRange | None = strawberry.field(default=None, description=CREATED_AT_DESCRIPTION)
    updated_at: TimeRange | None = strawberry.field(default=None, description=UPDATED_AT_DESCRIPTION)


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
        return await payload(
            CommentPayload,
            lambda: info.context.services.comments.add(
                requirement_id=(
                    None
                    if input.requirement_id is None
                    else decode_id(input.requirement_id, "Requirement", "requirementId")
                ),
                document_id=None
                if input.document_id is None
                else decode_id(input.document_id, "Document", "documentId"),
                body=input.body,
            ),
            comment=Comment.from_row,
        )

    @strawberry.mutation(
        description="Edit a comment. Only its author may; anyone else gets FORBIDDEN.", permission_classes=[CanWrite]
    )
    async def update_comment(self, info: Info, input: UpdateCommentInput) -> CommentPayload:
        return await payload(
            CommentPayload,
            lambda: info.context.services.comments.update(decode_id(input.id, "Comment"), input.version, input.body),
            comment=Comment.from_row,
        )

    @strawberry.mutation(
        description="Delete a comment. Its author, an OWNER or an ADMIN may; anyone else gets FORBIDDEN.",
        permission_classes=[CanWrite],
    )
    async def delete_comment(self, info: Info, input: DeleteCommentInput) -> DeleteCommentPayload:
        return await payload(
            DeleteCommentPayload,
            lambda: info.context.services.comments.delete(decode_id(input.id, "Comment")),
            deleted_id=lambda _: input.id,
        )
