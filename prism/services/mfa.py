"""Multi-factor authentication: TOTP (RFC 6238) enrolment, one-time recovery codes and the MFA step of log-in."""

import hashlib
import logging
import secrets
from dataclasses import dataclass
from uuid import UUID

import pyotp
import sqlalchemy as sa
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from prism.auth.mailer import Message
from prism.auth.rbac import Permission, Viewer, require
from prism.auth.throttle import LoginThrottle
from prism.db.access_tables import RecoveryCode
from prism.db.base import utcnow
from prism.db.lookups import member_role
from prism.db.tables import Membership, Organization, User
from prism.db.tenancy import tenant_select, user_select
from prism.db.unit_of_work import UnitOfWork
from prism.domain.enums import Role
from prism.errors import Code, ForbiddenError, NotFoundError, UnauthenticatedError, ValidationError
from prism.runtime import Runtime
from prism.services.audit import RequestMeta, record
from prism.services.sessions import AuthResult, SessionService, require_recent_authentication
from prism.services.user_tokens import Purpose, consume_user_token, find_user_token, issue_user_token
from prism.services.users import owner_of_user_token

__all__ = ["RECOVERY_CODES", "MfaService", "TotpEnrollment"]

logger = logging.getLogger("prism.auth")
RECOVERY_CODES = 10
ISSUER_NAME = "PRISM"
_STEP_SECONDS = 30


@dataclass(frozen=True)
class TotpEnrollment:
    """A new TOTP secret, not yet enabled, and the otpauth:// URI an authenticator app scans."""

    secret: str
    uri: str


def _recovery_hash(code: str) -> str:
    return hashlib.sha256(code.strip().lower().replace("-", "").encode()).hexdigest()


def _new_recovery_code() -> str:
    raw = secrets.token_hex(8)  # 64 bits
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


class MfaService:
    """Enrols, verifies and disables TOTP; issues and completes the MFA step of a log-in."""

    def __init__(
        self,
        runtime: Runtime,
        uow: UnitOfWork,
        meta: RequestMeta,
        viewer: Viewer | None,
        sessions: SessionService,
        throttle: LoginThrottle,
    ) -> None:
        self._runtime = runtime
        self._uow = uow
        self._meta = meta
        self._viewer = viewer
        self._sessions = sessions
        self._throttle = throttle

    async def _enrolling_user(self, mfa_token: str | None) -> tuple[User, UUID]:
        """The user enrolling and the organization to audit in: the viewer, or the holder of a log-in's mfaToken."""
        if mfa_token is not None:
            owner = await owner_of_user_token(self._uow, mfa_token, Purpose.MFA_CHALLENGE)
            async with self._uow.session(None, owner) as session:
                row = await find_user_token(session, owner, mfa_token, Purpose.MFA_CHALLENGE) if owner else None
                user = await session.get(User, row.user_id) if row is not None else None
            if row is None or user is None or row.organization_id is None:
                raise ValidationError(
                    "The MFA token is invalid or expired; log in again.", field="mfaToken", code=Code.INVALID_TOKEN
                )
            return user, row.organization_id
        if self._viewer is None or self._viewer.api_key_id is not None:
            raise UnauthenticatedError("Sign in (or pass the mfaToken of your log-in) to set up MFA.")
        # A stolen access token alone must not enrol a second factor (and take the recovery codes).
        await self._require_recent()
        async with self._uow.session(None, self._viewer.user_id) as session:
            user = await session.get(User, self._viewer.user_id)
        assert user is not None
        return user, self._viewer.organization_id

    async def enroll(self, mfa_token: str | None = None) -> TotpEnrollment:
        """Start TOTP enrolment: a fresh secret that `confirm` enables once an authenticator shows a right code."""
        user, _ = await self._enrolling_user(mfa_token)
        if user.totp_enabled_at is not None:
            raise ValidationError("TOTP is already enabled; disable it first to enrol again.", code=Code.INVALID_STATE)
        secret = pyotp.random_base32()
        async with self._uow.session(None, user.id) as session:
            await session.exec(sa.update(User).where(col(User.id) == user.id).values(totp_secret=secret))
        uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER_NAME)
        return TotpEnrollment(secret=secret, uri=uri)

    async def _require_recent(self) -> None:
        assert self._viewer is not None
        window = self._runtime.settings.reauthentication_window_seconds
        await require_recent_authentication(self._uow, self._viewer, window)

    async def _code_is_fresh(self, user_id: UUID, code: str) -> bool:
        """Refuse replay: a TOTP code works once (remembered for its validity window)."""
        # An atomic counter: of two concurrent uses of one code, exactly one sees 1.
        return await self._runtime.kv.incr(f"totp-used:{user_id}:{code}", 3 * _STEP_SECONDS) == 1

    async def totp_matches(self, user: User, code: str) -> bool:
        """Whether a TOTP code is right now and unused (it is used up if so)."""
        code = code.strip().replace(" ", "")
        if user.totp_secret is None or not (code.isascii() and code.isdigit()) or len(code) != 6:
            return False
        return pyotp.TOTP(user.totp_secret).verify(code, valid_window=1) and await self._code_is_fresh(user.id, code)

    async def confirm(self, code: str, mfa_token: str | None = None) -> list[str]:
        """Enable TOTP with a code from the authenticator; returns 10 recovery codes (shown this once only)."""
        user, organization_id = await self._enrolling_user(mfa_token)
        if user.totp_enabled_at is not None:
            raise ValidationError("TOTP is already enabled.", code=Code.INVALID_STATE)
        if user.totp_secret is None:
            raise ValidationError("Start with enrollTotp.", code=Code.INVALID_STATE)
        if not await self.totp_matches(user, code):
            raise ValidationError("The code is wrong or expired.", field="code", code=Code.INVALID_MFA_CODE)
        codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
        async with self._uow.session(organization_id, user.id) as session:
            await session.exec(sa.update(User).where(col(User.id) == user.id).values(totp_enabled_at=utcnow()))
            await session.exec(sa.delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))
            session.add_all(RecoveryCode(user_id=user.id, code_hash=_recovery_hash(c)) for c in codes)
            self._audit(session, organization_id, user.id, "mfa.enabled")
        return codes

    def _audit(self, session: AsyncSession, organization_id: UUID, user_id: UUID, action: str) -> None:
        record(
            session,
            organization_id=organization_id,
            action=action,
            meta=self._meta,
            actor_user_id=user_id,
            target_type="User",
            target_id=user_id,
        )

    async def disable(self, code: str) -> User:
        """Turn TOTP off (a current code is needed); recovery codes are deleted."""
        viewer = self._viewer
        if viewer is None or viewer.session_id is None:
            raise UnauthenticatedError("Sign in with an access token to change MFA.")
        async with self._uow.session(None, viewer.user_id) as session:
            user = await session.get(User, viewer.user_id)
        assert user is not None
        if user.totp_enabled_at is None:
            raise ValidationError("TOTP is not enabled.", code=Code.INVALID_STATE)
        # Throttled like a log-in's code: a stolen access token must not be a way to guess codes.
        attempt = await self._throttle.reserve(user.email, self._meta.ip)
        if not await self.totp_matches(user, code):
            await attempt.failed()
            raise ValidationError("The code is wrong or expired.", field="code", code=Code.INVALID_MFA_CODE)
        await attempt.passed()
        await self._sessions.mark_authenticated()  # the code re-entered is a re-authentication
        async with self._uow.session(viewer.organization_id, viewer.user_id) as session:
            await session.exec(
                sa.update(User).where(col(User.id) == user.id).values(totp_enabled_at=None, totp_secret=None)
            )
            await session.exec(sa.delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))
            self._audit(session, viewer.organization_id, user.id, "mfa.disabled")
        user.totp_enabled_at = None
        user.totp_secret = None
        return user

    async def challenge(self, user: User, organization: Organization) -> str:
        """The MFA_CHALLENGE token (5 min) a log-in answers with when a second factor is needed."""
        async with self._uow.session(None, user.id) as session:
            token = issue_user_token(session, user.id, Purpose.MFA_CHALLENGE, organization.id)
        # The log-in answers with this token and, when enrolment is due, a user error: the token must outlive it.
        await self._uow.keep_despite_refusal()
        return token

    async def complete_log_in(self, mfa_token: str, code: str | None, recovery_code: str | None) -> AuthResult:
        """Finish a log-in with a TOTP code or a recovery code (each recovery code works once)."""
        if (code is None) == (recovery_code is None):
            raise ValidationError("Give either code or recoveryCode.", field="code")
        owner = await owner_of_user_token(self._uow, mfa_token, Purpose.MFA_CHALLENGE)
        async with self._uow.session(None, owner) as session:
            row = await find_user_token(session, owner, mfa_token, Purpose.MFA_CHALLENGE) if owner else None
            user = await session.get(User, row.user_id) if row is not None else None
        if row is None or user is None or row.organization_id is None:
            raise ValidationError(
                "The MFA token is invalid or expired; log in again.", field="mfaToken", code=Code.INVALID_TOKEN
            )
        if user.totp_enabled_at is None:
            raise ValidationError(
                "Set up TOTP first (enrollTotp, confirmTotp with this mfaToken).", code=Code.MFA_ENROLLMENT_REQUIRED
            )
        # Counted before the code is verified, so concurrent guesses cannot all pass the check.
        attempt = await self._throttle.reserve(user.email, self._meta.ip)
        if code is not None:
            valid = await self.totp_matches(user, code)
        else:
            assert recovery_code is not None
            valid = await self._use_recovery_code(user.id, recovery_code)
        if not valid:
            await attempt.failed()
            field = "code" if code is not None else "recoveryCode"
            raise ValidationError("The code is wrong or expired.", field=field, code=Code.INVALID_MFA_CODE)
        async with self._uow.session(None, user.id) as session:
            used = await consume_user_token(session, user.id, mfa_token, Purpose.MFA_CHALLENGE)
            organization = await session.get(Organization, row.organization_id)
        if used is None or organization is None:
            await attempt.passed()
            raise ValidationError(
                "The MFA token was already used; log in again.", field="mfaToken", code=Code.INVALID_TOKEN
            )
        await attempt.signed_in()
        return await self._sessions.open(
            user, organization, method="recovery_code" if recovery_code is not None else "totp", mfa_verified=True
        )

    async def _use_recovery_code(self, user_id: UUID, recovery_code: str) -> bool:
        async with self._uow.session(None, user_id) as session:
            used = (
                await session.exec(
                    sa.update(RecoveryCode)
                    .where(
                        col(RecoveryCode.user_id) == user_id,
                        col(RecoveryCode.code_hash) == _recovery_hash(recovery_code),
                        col(RecoveryCode.used_at).is_(None),
                    )
                    .values(used_at=utcnow())
                    .returning(col(RecoveryCode.id))
                )
            ).first()
        return used is not None

    async def reset_member(self, user_id: UUID) -> User:
        """An OWNER's recovery for a locked-out member: turn their TOTP off, delete their recovery codes, sign out
        every session of theirs and tell them by mail; audited as `mfa.reset`.

        The account is global, so this is allowed only when every other organization the member belongs to is owned
        by the actor or by the member (everyone owns the organization they signed up with): owning one organization
        must not weaken a person's sign-in to somebody else's. An organization that requires MFA makes the member
        enrol again at their next log-in there.
        """
        viewer = self._viewer
        if viewer is None or viewer.session_id is None:
            raise UnauthenticatedError("Sign in with an access token to do this.")
        if viewer.role is not Role.OWNER:
            raise ForbiddenError("Only an OWNER can reset a member's MFA.")
        if user_id == viewer.user_id:
            raise ValidationError("Use disableTotp for your own account.", field="userId", code=Code.INVALID_STATE)
        await self._require_recent()
        async with self._uow.session(viewer.organization_id, viewer.user_id) as session:
            member = (
                await session.exec(
                    tenant_select(Membership, viewer.organization_id, Membership.id).where(
                        Membership.user_id == user_id
                    )
                )
            ).first()
        if member is None:
            raise NotFoundError("No such member.", field="userId")
        # The member's own memberships, in their scope: the only way to see their other organizations.
        async with self._uow.session(None, user_id) as session:
            organizations = (await session.exec(user_select(Membership, user_id, Membership.organization_id))).all()
            for organization_id in organizations:
                if organization_id == viewer.organization_id:
                    continue
                owners = {
                    await member_role(session, organization_id, viewer.user_id),
                    await member_role(session, organization_id, user_id),
                }
                if Role.OWNER.value not in owners:
                    raise ForbiddenError(
                        "This member also belongs to an organization that neither you nor they own; an owner there "
                        "must agree (ask the operator)."
                    )
        async with self._uow.session(viewer.organization_id, user_id) as session:
            user = await session.get(User, user_id)
            assert user is not None
            await session.exec(
                sa.update(User).where(col(User.id) == user_id).values(totp_enabled_at=None, totp_secret=None)
            )
            await session.exec(sa.delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
            record(
                session,
                organization_id=viewer.organization_id,
                action="mfa.reset",
                meta=self._meta,
                actor=viewer,
                target_type="User",
                target_id=user_id,
            )
        await self._sessions.revoke_all_of_user(user_id, reason="mfa_reset")
        self._mail(
            Message(
                to=user.email,
                subject="Your PRISM two-factor authentication was reset",
                body=(
                    f"Hello {user.name},\n\nAn owner of your organization turned two-factor authentication off on "
                    "your PRISM account and signed out your sessions. Log in with your password and set it up again. "
                    "If you did not ask for this, tell your organization's owners.\n"
                ),
            )
        )
        user.totp_enabled_at = None
        user.totp_secret = None
        return user

    def _mail(self, message: Message) -> None:
        async def send() -> None:
            try:
                await self._runtime.mailer.send(message)
            except Exception as error:  # noqa: BLE001 - the reset stands; mail trouble is the operator's
                logger.error("could not send mail", extra={"subject": message.subject, "error": type(error).__name__})

        self._uow.after_commit(send)

    async def update_organization_security(self, require_mfa: bool) -> Organization:
        """Require (or stop requiring) MFA of every member signing in to the viewer's organization."""
        viewer = self._viewer
        if viewer is None:
            raise UnauthenticatedError("Sign in to do this.")
        require(viewer, Permission.MANAGE_MEMBERS)
        async with self._uow.session(viewer.organization_id, viewer.user_id) as session:
            organization = await session.get(Organization, viewer.organization_id)
            if organization is None:
                raise NotFoundError("No such organization.")
            before = organization.require_mfa
            organization.require_mfa = require_mfa
            session.add(organization)
            record(
                session,
                organization_id=viewer.organization_id,
                action="organization.security_changed",
                meta=self._meta,
                actor=viewer,
                target_type="Organization",
                target_id=viewer.organization_id,
                details={"require_mfa": {"from": before, "to": require_mfa}},
            )
        return organization
