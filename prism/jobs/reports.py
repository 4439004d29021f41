"""Building a report: the job behind `requestReport` (prism.services.reports).

The job marks the report RUNNING, gathers its figures (prism.jobs.report_data: the GraphQL queries' loaders and
rules), renders the asked format (prism.jobs.report_files), stores the file under the organization's prefix in
object storage, and marks the report READY with the file's key, size and sha256, each step its own short
transaction scoped to the organization. Running it twice does no harm: a report already READY is left as it is, and
storing again replaces the same object. A FAILED report's job run again by an admin (`retryJob` on its dead letter)
builds it again.

A report whose sprint or release is gone fails at once, with that reason. Any other failure is retried by the job
queue (PRISM_JOB_MAX_ATTEMPTS, with backoff); meanwhile the report is QUEUED again with the failed attempt's
reason, and after the last attempt it is FAILED. The reason names no server detail (paths, addresses): the
exception is logged, and kept in the dead-letter view of the organization's admins.
"""

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from prism.db.base import utcnow
from prism.db.report_tables import Report
from prism.db.unit_of_work import UnitOfWork
from prism.domain.reports import ReportFormat, ReportKind, ReportState
from prism.errors import NotFoundError
from prism.jobs.report_data import ReportContent, SubjectGoneError, gather_release, gather_sprint
from prism.jobs.report_files import render
from prism.services.validation import get_for_update
from prism.storage import ObjectStore, object_key

__all__ = ["ReportAttempt", "build_report", "file_name"]

logger = logging.getLogger("prism.jobs")


@dataclass(frozen=True)
class ReportAttempt:
    """Which run of the job this is: the n-th of at most `of`."""

    number: int
    of: int

    @property
    def last(self) -> bool:
        return self.number >= self.of


def file_name(content: ReportContent, report_format: ReportFormat) -> str:
    """The name a report downloads under, like `sprint-report-PRISM-Sprint-14-2026-12-02.pdf`."""
    subject = f"{content.subject['product']['key']}-{content.subject['name']}"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", subject).strip("-.")[:120] or "report"
    day = content.generated_at.date().isoformat()
    return f"{content.kind.value.lower()}-report-{slug}-{day}.{report_format.extension}"


async def _set(
    engine: AsyncEngine, organization_id: UUID, report_id: UUID, *, starting: bool = False, **values: object
) -> Report | None:
    async with UnitOfWork(engine, organization_id) as uow, uow.session(organization_id) as session:
        report = await get_for_update(session, Report, report_id, organization_id, "id")
        if report.state == ReportState.READY.value:
            return None  # built already (a job run twice): leave it as it is
        for name, value in values.items():
            setattr(report, name, value)
        if starting:
            report.attempts += 1
        return report


async def build_report(
    engine: AsyncEngine, store: ObjectStore, organization_id: UUID, report_id: UUID, attempt: ReportAttempt
) -> str:
    """Build and store one report; the state it ends in (READY, FAILED, or QUEUED for a retry: then it raises), or
    `gone` when the report itself no longer exists."""
    try:
        started = await _set(
            engine,
            organization_id,
            report_id,
            starting=True,
            state=ReportState.RUNNING.value,
            started_at=utcnow(),
            finished_at=None,
        )
    except NotFoundError:
        return "gone"  # the report went with its organization: nothing to build, nothing to retry
    if started is None:
        return ReportState.READY.value
    kind, report_format = ReportKind(started.kind), ReportFormat(started.format)
    try:
        async with UnitOfWork(engine, organization_id) as reader:
            if kind is ReportKind.SPRINT:
                content = await gather_sprint(reader, organization_id, started.subject_id)
            else:
                content = await gather_release(reader, organization_id, started.subject_id)
        # Rendering (a PDF's charts above all) is seconds of CPU: off the event loop, which an embedded worker
        # shares with the server's requests.
        body = await asyncio.to_thread(render, content, report_format)
        key = object_key(organization_id, report_id)
        await store.put(key, body, report_format.content_type)
    except SubjectGoneError as gone:
        await _set(
            engine, organization_id, report_id, state=ReportState.FAILED.value, error=str(gone), finished_at=utcnow()
        )
        return ReportState.FAILED.value
    except Exception:
        logger.exception("could not build report %s (attempt %d of %d)", report_id, attempt.number, attempt.of)
        reason = f"The report could not be built or stored on attempt {started.attempts}; " + (
            "giving up. The error is kept for the organization's admins (deadLetterJobs)."
            if attempt.last
            else "trying again."
        )
        state = ReportState.FAILED if attempt.last else ReportState.QUEUED
        await _set(
            engine,
            organization_id,
            report_id,
            state=state.value,
            error=reason,
            finished_at=utcnow() if attempt.last else None,
        )
        raise
    await _set(
        engine,
        organization_id,
        report_id,
        state=ReportState.READY.value,
        object_key=key,
        file_name=file_name(content, report_format),
        size=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
        error=None,
        finished_at=utcnow(),
    )
    return ReportState.READY.value
