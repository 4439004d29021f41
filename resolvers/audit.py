"""Audit: types, queries and mutations."""

import strawberry

__all__ = ["AuditMutation", "AuditQuery"]


@strawberry.type
class AuditQuery:
    pass


@strawberry.type
class AuditMutation:
    pass
