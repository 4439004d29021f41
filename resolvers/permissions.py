"""Strawberry permission classes, built on the permission matrix in `prism.auth.rbac`.

They raise domain errors rather than returning False, so the message and `extensions.code` come from one place
(`resolvers.errors`) and no state is kept on the shared permission instances.
"""

from typing import Any

from strawberry import Info
from strawberry.permission import BasePermission

from loaders.access import ProductOverridesByUserLoader
from prism.auth.rbac import Permission, effective_role, require, require_ai
from prism.domain.enums import Role
from prism.errors import UnauthenticatedError

__all__ = [
    "CanManageAi",
    "CanManageMembers",
    "CanManageProducts",
    "CanRead",
    "CanRecordUsage",
    "CanUseAi",
    "CanWrite",
    "IsAuthenticated",
]


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


class CanWrite(IsAuthenticated):
    """Members who may change requirements, sprints, documents and the like on at least one product.

    The organization role decides without a query; a role that cannot write (VIEWER) still passes when a
    product-level role lets the viewer write somewhere (one loader call per request). The service then checks WRITE
    against the effective role on the product the change concerns.
    """

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:  # type: ignore[override]
        super().has_permission(source, info, **kwargs)
        viewer = info.context.viewer
        if viewer.can(Permission.WRITE) or not viewer.scopes_allow(Permission.WRITE):
            require(viewer, Permission.WRITE)
            return True
        overrides = await info.context.loaders.get(ProductOverridesByUserLoader).load(viewer.user_id)
        for product_id in set(overrides.own) | set(overrides.teams):
            own = overrides.own.get(product_id)
            role = effective_role(
                viewer.role, Role(own) if own else None, [Role(r) for r in overrides.teams.get(product_id, ())]
            )
            if viewer.can(Permission.WRITE, role=role):
                return True
        require(viewer, Permission.WRITE)
        return True


class CanManageMembers(_RolePermission):
    """OWNERs and ADMINs: members, invitations, teams and product-level roles."""

    required = Permission.MANAGE_MEMBERS


class CanManageProducts(_RolePermission):
    """Members who may create and archive products."""

    required = Permission.MANAGE_PRODUCTS


class CanManageAi(_RolePermission):
    """OWNERs and ADMINs: the organization's AI prompt overrides."""

    required = Permission.MANAGE_AI


class CanUseAi(IsAuthenticated):
    """Members who may run AI features that call a model and spend the organization's AI budget: MEMBERs and up
    (VIEWERs too with PRISM_AI_VIEWERS_MAY_USE_MODELS), and API keys with the `ai` or `admin` scope."""

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        super().has_permission(source, info, **kwargs)
        settings = info.context.runtime.settings
        require_ai(info.context.viewer, viewers_allowed=settings.ai_viewers_may_use_models)
        return True


class CanRecordUsage(_RolePermission):
    """Callers who may report usage events: members and up, and API keys with the `usage:write` (or `admin`) scope."""

    required = Permission.RECORD_USAGE


ROLE_PERMISSIONS: tuple[type[Any], ...] = (IsAuthenticated, CanRead)
"""Permission classes whose answer depends on the viewer's role only, never on the object: the planner checks them
once per request, and a field behind one of them reads no more of its object than without it."""
