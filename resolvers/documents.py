"""Documents: types, queries and mutations."""

import strawberry

__all__ = ["DocumentsMutation", "DocumentsQuery"]


@strawberry.type
class DocumentsQuery:
    pass


@strawberry.type
class DocumentsMutation:
    pass
