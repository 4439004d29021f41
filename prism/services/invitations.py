"""Invitations: an OWNER or ADMIN invites an email address with a role; the person with that address accepts.

The token is mailed once and stored only as its SHA-256. Accepting needs a signed-in account whose email equals the
invited address (compared in lower case): a leaked link alone does not let a stranger in. Before the organization
is known, the invitation is found through the SECURITY DEFINER function `prism_find_invitation(token_hash)`.
"""

from datetime import timedelta
from uuid import UUID

import sqlalchemy as sa
from sqlmodel import col

from prism.auth.mailer import Mailer, Message
from prism.auth.rbac import Permission, Viewer, require
from prism.auth.tokens import hash_token, new_opaque_token
from prism.db.access_tables import AuthSession, Invitation
from prism.db.base import utcnow
from prism.db.tables import Membership, Organization, User
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.domain.enums import Role
from prism.errors import Code, ForbiddenError, NotFoundError, ValidationError
from prism.services.audit import RequestMeta, record
from prism.services.credentials import fold_email, lookup_forms, normalise_email
from prism.services.identity import AuthResult, IdentityService
from prism.services.members import check_grantable
from prism.services.validation import get_for_update

__all__ = ["INVITATION_LIFETIME", "InvitationService"]

INVITATION_LIFETIME = timedelta(days=7)


class InvitationService:
    """Creating, revoking and accepting invitations."""

    def __init__(
        self,
        uow: UnitOfWork,
        viewer: Viewer,
        mailer: Mailer,
        identity: IdentityService,
        meta: RequestMeta | None = None,
    ) -> None:
        self._uow = uow
        self._viewer = viewer
        self._mailer = mailer
        self._identity = identity
        self._meta = meta or RequestMeta()

    @property
    def _org(self) -> UUID:
        return self._viewer.organization_id

    async def invite(self, *, email: str, role: Role) -> Invitation:
        """Invite an address with a role (replacing a pending invitation of the same address) and mail the link."""
        require(self._viewer, Permission.MANAGE_MEMBERS)
        check_grantable(self._viewer, role)
        email = normalise_email(email)
        token = new_opaque_token()
        async with self._uow.session(self._org, self._viewer.user_id) as session:
            member = (
                await session.exec(
                    tenant_select(Membership, self._org, Membership.id)
                    .join(User, col(User.id) == col(Membership.user_id))
                    .where(col(User.email).in_(lookup_forms(email)))
                )
            ).first()
            if member is not None:
                raise ValidationError(
                    "This address belongs to a member already.", field="email", code=Code.ALREADY_EXISTS
                )
            now = utcnow()
            pending = await session.exec(
                tenant_select(Invitation, self._org)
                .where(
                    col(Invitation.email) == email,
                    col(Invitation.accepted_at).is_(None),
                    col(Invitation.revoked_at).is_(None),
                )
                .with_for_update()
            )
            for earlier in pending.all():
                earlier.revoked_at = now
            invitation = Invitation(
                organization_id=self._org,
                email=email,
                role=role.value,
                token_hash=hash_token(token),
                invited_by_id=self._viewer.user_id,
                expires_at=now + INVITATION_LIFETIME,
            )
            session.add(invitation)
            await session.flush()
            organization = await session.get(Organization, self._org)
            record(
                session,
                organization_id=self._org,
                action="invitation.created",
                meta=self._meta,
                actor=self._viewer,
                target_type="invitation",
                target_id=invitation.id,
                details={"email": email, "role": role.value},
            )
        name = organization.name if organization is not None else "an organization"
        message = Message(
            to=email,
            subject=f"You are invited to {name} on PRISM",
            body=(
                f"You have been invited to join {name} on PRISM as {role.value}.\n\n"
                f"Sign in (or sign up) with {email}, then accept with this invitation token:\n\n{token}\n\n"
                '(GraphQL: mutation { acceptInvitation(input: {token: "..."}) { accessToken } })\n'
                f"The invitation expires on {invitation.expires_at:%Y-%m-%d %H:%M} UTC."
            ),
        )
        # Mailed once the invitation is committed: a rolled-back one must not reach anybody's inbox.
        self._uow.after_commit(lambda: self._mailer.send(message))
        return invitation

    async def revoke(self, invitation_id: UUID) -> Invitation:
        """Withdraw a pending invitation: its token stops working."""
        require(self._viewer, Permission.MANAGE_MEMBERS)
        async with self._uow.session(self._org, self._viewer.user_id) as session:
            invitation = await get_for_update(session, Invitation, invitation_id, self._org, "id")
            check_grantable(self._viewer, Role(invitation.role))
            if invitation.accepted_at is not None or invitation.revoked_at is not None:
                raise ValidationError(
                    "The invitation was already accepted or revoked.", field="id", code=Code.INVALID_STATE
                )
            invitation.revoked_at = utcnow()
            session.add(invitation)
            record(
                session,
                organization_id=self._org,
                action="invitation.revoked",
                meta=self._meta,
                actor=self._viewer,
                target_type="invitation",
                target_id=invitation.id,
                details={"email": invitation.email, "role": invitation.role},
            )
        return invitation

    async def accept(self, token: str) -> AuthResult:
        """Join the inviting organization with the invited role and sign in to it."""
        if self._viewer.api_key_id is not None:
            raise ForbiddenError("An API key cannot accept an invitation; sign in as the invited person.")
        token = token.strip()
        if not token or len(token) > 200:
            raise NotFoundError("This invitation does not exist.", field="token")
        async with self._uow.session(None, self._viewer.user_id) as session:
            lookup = sa.text("SELECT * FROM prism_find_invitation(:hash)")  # unscoped: SECURITY DEFINER look-up
            connection = await session.connection()
            found = (await connection.execute(lookup, {"hash": hash_token(token)})).first()
            user = await session.get(User, self._viewer.user_id)
        if found is None or user is None:
            raise NotFoundError("This invitation does not exist.", field="token")
        if fold_email(user.email) != fold_email(found.email):
            # Said plainly: the person must sign in with the invited address, and nothing else leaks.
            raise ForbiddenError("This invitation was sent to another email address; sign in with that one.")
        mfa_verified = await self._check_second_factor(user, found.organization_id)
        async with self._uow.session(found.organization_id, user.id) as session:
            invitation = await get_for_update(session, Invitation, found.id, found.organization_id, "token")
            if invitation.accepted_at is not None or invitation.revoked_at is not None:
                raise ValidationError(
                    "This invitation was already used or was revoked.", field="token", code=Code.INVALID_STATE
                )
            if invitation.expires_at <= utcnow():
                raise ValidationError(
                    "This invitation has expired; ask for a new one.", field="token", code=Code.INVALID_STATE
                )
            existing = (
                await session.exec(
                    tenant_select(Membership, invitation.organization_id, Membership.id).where(
                        Membership.user_id == user.id
                    )
                )
            ).first()
            if existing is not None:
                raise ValidationError(
                    "You are a member of this organization already.", field="token", code=Code.ALREADY_EXISTS
                )
            session.add(Membership(organization_id=invitation.organization_id, user_id=user.id, role=invitation.role))
            invitation.accepted_at = utcnow()
            session.add(invitation)
            await session.flush()
            organization = await session.get(Organization, invitation.organization_id)
            record(
                session,
                organization_id=invitation.organization_id,
                action="invitation.accepted",
                meta=self._meta,
                actor_user_id=user.id,
                target_type="invitation",
                target_id=invitation.id,
                details={"email": invitation.email, "role": invitation.role},
            )
        assert organization is not None
        return await self._identity.open_session(user, organization, method="invitation", mfa_verified=mfa_verified)

    async def _check_second_factor(self, user: User, organization_id: UUID) -> bool:
        """Joining signs the user in to the new organization, so it asks what logIn would: a session proven with a
        second factor when the user has TOTP or the organization requires MFA. Refused before anything is written."""
        async with self._uow.session(organization_id, user.id) as session:
            organization = await session.get(Organization, organization_id)
            current = (
                None if self._viewer.session_id is None else await session.get(AuthSession, self._viewer.session_id)
            )
        required = user.totp_enabled_at is not None or bool(organization and organization.require_mfa)
        if not required:
            return False
        if user.totp_enabled_at is None:
            raise ValidationError(
                "This organization requires two-factor sign-in: enable TOTP (enrollTotp, confirmTotp), sign in again "
                "with it, then accept the invitation.",
                field="token",
                code=Code.MFA_ENROLLMENT_REQUIRED,
            )
        if current is None or not current.mfa_verified:
            raise ValidationError(
                "Sign in with your second factor before joining this organization.",
                field="token",
                code=Code.MFA_ENROLLMENT_REQUIRED,
            )
        return True
