"""Background jobs as admins see them: the dead letters (jobs that failed for good) and running one again."""

from datetime import datetime

import strawberry
from strawberry import Info as StrawberryInfo

from loaders.jobs import DEAD_LETTERS_BY_ORGANIZATION
from loaders.pagination import Order
from prism.auth.rbac import Permission
from prism.services.jobs import parse_job_id
from resolvers.common import UserError, user_errors_field
from resolvers.connections import connection_field, payload
from resolvers.context import Context
from resolvers.declarations import Read, RowType, reads
from resolvers.permissions import _RolePermission

__all__ = ["CanManageJobs", "DeadLetterJob", "JobsMutation", "JobsQuery"]

Info = StrawberryInfo[Context, None]


class CanManageJobs(_RolePermission):
    """Owners and admins (and API keys with the `admin` scope) may see and retry the organization's failed jobs."""

    required = Permission.MANAGE_MEMBERS


@reads(DEAD_LETTERS_BY_ORGANIZATION.table, id=Read("job_id", str))
@strawberry.type(
    description="A background job of the organization that failed on every run it was allowed (a dead letter): it "
    "stays failed until someone runs it again (`retryJob`) or the retention removes it."
)
class DeadLetterJob(RowType):
    id: strawberry.ID = strawberry.field(description="The job's id in the queue; pass it to retryJob.")
    task_name: str = strawberry.field(description="What the job does, as its task's name, like `prism:relay_events`.")
    queue_name: str = strawberry.field(description="The queue it ran on.")
    runs: int = strawberry.field(description="How many times it ran (each run failed, or was cut short).")
    status: str = strawberry.field(description="Its state in the queue: `failed` for every dead letter.")
    last_error: str | None = strawberry.field(
        description="Why its last run failed: the error's type, message and where it was raised; null if unknown."
    )
    deferred_at: datetime | None = strawberry.field(description="When the job was first queued.")
    failed_at: datetime | None = strawberry.field(description="When its last run failed.")


@strawberry.type
class JobsQuery:
    dead_letter_jobs = connection_field(
        DeadLetterJob,
        source=DEAD_LETTERS_BY_ORGANIZATION,
        of_organization=True,
        order=Order(field="FAILED_AT", descending=True),
        description="The organization's background jobs that failed for good, the latest failure first. Owners and "
        "admins only (FORBIDDEN otherwise).",
        permission_classes=[CanManageJobs],
    )


@strawberry.input(description="Which failed job to run again.")
class RetryJobInput:
    id: strawberry.ID = strawberry.field(description="The job's id, as `deadLetterJobs` lists it.")


@strawberry.type(description="The result of retryJob.")
class RetryJobPayload:
    job_id: strawberry.ID | None = strawberry.field(
        description="The job put back in the queue (it runs once more, at once); null if it failed."
    )
    user_errors: list[UserError] = user_errors_field()


@strawberry.type
class JobsMutation:
    @strawberry.mutation(
        description="Run a failed job of the organization once more, now: it leaves the dead letters, and comes "
        "back to them if that run fails too. NOT_FOUND (a user error) for a job of another organization or one that "
        "has not failed.",
        permission_classes=[CanManageJobs],
    )
    async def retry_job(self, info: Info, input: RetryJobInput) -> RetryJobPayload:
        async def retry() -> int:
            return await info.context.services.jobs.retry(parse_job_id(str(input.id)))

        return await payload(RetryJobPayload, retry, job_id=lambda job_id: strawberry.ID(str(job_id)))
