"""Account upkeep: email verification, password change and password reset."""

import asyncio
import logging
from uuid import UUID, uuid4

import sqlalchemy as sa
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from prism.auth.attempt_limits import Operation
from prism.auth.mailer import Message
from prism.auth.passwords import hash_password, verify_password
from prism.auth.rbac import Viewer
from prism.auth.throttle import LoginThrottle
from prism.db.access_tables import UserToken
from prism.db.base import utcnow
from prism.db.tables import Membership, Organization, User
from prism.db.tenancy import user_select
from prism.db.unit_of_work import UnitOfWork
from prism.errors import Code, UnauthenticatedError, ValidationError
from prism.runtime import Runtime
from prism.services.audit import RequestMeta, record
from prism.services.credentials import check_password, fold_email, lookup_forms
from prism.services.sessions import SessionService
from prism.services.user_tokens import (
    Purpose,
    consume_user_token,
    issue_user_token_if_user_exists,
)
from prism.services.users import find_user_id_by_email, owner_of_user_token

__all__ = ["AccountService"]

logger = logging.getLogger("prism.auth")


class AccountService:
    """Verifies emails and changes or resets passwords."""

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

    async def security(self) -> tuple[User, Organization]:
        """The viewer's account and the organization they act in, for their security settings."""
        viewer = self._viewer
        if viewer is None:
            raise UnauthenticatedError("Sign in to do this.")
        async with self._uow.session(viewer.organization_id, viewer.user_id) as session:
            user = await session.get(User, viewer.user_id)
            organization = await session.get(Organization, viewer.organization_id)
        if user is None or organization is None:
            raise UnauthenticatedError("Sign in again.")
        return user, organization

    def _link(self, path: str, token: str) -> str:
        return f"{self._runtime.settings.public_url.rstrip('/')}/{path}?token={token}"

    def send(self, message: Message) -> None:
        """Mail once the use case commits: a rolled-back change never mails a link that does not work."""

        async def send() -> None:
            try:
                await self._runtime.mailer.send(message)
            except Exception as error:  # noqa: BLE001 - the account change stands; mail trouble is the operator's
                logger.error("could not send mail", extra={"subject": message.subject, "error": type(error).__name__})

        self._uow.after_commit(send)

    async def verify_email(self, token: str) -> User:
        """Mark the email of the token's user verified (tokens mailed to accounts made before sign-ups awaited
        confirmation); the token works once, within 24 hours."""
        invalid = ValidationError(
            "This verification link is invalid, used or expired.", field="token", code=Code.INVALID_TOKEN
        )
        owner = await owner_of_user_token(self._uow, token, Purpose.VERIFY_EMAIL)
        if owner is None:
            raise invalid
        async with self._uow.session(None, owner) as session:
            row = await consume_user_token(session, owner, token, Purpose.VERIFY_EMAIL)
            if row is None:
                raise invalid
            user = await session.get(User, row.user_id)
            assert user is not None
            user.email_verified_at = user.email_verified_at or utcnow()
            session.add(user)
        return user

    async def change_password(self, current_password: str, new_password: str) -> User:
        """Change the viewer's password; every other session of theirs is signed out."""
        viewer = self._viewer
        if viewer is None or viewer.session_id is None:
            raise UnauthenticatedError("Sign in with an access token to change your password.")
        check_password(new_password, "newPassword")
        async with self._uow.session(None, viewer.user_id) as session:
            user = await session.get(User, viewer.user_id)
        assert user is not None
        hasher = self._runtime.hasher
        # Throttled like a log-in: a stolen access token must not be a way to guess the password.
        attempt = await self._throttle.reserve(user.email, self._meta.ip)
        if not await asyncio.to_thread(verify_password, hasher, user.password_hash, current_password):
            await attempt.failed()
            raise ValidationError(
                "The current password is wrong.", field="currentPassword", code=Code.INVALID_CREDENTIALS
            )
        await attempt.passed()
        await self._sessions.mark_authenticated()  # the current password re-entered is a re-authentication
        password_hash = await asyncio.to_thread(hash_password, hasher, new_password)
        async with self._uow.session(viewer.organization_id, viewer.user_id) as session:
            await self._set_password(session, user.id, password_hash)
            record(
                session,
                organization_id=viewer.organization_id,
                action="auth.password_changed",
                meta=self._meta,
                actor=viewer,
                target_type="User",
                target_id=user.id,
            )
        await self._sessions.revoke_all_of_user(user.id, reason="password_changed", keep=viewer.session_id)
        user.password_hash = password_hash
        return user

    async def _set_password(self, session: AsyncSession, user_id: UUID, password_hash: str) -> None:
        await session.exec(sa.update(User).where(col(User.id) == user_id).values(password_hash=password_hash))

    async def request_password_reset(self, email: str) -> None:
        """Mail a reset link (1 h) when the address has an account, and a notice saying it has none otherwise.

        Both cases do the same work, so neither the answer nor its timing tells whether an account exists: the same
        look-up, the same read and the same INSERT ... SELECT (which inserts nothing without an account), one mail
        after commit. Limited per address and per client IP (mail floods), counted before any of it.
        """
        forms = lookup_forms(email)
        if not forms:
            return  # not an address at all: the text alone says so
        address = forms[0]
        await self._runtime.attempts.hit(Operation.PASSWORD_RESET_REQUEST, address=address, ip=self._meta.ip)
        # An id no account has stands in for a missing account, so the same statements run in its scope.
        subject = await find_user_id_by_email(self._uow, forms) or uuid4()
        async with self._uow.session(None, subject) as session:
            user = await session.get(User, subject)
            token = await issue_user_token_if_user_exists(session, subject, Purpose.RESET_PASSWORD)
        if user is None:
            self.send(
                Message(
                    to=address,
                    subject="Reset your PRISM password",
                    body=(
                        "Hello,\n\nSomeone (hopefully you) asked to reset the password of a PRISM account with this "
                        "address, but no PRISM account uses it. If you have an account, you may have signed up with "
                        "another address.\n\nIf you did not ask for this, ignore this message.\n"
                    ),
                )
            )
            return
        self.send(
            Message(
                to=user.email,
                subject="Reset your PRISM password",
                body=(
                    f"Hello {user.name},\n\nSomeone (hopefully you) asked to reset your PRISM password. Open this link "
                    f"within one hour to choose a new one:\n{self._link('reset-password', token)}\n\n"
                    f"Or use this code with the resetPassword mutation: {token}\n\n"
                    "If you did not ask for this, ignore this message: your password stays as it is.\n"
                ),
            )
        )

    async def reset_password(self, token: str, new_password: str) -> User:
        """Set a new password with a reset token (one use, 1 h); every session and pending token of the user ends.

        Receiving the mail proves the address, so the email counts as verified from then on.
        """
        check_password(new_password, "newPassword")
        invalid = ValidationError(
            "This reset link is invalid, used or expired.", field="token", code=Code.INVALID_TOKEN
        )
        # Counted per client IP before anything else, per account before the hashing.
        await self._runtime.attempts.hit(Operation.PASSWORD_RESET, address=None, ip=self._meta.ip)
        # The token is checked before the password is hashed: a wrong token costs the server no hashing.
        owner = await owner_of_user_token(self._uow, token, Purpose.RESET_PASSWORD)
        if owner is None:
            raise invalid
        async with self._uow.session(None, owner) as session:
            owner_row = await session.get(User, owner)
        if owner_row is None:
            raise invalid
        await self._runtime.attempts.hit(Operation.PASSWORD_RESET, address=fold_email(owner_row.email), ip=None)
        password_hash = await asyncio.to_thread(hash_password, self._runtime.hasher, new_password)
        async with self._uow.session(None, owner) as session:
            row = await consume_user_token(session, owner, token, Purpose.RESET_PASSWORD)
            if row is None:
                raise invalid
            user = await session.get(User, row.user_id)
            assert user is not None
            await self._set_password(session, user.id, password_hash)
            # The mailed token proves the address: the account now belongs to whoever reads that mailbox.
            await session.exec(
                sa.update(User)
                .where(col(User.id) == user.id, col(User.email_verified_at).is_(None))
                .values(email_verified_at=utcnow())
            )
            # Nothing handed out before this reset may outlive it: earlier reset links, and MFA challenges held by
            # whoever knew the old password (with a second factor they enrolled, one would open a session).
            await session.exec(
                sa.update(UserToken)
                .where(col(UserToken.user_id) == user.id, col(UserToken.used_at).is_(None))
                .values(used_at=utcnow())
            )
        async with self._uow.session(None, user.id) as session:
            organizations = (await session.exec(user_select(Membership, user.id, Membership.organization_id))).all()
        for organization_id in organizations:
            async with self._uow.session(organization_id, user.id) as session:
                record(
                    session,
                    organization_id=organization_id,
                    action="auth.password_reset",
                    meta=self._meta,
                    actor_user_id=user.id,
                    target_type="User",
                    target_id=user.id,
                )
        await self._sessions.revoke_all_of_user(user.id, reason="password_reset")
        return user
