"""Sessions: the device a user signed in on, its rotating refresh tokens, listing and revoking them."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import sqlalchemy as sa
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from prism.auth.rbac import Viewer
from prism.auth.revocation import mark_session_revoked
from prism.auth.tokens import hash_token, new_opaque_token
from prism.db.access_tables import AuthSession, RefreshToken
from prism.db.base import utcnow
from prism.db.lookups import refresh_token_owner
from prism.db.tables import Membership, Organization, User
from prism.db.tenancy import tenant_select, user_select
from prism.db.unit_of_work import UnitOfWork
from prism.errors import Code, ForbiddenError, NotFoundError, UnauthenticatedError, ValidationError
from prism.runtime import Runtime
from prism.services.audit import RequestMeta, record

__all__ = ["AuthResult", "SessionService", "require_recent_authentication"]

logger = logging.getLogger("prism.auth")
SESSIONS_LISTED = 100


@dataclass(frozen=True)
class AuthResult:
    """A signed-in user, the organization the tokens act in, the session and its tokens (shown once)."""

    user: User
    organization: Organization
    session_id: UUID
    access_token: str
    expires_at: int
    refresh_token: str


async def require_recent_authentication(uow: UnitOfWork, viewer: Viewer, window_seconds: int) -> None:
    """Refuse a sensitive change unless the viewer's session signed in or re-authenticated within the window.

    A stolen access token alone must not be enough to enrol a second factor, mint an API key or reset someone's MFA.
    """
    if viewer.session_id is None:
        raise ForbiddenError("Only a person signed in with an access token can do this, not an API key.")
    async with uow.session(None, viewer.user_id) as session:
        row = await session.get(AuthSession, viewer.session_id)
    if row is None or row.authenticated_at < utcnow() - timedelta(seconds=window_seconds):
        raise ValidationError(
            f"Confirm it is you first: call reauthenticate with your password (or a TOTP code), then repeat this "
            f"within {window_seconds // 60} minutes.",
            code=Code.REAUTHENTICATION_REQUIRED,
        )


class SessionService:
    """Opens, rotates, lists and revokes the sessions of users."""

    def __init__(self, runtime: Runtime, uow: UnitOfWork, meta: RequestMeta, viewer: Viewer | None) -> None:
        self._runtime = runtime
        self._uow = uow
        self._meta = meta
        self._viewer = viewer

    def _me(self) -> Viewer:
        if self._viewer is None or self._viewer.session_id is None:
            raise UnauthenticatedError("Sign in with an access token to do this.")
        return self._viewer

    async def open(self, user: User, organization: Organization, *, method: str, mfa_verified: bool) -> AuthResult:
        """A new session with its first refresh token and access token; audited as `auth.sign_in`."""
        now = utcnow()
        refresh = new_opaque_token()
        async with self._uow.session(organization.id, user.id) as session:
            auth_session = AuthSession(
                user_id=user.id,
                organization_id=organization.id,
                ip=self._meta.ip,
                user_agent=(self._meta.user_agent or "")[:512] or None,
                mfa_verified=mfa_verified,
                expires_at=now + timedelta(seconds=self._runtime.settings.refresh_token_ttl_seconds),
            )
            session.add(auth_session)
            await session.flush()
            session.add(self._refresh_row(auth_session, refresh))
            record(
                session,
                organization_id=organization.id,
                action="auth.sign_in",
                meta=self._meta,
                actor_user_id=user.id,
                target_type="AuthSession",
                target_id=auth_session.id,
                details={"method": method, "mfa": mfa_verified},
            )
        token, expires = self._runtime.tokens.issue(user.id, organization.id, auth_session.id)
        return AuthResult(user, organization, auth_session.id, token, expires, refresh)

    def _refresh_row(self, auth_session: AuthSession, token: str) -> RefreshToken:
        return RefreshToken(
            session_id=auth_session.id, token_hash=hash_token(token), expires_at=auth_session.expires_at
        )

    async def refresh(self, refresh_token: str) -> AuthResult:
        """Rotate a refresh token: the presented one is used up, a new pair is issued in the same session.

        Presenting a token already used is taken as theft (one of two parties holds a copy): the session is revoked.
        """
        now = utcnow()
        invalid = UnauthenticatedError(
            "The refresh token is invalid or has expired; log in again.", field="refreshToken", code=Code.INVALID_TOKEN
        )
        async with self._uow.session() as session:
            owner = await refresh_token_owner(session, hash_token(refresh_token.strip()))
        if owner is None:
            raise invalid
        async with self._uow.session(None, owner) as session:
            row = (
                await session.exec(
                    user_select(AuthSession, owner, RefreshToken, AuthSession)
                    .join(RefreshToken, col(RefreshToken.session_id) == col(AuthSession.id))
                    .where(RefreshToken.token_hash == hash_token(refresh_token.strip()))
                )
            ).first()
            if row is None:
                raise invalid
            current, auth_session = row
            if auth_session.revoked_at is not None or auth_session.expires_at <= now or current.expires_at <= now:
                raise invalid
            # Only one of two concurrent uses of a token can win this update; the other is a reuse.
            won = (
                await session.exec(
                    sa.update(RefreshToken)
                    .where(col(RefreshToken.id) == current.id, col(RefreshToken.used_at).is_(None))
                    .values(used_at=now)
                    .returning(col(RefreshToken.id))
                )
            ).first()
            if won is not None:
                replacement = new_opaque_token()
                session.add(self._refresh_row(auth_session, replacement))
                await session.exec(
                    sa.update(AuthSession).where(col(AuthSession.id) == auth_session.id).values(last_seen_at=now)
                )
        if won is None:
            await self._revoke_reused(auth_session)
            await self._uow.keep_despite_refusal()
            raise UnauthenticatedError(
                "This refresh token was already used: the session is revoked for safety; log in again.",
                field="refreshToken",
                code=Code.REFRESH_TOKEN_REUSED,
            )
        async with self._uow.session(auth_session.organization_id, auth_session.user_id) as session:
            user = await session.get(User, auth_session.user_id)
            organization = await session.get(Organization, auth_session.organization_id)
            member = (
                await session.exec(
                    tenant_select(Membership, auth_session.organization_id, Membership.id).where(
                        Membership.user_id == auth_session.user_id
                    )
                )
            ).first()
        if user is None or organization is None or member is None:
            raise invalid
        token, expires = self._runtime.tokens.issue(user.id, organization.id, auth_session.id)
        return AuthResult(user, organization, auth_session.id, token, expires, replacement)

    async def _revoke_reused(self, auth_session: AuthSession) -> None:
        async with self._uow.session(auth_session.organization_id, auth_session.user_id) as session:
            await self._revoke_rows(session, [auth_session.id], "refresh_token_reused")
            record(
                session,
                organization_id=auth_session.organization_id,
                action="auth.refresh_reuse_detected",
                meta=self._meta,
                actor_user_id=auth_session.user_id,
                target_type="AuthSession",
                target_id=auth_session.id,
            )
        await self._mark([auth_session.id])
        logger.warning("refresh token reuse: session revoked", extra={"session_id": str(auth_session.id)})

    async def _revoke_rows(self, session: AsyncSession, ids: list[UUID], reason: str) -> list[UUID]:
        if not ids:
            return []
        revoked = await session.exec(
            sa.update(AuthSession)
            .where(col(AuthSession.id).in_(ids), col(AuthSession.revoked_at).is_(None))
            .values(revoked_at=utcnow(), revoked_reason=reason)
            .returning(col(AuthSession.id))
        )
        return list(revoked.scalars().all())

    async def _mark(self, ids: list[UUID]) -> None:
        for session_id in ids:
            await mark_session_revoked(self._runtime.kv, session_id, self._runtime.tokens.ttl_seconds)

    async def log_out(self) -> None:
        """End the viewer's own session: its refresh token and access tokens stop working."""
        me = self._me()
        assert me.session_id is not None
        await self.revoke(me.session_id, reason="signed_out", action="auth.sign_out")

    async def revoke(self, session_id: UUID, *, reason: str = "revoked", action: str = "session.revoked") -> UUID:
        """Revoke one of the viewer's sessions (any organization's); another user's session is NOT_FOUND."""
        me = self._me()
        target = await self.get_mine(session_id)
        async with self._uow.session(target.organization_id, me.user_id) as session:
            await self._revoke_rows(session, [target.id], reason)
            record(
                session,
                organization_id=target.organization_id,
                action=action,
                meta=self._meta,
                actor_user_id=me.user_id,
                target_type="AuthSession",
                target_id=target.id,
                details={"reason": reason},
            )
        await self._mark([target.id])
        return target.id

    async def revoke_all_of_user(self, user_id: UUID, *, reason: str, keep: UUID | None = None) -> list[UUID]:
        """Revoke every live session of a user but `keep` (password changed or reset); returns the revoked ids."""
        async with self._uow.session(None, user_id) as session:
            query = user_select(AuthSession, user_id, AuthSession.id).where(
                col(AuthSession.revoked_at).is_(None), AuthSession.expires_at > utcnow()
            )
            if keep is not None:
                query = query.where(AuthSession.id != keep)
            ids = await self._revoke_rows(session, list((await session.exec(query)).all()), reason)
        await self._mark(ids)
        return ids

    async def mark_authenticated(self) -> datetime:
        """Record that the viewer's session just proved its user again (password or TOTP re-entered); when."""
        me = self._me()
        now = utcnow()
        async with self._uow.session(None, me.user_id) as session:
            updated = await session.exec(
                sa.update(AuthSession)
                .where(col(AuthSession.id) == me.session_id, col(AuthSession.revoked_at).is_(None))
                .values(authenticated_at=now)
                .returning(col(AuthSession.id))
            )
            if updated.scalars().first() is None:
                raise UnauthenticatedError("This session was signed out; log in again.")
        return now

    async def get_mine(self, session_id: UUID) -> AuthSession:
        """One of the viewer's sessions, revoked or not."""
        me = self._me()
        async with self._uow.session(None, me.user_id) as session:
            row = await session.get(AuthSession, session_id)
        if row is None or row.user_id != me.user_id:
            raise NotFoundError("No such session.", field="id")
        return row

    async def list_mine(self) -> list[AuthSession]:
        """The viewer's live sessions in every organization, newest first (at most 100)."""
        me = self._me()
        async with self._uow.session(None, me.user_id) as session:
            rows = await session.exec(
                user_select(AuthSession, me.user_id)
                .where(col(AuthSession.revoked_at).is_(None), AuthSession.expires_at > utcnow())
                .order_by(col(AuthSession.created_at).desc())
                .limit(SESSIONS_LISTED)
            )
            return list(rows.all())
