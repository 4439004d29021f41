"""Accounts: types, queries and mutations."""

import strawberry

__all__ = ["AccountsMutation", "AccountsQuery"]


@strawberry.type
class AccountsQuery:
    pass


@strawberry.type
class AccountsMutation:
    pass
