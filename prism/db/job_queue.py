"""The job queue seen from PRISM's own connections: deferring a job inside a transaction, and failed jobs.

Procrastinate (prism.jobs) talks to PostgreSQL through a pool of its own. A use case that must start background work
with its change does not use that pool: `defer_job` writes the job's row through the unit of work's own connection,
with procrastinate's SQL function, so the job exists exactly when the change commits (a rolled-back change leaves no
job). Workers are woken by the NOTIFY the insert sends, which PostgreSQL delivers at commit.

Procrastinate's tables are not tenant tables (migration 0017): a job that works for an organization names it in its
arguments as `organization_id`, which is what the dead-letter view (`dead_letter_job`) filters on.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

__all__ = [
    "BUILD_REPORT_TASK",
    "GENERATE_PRD_TASK",
    "INDEX_DOCUMENTS_TASK",
    "INDEX_REQUIREMENTS_TASK",
    "JOB_QUEUE",
    "DeadLetterNotFoundError",
    "QueuedRun",
    "defer_job",
    "find_run",
    "record_job_error",
    "retry_dead_letter",
]

JOB_QUEUE = "prism"
"""The queue PRISM's tasks run on."""

INDEX_REQUIREMENTS_TASK = "prism:index_requirements"
"""The task that brings requirements' vectors in step with their rows (prism.jobs.tasks.index_requirements)."""

INDEX_DOCUMENTS_TASK = "prism:index_documents"
"""The task that brings documents' vectors in step with their rows (prism.jobs.tasks.index_documents)."""

GENERATE_PRD_TASK = "prism:generate_prd"
"""The task that streams a PRD and saves it as a document version (prism.jobs.tasks.generate_prd)."""
BUILD_REPORT_TASK = "prism:build_report"
"""The task that builds a requested sprint or release report and stores its file (prism.jobs.tasks.build_report)."""

_DEFER = sa.text(  # unscoped: writes a row of procrastinate's queue, no tenant table (migration 0017)
    "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW("
    "CAST(:queue AS varchar), CAST(:task AS varchar), CAST(:priority AS integer), CAST(:lock AS text), "
    "CAST(:queueing_lock AS text), CAST(:args AS jsonb), CAST(:scheduled_at AS timestamptz)"
    ")::procrastinate_job_to_defer_v1]))"
)


async def defer_job(
    connection: AsyncConnection | AsyncSession,
    task_name: str,
    arguments: dict[str, Any],
    *,
    queue: str = JOB_QUEUE,
    lock: str | None = None,
    queueing_lock: str | None = None,
    scheduled_at: datetime | None = None,
    priority: int = 0,
) -> int:
    """Write a job of `task_name` in the caller's transaction; its id. It runs once the transaction commits.

    A job for an organization carries `organization_id` in `arguments`, so its admins see it if it fails for good.
    """
    # A unit of work's session runs on its connection, in its transaction: the statement goes there.
    conn = await connection.connection() if isinstance(connection, AsyncSession) else connection
    result = await conn.execute(
        _DEFER,
        {
            "queue": queue,
            "task": task_name,
            "priority": priority,
            "lock": lock,
            "queueing_lock": queueing_lock,
            "args": orjson.dumps(arguments).decode(),
            "scheduled_at": scheduled_at,
        },
    )
    return int(result.scalar_one())


async def record_job_error(connection: AsyncConnection, job_id: int, attempt: int, error: str) -> None:
    """Keep why a job's run failed (the latest failure of each job), for the dead-letter view."""
    await connection.execute(
        sa.text(
            "INSERT INTO job_error (job_id, attempt, error, failed_at) VALUES (:job_id, :attempt, :error, now()) "
            "ON CONFLICT (job_id) DO UPDATE SET attempt = excluded.attempt, error = excluded.error, "
            "failed_at = excluded.failed_at"
        ),
        {"job_id": job_id, "attempt": attempt, "error": error[:2000]},
    )


class DeadLetterNotFoundError(LookupError):
    """No failed job of that organization has that id."""


async def retry_dead_letter(connection: AsyncConnection, organization_id: UUID, job_id: int) -> None:
    """Put a failed job of the organization back in its queue, to run now (procrastinate's retry function)."""
    found = await connection.execute(
        sa.text(  # unscoped: a failed job whose arguments name the organization (migration 0017)
            "SELECT id FROM procrastinate_jobs WHERE id = :job_id AND status = 'failed' "
            "AND args->>'organization_id' = :organization_id FOR UPDATE"
        ),
        {"job_id": job_id, "organization_id": str(organization_id)},
    )
    if found.first() is None:
        raise DeadLetterNotFoundError(job_id)
    await connection.execute(
        sa.text("SELECT procrastinate_retry_job_v2(:job_id, now(), NULL, NULL, NULL)"),  # unscoped: the queue
        {"job_id": job_id},
    )


@dataclass(frozen=True)
class QueuedRun:
    """A job that works for an organization under a `run_id` of its own: its status (procrastinate's: todo,
    doing, succeeded, failed, cancelled, aborted) and its arguments."""

    status: str
    arguments: dict[str, Any]


async def find_run(
    connection: AsyncConnection, task_name: str, organization_id: UUID, run_id: UUID
) -> QueuedRun | None:
    """The newest job of `task_name` deferred for the organization with this `run_id`; None for another
    organization's run or none."""
    found = await connection.execute(
        sa.text(  # unscoped: a job whose arguments name the organization (migration 0017)
            "SELECT status, args FROM procrastinate_jobs WHERE task_name = :task "
            "AND args->>'organization_id' = :organization_id AND args->>'run_id' = :run_id ORDER BY id DESC LIMIT 1"
        ),
        {"task": task_name, "organization_id": str(organization_id), "run_id": str(run_id)},
    )
    row = found.first()
    return None if row is None else QueuedRun(status=str(row.status), arguments=dict(row.args))
