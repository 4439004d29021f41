"""install the job queue: procrastinate's schema, the server role's rights on it, and why jobs failed

Background work (the outbox relay, the event log's retention, nightly sprint snapshots) runs on procrastinate, a job
queue kept in PostgreSQL (docs/architecture.md). Its schema is procrastinate's own SQL at the version PRISM pins,
kept beside the migrations (`sql/procrastinate-3.10.0.sql`, MIT licensed) so this migration does the same thing
whichever procrastinate is installed. A database that already has procrastinate's tables (installed with
procrastinate's own command) keeps them. A later PRISM that moves the pin adds a migration applying procrastinate's
SQL migrations for the versions it crosses.

The job queue's tables are not tenant tables: a job works for an organization by naming it in its arguments, and no
organization column is added to them. The server's group role may read and write them (workers connect as that role,
like the server) and call procrastinate's functions, none of which is SECURITY DEFINER.

`job_error` keeps the error of each job's latest failed run (procrastinate records that a job failed, not why), and
the view `dead_letter_job` lists the jobs that failed for good with the organization their arguments name, for the
admins' dead-letter list.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-12 09:00:00
"""

from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from sqlalchemy.util import await_only

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = Path(__file__).parent.parent / "sql" / "procrastinate-3.10.0.sql"
TABLES = ("procrastinate_jobs", "procrastinate_workers", "procrastinate_periodic_defers", "procrastinate_events")
DEAD_LETTERS = """
CREATE VIEW dead_letter_job AS
SELECT lpad(to_hex(j.id), 32, '0')::uuid AS id,
       j.id AS job_id,
       o.organization_id,
       j.task_name,
       j.queue_name,
       (SELECT count(*) FROM procrastinate_events ev WHERE ev.job_id = j.id AND ev.type = 'started')::integer AS runs,
       j.status::text AS status,
       e.error AS last_error,
       (SELECT min(ev.at) FROM procrastinate_events ev WHERE ev.job_id = j.id) AS deferred_at,
       coalesce(e.failed_at,
                (SELECT max(ev.at) FROM procrastinate_events ev WHERE ev.job_id = j.id AND ev.type = 'failed'))
           AS failed_at
FROM procrastinate_jobs j
CROSS JOIN LATERAL (
    -- Never cast what is not a UUID: a filter on the organization may be evaluated before any other condition.
    SELECT CASE WHEN j.args->>'organization_id' ~ '^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$'
                THEN (j.args->>'organization_id')::uuid END AS organization_id
) o
LEFT JOIN job_error e ON e.job_id = j.id
WHERE j.status = 'failed' AND o.organization_id IS NOT NULL
  -- As row-level security would: only the organization the transaction is scoped to, whatever the query asks.
  AND o.organization_id = NULLIF(current_setting('prism.org_id', true), '')::uuid
"""
DROP_QUEUE = """
DO $$
DECLARE
    found record;
BEGIN
    DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs,
        procrastinate_workers CASCADE;
    FOR found IN
        SELECT p.oid::regprocedure AS signature FROM pg_proc p
        WHERE p.pronamespace = 'public'::regnamespace AND p.proname LIKE 'procrastinate\\_%'
    LOOP
        EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', found.signature);
    END LOOP;
    DROP TYPE IF EXISTS procrastinate_job_to_defer_v1, procrastinate_job_event_type, procrastinate_job_status;
END $$;
"""


def upgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT to_regclass('public.procrastinate_jobs')")).scalar() is None:
        # Many statements with function bodies: sent as one simple query, over the migration's own transaction.
        driver = bind.connection.driver_connection
        assert driver is not None
        await_only(driver.execute(SCHEMA.read_text()))
    group = str(bind.execute(sa.text("SELECT prism_app_role()")).scalar_one())
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(TABLES)} TO {group}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {group}")

    op.create_table(
        "job_error",
        sa.Column("job_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=2000), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_job_error")),
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON job_error TO {group}")
    op.execute(DEAD_LETTERS)
    op.execute(f"GRANT SELECT ON dead_letter_job TO {group}")


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS dead_letter_job")
    op.drop_table("job_error")
    op.execute(DROP_QUEUE)
