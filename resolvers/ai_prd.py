"""generatePrd and prdGeneration: a PRD written by a job and streamed to the client through a subscription.

The use case and the job are prism/services/prd_generation.py's: the mutation queues the job and answers the run id
(and the document the text will be saved to) at once; the subscription relays the job's messages from the broker,
so it works whichever replica or worker runs the job.
"""

import enum
from collections.abc import AsyncGenerator
from typing import Annotated, Any
from uuid import UUID

import strawberry
from strawberry import relay

from prism.errors import NotFoundError, ValidationError
from prism.services.prd_generation import GROUNDING, PrdMessage, PrdRun, find_prd_run, prd_topic
from resolvers.ai_sprint_plans import AiSource, AiSourceKind
from resolvers.common import UserError, decode_id, user_errors_field
from resolvers.connections import payload
from resolvers.context import Context
from resolvers.documents import Document
from resolvers.list_bounds import max_items
from resolvers.live import still_allowed
from resolvers.node import load_node
from resolvers.permissions import CanRead, CanUseAi, CanWrite
from resolvers.products import Product

__all__ = ["AiPrdMutation", "AiPrdSubscription", "PrdGenerationEvent"]

Info = strawberry.Info[Context, None]


@strawberry.enum(description="Where a PRD generation is.")
class PrdGenerationStatus(enum.Enum):
    QUEUED = strawberry.enum_value("QUEUED", description="Waiting for a worker.")
    RUNNING = strawberry.enum_value("RUNNING", description="The model is writing.")
    SUCCEEDED = strawberry.enum_value("SUCCEEDED", description="Written and saved as the document's next version.")
    FAILED = strawberry.enum_value("FAILED", description="Stopped: `error` says why; the document is unchanged.")


@strawberry.type(description="A message of a PRD generation's stream.")
class PrdGenerationEvent:
    run_id: strawberry.ID = strawberry.field(description="The generation.")
    status: PrdGenerationStatus = strawberry.field(description="Where it is; the stream ends after SUCCEEDED/FAILED.")
    sequence: int = strawberry.field(description="The message's number in the stream (0 before any text).")
    delta: str = strawberry.field(description="The text written since the previous message.")
    text: str = strawberry.field(description="All the text so far (at SUCCEEDED, the saved body).")
    sources: list[AiSource] = strawberry.field(
        description="The product's requirements and documents the PRD is grounded in (from the first message on).",
        metadata=max_items(2 * GROUNDING),
    )
    offline: bool | None = strawberry.field(description="At the end: true when the offline model wrote it.")
    error: str | None = strawberry.field(description="Why it failed, at FAILED.")
    document_id: strawberry.Private[UUID | None] = None

    @strawberry.field(description="At SUCCEEDED: the document, its new version saved.")
    async def document(self, info: Info) -> Document | None:
        if self.document_id is None:
            return None
        return await load_node(info, Document, self.document_id)


def _event(run_id: UUID, message: PrdMessage, document_id: UUID | None = None) -> PrdGenerationEvent:
    type_of = {"REQUIREMENT": "Requirement", "DOCUMENT": "Document"}
    return PrdGenerationEvent(
        run_id=strawberry.ID(str(run_id)),
        status=PrdGenerationStatus(message.status),
        sequence=message.sequence,
        delta=message.delta,
        text=message.text,
        sources=[
            AiSource(
                kind=AiSourceKind(source.kind),
                id=strawberry.ID(str(relay.GlobalID(type_of[source.kind], source.id))),
                label=source.label,
                score=source.score,
            )
            for source in message.sources
        ],
        offline=message.offline,
        error=message.error,
        document_id=UUID(message.document_id) if message.document_id else document_id,
    )


@strawberry.input(description="What to write a PRD about.")
class GeneratePrdInput:
    product_id: strawberry.ID = strawberry.field(description="The product: its requirements and documents ground it.")
    brief: str = strawberry.field(description="What the PRD is about, in a few sentences (at most 10,000 characters).")
    document_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="A document of the product to save the PRD to as its next version; omitted: a new DRAFT PRD.",
    )


@strawberry.type(
    description="A queued PRD generation: subscribe to `prdGeneration(runId)` to read it as it is written."
)
class GeneratePrdPayload:
    run_id: strawberry.ID | None = strawberry.field(description="The generation's id; null on failure.")
    document: Document | None = strawberry.field(description="The document the PRD will be saved to.")
    user_errors: list[UserError] = user_errors_field(
        "Why nothing was queued: an empty or too long brief, NOT_FOUND, AI_BUDGET_EXHAUSTED."
    )


@strawberry.type
class AiPrdMutation:
    @strawberry.mutation(
        description=(
            "Queue a PRD (problem, goals and non-goals, personas, requirements, success metrics, risks, open "
            "questions) grounded in the product's requirements and documents, written by a job and streamed through "
            "`prdGeneration(runId)`; saved as the document's next version when done. Answers at once. Needs the "
            "write permission and spends the organization's AI budget: a VIEWER (or an API key without the `ai` "
            "scope) gets FORBIDDEN."
        ),
        permission_classes=[CanWrite, CanUseAi],
    )
    async def generate_prd(self, info: Info, input: GeneratePrdInput) -> GeneratePrdPayload:
        async def start() -> Any:
            return await info.context.services.prd_generation.start(
                decode_id(input.product_id, "Product", "productId"),
                input.brief,
                None if input.document_id is None else decode_id(input.document_id, "Document", "documentId"),
            )

        return await payload(
            GeneratePrdPayload,
            start,
            run_id=lambda started: strawberry.ID(str(started.run_id)),
            document=lambda started: Document.from_row(started.document),
        )


async def _run(info: Info, run_id: UUID) -> PrdRun:
    context = info.context
    organization_id = context.member.organization_id
    async with context.event_scope() as scope:
        run = await find_prd_run(scope.uow, organization_id, run_id)
        # The product must still be readable by the viewer (a product role may hide it).
        visible = run is not None and await load_node(info, Product, run.product_id) is not None
    if run is None or not visible:
        raise NotFoundError("No PRD generation with this id.", field="runId")
    return run


@strawberry.type
class AiPrdSubscription:
    @strawberry.subscription(
        description=(
            "A PRD generation as it is written: a first message with its status, then the text as it streams "
            "(`delta`, and all of it in `text`), and a last one at SUCCEEDED (with the document) or FAILED. A "
            "generation already over answers its last message at once. Another organization's run is NOT_FOUND."
        ),
        permission_classes=[CanRead],
    )
    async def prd_generation(
        self,
        info: Info,
        run_id: Annotated[strawberry.ID, strawberry.argument(description="generatePrd's `runId`.")],
    ) -> AsyncGenerator[PrdGenerationEvent, None]:
        try:
            run_uuid = UUID(str(run_id))
        except ValueError:
            raise ValidationError("runId is not a generation's id.", field="runId") from None
        run = await _run(info, run_uuid)
        broker = info.context.runtime.broker
        async with broker.subscribe(prd_topic(run_uuid)) as messages:
            # Read again once subscribed: a generation that ended before is answered from the saved document.
            run = await _run(info, run_uuid)
            if run.status in ("SUCCEEDED", "FAILED"):
                async with info.context.event_scope():
                    document = await load_node(info, Document, run.document_id)
                    ended = PrdMessage(
                        sequence=0,
                        status=run.status,
                        text=document.body if document is not None and run.status == "SUCCEEDED" else "",
                        error="The generation failed; the document is unchanged." if run.status == "FAILED" else None,
                    )
                    yield _event(run_uuid, ended, run.document_id if run.status == "SUCCEEDED" else None)
                return
            async with info.context.event_scope():
                yield _event(run_uuid, PrdMessage(sequence=0, status=run.status))
            async for raw in messages:
                message = PrdMessage.from_message(raw)
                if not await still_allowed(info):
                    return
                async with info.context.event_scope():
                    yield _event(run_uuid, message)
                if message.status in ("SUCCEEDED", "FAILED"):
                    return
