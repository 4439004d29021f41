"""ApiKeys: types, queries and mutations."""

import strawberry

__all__ = ["ApiKeysMutation", "ApiKeysQuery"]


@strawberry.type
class ApiKeysQuery:
    pass


@strawberry.type
class ApiKeysMutation:
    pass
