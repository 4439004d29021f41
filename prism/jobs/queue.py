"""The job queue's app: procrastinate over PRISM's own PostgreSQL, with PRISM's tasks and their schedules.

Built from the settings, once per process that works with jobs (the server with its embedded worker, `prism
worker`, `prism scheduler`, tests). Nothing here is module state: the tasks are plain functions (prism.jobs.tasks)
registered on each app with the retry policy and schedules the settings give.
"""

import logging
from collections.abc import Callable
from typing import Any

from procrastinate import App, PsycopgConnector
from sqlalchemy.engine import make_url

from prism.config import Settings
from prism.db.job_queue import JOB_QUEUE
from prism.jobs import tasks
from prism.jobs.names import FREQUENT, TASK_NAMES
from prism.jobs.retry import Backoff

__all__ = ["FREQUENT", "TASK_NAMES", "build_job_app", "cron_every"]

TRIM_CRON = "17 * * * *"
"""The retention runs hourly (at a minute nobody else picks)."""


def cron_every(seconds: float) -> str:
    """A cron schedule that fires about every `seconds`: to the second under a minute (procrastinate's sixth column),
    else to the minute under an hour, else hourly. Intervals that do not divide a minute (an hour) are rounded down
    to one that does, so runs stay evenly spaced."""
    whole = max(1, int(seconds))
    if whole < 60:
        step = max(d for d in range(1, whole + 1) if 60 % d == 0)
        return f"* * * * * */{step}"
    minutes = whole // 60
    if minutes < 60:
        step = max(d for d in range(1, minutes + 1) if 60 % d == 0)
        return f"*/{step} * * * *"
    return "0 * * * *"


def _conninfo(url: str) -> str:
    """A libpq URL (psycopg's) from PRISM's SQLAlchemy one."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def build_job_app(settings: Settings, database_url: str, *, pool_size: int = 4, periodic: bool = True) -> App:
    """A procrastinate app on `database_url` (the server's role) with PRISM's tasks, retries and (unless `periodic`
    is false: the tasks alone, deferred by hand) their schedules."""
    if settings.log_level.upper() != "DEBUG":
        # Procrastinate logs each task it registers and every job's start and end at INFO: the relay alone would
        # write two lines every 5 s. Its warnings and errors (a failed job, with its traceback) still show.
        logging.getLogger("procrastinate").setLevel(logging.WARNING)
        # fpdf2 subsets a report's font through fontTools, which logs a line per table of the font at INFO.
        logging.getLogger("fontTools.subset").setLevel(logging.WARNING)
    app = App(
        connector=PsycopgConnector(conninfo=_conninfo(database_url), min_size=1, max_size=pool_size),
        periodic_defaults={"max_delay": 600},
    )
    retry = Backoff(max_attempts=settings.job_max_attempts, base_seconds=settings.job_retry_base_seconds)
    schedules: dict[str, str] = {
        "relay_events": cron_every(settings.event_relay_interval_seconds),
        "trim_old_records": TRIM_CRON,
        "take_sprint_snapshots": settings.sprint_snapshot_cron,
        "retry_stalled_jobs": cron_every(settings.stalled_job_check_seconds),
    }
    for key, schedule in schedules.items():
        function: Callable[..., Any] = getattr(tasks, key)
        task = app.task(
            name=TASK_NAMES[key],
            queue=JOB_QUEUE,
            pass_context=True,
            # The frequent passes are not retried: the next one, seconds later, does the same work, and a retry
            # would collide with it on the queueing lock (one waiting job per task). The hourly and nightly ones are.
            retry=False if key in FREQUENT else retry,
            # At most one waiting job per periodic task: a backlog of passes would only repeat each other.
            queueing_lock=TASK_NAMES[key],
        )(function)
        if periodic:
            app.periodic(cron=schedule)(task)
    # Deferred by use cases, never on a schedule; several may wait at once (each names its own rows).
    app.task(name=TASK_NAMES["index_requirements"], queue=JOB_QUEUE, pass_context=True, retry=retry)(
        tasks.index_requirements
    )
    app.task(name=TASK_NAMES["index_documents"], queue=JOB_QUEUE, pass_context=True, retry=retry)(tasks.index_documents)
    # Not retried: a second run would stream and charge the model again; a failure is a dead letter to look at.
    app.task(name=TASK_NAMES["generate_prd"], queue=JOB_QUEUE, pass_context=True, retry=False)(tasks.generate_prd)
    app.task(name=TASK_NAMES["build_report"], queue=JOB_QUEUE, pass_context=True, retry=retry)(tasks.build_report)
    return app
