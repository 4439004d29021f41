"""What PRISM's tasks work with: the database engine, the event publisher and the settings, one set per worker."""

from dataclasses import dataclass
from typing import Any

from procrastinate import JobContext
from sqlalchemy.ext.asyncio import AsyncEngine

from prism.ai.gateway import AiGateway
from prism.config import Settings
from prism.events.publisher import EventPublisher
from prism.storage import ObjectStore

__all__ = ["CONTEXT_KEY", "JobResources", "resources_of"]

CONTEXT_KEY = "prism"
"""The key of a job context's `additional_context` that holds the worker's JobResources."""


@dataclass(frozen=True)
class JobResources:
    """The long-lived clients a worker's jobs share (the server's own, for a worker inside the server)."""

    settings: Settings
    engine: AsyncEngine
    publisher: EventPublisher
    ai: AiGateway | None = None
    """The vector index jobs keep in step (the server's own for an embedded worker)."""
    storage: ObjectStore | None = None
    """Where report files go (the server's own store for an embedded worker)."""

    def as_context(self) -> dict[str, Any]:
        return {CONTEXT_KEY: self}


def resources_of(context: JobContext) -> JobResources:
    """The resources of the worker running a job."""
    found = context.additional_context.get(CONTEXT_KEY)
    if not isinstance(found, JobResources):
        raise RuntimeError(
            "PRISM's tasks run on a worker started by prism.jobs (run_worker), which gives them resources"
        )
    return found
