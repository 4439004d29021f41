"""The permission matrix: which role may do what. Permission classes and services both consult it.

A member has one role in their organization; a product may override it for a user or a team (`product_member`).
`effective_role` is the one rule that combines them: an OWNER is an OWNER on every product, whatever overrides name
them; anyone else gets their own override on the product if any, else the highest override among their teams, else
the organization role. An override may lower or raise the role, but only for work on that product (WRITE and
MODERATE of its requirements, sprints, releases, roadmaps, documents and comments); organization-wide permissions
(managing members, products, labels) always follow the organization role.
"""

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from prism.domain.enums import Role
from prism.errors import ForbiddenError

__all__ = [
    "PERMISSIONS",
    "PRODUCT_PERMISSIONS",
    "ROLE_RANK",
    "SCOPE_PERMISSIONS",
    "Permission",
    "Viewer",
    "effective_role",
    "require",
    "require_ai",
]


class Permission(enum.StrEnum):
    """What a viewer may do inside their organization."""

    READ = "read"
    WRITE = "write"
    MANAGE_PRODUCTS = "manage_products"
    MANAGE_MEMBERS = "manage_members"
    MODERATE = "moderate"  # remove other people's comments
    MANAGE_API_KEYS = "manage_api_keys"  # create, list and revoke the organization's API keys (OWNER and ADMIN)
    MANAGE_AI = "manage_ai"  # override and reset the organization's AI prompts (OWNER and ADMIN)
    RECORD_USAGE = "record_usage"  # report usage events of features (an SDK's key with the usage:write scope)
    USE_AI = "use_ai"  # run AI features that call a model, spending the organization's AI budget (MEMBER and up)


PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(Permission),
    Role.ADMIN: frozenset(Permission),
    Role.MEMBER: frozenset(
        {Permission.READ, Permission.WRITE, Permission.MANAGE_PRODUCTS, Permission.RECORD_USAGE, Permission.USE_AI}
    ),
    Role.VIEWER: frozenset({Permission.READ}),
}
"""The permission matrix: the permissions of each organization (or effective product) role."""

PRODUCT_PERMISSIONS = frozenset({Permission.WRITE, Permission.MODERATE})
"""The permissions a product-level override governs on its product; the others follow the organization role."""

ROLE_RANK: dict[Role, int] = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}
"""Roles from least to most powerful: an ADMIN may not touch what ranks above ADMIN."""


def effective_role(organization_role: Role, user_override: Role | None, team_overrides: Iterable[Role]) -> Role:
    """A member's role on one product: their own override, else their teams' highest, else the organization's.

    OWNERs are never restricted: only an OWNER may manage an OWNER, and an override through a team, or one given
    before the member became an OWNER, must not let anyone of a lower role lock the organization's owners out.
    """
    if organization_role == Role.OWNER:
        return Role.OWNER
    if user_override is not None:
        return user_override
    teams = list(team_overrides)
    if teams:
        return max(teams, key=ROLE_RANK.__getitem__)
    return organization_role


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

    def can(self, permission: Permission, *, role: Role | None = None) -> bool:
        """Whether this viewer's role (or `role`, their effective role on a product) and scopes grant `permission`."""
        if permission not in PERMISSIONS[role or self.role]:
            return False
        return self.scopes_allow(permission)

    def scopes_allow(self, permission: Permission) -> bool:
        """Whether an API key's scopes allow `permission` (always true for a person's token)."""
        return self.scopes is None or permission in scope_permissions(self.scopes)


SCOPE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "read": frozenset({Permission.READ}),
    "write": frozenset({Permission.READ, Permission.WRITE, Permission.MANAGE_PRODUCTS}),
    "admin": frozenset(Permission),
    "ai": frozenset({Permission.READ, Permission.USE_AI}),
    "usage:write": frozenset({Permission.RECORD_USAGE}),
}
"""What each API-key scope allows; a key's permissions are the union of its scopes', capped by its role."""


def scope_permissions(scopes: frozenset[str]) -> frozenset[Permission]:
    """The permissions a set of API-key scopes grants."""
    granted: frozenset[Permission] = frozenset()
    for scope in scopes:
        granted |= SCOPE_PERMISSIONS.get(scope, frozenset())
    return granted


def require(viewer: Viewer, permission: Permission, *, role: Role | None = None) -> None:
    """Raise ForbiddenError unless the viewer (acting with `role` on a product, if given) holds `permission`."""
    if not viewer.can(permission, role=role):
        if not viewer.scopes_allow(permission):
            raise ForbiddenError(f"This API key's scopes do not allow this ({permission.value}).")
        where = "organization" if role is None else "product"
        raise ForbiddenError(
            f"Your {where} role ({(role or viewer.role).value}) does not allow this ({permission.value})."
        )


def require_ai(viewer: Viewer, *, viewers_allowed: bool = False) -> None:
    """Raise ForbiddenError unless the viewer may run an AI feature that calls a model, and so spends the
    organization's AI budget: MEMBERs and up, and VIEWERs too when the deployment allows it (`viewers_allowed`,
    PRISM_AI_VIEWERS_MAY_USE_MODELS). The budget is the organization's, so the organization role decides, not a
    product override; an API key also needs the `ai` (or `admin`) scope."""
    if not viewer.scopes_allow(Permission.USE_AI):
        raise ForbiddenError(
            "This API key's scopes do not allow AI features that call a model (use_ai): give it the `ai` scope."
        )
    if viewer.can(Permission.USE_AI) or (viewers_allowed and viewer.role == Role.VIEWER):
        return
    raise ForbiddenError(
        f"Your organization role ({viewer.role.value}) may search (similarRequirements, semanticSearch) but not run "
        "AI features that call a model and spend the organization's AI budget (use_ai): ask an admin for the MEMBER "
        "role."
    )
