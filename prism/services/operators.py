"""What operators do from the `prism` command: create accounts.

Each use case goes through the services the API uses (here sign-up's account creation), so the same validation,
audit entries and row-level security apply as through the API; the command line is named as the client in the audit
log (`RequestMeta.user_agent`). The caller owns the unit of work and commits it
(`async with UnitOfWork(engine) as uow:`).
"""

from dataclasses import dataclass

from prism.db.tables import Organization, User
from prism.db.unit_of_work import UnitOfWork
from prism.runtime import Runtime
from prism.services.audit import RequestMeta, record
from prism.services.identity import IdentityService

__all__ = ["NewAccount", "OperatorService"]


@dataclass(frozen=True)
class NewAccount:
    """An account an operator created, and the organization it owns when one was asked for."""

    user: User
    organization: Organization | None


class OperatorService:
    """The `prism users` use cases on one unit of work."""

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
