"""row-level security for the tables people own, forced on every table, and named look-ups for signing in

Users, sessions, refresh tokens, one-time user tokens and recovery codes get policies by user
(`prism.user_id`): a transaction sees its own user's rows, and the users who are members of its organization
(names for assignees and authors). Row-level security is FORCEd on every table with `organization_id` or
`user_id` (and on organization and app_user), so even the tables' owner is bound by the policies.

What signing in must find before it knows whose rows it reads goes through SECURITY DEFINER functions, each named
and returning only what the step needs. They run as the tables' owner, and a `lookup_read` policy for the owner
admits every row while the owner acts on behalf of another session user (`session_user <> current_user`, true
inside a SECURITY DEFINER function called by the server's role). The server's role is not the owner, so the policy
opens nothing to it; the owner connecting directly is bound like everyone else (FORCE), and only a role that can
already act as the owner (a member of it, or a superuser) gets past it:

- prism_member_role(org, user): the user's role in the organization (authentication of every request);
- prism_user_id_by_email(email): the id of the account with that address (log-in, SSO, password reset, sign-up);
- prism_user_token_owner(hash, purpose): whose unused, unexpired one-time token this is (email verification,
  password reset, MFA challenge);
- prism_refresh_token_owner(hash): whose session a refresh token belongs to, used or not (refresh, reuse detection);
- prism_find_api_key(prefix), prism_find_invitation(hash): from migration 0004.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 01:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_ORG = "NULLIF(current_setting('prism.org_id', true), '')::uuid"
CURRENT_USER = "NULLIF(current_setting('prism.user_id', true), '')::uuid"

TENANT_TABLES = (
    "membership",
    "team",
    "team_member",
    "product",
    "label",
    "requirement",
    "requirement_label",
    "requirement_event",
    "sprint",
    "release",
    "roadmap",
    "roadmap_item",
    "document",
    "document_version",
    "comment",
    "api_key",
    "invitation",
    "product_member",
    "audit_log",
)
USER_TABLES = ("app_user", "auth_session", "refresh_token", "user_token", "recovery_code")
LOOKUP_TABLES = ("membership", "app_user", "user_token", "refresh_token", "auth_session", "api_key", "invitation")
NEW_FUNCTIONS = {
    "prism_member_role(uuid, uuid)": """
        CREATE FUNCTION prism_member_role(p_organization_id uuid, p_user_id uuid) RETURNS text
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
            SELECT role FROM membership WHERE organization_id = p_organization_id AND user_id = p_user_id
        $$
    """,
    "prism_user_id_by_email(text)": """
        CREATE FUNCTION prism_user_id_by_email(p_email text) RETURNS uuid
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
            SELECT id FROM app_user WHERE email = p_email
        $$
    """,
    "prism_user_token_owner(text, text)": """
        CREATE FUNCTION prism_user_token_owner(p_token_hash text, p_purpose text) RETURNS uuid
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
            SELECT user_id FROM user_token
            WHERE token_hash = p_token_hash AND purpose = p_purpose AND used_at IS NULL AND expires_at > now()
        $$
    """,
    "prism_refresh_token_owner(text)": """
        CREATE FUNCTION prism_refresh_token_owner(p_token_hash text) RETURNS uuid
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
            SELECT s.user_id FROM refresh_token r JOIN auth_session s ON s.id = r.session_id
            WHERE r.token_hash = p_token_hash
        $$
    """,
}


def upgrade() -> None:
    for table in LOOKUP_TABLES:
        op.execute(
            f"CREATE POLICY lookup_read ON {table} FOR SELECT TO CURRENT_USER USING (session_user <> current_user)"
        )

    op.execute("ALTER TABLE app_user ENABLE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY user_read ON app_user FOR SELECT USING ("  # noqa: S608 - constants, no input
        f"id = {CURRENT_USER} OR EXISTS (SELECT 1 FROM membership m WHERE m.user_id = app_user.id "
        f"AND m.organization_id = {CURRENT_ORG}))"
    )
    op.execute(f"CREATE POLICY user_insert ON app_user FOR INSERT WITH CHECK (id = {CURRENT_USER})")
    op.execute(f"CREATE POLICY user_update ON app_user FOR UPDATE USING (id = {CURRENT_USER})")
    op.execute(f"CREATE POLICY user_delete ON app_user FOR DELETE USING (id = {CURRENT_USER})")
    for table in ("auth_session", "user_token", "recovery_code"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY own_rows ON {table} USING (user_id = {CURRENT_USER}) WITH CHECK (user_id = {CURRENT_USER})"
        )
    own_session = (
        "EXISTS (SELECT 1 FROM auth_session s WHERE s.id = refresh_token.session_id "  # noqa: S608 - constants
        f"AND s.user_id = {CURRENT_USER})"
    )
    op.execute("ALTER TABLE refresh_token ENABLE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY own_rows ON refresh_token USING ({own_session}) WITH CHECK ({own_session})")

    for table in (*TENANT_TABLES, "organization", *USER_TABLES):
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")

    for function, definition in NEW_FUNCTIONS.items():
        op.execute(definition)
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO prism_app")


def downgrade() -> None:
    for function in NEW_FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    for table in (*TENANT_TABLES, "organization", *USER_TABLES):
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    for policy in ("user_read", "user_insert", "user_update", "user_delete"):
        op.execute(f"DROP POLICY IF EXISTS {policy} ON app_user")
    for table in ("auth_session", "user_token", "recovery_code", "refresh_token"):
        op.execute(f"DROP POLICY IF EXISTS own_rows ON {table}")
    for table in USER_TABLES:
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    for table in LOOKUP_TABLES:
        op.execute(f"DROP POLICY IF EXISTS lookup_read ON {table}")
