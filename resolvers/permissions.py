"""Strawberry permission classes, built on the permission matrix in `prism.auth.rbac`.

They raise domain errors rather than returning False, so the message and `extensions.code` come from one place
(`resolvers.errors`) and no state is kept on the shared permission instances.
"""

from typing import Any

from strawberry import Info
from strawberry.permission import BasePermission

from prism.auth.rbac import Permission, require
from prism.errors import UnauthenticatedError

__all__ = ["CanManageProducts", "CanRead", "CanWrite", "IsAuthenticated"]


class IsAuthenticated(BasePermission):
    """The request carries a valid access token of a current member."""

    message = "Sign in to use this field."

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        context = info.context
        if context.viewer is None:
            raise context.auth_error or UnauthenticatedError(
                "Sign in to use this field: send `Authorization: Bearer <token>` (see the logIn mutation)."
            )
        return True


class _RolePermission(IsAuthenticated):
    required: Permission

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        super().has_permission(source, info, **kwargs)
        require(info.context.viewer, self.required)
        return True


class CanRead(_RolePermission):
    """Any member may read."""

    required = Permission.READ


class CanWrite(_RolePermission):
    """Members who may change requirements, sprints, documents and the like."""

    required = Permission.WRITE


class CanManageProducts(_RolePermission):
    """Members who may create and archive products."""

    required = Permission.MANAGE_PRODUCTS
