"""Dead letters: the organization's jobs that failed for good, which its owners and admins may run again."""

from prism.auth.rbac import Permission, Viewer, require
from prism.db.job_queue import DeadLetterNotFoundError, retry_dead_letter
from prism.db.unit_of_work import UnitOfWork
from prism.errors import NotFoundError, ValidationError
from prism.services.audit import RequestMeta, record

__all__ = ["JobService", "parse_job_id"]

MAX_JOB_ID = 2**63 - 1


def parse_job_id(value: str) -> int:
    """A job id as the dead-letter list shows it (a positive whole number); anything else is a user error."""
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= MAX_JOB_ID:
        raise ValidationError("A job id is a positive whole number, as `deadLetterJobs` lists it.", field="id")
    return int(text)


class JobService:
    """Runs again the dead letters of the viewer's organization (OWNER and ADMIN)."""

    def __init__(self, uow: UnitOfWork, viewer: Viewer, meta: RequestMeta) -> None:
        self._uow = uow
        self._viewer = viewer
        self._meta = meta

    async def retry(self, job_id: int) -> int:
        """Put a failed job of the organization back in the queue to run now; its id. Another organization's job,
        or one that has not failed, is NOT_FOUND."""
        require(self._viewer, Permission.MANAGE_MEMBERS)
        organization_id = self._viewer.organization_id
        async with self._uow.session(organization_id, self._viewer.user_id) as session:
            try:
                await retry_dead_letter(await session.connection(), organization_id, job_id)
            except DeadLetterNotFoundError:
                raise NotFoundError("No failed job of this organization has that id.", field="id") from None
            record(
                session,
                organization_id=organization_id,
                action="job.retried",
                meta=self._meta,
                actor=self._viewer,
                target_type="job",
                target_id=str(job_id),
                details={},
            )
        return job_id
