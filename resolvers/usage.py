"""recordUsageEvents: SDKs report batches of feature usage through GraphQL (the same use case as the HTTP API)."""

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from prism.services.usage import RecordedUsage, UsageEventReport
from resolvers.common import UserError, user_errors_field
from resolvers.connections import payload
from resolvers.context import Context
from resolvers.list_bounds import max_items
from resolvers.permissions import CanRecordUsage

__all__ = ["RejectedUsageEvent", "UsageMutation"]

Info = strawberry.Info[Context, None]
MAX_REJECTED_LISTED = 100
"""The most rejections a payload lists (the first by position); `rejectedCount` counts them all."""


@strawberry.input(description="One use of a feature by one user, as an SDK reports it.")
class UsageEventInput:
    event_id: str = strawberry.field(
        description=(
            "The client's id of the event, 1-128 characters, unique in the organization: an id already recorded is a "
            "duplicate and changes nothing, so a batch can be resent safely."
        )
    )
    product: str = strawberry.field(description="The product's key, like `PRISM`.")
    feature: str = strawberry.field(
        description="The feature's key in that product, like `bulk-edit`; an unknown key is rejected (NOT_FOUND)."
    )
    user_id: str = strawberry.field(
        description="The SDK's pseudonymous id of the user, 1-255 characters; never an email or a name."
    )
    occurred_at: datetime = strawberry.field(
        description="When it happened, with a time zone; at most an hour ahead of the server's clock."
    )
    properties: JSON | None = strawberry.field(
        default=None,
        description="Further facts as a JSON object, at most PRISM_USAGE_EVENT_MAX_PROPERTIES_BYTES (4096) as JSON.",
    )


@strawberry.input(description="A batch of usage events, at most PRISM_USAGE_EVENTS_MAX_BATCH (1000).")
class RecordUsageEventsInput:
    events: list[UsageEventInput] = strawberry.field(description="The events, in any order.")


@strawberry.type(description="An event of the batch that was not recorded, and why; the others were.")
class RejectedUsageEvent:
    index: int = strawberry.field(description="Its position in the batch, from 0.")
    event_id: str = strawberry.field(description="Its eventId as sent (cut to 128 characters).")
    code: str = strawberry.field(
        description="NOT_FOUND (unknown product or feature), TOO_LONG, OUT_OF_RANGE or BAD_USER_INPUT."
    )
    field: str = strawberry.field(description="The event's field at fault: feature, properties, occurredAt...")
    message: str = strawberry.field(description="What to fix, for a person.")


@strawberry.type(description="What a batch did: each event was recorded, a duplicate, or rejected.")
class RecordUsageEventsPayload:
    accepted: int | None = strawberry.field(description="Events recorded now; null when the batch was refused.")
    duplicates: int | None = strawberry.field(
        description="Events whose eventId was already recorded (or repeated in the batch): nothing changed for them."
    )
    rejected_count: int | None = strawberry.field(description="Events refused one by one; the rest were kept.")
    rejected: list[RejectedUsageEvent] | None = strawberry.field(
        description=f"The refused events, by position: the first {MAX_REJECTED_LISTED} of rejectedCount.",
        metadata=max_items(MAX_REJECTED_LISTED),
    )
    user_errors: list[UserError] = user_errors_field()


def _report(event: UsageEventInput) -> UsageEventReport:
    return UsageEventReport(
        event_id=event.event_id,
        product=event.product,
        feature=event.feature,
        user_id=event.user_id,
        occurred_at=event.occurred_at,
        properties=event.properties,
    )


def _rejected(recorded: RecordedUsage) -> list[RejectedUsageEvent]:
    return [
        RejectedUsageEvent(index=r.index, event_id=r.event_id, code=r.code.value, field=r.field, message=r.message)
        for r in recorded.rejected[:MAX_REJECTED_LISTED]
    ]


@strawberry.type
class UsageMutation:
    @strawberry.mutation(
        description=(
            "Record a batch of feature usage events (an API key with the USAGE_WRITE scope, or a member). Idempotent "
            "by eventId; a batch over the limit is refused whole (OUT_OF_RANGE), a bad event alone is rejected."
        ),
        permission_classes=[CanRecordUsage],
    )
    async def record_usage_events(self, info: Info, input: RecordUsageEventsInput) -> RecordUsageEventsPayload:
        events: list[Any] = input.events
        return await payload(
            RecordUsageEventsPayload,
            lambda: info.context.services.usage.record([_report(event) for event in events]),
            accepted=lambda recorded: recorded.accepted,
            duplicates=lambda recorded: recorded.duplicates,
            rejected_count=lambda recorded: len(recorded.rejected),
            rejected=_rejected,
        )
