"""Tables of identity and access: sessions, refresh tokens, one-time tokens, MFA, API keys, invitations,
product-level roles and the audit log.

Sessions, refresh tokens, user tokens and recovery codes belong to a user, not to an organization: row-level security
admits them by user (migration 0005), and before the user is known the application reaches them only through the
named look-ups of prism/db/lookups.py. API keys, invitations, product members and the audit log are tenant rows
like any other.
"""

from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from prism.db.base import created_at_field, enum_check, tenant_fk, timestamp_field, uuid_pk
from prism.domain.enums import Role

__all__ = [
    "ApiKey",
    "AuditLog",
    "AuthSession",
    "Invitation",
    "ProductMember",
    "RecoveryCode",
    "RefreshToken",
    "SignUpRequest",
    "UserToken",
]

ACCESS_TENANT_TABLES = ("api_key", "invitation", "product_member", "audit_log")
"""Tenant tables added for access control (row-level security applies to them too)."""


class AuthSession(SQLModel, table=True):
    """A signed-in device: the family every rotated refresh token of one log-in belongs to."""

    __tablename__ = "auth_session"
    __table_args__ = (sa.Index("ix_auth_session_user_id_created_at", "user_id", "created_at"),)

    id: UUID = uuid_pk()
    user_id: UUID = Field(foreign_key="app_user.id", ondelete="CASCADE")
    organization_id: UUID = Field(foreign_key="organization.id", ondelete="CASCADE")
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=512)
    mfa_verified: bool = Field(default=False)
    created_at: datetime = created_at_field()
    last_seen_at: datetime = created_at_field()
    authenticated_at: datetime = created_at_field()  # sign-in, or the last re-authentication
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    revoked_at: datetime | None = timestamp_field()
    revoked_reason: str | None = Field(default=None, max_length=64)


class RefreshToken(SQLModel, table=True):
    """One refresh token of a session; using it rotates it, and using a rotated one revokes the whole session."""

    __tablename__ = "refresh_token"
    __table_args__ = (sa.Index("ix_refresh_token_session_id", "session_id"),)

    id: UUID = uuid_pk()
    session_id: UUID = Field(foreign_key="auth_session.id", ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    used_at: datetime | None = timestamp_field()


class UserToken(SQLModel, table=True):
    """A one-time secret mailed to a user (email verification, password reset) or handed out mid-log-in (MFA)."""

    __tablename__ = "user_token"
    __table_args__ = (
        sa.Index("ix_user_token_user_id_purpose", "user_id", "purpose"),
        sa.CheckConstraint("purpose IN ('VERIFY_EMAIL', 'RESET_PASSWORD', 'MFA_CHALLENGE')", name="purpose"),
    )

    id: UUID = uuid_pk()
    user_id: UUID = Field(foreign_key="app_user.id", ondelete="CASCADE")
    purpose: str = Field(max_length=32)
    token_hash: str = Field(max_length=64, unique=True)
    organization_id: UUID | None = Field(default=None, foreign_key="organization.id", ondelete="CASCADE")
    created_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    used_at: datetime | None = timestamp_field()


class SignUpRequest(SQLModel, table=True):
    """A sign-up awaiting the confirmation of its address (24 h), reached only through migration 0008's functions."""

    __tablename__ = "sign_up_request"
    __table_args__ = (sa.Index("ix_sign_up_request_expires_at", "expires_at"),)

    id: UUID = uuid_pk()
    email: str = Field(max_length=254)
    name: str = Field(max_length=120)
    organization_name: str = Field(max_length=120)
    password_hash: str = Field(max_length=255)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]


class RecoveryCode(SQLModel, table=True):
    """A one-time MFA recovery code (stored hashed)."""

    __tablename__ = "recovery_code"
    __table_args__ = (sa.Index("ix_recovery_code_user_id", "user_id"),)

    id: UUID = uuid_pk()
    user_id: UUID = Field(foreign_key="app_user.id", ondelete="CASCADE")
    code_hash: str = Field(max_length=64)
    created_at: datetime = created_at_field()
    used_at: datetime | None = timestamp_field()


class ApiKey(SQLModel, table=True):
    """An organization's key for integrators: shown once, stored hashed, known by its visible prefix."""

    __tablename__ = "api_key"
    __table_args__ = (sa.Index("ix_api_key_organization_id_created_at", "organization_id", "created_at"),)

    id: UUID = uuid_pk()
    organization_id: UUID = tenant_fk()
    name: str = Field(max_length=120)
    prefix: str = Field(max_length=32, unique=True)
    secret_hash: str = Field(max_length=64)
    scopes: list[str] = Field(sa_column=sa.Column(ARRAY(sa.String(16)), nullable=False))
    created_by_id: UUID | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    created_at: datetime = created_at_field()
    expires_at: datetime | None = timestamp_field()
    last_used_at: datetime | None = timestamp_field()
    revoked_at: datetime | None = timestamp_field()


class Invitation(SQLModel, table=True):
    """An invitation to join an organization with a role, mailed to an address."""

    __table_args__ = (
        sa.Index("ix_invitation_organization_id_email", "organization_id", "email"),
        enum_check("role", Role, "role"),
    )

    id: UUID = uuid_pk()
    organization_id: UUID = tenant_fk()
    email: str = Field(max_length=254)
    role: str = Field(max_length=16)
    token_hash: str = Field(max_length=64, unique=True)
    invited_by_id: UUID | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    created_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    accepted_at: datetime | None = timestamp_field()
    revoked_at: datetime | None = timestamp_field()


class ProductMember(SQLModel, table=True):
    """A product-level role for a user or a team, overriding the organization role on that product."""

    __tablename__ = "product_member"
    __table_args__ = (
        sa.UniqueConstraint("organization_id", "product_id", "user_id"),
        sa.UniqueConstraint("organization_id", "product_id", "team_id"),
        sa.CheckConstraint("(user_id IS NULL) <> (team_id IS NULL)", name="one_subject"),
        enum_check("role", Role, "role"),
    )

    id: UUID = uuid_pk()
    organization_id: UUID = tenant_fk()
    product_id: UUID = Field(foreign_key="product.id", ondelete="CASCADE")
    user_id: UUID | None = Field(default=None, foreign_key="app_user.id", ondelete="CASCADE")
    team_id: UUID | None = Field(default=None, foreign_key="team.id", ondelete="CASCADE")
    role: str = Field(max_length=16)
    created_at: datetime = created_at_field()


class AuditLog(SQLModel, table=True):
    """Who did what to which target, when, from where: sign-ins, permission changes, keys, destructive actions."""

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_organization_id_created_at", "organization_id", "created_at"),)

    id: UUID = uuid_pk()
    organization_id: UUID = tenant_fk()
    actor_user_id: UUID | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    actor_api_key_id: UUID | None = Field(default=None, foreign_key="api_key.id", ondelete="SET NULL")
    action: str = Field(max_length=64)
    target_type: str | None = Field(default=None, max_length=64)
    target_id: str | None = Field(default=None, max_length=64)
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=512)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONB, nullable=False))
    created_at: datetime = created_at_field()
