"""The permission matrix: which role may do what. Permission classes and services both consult it."""

import enum
from dataclasses import dataclass
from uuid import UUID

from prism.domain.enums import Role
from prism.errors import ForbiddenError

__all__ = ["PERMISSIONS", "Permission", "Viewer", "require"]


class Permission(enum.StrEnum):
    """What a viewer may do inside their organization."""

    READ = "read"
    WRITE = "write"
    MANAGE_PRODUCTS = "manage_products"
    MANAGE_MEMBERS = "manage_members"
    MODERATE = "moderate"  # remove other people's comments


PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(Permission),
    Role.ADMIN: frozenset(Permission),
    Role.MEMBER: frozenset({Permission.READ, Permission.WRITE, Permission.MANAGE_PRODUCTS}),
    Role.VIEWER: frozenset({Permission.READ}),
}


@dataclass(frozen=True)
class Viewer:
    """Who is making the request, in which organization, with which role."""

    user_id: UUID
    organization_id: UUID
    role: Role

    def can(self, permission: Permission) -> bool:
        """Whether this viewer's role grants `permission`."""
        return permission in PERMISSIONS[self.role]


def require(viewer: Viewer, permission: Permission) -> None:
    """Raise ForbiddenError unless the viewer holds `permission`."""
    if not viewer.can(permission):
        raise ForbiddenError(f"Your role ({viewer.role.value}) does not allow this ({permission.value}).")
