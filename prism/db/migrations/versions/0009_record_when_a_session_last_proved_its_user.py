"""record when a session last proved who its user is, for changes that need a recent authentication

`auth_session.authenticated_at` is the sign-in time, moved forward by a re-authentication (password or TOTP).
Enrolling TOTP, creating API keys and resetting a member's MFA need it to be recent. Existing sessions get their
sign-in time (`created_at`); the update runs with row-level security not forced for a moment, since the owner
running migrations is bound by the forced policies like everyone else.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("auth_session", sa.Column("authenticated_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("ALTER TABLE auth_session NO FORCE ROW LEVEL SECURITY")
    op.execute("UPDATE auth_session SET authenticated_at = created_at")
    op.execute("ALTER TABLE auth_session FORCE ROW LEVEL SECURITY")
    op.alter_column("auth_session", "authenticated_at", nullable=False)


def downgrade() -> None:
    op.drop_column("auth_session", "authenticated_at")
