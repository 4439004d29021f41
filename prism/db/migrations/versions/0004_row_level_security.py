"""row-level security on every tenant table, and the prism_app role the server connects through

Every tenant table gets a policy that admits only rows of the organization set for the transaction
(`SET LOCAL prism.org_id`, done by prism.db.engine.set_tenant). Memberships are also visible to their own user
across organizations (`prism.user_id`), so a user can list their organizations, and an organization is visible to its
members. The policies bind every role that is not the tables' owner and has no BYPASSRLS: PRISM's server connects
through a login role that is a member of `prism_app` (see docs/security.md); migrations run as the owner.

Two SECURITY DEFINER functions let authentication find what it cannot yet scope to a tenant: an API key by its
prefix, an invitation by its token hash. They return only what authentication needs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 15:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

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
CURRENT_ORG = "NULLIF(current_setting('prism.org_id', true), '')::uuid"
CURRENT_USER = "NULLIF(current_setting('prism.user_id', true), '')::uuid"


def upgrade() -> None:
    op.execute(
        """
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'prism_app') THEN
                CREATE ROLE prism_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
            END IF;
        EXCEPTION WHEN duplicate_object THEN NULL;  -- another database's migration created it meanwhile
        END $$;
        """
    )
    op.execute("GRANT USAGE ON SCHEMA public TO prism_app")
    op.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO prism_app")
    op.execute("REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM prism_app")
    op.execute("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO prism_app")
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        if table == "membership":
            op.execute(
                f"CREATE POLICY tenant_read ON membership FOR SELECT USING (organization_id = {CURRENT_ORG} OR user_id = {CURRENT_USER})"
            )
            for command in ("INSERT", "UPDATE", "DELETE"):
                clause = "WITH CHECK" if command == "INSERT" else "USING"
                op.execute(
                    f"CREATE POLICY tenant_{command.lower()} ON membership FOR {command} "
                    f"{clause} (organization_id = {CURRENT_ORG})"
                )
            continue
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (organization_id = {CURRENT_ORG}) WITH CHECK (organization_id = {CURRENT_ORG})"
        )
    op.execute("ALTER TABLE organization ENABLE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY member_read ON organization FOR SELECT USING ("  # noqa: S608 - constants, no input
        f"id = {CURRENT_ORG} OR EXISTS (SELECT 1 FROM membership m WHERE m.organization_id = organization.id "
        f"AND m.user_id = {CURRENT_USER}))"
    )
    op.execute(f"CREATE POLICY tenant_insert ON organization FOR INSERT WITH CHECK (id = {CURRENT_ORG})")
    op.execute(f"CREATE POLICY tenant_update ON organization FOR UPDATE USING (id = {CURRENT_ORG})")
    op.execute(f"CREATE POLICY tenant_delete ON organization FOR DELETE USING (id = {CURRENT_ORG})")
    op.execute(
        """
        CREATE FUNCTION prism_find_api_key(p_prefix text)
        RETURNS TABLE (id uuid, organization_id uuid, secret_hash text, scopes text[], created_by_id uuid,
                       expires_at timestamptz, revoked_at timestamptz)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
            SELECT id, organization_id, secret_hash, scopes::text[], created_by_id, expires_at, revoked_at
            FROM api_key WHERE prefix = p_prefix
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION prism_find_invitation(p_token_hash text)
        RETURNS TABLE (id uuid, organization_id uuid, email text, role text, expires_at timestamptz,
                       accepted_at timestamptz, revoked_at timestamptz)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
            SELECT id, organization_id, email, role, expires_at, accepted_at, revoked_at
            FROM invitation WHERE token_hash = p_token_hash
        $$
        """
    )
    for function in ("prism_find_api_key(text)", "prism_find_invitation(text)"):
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO prism_app")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS prism_find_invitation(text)")
    op.execute("DROP FUNCTION IF EXISTS prism_find_api_key(text)")
    for policy in ("member_read", "tenant_insert", "tenant_update", "tenant_delete"):
        op.execute(f"DROP POLICY IF EXISTS {policy} ON organization")
    op.execute("ALTER TABLE organization DISABLE ROW LEVEL SECURITY")
    for table in TENANT_TABLES:
        for policy in ("tenant_isolation", "tenant_read", "tenant_insert", "tenant_update", "tenant_delete"):
            op.execute(f"DROP POLICY IF EXISTS {policy} ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM prism_app")
    op.execute("REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM prism_app")
    op.execute("REVOKE USAGE ON SCHEMA public FROM prism_app")
    # The role is cluster-wide and may serve other databases: it is left in place.
