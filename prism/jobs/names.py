"""The periodic tasks' names in the queue, and which of them run every few seconds."""

from prism.db.job_queue import BUILD_REPORT_TASK, GENERATE_PRD_TASK, INDEX_DOCUMENTS_TASK, INDEX_REQUIREMENTS_TASK

__all__ = ["FREQUENT", "TASK_NAMES"]

TASK_NAMES = {
    "relay_events": "prism:relay_events",
    "trim_old_records": "prism:trim_old_records",
    "take_sprint_snapshots": "prism:take_sprint_snapshots",
    "retry_stalled_jobs": "prism:retry_stalled_jobs",
    "index_requirements": INDEX_REQUIREMENTS_TASK,
    "index_documents": INDEX_DOCUMENTS_TASK,
    "generate_prd": GENERATE_PRD_TASK,
    "build_report": BUILD_REPORT_TASK,
}
"""Each task's name in the queue: stable, whatever module the function lives in."""

FREQUENT = frozenset({"relay_events", "retry_stalled_jobs"})
"""Periodic tasks that run every few seconds: a failed pass is followed by the next, not retried, and a stalled one
is not put back (it would collide with the next pass on the task's queueing lock)."""
