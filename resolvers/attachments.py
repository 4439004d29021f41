"""Attachments: the type, and the mutations that upload (GraphQL multipart request) and delete files."""

from datetime import datetime
from typing import cast
from uuid import UUID

import strawberry
from strawberry import relay
from strawberry.file_uploads import Upload

from loaders.rows import AttachmentByIdLoader
from prism.db.tables import Attachment as AttachmentTable
from prism.services.attachments import UploadedFile
from resolvers.comments import Comment
from resolvers.common import UserError, decode_id, user_errors_field
from resolvers.connections import payload
from resolvers.context import Context
from resolvers.declarations import reads
from resolvers.documents import Document
from resolvers.downloads import download_url as signed_download_url
from resolvers.identity import User
from resolvers.node import LoadedNode, load_node
from resolvers.permissions import CanWrite
from resolvers.requirements import Requirement

__all__ = ["Attachment", "AttachmentsMutation"]

Info = strawberry.Info[Context, None]


@reads(AttachmentTable)
@strawberry.type(description="A file attached to a requirement, a comment or a document.")
class Attachment(LoadedNode):
    loader = AttachmentByIdLoader

    id: relay.NodeID[str]
    name: str = strawberry.field(description="The file's name as uploaded (its last path segment).")
    content_type: str = strawberry.field(description="Its media type, as uploaded (`application/pdf`).")
    size: int = strawberry.field(description="Its length in bytes.")
    sha256: str = strawberry.field(description="The SHA-256 of its content, 64 hex digits, computed on upload.")
    created_at: datetime = strawberry.field(description="When it was uploaded.")
    uploaded_by_id: strawberry.Private[UUID | None]
    requirement_id: strawberry.Private[UUID | None]
    comment_id: strawberry.Private[UUID | None]
    document_id: strawberry.Private[UUID | None]
    object_key: strawberry.Private[str]

    @strawberry.field(description="Who uploaded it; null once they left the organization.")
    async def uploaded_by(self, info: Info) -> User | None:
        return await load_node(info, User, self.uploaded_by_id)

    @strawberry.field(description="The requirement it is on, if it is on one.")
    async def requirement(self, info: Info) -> Requirement | None:
        return await load_node(info, Requirement, self.requirement_id)

    @strawberry.field(description="The comment it is on, if it is on one.")
    async def comment(self, info: Info) -> Comment | None:
        return await load_node(info, Comment, self.comment_id)

    @strawberry.field(description="The document it is on, if it is on one.")
    async def document(self, info: Info) -> Document | None:
        return await load_node(info, Document, self.document_id)

    @strawberry.field(
        description=(
            "A URL that downloads the file without credentials for a limited time (PRISM_DOWNLOAD_URL_TTL_SECONDS, "
            "15 minutes by default): a presigned S3 URL, or PRISM's own signed `/files/<token>` route. Do not share "
            "it: anyone holding it can download the file until it expires."
        )
    )
    def download_url(self, info: Info) -> str:
        return signed_download_url(info, self.object_key, self.name, self.content_type)


@strawberry.input(description="A file to attach to exactly one requirement, comment or document.")
class UploadAttachmentInput:
    requirement_id: strawberry.ID | None = strawberry.field(
        default=None, description="The requirement to attach it to; give exactly one of the three ids."
    )
    comment_id: strawberry.ID | None = strawberry.field(
        default=None, description="The comment to attach it to; give exactly one of the three ids."
    )
    document_id: strawberry.ID | None = strawberry.field(
        default=None, description="The document to attach it to; give exactly one of the three ids."
    )
    file: Upload = strawberry.field(
        description=(
            "The file, sent as a part of a GraphQL multipart request (docs/api.md, Files). Its size and content "
            "type must be within the server's limits (OUT_OF_RANGE otherwise)."
        )
    )


@strawberry.input(description="An attachment to delete; its uploader, an OWNER or an ADMIN may delete it.")
class DeleteAttachmentInput:
    id: strawberry.ID = strawberry.field(description="The attachment to delete.")


@strawberry.type(description="The result of uploading an attachment.")
class AttachmentPayload:
    attachment: Attachment | None = strawberry.field(description="The new attachment; null on failure.")
    user_errors: list[UserError] = user_errors_field()


@strawberry.type(description="The result of deleting an attachment.")
class DeleteAttachmentPayload:
    deleted_id: strawberry.ID | None = strawberry.field(description="The global id of the deleted attachment.")
    user_errors: list[UserError] = user_errors_field()


def _optional_id(value: strawberry.ID | None, type_name: str, field: str) -> UUID | None:
    return None if value is None else decode_id(value, type_name, field)


@strawberry.type
class AttachmentsMutation:
    @strawberry.mutation(
        description=(
            "Attach a file to a requirement, a comment or a document (give exactly one). Send it as a GraphQL "
            "multipart request with the header `Apollo-Require-Preflight: true` (docs/api.md, Files)."
        ),
        permission_classes=[CanWrite],
    )
    async def upload_attachment(self, info: Info, input: UploadAttachmentInput) -> AttachmentPayload:
        return await payload(
            AttachmentPayload,
            lambda: info.context.services.attachments.upload(
                requirement_id=_optional_id(input.requirement_id, "Requirement", "requirementId"),
                comment_id=_optional_id(input.comment_id, "Comment", "commentId"),
                document_id=_optional_id(input.document_id, "Document", "documentId"),
                # Whatever the request put there: the service refuses anything but a file part.
                file=cast("UploadedFile", input.file),
            ),
            attachment=Attachment.from_row,
        )

    @strawberry.mutation(
        description="Delete an attachment and its stored file. Its uploader, an OWNER or an ADMIN may.",
        permission_classes=[CanWrite],
    )
    async def delete_attachment(self, info: Info, input: DeleteAttachmentInput) -> DeleteAttachmentPayload:
        return await payload(
            DeleteAttachmentPayload,
            lambda: info.context.services.attachments.delete(decode_id(input.id, "Attachment")),
            deleted_id=lambda _: input.id,
        )
