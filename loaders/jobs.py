"""Dead letters as a pageable list: an organization's jobs that failed for good, most recent failure first."""

import sqlalchemy as sa

from loaders.pagination import ListSource

__all__ = ["DEAD_LETTERS_BY_ORGANIZATION", "DEAD_LETTER_JOB"]

DEAD_LETTER_JOB = sa.Table(
    "dead_letter_job",
    sa.MetaData(),  # a view (migration 0017), not a model: never created from here
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("job_id", sa.BigInteger()),
    sa.Column("organization_id", sa.Uuid()),
    sa.Column("task_name", sa.String()),
    sa.Column("queue_name", sa.String()),
    sa.Column("runs", sa.Integer()),
    sa.Column("status", sa.String()),
    sa.Column("last_error", sa.String()),
    sa.Column("deferred_at", sa.DateTime(timezone=True)),
    sa.Column("failed_at", sa.DateTime(timezone=True)),
)
"""The jobs whose arguments name an organization and that failed for good (migration 0017's view)."""

DEAD_LETTERS_BY_ORGANIZATION = ListSource(
    name="dead_letters",
    table=DEAD_LETTER_JOB,
    parent_column="organization_id",
    order_fields={"FAILED_AT": lambda t: t.c.failed_at},
    where=lambda table, _: [],
)
