"""Documents (PRDs, specs, notes) and their versions: types, queries and mutations."""

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar
from uuid import UUID

import strawberry
from strawberry import relay

from loaders.pagination import Order
from loaders.rows import DocumentByIdLoader, DocumentVersionByIdLoader, ProductByIdLoader
from loaders.sources import (
    ATTACHMENTS_BY_DOCUMENT,
    COMMENTS_BY_DOCUMENT,
    DOCUMENT_VERSIONS_BY_DOCUMENT,
)
from prism.db.tables import Document as DocumentTable
from prism.db.tables import DocumentVersion as DocumentVersionTable
from prism.domain import enums as domain
from prism.services.documents import DocumentChanges
from resolvers.common import (
    CREATED_AT_DESCRIPTION,
    UPDATED_AT_DESCRIPTION,
    Related,
    TimeRange,
    UserError,
    decode_id,
    user_errors_field,
)
from resolvers.connections import connection_field, payload, time_ranges
from resolvers.context import Context
from resolvers.declarations import Read, reads
from resolvers.enums import DocumentKind, DocumentStatus
from resolvers.identity import User
from resolvers.node import LoadedNode, find_node, load_node
from resolvers.permissions import CanRead, CanWrite
from resolvers.products import Product

if TYPE_CHECKING:
    from resolvers.attachments import Attachment
    from resolvers.comments import Comment, CommentFilter

__all__ = [
    "Document",
    "DocumentFilter",
    "DocumentVersion",
    "DocumentsMutation",
    "DocumentsQuery",
]

Info = strawberry.Info[Context, None]
CommentType = Annotated["Comment", strawberry.lazy("resolvers.comments")]
CommentFilterType = Annotated["CommentFilter", strawberry.lazy("resolvers.comments")]
AttachmentType = Annotated["Attachment", strawberry.lazy("resolvers.attachments")]


@reads(DocumentVersionTable)
@strawberry.type(description="A saved state of a document: its title and body as of one edit.")
class DocumentVersion(LoadedNode):
    loader = DocumentVersionByIdLoader

    id: relay.NodeID[str]
    number: int = strawberry.field(description="1 for the text the document was created with, then 2, 3, ...")
    title: str = strawberry.field(description="The title as of this version.")
    body: str = strawberry.field(description="The body (markdown) as of this version.")
    created_at: datetime = strawberry.field(description="When this version was saved.")
    author_id: strawberry.Private[UUID | None]
    document_id: strawberry.Private[UUID]

    @strawberry.field(description="Who saved this version; null once they left the organization.")
    async def author(self, info: Info) -> User | None:
        return await load_node(info, User, self.author_id)

    @strawberry.field(description="The document this is a version of.")
    async def document(self, info: Info) -> "Document":
        document = await load_node(info, Document, self.document_id)
        assert document is not None, "a version's document is in the same organization"
        return document


@reads(DocumentTable, kind=Read("kind", DocumentKind), status=Read("status", DocumentStatus))
@strawberry.type(description="A markdown document of a product (PRD, spec or note); every edit of its text is kept.")
class Document(LoadedNode):
    loader = DocumentByIdLoader

    id: relay.NodeID[str]
    kind: DocumentKind = strawberry.field(description="PRD, spec or note.")
    title: str = strawberry.field(description="Title, 1-255 characters.")
    body: str = strawberry.field(description="The current text, in markdown (at most 200,000 characters).")
    status: DocumentStatus = strawberry.field(description="Where it is in review.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    version: int = strawberry.field(description="Increases with every edit; send it back to update.")
    product_id: strawberry.Private[UUID]
    prefetched: strawberry.Private[dict[str, Any] | None] = None

    related: ClassVar[Mapping[str, Related]] = {
        "product": Related.joins(ProductByIdLoader, "product_id", Product),
    }
    author_id: strawberry.Private[UUID | None]

    @strawberry.field(description="Who created it; null once they left the organization.")
    async def author(self, info: Info) -> User | None:
        return await load_node(info, User, self.author_id)

    @strawberry.field(description="The product it belongs to.", graphql_type=Product)
    def product(self, info: Info) -> Any:
        return self.related_value("product", info)

    versions = connection_field(
        DocumentVersion,
        source=DOCUMENT_VERSIONS_BY_DOCUMENT,
        order=Order("NUMBER", descending=True),
        description="Every saved state of its title and body, newest first.",
    )

    comments = connection_field(
        CommentType,
        source=COMMENTS_BY_DOCUMENT,
        arguments=time_ranges(CommentFilterType, Order("CREATED_AT")),
        description="Comments on it, oldest first.",
    )

    attachments = connection_field(
        AttachmentType,
        source=ATTACHMENTS_BY_DOCUMENT,
        order=Order("CREATED_AT"),
        description="Files attached to it, oldest first (not those of its comments).",
    )


@strawberry.input(description="Which documents to list. Each list matches any of its values; fields combine with AND.")
class DocumentFilter:
    kinds: list[DocumentKind] | None = strawberry.field(default=None, description="Of these kinds.")
    statuses: list[DocumentStatus] | None = strawberry.field(default=None, description="In these statuses.")
    created_at: TimeRange | None = strawberry.field(default=None, description=CREATED_AT_DESCRIPTION)
    updated_at: TimeRange | None = strawberry.field(default=None, description=UPDATED_AT_DESCRIPTION)


@strawberry.type
class DocumentsQuery:
    @strawberry.field(description="One document by id; NOT_FOUND when none matches.", permission_classes=[CanRead])
    async def document(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The document's global id.")]
    ) -> Document | None:
        return await find_node(info, Document, id)


@strawberry.input(description="A new document; it starts as a DRAFT with its text saved as version 1.")
class CreateDocumentInput:
    product_id: strawberry.ID = strawberry.field(description="The product it belongs to.")
    kind: DocumentKind = strawberry.field(description="PRD, spec or note.")
    title: str = strawberry.field(description="Title, 1-255 characters.")
    body: str = strawberry.field(default="", description="Markdown, at most 200,000 characters.")


@strawberry.input(
    description="Changes to a document; omitted fields stay as they are. A new title or body is saved as a version."
)
class UpdateDocumentInput:
    id: strawberry.ID = strawberry.field(description="The document to change.")
    version: int = strawberry.field(description="The version you last saw; a newer one fails with CONFLICT.")
    title: str | None = strawberry.field(default=None, description="New title, 1-255 characters.")
    body: str | None = strawberry.field(default=None, description="New body, markdown, at most 200,000 characters.")
    status: DocumentStatus | None = strawberry.field(
        default=None, description="New review status; a status change alone saves no new version."
    )


@strawberry.type(description="The result of a document mutation.")
class DocumentPayload:
    document: Document | None = strawberry.field(description="The document after the change; null on failure.")
    user_errors: list[UserError] = user_errors_field()


@strawberry.input(description="A document to delete, with its versions and comments.")
class DeleteDocumentInput:
    id: strawberry.ID = strawberry.field(description="The document to delete.")
    version: int = strawberry.field(description="The version you last saw; a newer one fails with CONFLICT.")


@strawberry.type(description="The result of deleting a document.")
class DeleteDocumentPayload:
    deleted_id: strawberry.ID | None = strawberry.field(description="The global id of the deleted document.")
    user_errors: list[UserError] = user_errors_field()


@strawberry.type
class DocumentsMutation:
    @strawberry.mutation(description="Create a document of a product, with version 1.", permission_classes=[CanWrite])
    async def create_document(self, info: Info, input: CreateDocumentInput) -> DocumentPayload:
        return await payload(
            DocumentPayload,
            lambda: info.context.services.documents.create(
                product_id=decode_id(input.product_id, "Product", "productId"),
                kind=domain.DocumentKind(input.kind.name),
                title=input.title,
                body=input.body,
            ),
            document=Document.from_row,
        )

    @strawberry.mutation(
        description="Edit a document's title, body or status; a new title or body is saved as the next version.",
        permission_classes=[CanWrite],
    )
    async def update_document(self, info: Info, input: UpdateDocumentInput) -> DocumentPayload:
        return await payload(
            DocumentPayload,
            lambda: info.context.services.documents.update(
                decode_id(input.id, "Document"),
                input.version,
                DocumentChanges(
                    title=input.title,
                    body=input.body,
                    status=None if input.status is None else domain.DocumentStatus(input.status.name),
                ),
            ),
            document=Document.from_row,
        )

    @strawberry.mutation(
        description="Delete a document of a product, with all its versions and comments.", permission_classes=[CanWrite]
    )
    async def delete_document(self, info: Info, input: DeleteDocumentInput) -> DeleteDocumentPayload:
        return await payload(
            DeleteDocumentPayload,
            lambda: info.context.services.documents.delete(decode_id(input.id, "Document"), input.version),
            deleted_id=lambda _: input.id,
        )
