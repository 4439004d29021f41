"""PRISM's tasks: what its jobs do. Registered on the job queue's app, with their schedules, by prism.jobs.queue.

Each takes the job's context (the worker's resources are in it) and keyword arguments that are plain JSON. A task
that works for one organization takes `organization_id`, so a dead letter of it is listed to that organization's
admins. Every task here may run twice for one job (a retry after a worker died mid-job): each is idempotent.
"""

import logging
from datetime import UTC, datetime, timedelta
from uuid import UUID

from procrastinate import JobContext
from procrastinate.jobs import Status

from prism.ai.retrieval import index_documents as index_document_vectors
from prism.ai.retrieval import index_requirements as index_requirement_vectors
from prism.db.base import utcnow
from prism.events.relay import OutboxRelay
from prism.jobs.names import FREQUENT, TASK_NAMES
from prism.jobs.reports import ReportAttempt
from prism.jobs.reports import build_report as build_report_file
from prism.jobs.resources import resources_of
from prism.jobs.snapshots import snapshot_day, take_snapshots
from prism.services.prd_generation import generate_prd as stream_prd

__all__ = [
    "build_report",
    "generate_prd",
    "index_documents",
    "index_requirements",
    "relay_events",
    "retry_stalled_jobs",
    "take_sprint_snapshots",
    "trim_old_records",
]

logger = logging.getLogger("prism.jobs")


def _relay(context: JobContext) -> OutboxRelay:
    found = resources_of(context)
    return OutboxRelay(
        found.engine,
        found.publisher,
        grace=timedelta(seconds=found.settings.event_relay_grace_seconds),
        retention=timedelta(days=found.settings.event_retention_days),
    )


async def relay_events(context: JobContext, timestamp: int) -> int:
    """One pass of the outbox relay: publish the committed events the commit path left unpublished; how many."""
    published = await _relay(context).run_once()
    if published:
        logger.info("relayed %d unpublished events", published)
    return published


async def trim_old_records(context: JobContext, timestamp: int) -> dict[str, int]:
    """The retention: published events past PRISM_EVENT_RETENTION_DAYS, finished jobs (dead letters included) past
    PRISM_JOB_FAILED_RETENTION_DAYS, and the errors of jobs that are gone."""
    settings = resources_of(context).settings
    events = await _relay(context).trim()
    await context.app.job_manager.delete_old_jobs(
        nb_hours=max(1, int(settings.job_failed_retention_days * 24)),
        include_failed=True,
        include_cancelled=True,
        include_aborted=True,
    )
    errors = await context.app.job_manager.connector.execute_query_one_async(
        query="WITH gone AS (DELETE FROM job_error e WHERE NOT EXISTS "  # type: ignore[arg-type]
        "(SELECT FROM procrastinate_jobs j WHERE j.id = e.job_id) RETURNING 1) SELECT count(*) AS n FROM gone"
    )
    if events:
        logger.info("trimmed %d events past their retention", events)
    return {"events": events, "job_errors": int(errors["n"])}


async def take_sprint_snapshots(context: JobContext, timestamp: int, organization_id: str | None = None) -> int:
    """The nightly snapshot of every running sprint for the day that ended before `timestamp`; how many written."""
    day = snapshot_day(datetime.fromtimestamp(timestamp, UTC))
    organization = UUID(organization_id) if organization_id is not None else None
    return await take_snapshots(resources_of(context).engine, day, organization)


async def retry_stalled_jobs(context: JobContext, timestamp: int) -> int:
    """Run again the jobs of workers that stopped sending heartbeats (killed, lost their machine); how many."""
    settings = resources_of(context).settings
    manager = context.app.job_manager
    stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=settings.worker_stalled_seconds))
    frequent = {TASK_NAMES[key] for key in FREQUENT}
    retried = 0
    for job in stalled:
        try:
            if job.task_name in frequent:
                # The next pass, seconds away, does its work; putting it back would collide with that pass's job
                # on the queueing lock.
                await manager.finish_job(job, status=Status.ABORTED, delete_job=False)
                continue
            logger.warning(
                "running again job %s of a worker that stopped", job.id, extra={"task": job.task_name, "job_id": job.id}
            )
            await manager.retry_job(job, retry_at=utcnow())
            retried += 1
        except Exception:  # one job that cannot be put back must not keep the others stalled
            logger.exception("could not run again job %s of a worker that stopped", job.id)
    return retried


async def index_requirements(context: JobContext, organization_id: str, requirement_ids: list[str]) -> dict[str, int]:
    """Bring these requirements' vectors in step with their rows: (re)embed those that exist, drop those deleted.

    It reads the rows when it runs, so jobs run late or twice, in any order, leave the index as the database is.
    """
    found = resources_of(context)
    if found.ai is None:
        raise RuntimeError("this worker has no AI gateway (JobResources.ai)")
    indexed, dropped = await index_requirement_vectors(
        found.ai.index, found.engine, UUID(organization_id), [UUID(i) for i in requirement_ids]
    )
    return {"indexed": indexed, "dropped": dropped}


async def index_documents(context: JobContext, organization_id: str, document_ids: list[str]) -> dict[str, int]:
    """Bring these documents' vectors in step with their rows: (re)embed those that exist, drop those deleted."""
    found = resources_of(context)
    if found.ai is None:
        raise RuntimeError("this worker has no AI gateway (JobResources.ai)")
    indexed, dropped = await index_document_vectors(
        found.ai.index, found.engine, UUID(organization_id), [UUID(i) for i in document_ids]
    )
    return {"indexed": indexed, "dropped": dropped}


async def generate_prd(
    context: JobContext,
    organization_id: str,
    run_id: str,
    user_id: str,
    product_id: str,
    document_id: str,
    brief: str,
) -> dict[str, str | None]:
    """Stream a PRD over the broker (topic `prd-generation:<run_id>`) and save it as the document's next version."""
    found = resources_of(context)
    if found.ai is None:
        raise RuntimeError("this worker has no AI gateway (JobResources.ai)")
    final = await stream_prd(
        found.settings,
        found.engine,
        found.ai,
        found.publisher.broker,
        found.publisher,
        {
            "organization_id": organization_id,
            "run_id": run_id,
            "user_id": user_id,
            "product_id": product_id,
            "document_id": document_id,
            "brief": brief,
        },
    )
    return {"status": final.status, "document_id": final.document_id}


async def build_report(context: JobContext, organization_id: str, report_id: str) -> str:
    """Build a requested report and store its file (prism.jobs.reports); the state the report ends in."""
    found = resources_of(context)
    if found.storage is None:
        raise RuntimeError("this worker has no object store (JobResources.storage)")
    attempt = ReportAttempt(number=context.job.attempts + 1, of=found.settings.job_max_attempts)
    return await build_report_file(found.engine, found.storage, UUID(organization_id), UUID(report_id), attempt)
