"""Documents (PRDs, specs, notes) and their versions: types, queries and mutations."""

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Self
from uuid import UUID

import strawberry
from strawberry import relay

from loaders.pagination import Order
from loaders.sources import (
    COMMENTS_BY_DOCUMENT,
    DOCUMENT_VERSIONS_BY_DOCUMENT,
    DOCUMENTS_BY_PRODUCT,
    DocumentListFilter,
    NoFilter,
)
from prism.domain import enums as domain
from prism.errors import PrismError
from prism.services.documents import DocumentChanges
from resolvers.comments import Comment, CommentFilter, comment_filter
from resolvers.common import (
    CREATED_AT_DESCRIPTION,
    UPDATED_AT_DESCRIPTION,
    After,
    Before,
    Connection,
    First,
    Last,
    TimeRange,
    UserError,
    decode_id,
    load_connection,
    time_filter,
    user_errors,
    user_errors_field,
)
from resolvers.context import Context
from resolvers.enums import DocumentKind, DocumentStatus
from resolvers.identity import User
from resolvers.node import LoadedNode, find_node, load_node
from resolvers.permissions import CanRead, CanWrite

if TYPE_CHECKING:
    from resolvers.products import Product

__all__ = [
    "Document",
    "DocumentFilter",
    "DocumentVersion",
    "DocumentsMutation",
    "DocumentsQuery",
    "product_documents",
]

Info = strawberry.Info[Context, None]
ProductType = Annotated["Product", strawberry.lazy("resolvers.products")]


@strawberry.type(description="A saved state of a document: its title and body as of one edit.")
class DocumentVersion(LoadedNode):
    loader = "document_version_by_id"

    id: relay.NodeID[str]
    number: int = strawberry.field(description="1 for the text the document was created with, then 2, 3, ...")
    title: str = strawberry.field(description="The title as of this version.")
    body: str = strawberry.field(description="The body (markdown) as of this version.")
    created_at: datetime = strawberry.field(description="When this version was saved.")
    author_id: strawberry.Private[UUID | None]
    document_id: strawberry.Private[UUID]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=str(row.id),
            number=row.number,
            title=row.title,
            body=row.body,
            created_at=row.created_at,
            author_id=row.author_id,
            document_id=row.document_id,
        )

    @strawberry.field(description="Who saved this version; null once they left the organization.")
    async def author(self, info: Info) -> User | None:
        return await load_node(info, User, self.author_id)

    @strawberry.field(description="The document this is a version of.")
    async def document(self, info: Info) -> "Document":
        row = await info.context.loaders.document_by_id.load(self.document_id)
        assert row is not None, "a version's document is in the same organization"
        return Document.from_row(row)


@strawberry.type(description="A markdown document of a product (PRD, spec or note); every edit of its text is kept.")
class Document(LoadedNode):
    loader = "document_by_id"

    id: relay.NodeID[str]
    kind: DocumentKind = strawberry.field(description="PRD, spec or note.")
    title: str = strawberry.field(description="Title, 1-255 characters.")
    body: str = strawberry.field(description="The current text, in markdown (at most 200,000 characters).")
    status: DocumentStatus = strawberry.field(description="Where it is in review.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    version: int = strawberry.field(description="Increases with every edit; send it back to update.")
    product_id: strawberry.Private[UUID]
    author_id: strawberry.Private[UUID | None]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=str(row.id),
            kind=DocumentKind(row.kind),
            title=row.title,
            body=row.body,
            status=DocumentStatus(row.status),
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
            product_id=row.product_id,
            author_id=row.author_id,
        )

    @strawberry.field(description="Who created it; null once they left the organization.")
    async def author(self, info: Info) -> User | None:
        return await load_node(info, User, self.author_id)

    @strawberry.field(description="The product it belongs to.")
    async def product(self, info: Info) -> ProductType:
        from resolvers.products import Product

        return Product.from_row(await info.context.loaders.product_by_id.load(self.product_id))

    @strawberry.field(description="Every saved state of its title and body, newest first.")
    async def versions(
        self, info: Info, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[DocumentVersion]:
        return await load_connection(
            info,
            source=DOCUMENT_VERSIONS_BY_DOCUMENT,
            parent=self.uuid,
            filter=NoFilter(),
            order=Order("NUMBER", descending=True),
            first=first,
            after=after,
            last=last,
            before=before,
            build=DocumentVersion.from_row,
        )

    @strawberry.field(description="Comments on it, oldest first.")
    async def comments(
        self,
        info: Info,
        filter: Annotated[CommentFilter | None, strawberry.argument(description="Which ones.")] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Comment]:
        return await load_connection(
            info,
            source=COMMENTS_BY_DOCUMENT,
            parent=self.uuid,
            filter=comment_filter(filter),
            order=Order("CREATED_AT"),
            first=first,
            after=after,
            last=last,
            before=before,
            build=Comment.from_row,
        )


@strawberry.input(description="Which documents to list. Each list matches any of its values; fields combine with AND.")
class DocumentFilter:
    kinds: list[DocumentKind] | None = strawberry.field(default=None, description="Of these kinds.")
    statuses: list[DocumentStatus] | None = strawberry.field(default=None, description="In these statuses.")
    created_at: TimeRange | None = strawberry.field(default=None, description=CREATED_AT_DESCRIPTION)
    updated_at: TimeRange | None = strawberry.field(default=None, description=UPDATED_AT_DESCRIPTION)


async def product_documents(
    info: Info,
    product_id: UUID,
    filter: DocumentFilter | None,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Connection[Document]:
    """A product's documents, most recently changed first (the `Product.documents` connection)."""
    f = filter or DocumentFilter()
    return await load_connection(
        info,
        source=DOCUMENTS_BY_PRODUCT,
        parent=product_id,
        filter=DocumentListFilter(
            kinds=tuple(sorted({k.name for k in f.kinds or ()})),
            statuses=tuple(sorted({s.name for s in f.statuses or ()})),
            times=time_filter(f.created_at, f.updated_at),
        ),
        order=Order("UPDATED_AT", descending=True),
        first=first,
        after=after,
        last=last,
        before=before,
        build=Document.from_row,
    )


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
        try:
            row = await info.context.services.documents.create(
                product_id=decode_id(input.product_id, "Product", "productId"),
                kind=domain.DocumentKind(input.kind.name),
                title=input.title,
                body=input.body,
            )
        except PrismError as error:
            return DocumentPayload(document=None, user_errors=user_errors(error))
        return DocumentPayload(document=Document.from_row(row), user_errors=[])

    @strawberry.mutation(
        description="Edit a document's title, body or status; a new title or body is saved as the next version.",
        permission_classes=[CanWrite],
    )
    async def update_document(self, info: Info, input: UpdateDocumentInput) -> DocumentPayload:
        try:
            row = await info.context.services.documents.update(
                decode_id(input.id, "Document"),
                input.version,
                DocumentChanges(
                    title=input.title,
                    body=input.body,
                    status=None if input.status is None else domain.DocumentStatus(input.status.name),
                ),
            )
        except PrismError as error:
            return DocumentPayload(document=None, user_errors=user_errors(error))
        return DocumentPayload(document=Document.from_row(row), user_errors=[])

    @strawberry.mutation(
        description="Delete a document of a product, with all its versions and comments.", permission_classes=[CanWrite]
    )
    async def delete_document(self, info: Info, input: DeleteDocumentInput) -> DeleteDocumentPayload:
        try:
            await info.context.services.documents.delete(decode_id(input.id, "Document"), input.version)
        except PrismError as error:
            return DeleteDocumentPayload(deleted_id=None, user_errors=user_errors(error))
        return DeleteDocumentPayload(deleted_id=input.id, user_errors=[])
