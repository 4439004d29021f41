"""Members: types, queries and mutations."""

import strawberry

__all__ = ["MembersMutation", "MembersQuery"]


@strawberry.type
class MembersQuery:
    pass


@strawberry.type
class MembersMutation:
    pass
