"""trim the event log past its retention

The event log grows with every change. `prism_trim_event_log(before, limit)` deletes, as the tables' owner, at most
`limit` events that occurred before `before` and were published (an unpublished event is never deleted: the relay
still owes it to the broker), oldest first, and answers how many it deleted. The server's role may call it and
still may not delete events itself. A subscription resuming from a cursor older than what is left is told to
refetch (prism/events/hub.py).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-10 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIM = "prism_trim_event_log(timestamp with time zone, integer)"
TRIM_DEFINITION = """
CREATE FUNCTION prism_trim_event_log(p_before timestamptz, p_limit integer) RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
    WITH doomed AS (
        SELECT organization_id, sequence FROM event
        WHERE occurred_at < p_before AND published_at IS NOT NULL
        ORDER BY occurred_at
        LIMIT p_limit
    ), deleted AS (
        DELETE FROM event e USING doomed d
        WHERE e.organization_id = d.organization_id AND e.sequence = d.sequence
        RETURNING 1
    )
    SELECT count(*) FROM deleted
$$
"""


def upgrade() -> None:
    op.create_index("ix_event_occurred_at", "event", ["occurred_at"], unique=False)
    # Inside the function the owner deletes events of every organization (acting for another session user).
    op.execute("CREATE POLICY lookup_delete ON event FOR DELETE TO CURRENT_USER USING (session_user <> current_user)")
    op.execute(TRIM_DEFINITION)
    group = str(op.get_bind().execute(sa.text("SELECT prism_app_role()")).scalar_one())
    op.execute(f"REVOKE ALL ON FUNCTION {TRIM} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {TRIM} TO {group}")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {TRIM}")
    op.execute("DROP POLICY IF EXISTS lookup_delete ON event")
    op.drop_index("ix_event_occurred_at", table_name="event")
