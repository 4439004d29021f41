"""sign-ups await the confirmation of their address before an account exists

A sign-up no longer creates an account: it records a `sign_up_request` (the address, the name, the organization
name, the password's argon2 hash and the SHA-256 of a mailed token, 24 hours) and mails the address. Confirming the
address with the token creates the account and its organization. A sign-up with an address that has an account
records nothing and mails the account's owner instead; both answer alike, so a sign-up reveals no account.

The table belongs to nobody yet, so the server's role reaches it only through two SECURITY DEFINER functions, and
row-level security (forced, with no policy for the server's role) keeps it closed otherwise:

- prism_request_sign_up(...): records the request unless one of the address's forms has an account, and answers
  that account's stored address (or NULL); it also drops expired requests;
- prism_claim_sign_up(hash): takes (deletes) the unexpired request with that token hash and answers what creating
  the account needs.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTIONS = {
    "prism_request_sign_up(uuid, text[], text, text, text, text, timestamptz)": """
        CREATE FUNCTION prism_request_sign_up(
            p_id uuid, p_emails text[], p_name text, p_organization_name text, p_password_hash text,
            p_token_hash text, p_expires_at timestamptz
        ) RETURNS text
        LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
            WITH existing AS (
                SELECT email FROM app_user WHERE email = ANY(p_emails) LIMIT 1
            ), purged AS (
                DELETE FROM sign_up_request WHERE expires_at <= now()
            ), recorded AS (
                INSERT INTO sign_up_request
                    (id, email, name, organization_name, password_hash, token_hash, created_at, expires_at)
                SELECT p_id, p_emails[1], p_name, p_organization_name, p_password_hash, p_token_hash, now(),
                       p_expires_at
                WHERE NOT EXISTS (SELECT 1 FROM existing)
            )
            SELECT (SELECT email FROM existing)
        $$
    """,
    "prism_claim_sign_up(text)": """
        CREATE FUNCTION prism_claim_sign_up(p_token_hash text)
        RETURNS TABLE (email text, name text, organization_name text, password_hash text)
        LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
            DELETE FROM sign_up_request WHERE token_hash = p_token_hash AND expires_at > now()
            RETURNING email, name, organization_name, password_hash
        $$
    """,
}


def upgrade() -> None:
    op.create_table(
        "sign_up_request",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("organization_name", sa.String(length=120), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_sign_up_request_expires_at", "sign_up_request", ["expires_at"])
    op.execute("ALTER TABLE sign_up_request ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE sign_up_request FORCE ROW LEVEL SECURITY")
    # Only the owner, inside the functions (acting for another session user), touches the rows.
    op.execute(
        "CREATE POLICY lookup_all ON sign_up_request TO CURRENT_USER "
        "USING (session_user <> current_user) WITH CHECK (session_user <> current_user)"
    )
    # The database's own group role (migration 0007) may call the functions and nothing else of the table.
    group = str(op.get_bind().execute(sa.text("SELECT prism_app_role()")).scalar_one())
    op.execute(f"REVOKE ALL ON sign_up_request FROM {group}")
    for function, definition in FUNCTIONS.items():
        op.execute(definition)
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {group}")


def downgrade() -> None:
    for function in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    op.drop_index("ix_sign_up_request_expires_at", table_name="sign_up_request")
    op.drop_table("sign_up_request")
