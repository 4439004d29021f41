"""Comments: types, queries and mutations."""

import strawberry

__all__ = ["CommentsMutation", "CommentsQuery"]


@strawberry.type
class CommentsQuery:
    pass


@strawberry.type
class CommentsMutation:
    pass
