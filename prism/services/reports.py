"""Reports: asking for a sprint or release report, which a job then builds (prism.jobs.reports).

The report's row (QUEUED) and its job are written in the request's transaction, so a report exists exactly when its
job does. The subject is checked here, under the organization's scope: another organization's sprint or release is
NOT_FOUND, as an id that does not exist.
"""

from uuid import UUID, uuid4

import sqlalchemy as sa
from sqlmodel import col, select

from prism.auth.rbac import Permission, Viewer, require
from prism.db.job_queue import BUILD_REPORT_TASK, defer_job
from prism.db.report_tables import Report
from prism.db.tables import Release, Sprint
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.domain.reports import ReportFormat, ReportKind, ReportState
from prism.errors import Code, ValidationError
from prism.services.audit import RequestMeta
from prism.services.validation import get_owned

__all__ = ["MAX_PENDING_REPORTS", "ReportService"]

MAX_PENDING_REPORTS = 20
"""The most reports an organization may have waiting or being built at once: each PDF costs a worker seconds of CPU,
so a client looping on requestReport is refused (RATE_LIMITED) rather than filling the queue."""


class ReportService:
    """Asks for reports in the viewer's organization (anyone who may read it)."""

    def __init__(self, uow: UnitOfWork, viewer: Viewer, meta: RequestMeta | None = None) -> None:
        self._uow = uow
        self._viewer = viewer
        self._meta = meta or RequestMeta()

    async def request(self, kind: ReportKind, subject_id: UUID, report_format: ReportFormat) -> Report:
        """A new QUEUED report of a sprint (started: a planned sprint has no figures yet) or a release, and the job
        that builds it."""
        require(self._viewer, Permission.READ)
        organization_id = self._viewer.organization_id
        async with self._uow.session(organization_id, self._viewer.user_id) as session:
            # Count and insert under one lock per organization, held to the end of the transaction: otherwise
            # concurrent requests each count the same pending reports and together pass the limit.
            lock = sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(f"pending-reports:{organization_id}", 0))
            await session.exec(select(lock))  # unscoped: an advisory lock, reads no table
            pending = (
                await session.exec(
                    tenant_select(Report, organization_id, sa.func.count()).where(
                        col(Report.state).in_((ReportState.QUEUED.value, ReportState.RUNNING.value))
                    )
                )
            ).one()
            if pending >= MAX_PENDING_REPORTS:
                raise ValidationError(
                    f"The organization has {pending} reports waiting or being built; ask again once some are READY.",
                    code=Code.RATE_LIMITED,
                )
            if kind is ReportKind.SPRINT:
                sprint = await get_owned(session, Sprint, subject_id, organization_id, "subjectId")
                if sprint.started_at is None:
                    raise ValidationError(
                        "A sprint report needs a started sprint: a planned one has no figures yet.",
                        field="subjectId",
                        code=Code.INVALID_STATE,
                    )
            else:
                await get_owned(session, Release, subject_id, organization_id, "subjectId")
            report = Report(
                id=uuid4(),
                organization_id=organization_id,
                kind=kind.value,
                format=report_format.value,
                subject_id=subject_id,
                state=ReportState.QUEUED.value,
                requested_by_id=self._viewer.user_id,
            )
            session.add(report)
            await session.flush()
            await defer_job(
                session, BUILD_REPORT_TASK, {"organization_id": str(organization_id), "report_id": str(report.id)}
            )
        return report
