"""Background work on procrastinate, a job queue kept in PRISM's PostgreSQL (docs/architecture.md, "Jobs").

- `queue`: the procrastinate app built from the settings, PRISM's tasks, their retries and schedules;
- `tasks`: what the jobs do (the outbox relay's pass, the retention, sprint snapshots, re-running stalled jobs);
- `worker`: running them (`prism worker`, the server's embedded worker) and deferring periodic ones (`prism scheduler`).

A use case that starts background work with its change writes the job in its own transaction with
`prism.db.job_queue.defer_job`.
"""

from prism.jobs.queue import TASK_NAMES, build_job_app, cron_every
from prism.jobs.resources import JobResources
from prism.jobs.worker import keep_running, run_scheduler, run_worker

__all__ = ["TASK_NAMES", "JobResources", "build_job_app", "cron_every", "keep_running", "run_scheduler", "run_worker"]
