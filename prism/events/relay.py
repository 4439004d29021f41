"""The relay: publishes events the commit path left unpublished (a crash between commit and publish, Redis down).

Every few seconds it asks the database which organizations have events older than a grace period still unpublished
(`prism_event_backlog`, migration 0012: the one question it may ask across organizations), then, per organization, in
a transaction scoped to it, takes the oldest unpublished events with `FOR UPDATE SKIP LOCKED` (so relays on several
replicas share the work instead of doubling it), publishes them in sequence order and marks them published. An event
the commit path publishes while the relay also does reaches subscribers twice; they drop what they have seen by its
sequence number. The relay moves onto the job queue with the rest of the periodic work (issue 9); until then the
server runs it as a task of its own.
"""

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from prism.db.base import utcnow
from prism.db.engine import set_tenant
from prism.db.outbox import mark_published, read_events
from prism.events.publisher import EventPublisher

__all__ = ["OutboxRelay"]

logger = logging.getLogger("prism.events")


class OutboxRelay:
    """Republishes unpublished events, oldest organization first, a batch at a time."""

    def __init__(
        self,
        engine: AsyncEngine,
        publish: EventPublisher,
        *,
        grace: timedelta = timedelta(seconds=5),
        interval_seconds: float = 5.0,
        batch: int = 500,
        organizations_per_pass: int = 100,
        retention: timedelta | None = None,
        trim_every_seconds: float = 3600.0,
    ) -> None:
        self._engine = engine
        self._publish = publish
        self._grace = grace
        self._interval = interval_seconds
        self._batch = batch
        self._organizations = organizations_per_pass
        self._retention = retention
        self._trim_every = trim_every_seconds
        self._trimmed_at: float | None = None
        self._task: asyncio.Task[None] | None = None

    async def backlog(self, before: datetime) -> list[UUID]:
        """Organizations with events older than `before` still unpublished, the longest waiting first."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                sa.select(  # unscoped: the named SECURITY DEFINER look-up the relay starts from (migration 0012)
                    sa.func.prism_event_backlog(before, self._organizations, type_=sa.Uuid)
                )
            )
            found = [row[0] for row in rows]
            await conn.rollback()
        return found

    async def run_once(self, *, now: datetime | None = None) -> int:
        """One pass over the backlog; returns how many events it published. Raises when the broker is down."""
        before = (now or utcnow()) - self._grace
        published = 0
        for organization_id in await self.backlog(before):
            published += await self._drain(organization_id, before)
        return published

    async def _drain(self, organization_id: UUID, before: datetime) -> int:
        published = 0
        while True:
            async with self._engine.connect() as conn, conn.begin():
                await set_tenant(conn, organization_id)
                events = [
                    event
                    for event in await read_events(
                        conn, organization_id, limit=self._batch, unpublished_only=True, lock=True
                    )
                    if event.occurred_at < before
                ]
                if not events:
                    return published
                await self._publish(events)
                await mark_published(conn, organization_id, [event.sequence for event in events])
            published += len(events)
            if len(events) < self._batch:
                return published

    async def trim(self, *, now: datetime | None = None, batch: int = 10_000) -> int:
        """Delete published events older than the retention (`prism_trim_event_log`, migration 0016); how many."""
        if self._retention is None:
            return 0
        before = (now or utcnow()) - self._retention
        deleted = 0
        while True:
            async with self._engine.connect() as conn, conn.begin():
                count = (
                    await conn.execute(
                        sa.select(  # unscoped: the named SECURITY DEFINER trim of the log (migration 0016)
                            sa.func.prism_trim_event_log(before, batch, type_=sa.BigInteger)
                        )
                    )
                ).scalar_one()
            deleted += int(count)
            if count < batch:
                return deleted

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                if published := await self.run_once():
                    logger.info("relayed %d unpublished events", published)
                if self._retention is not None and (
                    self._trimmed_at is None or loop.time() - self._trimmed_at >= self._trim_every
                ):
                    self._trimmed_at = loop.time()
                    if trimmed := await self.trim():
                        logger.info("trimmed %d events past their retention", trimmed)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("the event relay could not publish; it retries", exc_info=True)
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        """Run passes every `interval_seconds` in a task of this process until `stop()`."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="prism-event-relay")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
