"""Sign-up and log-in: accounts, organizations, and the sessions every successful sign-in opens."""

import asyncio
import re
from dataclasses import dataclass
from functools import cached_property
from uuid import UUID, uuid4

from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from prism.auth.passwords import hash_password, verify_password
from prism.auth.rbac import Viewer
from prism.auth.throttle import LoginThrottle
from prism.db.lookups import user_id_by_email
from prism.db.tables import Membership, Organization, User
from prism.db.tenancy import user_select
from prism.db.unit_of_work import UnitOfWork
from prism.domain.enums import Role
from prism.errors import Code, NotFoundError, PrismError, UnauthenticatedError, ValidationError
from prism.runtime import Runtime
from prism.services.accounts import AccountService
from prism.services.audit import RequestMeta
from prism.services.credentials import check_password, normalise_email
from prism.services.mfa import MfaService
from prism.services.sessions import AuthResult, SessionService
from prism.services.users import find_user_by_email
from prism.services.validation import clean_text

__all__ = ["AuthResult", "IdentityService", "MfaChallenge"]


@dataclass(frozen=True)
class MfaChallenge:
    """The password was right but the account has TOTP (or must enrol): finish with the one-time `mfa_token`."""

    mfa_token: str
    enrollment_required: bool


def slugify(name: str) -> str:
    """A URL-safe slug for an organization name, with a random suffix so it is unique."""
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:48] or "org"
    return f"{base}-{uuid4().hex[:8]}"


class IdentityService:
    """Accounts and sign-in; `sessions`, `accounts` and `mfa` hold the rest of identity."""

    def __init__(
        self, runtime: Runtime, uow: UnitOfWork, meta: RequestMeta | None = None, viewer: Viewer | None = None
    ) -> None:
        self._runtime = runtime
        self._uow = uow
        self._hasher = runtime.hasher
        self._meta = meta or RequestMeta()
        self._viewer = viewer

    @cached_property
    def sessions(self) -> SessionService:
        return SessionService(self._runtime, self._uow, self._meta, self._viewer)

    @cached_property
    def accounts(self) -> AccountService:
        return AccountService(self._runtime, self._uow, self._meta, self._viewer, self.sessions)

    @cached_property
    def mfa(self) -> MfaService:
        return MfaService(self._runtime, self._uow, self._meta, self._viewer, self.sessions, self.throttle)

    @cached_property
    def throttle(self) -> LoginThrottle:
        return LoginThrottle(self._runtime.kv, self._runtime.settings)

    async def sign_up(self, *, email: str, password: str, name: str, organization_name: str) -> AuthResult:
        """Create a user, their organization (they own it), mail an email verification link and sign them in."""
        user, organization = await self.create_account(
            email=email, password=password, name=name, organization_name=organization_name
        )
        assert organization is not None
        return await self.open_session(user, organization, method="sign_up")

    async def create_account(
        self, *, email: str, password: str, name: str, organization_name: str | None
    ) -> tuple[User, Organization | None]:
        """Create a user, and their organization (they own it) when one is named; mail an email verification link.

        Signing up is this and a first session; `prism users create` is this alone, and may name no organization.
        """
        email = normalise_email(email)
        name = clean_text(name, "name", max_length=120)
        if organization_name is not None:
            organization_name = clean_text(organization_name, "organizationName", max_length=120)
        check_password(password)
        password_hash = await asyncio.to_thread(hash_password, self._hasher, password)
        user = User(id=uuid4(), email=email, name=name, password_hash=password_hash)
        organization = None
        if organization_name is not None:
            organization = Organization(id=uuid4(), name=organization_name, slug=slugify(organization_name))
        async with self._uow.session(organization.id if organization else None, user.id) as session:
            if await user_id_by_email(session, email) is not None:
                raise ValidationError(
                    "An account with this email exists; log in instead.", field="email", code=Code.ALREADY_EXISTS
                )
            session.add_all([user, *([organization] if organization is not None else [])])
            try:
                await session.flush()
            except IntegrityError as error:
                # Another sign-up took the email between the check above and this insert.
                if "uq_app_user_email" not in str(error.orig):
                    raise
                raise ValidationError(
                    "An account with this email exists; log in instead.", field="email", code=Code.ALREADY_EXISTS
                ) from None
            if organization is not None:
                session.add(Membership(organization_id=organization.id, user_id=user.id, role=Role.OWNER.value))
            verification = self.accounts.add_verification_token(session, user)
        await self.accounts.send_verification(user, verification)
        return user, organization

    async def log_in(self, *, email: str, password: str, organization_id: UUID | None) -> AuthResult | MfaChallenge:
        """Check a password (throttled) and sign in to one of the user's organizations (their first by default).

        With TOTP enabled, or in an organization that requires MFA, the answer is an MFA challenge instead.
        """
        try:
            email = normalise_email(email)
        except PrismError:
            email = ""
        await self.throttle.check(email, self._meta.ip)
        user = await find_user_by_email(self._uow, email)
        valid = await asyncio.to_thread(verify_password, self._hasher, user.password_hash if user else None, password)
        if user is None or not valid:
            await self.throttle.failed(email, self._meta.ip)
            raise UnauthenticatedError("The email or password is wrong.", code=Code.INVALID_CREDENTIALS)
        organization = await self.organization_of(user, organization_id)
        if user.totp_enabled_at is not None or organization.require_mfa:
            # The account's failure count is cleared only by a complete sign-in: a right password between wrong
            # TOTP codes must not reset it.
            token = await self.mfa.challenge(user, organization)
            return MfaChallenge(mfa_token=token, enrollment_required=user.totp_enabled_at is None)
        await self.throttle.succeeded(email)
        return await self.open_session(user, organization, method="password")

    async def organization_of(self, user: User, organization_id: UUID | None) -> Organization:
        """The organization to sign in to: the one asked for if the user is a member, else their first."""
        async with self._uow.session(organization_id, user.id) as session:
            # The user's own memberships, across organizations: the organization is what is being chosen.
            query = (
                user_select(Membership, user.id, Organization)
                .join(Organization, col(Organization.id) == col(Membership.organization_id))
                .order_by(col(Membership.created_at))
            )
            if organization_id is not None:
                query = query.where(Organization.id == organization_id)
            organization = (await session.exec(query)).first()
        if organization is None:
            raise NotFoundError("You are not a member of this organization.", field="organizationId")
        return organization

    async def open_session(
        self, user: User, organization: Organization, *, method: str = "password", mfa_verified: bool = False
    ) -> AuthResult:
        """Sign a user whose identity is proven (password, SSO, invitation) in to one of their organizations.

        Every way of signing in ends here: it opens a session (refresh token, audit entry `auth.sign_in`).
        """
        return await self.sessions.open(user, organization, method=method, mfa_verified=mfa_verified)
