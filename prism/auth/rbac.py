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
    """Who is making the request, in which organization, with which role.

    A person signed in with a token has a `session_id`; an integrator's API key has an `api_key_id` and `scopes`,
    which narrow what the key's role allows (the key acts with its creator's `user_id`).
    """

    user_id: UUID
    organization_id: UUID
    role: Role
    session_id: UUID | None = None
    api_key_id: UUID | None = None
    scopes: frozenset[str] | None = None

    def can(self, permission: Permission) -> bool:
        """Whether this viewer's role (and, for an API key, its scopes) grant `permission`."""
        if permission not in PERMISSIONS[self.role]:
            return False
        return self.scopes is None or permission in scope_permissions(self.scopes)


SCOPE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "read": frozenset({Permission.READ}),
    "write": frozenset({Permission.READ, Permission.WRITE, Permission.MANAGE_PRODUCTS}),
    "admin": frozenset(Permission),
    "ai": frozenset({Permission.READ}),
}
"""What each API-key scope allows; a key's permissions are the union of its scopes', capped by its role."""


def scope_permissions(scopes: frozenset[str]) -> frozenset[Permission]:
    """The permissions a set of API-key scopes grants."""
    granted: frozenset[Permission] = frozenset()
    for scope in scopes:
        granted |= SCOPE_PERMISSIONS.get(scope, frozenset())
    return granted


def require(viewer: Viewer, permission: Permission) -> None:
    """Raise ForbiddenError unless the viewer holds `permission`."""
    if not viewer.can(permission):
        raise ForbiddenError(f"Your role ({viewer.role.value}) does not allow this ({permission.value}).")
