"""What PRISM keeps beside the job queue's own tables (procrastinate's, migration 0017): why a job last failed.

Procrastinate records that a job failed, not why. A worker writes the error of each failed run here (prism.jobs), so
the dead-letter view can say what went wrong. The job queue's tables are not tenant tables: a job that works for an
organization names it in its arguments (`organization_id`), and the dead-letter view filters on that.
"""

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from prism.db.base import created_at_field

__all__ = ["JOB_QUEUE_TABLES", "JobError"]

JOB_QUEUE_TABLES = frozenset(
    {"procrastinate_jobs", "procrastinate_workers", "procrastinate_periodic_defers", "procrastinate_events"}
)
"""Procrastinate's tables (migration 0017): not PRISM's models, so neither autogenerate nor the model tests see them."""


class JobError(SQLModel, table=True):
    """The error of a job's latest failed run (one row per job, replaced at each failure)."""

    __tablename__ = "job_error"

    job_id: int = Field(
        primary_key=True,
        sa_type=sa.BigInteger,  # type: ignore[call-overload]
        sa_column_kwargs={"autoincrement": False},
    )
    attempt: int
    error: str = Field(max_length=2000)
    failed_at: datetime = created_at_field()
