"""Single sign-on as a use case: link a provider's validated identity to the PRISM account with the same email, verified
by the provider and by PRISM, and sign it in (prism/auth/oidc.py runs the OpenID Connect flow that produces the
identity)."""

from uuid import UUID

from prism.auth.oidc import SsoError, SsoErrorCode, SsoIdentity
from prism.db.unit_of_work import UnitOfWork
from prism.errors import NotFoundError
from prism.services.audit import RequestMeta, record
from prism.services.credentials import lookup_forms
from prism.services.identity import AuthResult, IdentityService, MfaChallenge
from prism.services.users import find_user_by_email

__all__ = ["SsoSignIn"]


class SsoSignIn:
    """Links a validated SSO identity to the account with the same email, verified on both sides, and signs it in."""

    def __init__(self, uow: UnitOfWork, identity: IdentityService, meta: RequestMeta) -> None:
        self._uow = uow
        self._identity = identity
        self._meta = meta

    async def sign_in(self, sso: SsoIdentity, organization_id: UUID | None) -> AuthResult | MfaChallenge:
        """Sign in the account whose email both the provider and PRISM verified; refuse anything less.

        PRISM's own proof matters as much as the provider's: an account whose address was never confirmed may have
        been opened by someone else first (pre-hijacking), who knows its password.

        A second factor is asked for exactly as after a password (TOTP enabled, or an organization requiring MFA):
        the provider's sign-in proves the email, not PRISM's second factor.
        """
        if not sso.email or not sso.email_verified:
            raise SsoError(
                SsoErrorCode.EMAIL_NOT_VERIFIED,
                "The sign-in provider has not verified this email address, so it cannot be linked to an account. "
                "Verify it with the provider, or log in with your password.",
                403,
            )
        user = await find_user_by_email(self._uow, lookup_forms(sso.email))
        if user is None:
            raise SsoError(
                SsoErrorCode.ACCOUNT_NOT_FOUND,
                "No PRISM account uses this email. Sign up or accept an invitation first, then use single sign-on.",
                403,
            )
        if user.email_verified_at is None:
            # Whoever signed up with this address chose the account's password without proving the address: linking
            # would hand the address's owner an account a stranger can still log in to.
            raise SsoError(
                SsoErrorCode.ACCOUNT_NOT_VERIFIED,
                "The PRISM account with this email has not confirmed its address, so single sign-on will not open "
                "it. Ask PRISM for a password reset with this address: the link it mails proves the address is "
                "yours, lets you choose the password and signs out every session. Then sign in with single "
                "sign-on again.",
                403,
            )
        try:
            organization = await self._identity.organization_of(user, organization_id)
        except NotFoundError as error:
            raise SsoError(SsoErrorCode.NOT_A_MEMBER, error.message, 404) from None
        async with self._uow.session(organization.id, user.id) as session:
            # Which provider vouched for the account (open_session's `auth.sign_in` says only `method: sso`).
            record(
                session,
                organization_id=organization.id,
                action="auth.sso_identity",
                meta=self._meta,
                actor_user_id=user.id,
                target_type="User",
                target_id=user.id,
                details={"method": "sso", "provider": sso.provider, "subject": sso.subject},
            )
        if user.totp_enabled_at is not None or organization.require_mfa:
            token = await self._identity.mfa.challenge(user, organization)
            return MfaChallenge(mfa_token=token, enrollment_required=user.totp_enabled_at is None)
        return await self._identity.open_session(user, organization, method="sso")
