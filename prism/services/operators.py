"""What operators do from the `prism` command: create accounts, add members and create API keys.

Each use case goes through the services the API uses (sign-up's account creation, `MemberService`, `ApiKeyService`),
so the same validation, role rules, audit entries and row-level security apply. An operator is not a PRISM user:
inside an organization they act through a member they name (`--by`), with that member's role and its limits, and
the audit entry names that member as the actor and the command line as the client (`RequestMeta.user_agent`). The
caller owns the unit of work and commits it (`async with UnitOfWork(engine) as uow:`).
"""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
from sqlmodel import col

from prism.auth.rbac import Viewer
from prism.db.tables import Membership, Organization, User
from prism.db.tenancy import user_select
from prism.db.unit_of_work import UnitOfWork
from prism.domain.enums import Role
from prism.errors import NotFoundError, ValidationError
from prism.runtime import Runtime
from prism.services.api_keys import ApiKeyService, CreatedApiKey
from prism.services.audit import RequestMeta, record
from prism.services.credentials import lookup_forms, normalise_email
from prism.services.identity import IdentityService
from prism.services.members import MemberService
from prism.services.users import find_user_by_email

__all__ = ["ActingMember", "NewAccount", "OperatorService"]


@dataclass(frozen=True)
class NewAccount:
    """An account an operator created, and the organization it owns when one was asked for."""

    user: User
    organization: Organization | None


@dataclass(frozen=True)
class ActingMember:
    """The member an operator acts through, as the viewer services check, and their organization."""

    user: User
    organization: Organization
    viewer: Viewer


class OperatorService:
    """The `prism users`, `prism members` and `prism api-keys` use cases on one unit of work."""

    def __init__(self, runtime: Runtime, uow: UnitOfWork, meta: RequestMeta) -> None:
        self._runtime = runtime
        self._uow = uow
        self._meta = meta

    async def create_user(self, *, email: str, name: str, password: str, organization_name: str | None) -> NewAccount:
        """Create an account (mailed a verification link, as on sign-up), and an organization it owns if named."""
        identity = IdentityService(self._runtime, self._uow, self._meta)
        user, organization = await identity.create_account(
            email=email, password=password, name=name, organization_name=organization_name
        )
        if organization is not None:
            async with self._uow.session(organization.id, user.id) as session:
                record(
                    session,
                    organization_id=organization.id,
                    action="organization.created",
                    meta=self._meta,
                    target_type="organization",
                    target_id=organization.id,
                    details={"name": organization.name, "slug": organization.slug, "owner": user.email},
                )
        return NewAccount(user=user, organization=organization)

    async def acting_member(self, email: str, organization: str) -> ActingMember:
        """The member with this email in the organization with this id or slug, as a viewer with their role."""
        user = await self._account(email, "by")
        named = col(Organization.slug) == organization
        if (organization_id := _uuid(organization)) is not None:
            named = sa.or_(named, col(Organization.id) == organization_id)
        async with self._uow.session(None, user.id) as session:
            # The member's own memberships, across organizations: which organization is meant is what is looked up.
            query = (
                user_select(Membership, user.id, Organization, Membership.role)
                .join(Organization, col(Organization.id) == col(Membership.organization_id))
                .where(named)
            )
            found = (await session.exec(query)).first()
        if found is None:
            raise NotFoundError(
                f"{user.email} is not a member of an organization with the slug or id {organization!r}.", field="by"
            )
        row, role = found
        viewer = Viewer(user_id=user.id, organization_id=row.id, role=Role(role))
        return ActingMember(user=user, organization=row, viewer=viewer)

    async def add_member(self, *, organization: str, by: str, email: str, role: Role) -> tuple[User, ActingMember]:
        """Add an existing account to an organization with a role, in the name of one of its OWNERs or ADMINs."""
        acting = await self.acting_member(by, organization)
        user = await self._account(email, "email")
        await MemberService(self._uow, acting.viewer, self._meta).add(user.id, role)
        return user, acting

    async def create_api_key(
        self, *, organization: str, by: str, name: str, scopes: list[str], expires_at: datetime | None
    ) -> tuple[CreatedApiKey, ActingMember]:
        """Create an API key of an organization, created by (and acting with the role of) one of its OWNERs or
        ADMINs; the full key is in the result and nowhere else."""
        acting = await self.acting_member(by, organization)
        service = ApiKeyService(self._uow, acting.viewer, self._meta, reauthentication_window_seconds=None)
        created = await service.create(name, scopes, expires_at)
        return created, acting

    async def _account(self, email: str, field: str) -> User:
        try:
            address = normalise_email(email)
        except ValidationError as error:
            raise ValidationError(error.message, field=field) from None
        user = await find_user_by_email(self._uow, lookup_forms(address))
        if user is None:
            raise NotFoundError(f"No account has the email {email!r}.", field=field)
        return user


def _uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None
