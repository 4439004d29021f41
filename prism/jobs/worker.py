"""Running jobs: a worker (the server's embedded one or `prism worker`) and the scheduler (`prism scheduler`).

A worker fetches jobs of PRISM's queue, runs several at once, sends a heartbeat every PRISM_WORKER_HEARTBEAT_SECONDS
and, like every procrastinate worker, defers the periodic jobs that are due (the database keeps two workers from
deferring the same run twice). Each failed run's error is kept in `job_error` for the dead-letter view. On SIGTERM
(or when the server stops) it takes no new job, lets running ones finish for PRISM_SHUTDOWN_GRACE_SECONDS, then
aborts them; an aborted job goes back to the queue through its retry policy. A worker that dies without stopping
(SIGKILL, a lost machine) stops sending heartbeats: the `retry_stalled_jobs` job of any other worker puts its
running jobs back in the queue once it has been silent for PRISM_WORKER_STALLED_SECONDS.

The scheduler only defers periodic jobs and runs none: for deployments whose workers are scaled to zero or listen
to other queues. Workers defer them too, so it is optional (docs/architecture.md).
"""

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from procrastinate import App, JobContext
from procrastinate.periodic import PeriodicDeferrer
from procrastinate.worker import Worker

from prism.db.job_queue import JOB_QUEUE, record_job_error
from prism.jobs.resources import JobResources

__all__ = ["keep_running", "run_scheduler", "run_worker"]

logger = logging.getLogger("prism.jobs")


def _describe(error: BaseException) -> str:
    """What the dead-letter view shows of a failure: the exception and where it was raised, never local values."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f" (at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {error}{where}"


def _error_recorder(resources: JobResources) -> Any:
    async def record_errors(call_next: Any, context: JobContext, worker: Worker) -> Any:
        try:
            return await call_next()
        except Exception as error:
            job = context.job
            if job.id is not None:
                try:
                    async with resources.engine.connect() as conn, conn.begin():
                        await record_job_error(conn, job.id, job.attempts + 1, _describe(error))
                except Exception:
                    logger.warning("could not record why job %s failed", job.id, exc_info=True)
            raise

    return record_errors


async def run_worker(
    app: App,
    resources: JobResources,
    *,
    name: str = "prism-worker",
    install_signal_handlers: bool = True,
    wait: bool = True,
    queues: list[str] | None = None,
) -> None:
    """Run PRISM's jobs until stopped (SIGTERM or SIGINT with the handlers, else cancellation); `wait=False` returns
    once the queue has no job ready to run. `queues` defaults to PRISM's. The app must be open."""
    settings = resources.settings
    await app.run_worker_async(
        queues=queues or [JOB_QUEUE],
        name=name,
        concurrency=settings.worker_concurrency,
        wait=wait,
        install_signal_handlers=install_signal_handlers,
        update_heartbeat_interval=settings.worker_heartbeat_seconds,
        stalled_worker_timeout=settings.worker_stalled_seconds,
        shutdown_graceful_timeout=float(settings.shutdown_grace_seconds),
        additional_context=resources.as_context(),
        worker_middleware=[_error_recorder(resources)],
    )


async def keep_running(
    run: Callable[[], Awaitable[None]], *, what: str = "the job worker", first_delay: float = 1.0, longest: float = 60.0
) -> None:
    """Run `run` until cancelled, starting it again whenever it ends by itself.

    A procrastinate worker stops altogether, and returns as if asked to, when one of its background loops fails (its
    heartbeat during a database restart, say): nothing would then relay events, trim the log or take snapshots, and
    a `prism worker` would exit 0 for its supervisor to leave stopped. Here that is logged as an error and the
    worker starts again after a pause that doubles while it keeps failing fast (up to `longest` seconds). Stopping
    is cancelling (the server's shutdown, or `prism worker`'s SIGTERM handler), which the worker honours gracefully.
    """
    delay = first_delay
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        try:
            await run()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("%s failed", what)
        else:
            logger.error("%s stopped by itself", what)
        if loop.time() - started > longest:
            delay = first_delay  # it ran a good while: this is a new failure, not the same one again
        logger.error("starting %s again in %.0f s", what, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, longest)


async def run_scheduler(app: App) -> None:
    """Defer PRISM's periodic jobs as they fall due, forever (cancel to stop). The app must be open."""
    await PeriodicDeferrer(registry=app.periodic_registry, **app.periodic_defaults).worker()
