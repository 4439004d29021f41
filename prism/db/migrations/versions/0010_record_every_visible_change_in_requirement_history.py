"""record every visible change in requirement history, and keep estimates as numbers

requirement_event takes the new kinds (TITLE, DESCRIPTION, ACCEPTANCE_CRITERIA, PRIORITY, KIND, LABEL_ADDED,
LABEL_REMOVED): `kind` grows to 32 characters and the values to 255 (a title). Estimates already recorded were
written by Python's str(float) ("3.0"); they are rewritten in the shortest exact decimal form every writer now uses
("3", "2.5"; prism.domain.history.stored_value).

Row-level security is FORCEd on requirement_event, so the owner running this migration would see no row of any
organization: the rewrite lifts FORCE for its own transaction and puts it back (DDL is transactional; nobody else
sees the table without it).

Downgrade deletes the events of the new kinds (the old schema cannot hold them) and narrows the columns back;
estimates stay in their new form, which the old code reads alike.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = ("CREATED", "STATUS", "ESTIMATE", "SPRINT", "ASSIGNEE", "PARENT", "RELEASE")
NEW_KINDS = (
    *OLD_KINDS,
    "TITLE",
    "DESCRIPTION",
    "ACCEPTANCE_CRITERIA",
    "PRIORITY",
    "KIND",
    "LABEL_ADDED",
    "LABEL_REMOVED",
)


def _kinds(kinds: Sequence[str]) -> str:
    return "kind IN (" + ", ".join(f"'{kind}'" for kind in kinds) + ")"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_requirement_event_kind"), "requirement_event", type_="check")
    op.alter_column("requirement_event", "kind", type_=sa.String(length=32), existing_nullable=False)
    for column in ("from_value", "to_value"):
        op.alter_column("requirement_event", column, type_=sa.String(length=255), existing_nullable=True)
    op.create_check_constraint(op.f("ck_requirement_event_kind"), "requirement_event", _kinds(NEW_KINDS))

    op.execute("ALTER TABLE requirement_event NO FORCE ROW LEVEL SECURITY")
    for column in ("from_value", "to_value"):
        op.execute(
            f"UPDATE requirement_event SET {column} = trim_scale({column}::numeric)::text "  # noqa: S608 - constants
            f"WHERE kind = 'ESTIMATE' AND {column} IS NOT NULL "
            f"AND {column} <> trim_scale({column}::numeric)::text"
        )
    op.execute("ALTER TABLE requirement_event FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    op.execute("ALTER TABLE requirement_event NO FORCE ROW LEVEL SECURITY")
    new_only = ", ".join(f"'{kind}'" for kind in NEW_KINDS if kind not in OLD_KINDS)
    op.execute(f"DELETE FROM requirement_event WHERE kind IN ({new_only})")  # noqa: S608 - constants
    op.execute("ALTER TABLE requirement_event FORCE ROW LEVEL SECURITY")
    op.drop_constraint(op.f("ck_requirement_event_kind"), "requirement_event", type_="check")
    for column in ("from_value", "to_value"):
        op.alter_column("requirement_event", column, type_=sa.String(length=64), existing_nullable=True)
    op.alter_column("requirement_event", "kind", type_=sa.String(length=16), existing_nullable=False)
    op.create_check_constraint(op.f("ck_requirement_event_kind"), "requirement_event", _kinds(OLD_KINDS))
