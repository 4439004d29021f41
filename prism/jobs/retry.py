"""How failing jobs are retried: exponential backoff, then they stay failed (the dead letters)."""

from dataclasses import dataclass

from procrastinate import BaseRetryStrategy, RetryDecision
from procrastinate.jobs import Job

__all__ = ["Backoff"]


@dataclass(frozen=True)
class Backoff(BaseRetryStrategy):
    """Run a failing job up to `max_attempts` times, waiting `base_seconds` x 2^n after its n-th failed run (n from 0).

    A job whose last run failed stays `failed` in procrastinate's table: a dead letter, listed to its organization's
    admins (resolvers/jobs.py) until someone retries it or the retention removes it.
    """

    max_attempts: int
    base_seconds: float

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        # `attempts` counts the job's earlier retries: 0 during its first run.
        if job.attempts + 1 >= self.max_attempts:
            return None
        return RetryDecision(retry_in={"seconds": self.base_seconds * 2**job.attempts})
