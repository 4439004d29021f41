"""Sign-up and log-in: accounts, organizations and the access tokens that name them."""

import asyncio
import re
from dataclasses import dataclass
from uuid import UUID, uuid4

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from prism.auth.passwords import PasswordHasher, hash_password, verify_password
from prism.auth.tokens import TokenIssuer
from prism.db.engine import transaction
from prism.db.tables import Membership, Organization, User
from prism.domain.enums import Role
from prism.errors import Code, NotFoundError, PrismError, UnauthenticatedError, ValidationError
from prism.services.validation import clean_text

__all__ = ["PASSWORD_MAX", "PASSWORD_MIN", "AuthResult", "IdentityService"]

PASSWORD_MIN = 10
PASSWORD_MAX = 256
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class AuthResult:
    """A signed-in user, the organization the token acts in, and the token."""

    user: User
    organization: Organization
    access_token: str
    expires_at: int


def normalise_email(email: str) -> str:
    """Emails are compared case-insensitively and stored in lower case."""
    cleaned = clean_text(email, "email", max_length=254).lower()
    if not _EMAIL.match(cleaned):
        raise ValidationError("email is not a valid address.", field="email")
    return cleaned


def slugify(name: str) -> str:
    """A URL-safe slug for an organization name, with a random suffix so it is unique."""
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:48] or "org"
    return f"{base}-{uuid4().hex[:8]}"


class IdentityService:
    """Accounts and access tokens."""

    def __init__(self, engine: AsyncEngine, hasher: PasswordHasher, tokens: TokenIssuer) -> None:
        self._engine = engine
        self._hasher = hasher
        self._tokens = tokens

    async def sign_up(self, *, email: str, password: str, name: str, organization_name: str) -> AuthResult:
        """Create a user, their organization (they own it) and sign them in."""
        email = normalise_email(email)
        name = clean_text(name, "name", max_length=120)
        organization_name = clean_text(organization_name, "organizationName", max_length=120)
        if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
            raise ValidationError(
                f"password must be {PASSWORD_MIN} to {PASSWORD_MAX} characters long.",
                field="password",
                code=Code.OUT_OF_RANGE,
            )
        password_hash = await asyncio.to_thread(hash_password, self._hasher, password)
        organization_id = uuid4()
        async with transaction(self._engine, organization_id) as session:
            taken = (await session.exec(select(User.id).where(User.email == email))).first()
            if taken is not None:
                raise ValidationError(
                    "An account with this email exists; log in instead.", field="email", code=Code.ALREADY_EXISTS
                )
            user = User(email=email, name=name, password_hash=password_hash)
            organization = Organization(id=organization_id, name=organization_name, slug=slugify(organization_name))
            session.add_all([user, organization])
            try:
                await session.flush()
            except IntegrityError as error:
                # Another sign-up took the email between the check above and this insert.
                if "uq_app_user_email" not in str(error.orig):
                    raise
                raise ValidationError(
                    "An account with this email exists; log in instead.", field="email", code=Code.ALREADY_EXISTS
                ) from None
            session.add(Membership(organization_id=organization.id, user_id=user.id, role=Role.OWNER.value))
        return await self.open_session(user, organization)

    async def log_in(self, *, email: str, password: str, organization_id: UUID | None) -> AuthResult:
        """Check a password and issue a token for one of the user's organizations (their first by default)."""
        try:
            email = normalise_email(email)
        except PrismError:
            email = ""
        async with transaction(self._engine, None) as session:
            user = (await session.exec(select(User).where(User.email == email))).first()
        valid = await asyncio.to_thread(verify_password, self._hasher, user.password_hash if user else None, password)
        if user is None or not valid:
            raise UnauthenticatedError("The email or password is wrong.", code=Code.INVALID_CREDENTIALS)
        async with transaction(self._engine, organization_id, user.id) as session:
            query = (
                select(Organization)
                .join(Membership, Membership.organization_id == Organization.id)  # type: ignore[arg-type]
                .where(Membership.user_id == user.id)
                .order_by(Membership.created_at)  # type: ignore[arg-type]
            )
            if organization_id is not None:
                query = query.where(Organization.id == organization_id)
            organization = (await session.exec(query)).first()
        if organization is None:
            raise NotFoundError("You are not a member of this organization.", field="organizationId")
        return await self.open_session(user, organization)

    async def open_session(self, user: User, organization: Organization) -> AuthResult:
        """Sign a user whose identity is proven (password, SSO, invitation) in to one of their organizations.

        Every way of signing in ends here, so sessions, refresh tokens and audit entries are added in one place.
        """
        token, expires = self._tokens.issue(user.id, organization.id)
        return AuthResult(user=user, organization=organization, access_token=token, expires_at=expires)
