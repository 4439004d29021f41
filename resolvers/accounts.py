"""Accounts: email verification, password change and reset, TOTP (MFA) and the organization's MFA requirement."""

from collections.abc import Mapping
from datetime import datetime, timedelta

import strawberry

from prism.auth.throttle import ThrottledError
from prism.errors import PrismError
from resolvers.common import UserError, decode_id, user_errors_field
from resolvers.connections import answer, payload, public_user_errors
from resolvers.context import Context
from resolvers.identity import Anyone, AuthPayload, Organization, User, auth_failed, auth_payload
from resolvers.permissions import CanManageMembers, IsAuthenticated

__all__ = ["AccountsMutation", "AccountsQuery"]

Info = strawberry.Info[Context, None]


@strawberry.type(description="The signed-in user's account security.")
class AccountSecurity:
    email_verified_at: datetime | None = strawberry.field(
        description="When the email address was confirmed, if it was."
    )
    totp_enabled: bool = strawberry.field(description="Whether log-in asks for a TOTP code.")
    require_mfa: bool = strawberry.field(description="Whether the organization of this token requires MFA of members.")


@strawberry.type
class AccountsQuery:
    @strawberry.field(description="Your account's security settings.", permission_classes=[IsAuthenticated])
    async def account_security(self, info: Info) -> AccountSecurity:
        user, organization = await info.context.services.identity.accounts.security()
        return AccountSecurity(
            email_verified_at=user.email_verified_at,
            totp_enabled=user.totp_enabled_at is not None,
            require_mfa=organization.require_mfa,
        )


@strawberry.input(description="The token from the verification email.")
class VerifyEmailInput:
    token: str = strawberry.field(description="The token mailed at sign-up (valid 24 hours, works once).")


@strawberry.input(description="Your current password and the new one.")
class ChangePasswordInput:
    current_password: str = strawberry.field(description="The password you use now.")
    new_password: str = strawberry.field(description="The new password, 10 to 256 characters.")


@strawberry.input(description="The address of the account whose password is forgotten.")
class RequestPasswordResetInput:
    email: str = strawberry.field(description="Email address; a reset link is mailed if it has an account.")


@strawberry.input(description="A reset token and the new password.")
class ResetPasswordInput:
    token: str = strawberry.field(description="The token from the reset email (valid 1 hour, works once).")
    new_password: str = strawberry.field(description="The new password, 10 to 256 characters.")


@strawberry.input(description="Start TOTP enrolment.")
class EnrollTotpInput:
    mfa_token: str | None = strawberry.field(
        default=None,
        description="The mfaToken of a log-in answered MFA_ENROLLMENT_REQUIRED; omit when signed in.",
    )


@strawberry.input(description="A code from the authenticator, to turn TOTP on.")
class ConfirmTotpInput:
    code: str = strawberry.field(description="The 6-digit code the authenticator app shows now.")
    mfa_token: str | None = strawberry.field(
        default=None,
        description="The mfaToken of a log-in answered MFA_ENROLLMENT_REQUIRED; omit when signed in.",
    )


@strawberry.input(description="A current code, to turn TOTP off.")
class DisableTotpInput:
    code: str = strawberry.field(description="The 6-digit code the authenticator app shows now.")


@strawberry.input(description="The second step of a log-in: the mfaToken and a TOTP code or a recovery code.")
class CompleteMfaLogInInput:
    mfa_token: str = strawberry.field(description="The mfaToken `logIn` answered with (valid 5 minutes).")
    code: str | None = strawberry.field(default=None, description="The 6-digit code of the authenticator app.")
    recovery_code: str | None = strawberry.field(
        default=None, description="Instead of `code`: one of your recovery codes (each works once)."
    )


@strawberry.input(description="Your password or a current TOTP code, to confirm it is you (one of the two).")
class ReauthenticateInput:
    password: str | None = strawberry.field(default=None, description="Your password.")
    code: str | None = strawberry.field(default=None, description="Instead: the 6-digit code of your authenticator.")


@strawberry.type(description="The session is freshly authenticated: sensitive changes are allowed for a while.")
class ReauthenticatePayload:
    authenticated_at: datetime | None = strawberry.field(description="When this session proved its user again.")
    valid_until: datetime | None = strawberry.field(
        description="Until when enrollTotp, confirmTotp, createApiKey and resetMemberMfa are allowed without asking."
    )
    retry_after_seconds: int | None = strawberry.field(
        default=None, description="With ACCOUNT_LOCKED or RATE_LIMITED: how many seconds to wait before trying again."
    )
    user_errors: list[UserError] = strawberry.field(description="Why it failed; empty on success.")


@strawberry.input(description="The member whose two-factor authentication to reset.")
class ResetMemberMfaInput:
    user_id: strawberry.ID = strawberry.field(description="ID of a member of the organization of the token.")


@strawberry.type(description="The member's TOTP is off, their recovery codes gone and their sessions signed out.")
class ResetMemberMfaPayload:
    user: User | None = strawberry.field(description="The member.")
    user_errors: list[UserError] = strawberry.field(description="Why it failed; empty on success.")


@strawberry.input(description="Security settings of the organization of the token.")
class UpdateOrganizationSecurityInput:
    require_mfa: bool = strawberry.field(
        description="When true, members without TOTP must set it up before they can log in to this organization."
    )


@strawberry.type(description="The result of confirming an email address.")
class VerifyEmailPayload:
    user: User | None = strawberry.field(description="The account, now verified.")
    user_errors: list[UserError] = user_errors_field()


@strawberry.type(description="The result of changing or resetting a password, or of asking for a reset.")
class PasswordPayload:
    ok: bool = strawberry.field(description="True when the password was changed (or the reset asked for).")
    retry_after_seconds: int | None = strawberry.field(
        default=None, description="With ACCOUNT_LOCKED or RATE_LIMITED: how many seconds to wait before trying again."
    )
    user_errors: list[UserError] = user_errors_field()


@strawberry.type(description="A new TOTP secret: add it to an authenticator app, then call `confirmTotp`.")
class EnrollTotpPayload:
    secret: str | None = strawberry.field(description="The base32 secret, for typing into an authenticator app.")
    otpauth_uri: str | None = strawberry.field(description="The `otpauth://` URI, to show as a QR code.")
    user_errors: list[UserError] = user_errors_field()


@strawberry.type(description="TOTP is on; keep the recovery codes somewhere safe.")
class ConfirmTotpPayload:
    recovery_codes: list[str] | None = strawberry.field(
        description="10 one-time codes that replace a TOTP code when the authenticator is lost; shown only now."
    )
    user_errors: list[UserError] = user_errors_field()


@strawberry.type(description="The result of turning TOTP off.")
class DisableTotpPayload:
    ok: bool = strawberry.field(description="True when TOTP is off.")
    retry_after_seconds: int | None = strawberry.field(
        default=None, description="With ACCOUNT_LOCKED or RATE_LIMITED: how many seconds to wait before trying again."
    )
    user_errors: list[UserError] = user_errors_field()


@strawberry.type(description="The organization's security settings after the change.")
class UpdateOrganizationSecurityPayload:
    organization: Organization | None = strawberry.field(description="The organization.")
    require_mfa: bool | None = strawberry.field(description="Whether members must use MFA.")
    user_errors: list[UserError] = user_errors_field()


def retry_after(error: PrismError) -> int | None:
    """The seconds a throttled caller must wait, for a payload's `retryAfterSeconds`."""
    return error.retry_after_seconds if isinstance(error, ThrottledError) else None


def _done(result: object) -> bool:
    return True


def _not_done(error: PrismError) -> Mapping[str, object]:
    # `ok` is never null: false, with how long to wait when the refusal was a throttle.
    return {"ok": False, "retry_after_seconds": retry_after(error)}


def _throttled(error: PrismError) -> Mapping[str, object]:
    return {"retry_after_seconds": retry_after(error)}


@strawberry.type
class AccountsMutation:
    @strawberry.mutation(
        description=(
            "Confirm your email address with the mailed token: after `signUp` this creates the account and its "
            "organization (log in next). Needs no token."
        ),
        permission_classes=[Anyone],
    )
    async def verify_email(self, info: Info, input: VerifyEmailInput) -> VerifyEmailPayload:
        return await payload(
            VerifyEmailPayload,
            lambda: info.context.services.identity.verify_email(input.token),
            errors=public_user_errors,
            user=User.from_row,
        )

    @strawberry.mutation(
        description="Change your password; your other sessions are signed out.", permission_classes=[IsAuthenticated]
    )
    async def change_password(self, info: Info, input: ChangePasswordInput) -> PasswordPayload:
        return await payload(
            PasswordPayload,
            lambda: info.context.services.identity.accounts.change_password(input.current_password, input.new_password),
            refused=_not_done,
            ok=_done,
        )

    @strawberry.mutation(
        description=(
            "Mail a password-reset link if the address has an account (and a notice that it has none otherwise). "
            "The answer is the same either way, so it cannot be used to find out who has an account. Limited per "
            "address and per client address: RATE_LIMITED with retryAfterSeconds. Needs no token."
        ),
        permission_classes=[Anyone],
    )
    async def request_password_reset(self, info: Info, input: RequestPasswordResetInput) -> PasswordPayload:
        return await payload(
            PasswordPayload,
            lambda: info.context.services.identity.accounts.request_password_reset(input.email),
            errors=public_user_errors,
            refused=_not_done,
            ok=_done,
        )

    @strawberry.mutation(
        description="Set a new password with a reset token; every session is signed out. Needs no token.",
        permission_classes=[Anyone],
    )
    async def reset_password(self, info: Info, input: ResetPasswordInput) -> PasswordPayload:
        return await payload(
            PasswordPayload,
            lambda: info.context.services.identity.accounts.reset_password(input.token, input.new_password),
            errors=public_user_errors,
            refused=_not_done,
            ok=_done,
        )

    @strawberry.mutation(
        description=(
            "Start TOTP enrolment: returns a secret and an otpauth URI. Signed in, or with the mfaToken of a log-in "
            "answered MFA_ENROLLMENT_REQUIRED."
        ),
        permission_classes=[Anyone],
    )
    async def enroll_totp(self, info: Info, input: EnrollTotpInput | None = None) -> EnrollTotpPayload:
        return await payload(
            EnrollTotpPayload,
            lambda: info.context.services.identity.mfa.enroll(input.mfa_token if input else None),
            errors=public_user_errors,
            secret=lambda enrollment: enrollment.secret,
            otpauth_uri=lambda enrollment: enrollment.uri,
        )

    @strawberry.mutation(
        description="Turn TOTP on with a current code; answers 10 recovery codes, shown once.",
        permission_classes=[Anyone],
    )
    async def confirm_totp(self, info: Info, input: ConfirmTotpInput) -> ConfirmTotpPayload:
        return await payload(
            ConfirmTotpPayload,
            lambda: info.context.services.identity.mfa.confirm(input.code, input.mfa_token),
            errors=public_user_errors,
            recovery_codes=lambda codes: codes,
        )

    @strawberry.mutation(description="Turn TOTP off with a current code.", permission_classes=[IsAuthenticated])
    async def disable_totp(self, info: Info, input: DisableTotpInput) -> DisableTotpPayload:
        return await payload(
            DisableTotpPayload,
            lambda: info.context.services.identity.mfa.disable(input.code),
            refused=_not_done,
            ok=_done,
        )

    @strawberry.mutation(
        description="Finish a log-in that answered mfaRequired, with a TOTP code or a recovery code. Needs no token.",
        permission_classes=[Anyone],
    )
    async def complete_mfa_log_in(self, info: Info, input: CompleteMfaLogInInput) -> AuthPayload:
        return await answer(
            lambda: info.context.services.identity.mfa.complete_log_in(
                input.mfa_token, input.code, input.recovery_code
            ),
            auth_payload,
            auth_failed,
        )

    @strawberry.mutation(
        description=(
            "Confirm it is you with your password or a TOTP code (throttled like a log-in). Enrolling TOTP, creating "
            "API keys and resetting a member's MFA need a session signed in or re-authenticated within the last 10 "
            "minutes (PRISM_REAUTHENTICATION_WINDOW_SECONDS), else REAUTHENTICATION_REQUIRED."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def reauthenticate(self, info: Info, input: ReauthenticateInput) -> ReauthenticatePayload:
        window = timedelta(seconds=info.context.runtime.settings.reauthentication_window_seconds)
        return await payload(
            ReauthenticatePayload,
            lambda: info.context.services.identity.reauthenticate(password=input.password, code=input.code),
            refused=_throttled,
            authenticated_at=lambda when: when,
            valid_until=lambda when: when + window,
        )

    @strawberry.mutation(
        description=(
            "OWNER only: turn a locked-out member's TOTP off, delete their recovery codes and sign out their "
            "sessions (they are mailed, and it is audited as mfa.reset). Needs a recent authentication, and that you "
            "own every organization the member belongs to."
        ),
        permission_classes=[CanManageMembers],
    )
    async def reset_member_mfa(self, info: Info, input: ResetMemberMfaInput) -> ResetMemberMfaPayload:
        return await payload(
            ResetMemberMfaPayload,
            lambda: info.context.services.identity.mfa.reset_member(decode_id(input.user_id, "User", "userId")),
            user=User.from_row,
        )

    @strawberry.mutation(
        description="Require (or stop requiring) MFA of the organization's members. OWNER or ADMIN.",
        permission_classes=[CanManageMembers],
    )
    async def update_organization_security(
        self, info: Info, input: UpdateOrganizationSecurityInput
    ) -> UpdateOrganizationSecurityPayload:
        return await payload(
            UpdateOrganizationSecurityPayload,
            lambda: info.context.services.identity.mfa.update_organization_security(input.require_mfa),
            organization=Organization.from_row,
            require_mfa=lambda organization: organization.require_mfa,
        )
