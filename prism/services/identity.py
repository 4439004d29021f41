"""Sign-up and log-in: accounts, organizations, and the sessions every successful sign-in opens."""

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from uuid import UUID, uuid4

from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from prism.auth.attempt_limits import Operation
from prism.auth.passwords import hash_password, verify_password
from prism.auth.rbac import Viewer
from prism.auth.throttle import LoginThrottle
from prism.auth.tokens import hash_token, new_opaque_token
from prism.db.base import utcnow
from prism.db.lookups import claim_sign_up, request_sign_up, user_id_by_email
from prism.db.tables import Membership, Organization, User
from prism.db.tenancy import user_select
from prism.db.unit_of_work import UnitOfWork
from prism.domain.enums import Role
from prism.errors import Code, NotFoundError, PrismError, UnauthenticatedError, ValidationError
from prism.runtime import Runtime
from prism.services.accounts import AccountService
from prism.services.audit import RequestMeta
from prism.services.credentials import check_password, lookup_forms, normalise_email
from prism.services.mails import SIGN_UP_LIFETIME, account_exists_message, sign_up_message, verification_message
from prism.services.mfa import MfaService
from prism.services.sessions import AuthResult, SessionService
from prism.services.user_tokens import Purpose, issue_user_token
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
        return AccountService(self._runtime, self._uow, self._meta, self._viewer, self.sessions, self.throttle)

    @cached_property
    def mfa(self) -> MfaService:
        return MfaService(self._runtime, self._uow, self._meta, self._viewer, self.sessions, self.throttle)

    @cached_property
    def throttle(self) -> LoginThrottle:
        return LoginThrottle(self._runtime.kv, self._runtime.settings)

    async def sign_up(self, *, email: str, password: str, name: str, organization_name: str) -> None:
        """Ask for an account and its organization; nothing exists until the address confirms it.

        A new address is mailed a link (24 h) that creates the account with `verifyEmail`; an address that has an
        account is not touched, and its owner is mailed a notice instead. The answer, the statements sent and the
        mail count are the same either way, so a sign-up reveals no account (issue 7, finding 9).
        """
        address = normalise_email(email)
        name = clean_text(name, "name", max_length=120)
        organization_name = clean_text(organization_name, "organizationName", max_length=120)
        check_password(password)
        # Before the hashing and the mail: sign-up floods cost an argon2 hash and a mail each.
        await self._runtime.attempts.hit(Operation.SIGN_UP, address=address, ip=self._meta.ip)
        password_hash = await asyncio.to_thread(hash_password, self._hasher, password)
        token = new_opaque_token()
        async with self._uow.session() as session:
            existing = await request_sign_up(
                session,
                request_id=uuid4(),
                emails=list(dict.fromkeys([address, *lookup_forms(email)])),
                name=name,
                organization_name=organization_name,
                password_hash=password_hash,
                token_hash=hash_token(token),
                expires_at=utcnow() + SIGN_UP_LIFETIME,
            )
        if existing is None:
            self.accounts.send(sign_up_message(self._link("verify-email", token), address, name, token))
        else:
            self.accounts.send(account_exists_message(existing, self._link("reset-password", "")))

    def _link(self, path: str, token: str) -> str:
        base = f"{self._runtime.settings.public_url.rstrip('/')}/{path}"
        return f"{base}?token={token}" if token else base

    async def verify_email(self, token: str) -> User:
        """Confirm an address: create the account a sign-up asked for, or (accounts from before) mark it verified."""
        async with self._uow.session() as session:
            claimed = await claim_sign_up(session, hash_token(token.strip()))
        if claimed is None:
            return await self.accounts.verify_email(token)
        organization_id, user_id = uuid4(), uuid4()
        async with self._uow.session(organization_id, user_id) as session:
            user = User(
                id=user_id,
                email=claimed.email,
                name=claimed.name,
                password_hash=claimed.password_hash,
                email_verified_at=utcnow(),
            )
            name = claimed.organization_name
            organization = Organization(id=organization_id, name=name, slug=slugify(name))
            session.add_all([user, organization])
            try:
                await session.flush()
            except IntegrityError as error:
                # Two sign-ups for one address, both confirmed: the first made the account.
                if "uq_app_user_email" not in str(error.orig):
                    raise
                raise ValidationError(
                    "This address has an account already; log in (or reset your password).",
                    field="token",
                    code=Code.INVALID_TOKEN,
                ) from None
            session.add(Membership(organization_id=organization.id, user_id=user.id, role=Role.OWNER.value))
        return user

    async def create_account(
        self, *, email: str, password: str, name: str, organization_name: str | None
    ) -> tuple[User, Organization | None]:
        """Create a user, and their organization (they own it) when one is named, for an operator (`prism users
        create`): no sign-up request to confirm, since the operator vouches for it; the address is still mailed a
        link that verifies it (`verifyEmail`), as accounts made before sign-ups awaited confirmation were."""
        address = normalise_email(email)
        name = clean_text(name, "name", max_length=120)
        if organization_name is not None:
            organization_name = clean_text(organization_name, "organizationName", max_length=120)
        check_password(password)
        password_hash = await asyncio.to_thread(hash_password, self._hasher, password)
        user = User(id=uuid4(), email=address, name=name, password_hash=password_hash)
        organization = None
        if organization_name is not None:
            organization = Organization(id=uuid4(), name=organization_name, slug=slugify(organization_name))
        async with self._uow.session(organization.id if organization else None, user.id) as session:
            for form in lookup_forms(email):
                if await user_id_by_email(session, form) is not None:
                    raise ValidationError("An account with this email exists.", field="email", code=Code.ALREADY_EXISTS)
            session.add_all([user, *([organization] if organization is not None else [])])
            try:
                await session.flush()
            except IntegrityError as error:
                if "uq_app_user_email" not in str(error.orig):
                    raise
                raise ValidationError(
                    "An account with this email exists.", field="email", code=Code.ALREADY_EXISTS
                ) from None
            if organization is not None:
                session.add(Membership(organization_id=organization.id, user_id=user.id, role=Role.OWNER.value))
            token = issue_user_token(session, user.id, Purpose.VERIFY_EMAIL)
        self.accounts.send(verification_message(self._link("verify-email", token), address, name, token))
        return user, organization

    async def log_in(self, *, email: str, password: str, organization_id: UUID | None) -> AuthResult | MfaChallenge:
        """Check a password (throttled) and sign in to one of the user's organizations (their first by default).

        With TOTP enabled, or in an organization that requires MFA, the answer is an MFA challenge instead.
        """
        forms = lookup_forms(email)
        # Counted before the password is verified, so concurrent guesses cannot all pass the check.
        attempt = await self.throttle.reserve(forms[0] if forms else "", self._meta.ip)
        user = await find_user_by_email(self._uow, forms)
        valid = await asyncio.to_thread(verify_password, self._hasher, user.password_hash if user else None, password)
        if user is None or not valid:
            await attempt.failed()
            raise UnauthenticatedError("The email or password is wrong.", code=Code.INVALID_CREDENTIALS)
        try:
            organization = await self.organization_of(user, organization_id)
        except PrismError:
            await attempt.passed()
            raise
        if user.totp_enabled_at is not None or organization.require_mfa:
            # The account's count is cleared only by a complete sign-in: a right password between wrong TOTP codes
            # must not reset it, so the password's try is only given back.
            await attempt.passed()
            token = await self.mfa.challenge(user, organization)
            return MfaChallenge(mfa_token=token, enrollment_required=user.totp_enabled_at is None)
        await attempt.signed_in()
        return await self.open_session(user, organization, method="password")

    async def reauthenticate(self, *, password: str | None, code: str | None) -> datetime:
        """Prove again who the viewer is, with the password or a TOTP code (throttled like a log-in); the session
        may then make sensitive changes for `reauthentication_window_seconds`. Answers when it was proved."""
        viewer = self._viewer
        if viewer is None or viewer.session_id is None:
            raise UnauthenticatedError("Sign in with an access token to do this.")
        if (password is None) == (code is None):
            raise ValidationError("Give either password or code.", field="password")
        async with self._uow.session(None, viewer.user_id) as session:
            user = await session.get(User, viewer.user_id)
        if user is None:
            raise UnauthenticatedError("Sign in again.")
        attempt = await self.throttle.reserve(user.email, self._meta.ip)
        if password is not None:
            valid = await asyncio.to_thread(verify_password, self._hasher, user.password_hash, password)
            wrong = ValidationError("The password is wrong.", field="password", code=Code.INVALID_CREDENTIALS)
        else:
            assert code is not None
            valid = user.totp_enabled_at is not None and await self.mfa.totp_matches(user, code)
            wrong = ValidationError("The code is wrong or expired.", field="code", code=Code.INVALID_MFA_CODE)
        if not valid:
            await attempt.failed()
            raise wrong
        await attempt.passed()
        return await self.sessions.mark_authenticated()

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
