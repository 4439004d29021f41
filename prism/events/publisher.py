"""Publishing committed events, right after their commit and again by the relay."""

import logging
from collections.abc import Sequence

from prism.domain.events import DomainEvent
from prism.events.broker import EVENTS_TOPIC, Broker

__all__ = ["EventPublisher"]

logger = logging.getLogger("prism.events")


class EventPublisher:
    """Hands events to the broker on the one topic every process listens to; raises when the broker is down."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self.published = 0
        """Events handed to the broker by this process (a counter for tests and metrics)."""

    @property
    def broker(self) -> Broker:
        """The broker it publishes on (jobs publish their own topics, like a PRD's stream, on it too)."""
        return self._broker

    async def __call__(self, events: Sequence[DomainEvent]) -> None:
        await self._broker.publish_many(EVENTS_TOPIC, [event.to_message() for event in events])
        self.published += len(events)
