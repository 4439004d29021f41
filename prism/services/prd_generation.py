"""Generating a PRD: queued by generatePrd, streamed by a job over the broker, saved as a document version.

`PrdGenerationService.start` (the mutation's use case, one transaction) checks the brief, the product and the
budget, creates the DRAFT PRD document the text will be saved to (or takes the one given), and defers a
`prism:generate_prd` job with a run id. `generate_prd` (the job) grounds the prompt in the product's requirements and
documents nearest the brief, streams the model's answer and publishes each piece on the broker topic
`prd-generation:<run id>` (Redis when configured, so subscribers on every replica get it), then saves the text as the
document's next version and publishes the end. The prdGeneration subscription (resolvers/ai_prd.py) relays them.
"""

import logging
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from prism.ai.completion import GenerationRequest
from prism.ai.gateway import AiGateway
from prism.ai.prompts import delimited, render_messages
from prism.ai.retrieval import DOCUMENT, REQUIREMENT
from prism.ai.streaming import StreamingGenerator
from prism.auth.access import require_on_product
from prism.auth.rbac import Viewer, require_ai
from prism.config import Settings
from prism.db.job_queue import GENERATE_PRD_TASK, defer_job, find_run
from prism.db.lookups import member_role
from prism.db.outbox import Actor
from prism.db.tables import Document, Product, Requirement
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.domain.enums import DocumentKind, Role
from prism.errors import NotFoundError, PrismError, ValidationError
from prism.events.broker import Broker
from prism.events.publisher import EventPublisher
from prism.runtime import Runtime
from prism.services.ai_prompts import current_prompt
from prism.services.audit import RequestMeta
from prism.services.documents import DocumentChanges, DocumentService
from prism.services.validation import clean_brief, get_owned

__all__ = [
    "GROUNDING",
    "PRD_SECTIONS",
    "PROMPT_KEY",
    "PrdGenerationService",
    "PrdMessage",
    "PrdRun",
    "find_prd_run",
    "generate_prd",
    "prd_topic",
]

logger = logging.getLogger(__name__)

PROMPT_KEY = "generate_prd"
PRD_SECTIONS = (
    "Problem",
    "Goals",
    "Non-goals",
    "Personas",
    "Requirements",
    "Success metrics",
    "Risks",
    "Open questions",
)
GROUNDING = 5
"""The requirements, and the documents, nearest the brief put in the prompt (each)."""

OUTLINE = "\n".join(f"## {section}" for section in PRD_SECTIONS)

_REQUIREMENT = Requirement.__table__  # type: ignore[attr-defined]
_DOCUMENT = Document.__table__  # type: ignore[attr-defined]
_PRODUCT = Product.__table__  # type: ignore[attr-defined]


def prd_topic(run_id: UUID) -> str:
    """The broker topic a PRD generation's messages are published on."""
    return f"prd-generation:{run_id}"


@dataclass(frozen=True)
class PrdSource:
    """A requirement or document the prompt was grounded in."""

    kind: str
    id: str
    label: str
    score: float


@dataclass(frozen=True)
class PrdMessage:
    """One message of a generation's stream: the status, the new text (`delta`) and all of it so far (`text`, so a
    subscriber that joins late has the whole), the sources, and at the end the document or the error."""

    sequence: int
    status: str
    delta: str = ""
    text: str = ""
    sources: list[PrdSource] = field(default_factory=list)
    offline: bool | None = None
    document_id: str | None = None
    error: str | None = None

    def to_message(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_message(cls, raw: bytes) -> "PrdMessage":
        values = orjson.loads(raw)
        values["sources"] = [PrdSource(**source) for source in values.get("sources", [])]
        return cls(**values)


@dataclass(frozen=True)
class PrdRun:
    """A generation as the job queue knows it: QUEUED, RUNNING, SUCCEEDED or FAILED, its product and document."""

    run_id: UUID
    status: str
    product_id: UUID
    document_id: UUID


_STATUS = {
    "todo": "QUEUED",
    "doing": "RUNNING",
    "succeeded": "SUCCEEDED",
    "failed": "FAILED",
    "cancelled": "FAILED",
    "aborted": "FAILED",
}


async def find_prd_run(uow: UnitOfWork, organization_id: UUID, run_id: UUID) -> PrdRun | None:
    """The organization's generation with this run id; None for another organization's or none."""
    async with uow.session(organization_id) as session:
        found = await find_run(await session.connection(), GENERATE_PRD_TASK, organization_id, run_id)
    if found is None:
        return None
    return PrdRun(
        run_id=run_id,
        status=_STATUS.get(found.status, "FAILED"),
        product_id=UUID(found.arguments["product_id"]),
        document_id=UUID(found.arguments["document_id"]),
    )


@dataclass(frozen=True)
class StartedPrd:
    """A queued generation: its run id and the document its text will be saved to."""

    run_id: UUID
    document: Document


class PrdGenerationService:
    """generatePrd's use case."""

    def __init__(self, runtime: Runtime, uow: UnitOfWork, viewer: Viewer, meta: RequestMeta | None = None) -> None:
        self._runtime = runtime
        self._uow = uow
        self._viewer = viewer
        self._meta = meta or RequestMeta()

    async def start(self, product_id: UUID, brief: str, document_id: UUID | None = None) -> StartedPrd:
        """Queue a PRD for the product from `brief`, to be saved to `document_id` (a PRD of the product) or to a new
        DRAFT PRD created now; refused up front when the organization's AI budget is spent."""
        require_ai(self._viewer, viewers_allowed=self._runtime.settings.ai_viewers_may_use_models)
        brief = clean_brief(brief)
        organization_id = self._viewer.organization_id
        generator = StreamingGenerator(self._runtime.settings, self._uow)
        await generator.check_budget(organization_id)
        documents = DocumentService(self._uow, self._viewer, self._meta, storage=self._runtime.object_store)
        if document_id is None:
            title = brief.splitlines()[0][:200]
            document = await documents.create(product_id=product_id, kind=DocumentKind.PRD, title=f"PRD: {title}")
        else:
            async with self._uow.session(organization_id) as session:
                document = await get_owned(session, Document, document_id, organization_id, "documentId")
                await require_on_product(session, self._viewer, document.product_id)
            if document.product_id != product_id:
                raise ValidationError("The document belongs to another product.", field="documentId")
        run_id = uuid.uuid4()
        async with self._uow.session(organization_id) as session:
            await defer_job(
                session,
                GENERATE_PRD_TASK,
                {
                    "organization_id": str(organization_id),
                    "run_id": str(run_id),
                    "user_id": str(self._viewer.user_id),
                    "product_id": str(product_id),
                    "document_id": str(document.id),
                    "brief": brief,
                },
            )
        return StartedPrd(run_id=run_id, document=document)


async def _grounding(
    gateway: AiGateway, reader: UnitOfWork, organization_id: UUID, product_id: UUID, document_id: UUID, brief: str
) -> tuple[list[PrdSource], str]:
    """The product's requirements and documents nearest the brief (never the PRD being written), and the context
    block citing each by its label."""
    sources: list[PrdSource] = []
    lines: list[str] = []
    try:
        async with reader.without_connection():  # embedding the brief may call a model
            requirement_hits = await gateway.index.search(
                organization_id, brief, limit=GROUNDING, product_id=product_id, kind=REQUIREMENT
            )
            document_hits = await gateway.index.search(
                organization_id, brief, limit=GROUNDING + 1, product_id=product_id, kind=DOCUMENT, exclude=document_id
            )
    except Exception:
        logger.warning("PRD grounding search failed", exc_info=True)
        return [], ""
    key = await reader.scalar(
        tenant_select(_PRODUCT, organization_id, _PRODUCT.c.key).where(_PRODUCT.c.id == product_id)
    )
    if requirement_hits:
        rows = await reader.all(
            tenant_select(
                _REQUIREMENT,
                organization_id,
                _REQUIREMENT.c.id,
                _REQUIREMENT.c.number,
                _REQUIREMENT.c.title,
                _REQUIREMENT.c.description,
            ).where(
                _REQUIREMENT.c.id.in_([hit.id for hit in requirement_hits]), _REQUIREMENT.c.product_id == product_id
            )
        )
        by_id = {row.id: row for row in rows}
        for hit in requirement_hits:
            row = by_id.get(hit.id)
            if row is not None:
                label = f"{key}-{row.number}"
                sources.append(PrdSource("REQUIREMENT", str(row.id), label, round(hit.score, 4)))
                lines.append(f"[{label}] {row.title}. {row.description[:500]}".strip())
    if document_hits:
        rows = await reader.all(
            tenant_select(_DOCUMENT, organization_id, _DOCUMENT.c.id, _DOCUMENT.c.title, _DOCUMENT.c.body).where(
                _DOCUMENT.c.id.in_([hit.id for hit in document_hits]), _DOCUMENT.c.product_id == product_id
            )
        )
        by_id = {row.id: row for row in rows}
        for hit in document_hits[:GROUNDING]:
            row = by_id.get(hit.id)
            if row is not None:
                sources.append(PrdSource("DOCUMENT", str(row.id), row.title, round(hit.score, 4)))
                lines.append(f"[Document: {row.title}] {row.body[:800]}".strip())
    return sources, "\n".join(line.replace("\n", " ") for line in lines)


async def generate_prd(
    settings: Settings,
    engine: AsyncEngine,
    gateway: AiGateway,
    broker: Broker,
    publisher: EventPublisher,
    arguments: dict[str, Any],
) -> PrdMessage:
    """The job: stream the PRD of `arguments` (what `start` deferred) over the broker and save it; the last message.

    A failure is published as the stream's last message and raised, so the job is marked failed (a dead letter)."""
    organization_id = UUID(arguments["organization_id"])
    user_id = UUID(arguments["user_id"])
    product_id = UUID(arguments["product_id"])
    document_id = UUID(arguments["document_id"])
    run_id = UUID(arguments["run_id"])
    topic = prd_topic(run_id)
    sequence = 0
    text = ""
    sources: list[PrdSource] = []

    async def publish(message: PrdMessage) -> None:
        try:
            await broker.publish(topic, message.to_message())
        except ConnectionError:
            # The stream is a courtesy; the saved document is the record.
            logger.warning("PRD stream message lost: the broker is down")

    try:
        # One unit of work, one connection at a time: given back while the model writes (the generator's
        # without_connection), the run's `ai_run` committed on its own, then the document saved and committed.
        async with UnitOfWork(engine, organization_id, user_id, actor=Actor(user_id=user_id), publish=publisher) as uow:
            async with uow.session() as session:
                role = await member_role(session, organization_id, user_id)
            if role is None:
                raise NotFoundError("The member who asked for this PRD left the organization.")
            await uow.rollback()  # only a read: nothing to keep, and no transaction to hold while models are asked
            sources, context = await _grounding(
                gateway, uow, organization_id, product_id, document_id, arguments["brief"]
            )
            prompt = await current_prompt(uow, organization_id, PROMPT_KEY)
            viewer = Viewer(user_id=user_id, organization_id=organization_id, role=Role(role))
            await publish(PrdMessage(sequence=sequence, status="RUNNING", sources=sources))

            async def on_text(delta: str) -> None:
                nonlocal sequence, text
                sequence += 1
                text += delta
                await publish(PrdMessage(sequence=sequence, status="RUNNING", delta=delta, text=text))

            values = {
                "outline": delimited("outline", OUTLINE),
                "brief": delimited("brief", arguments["brief"]),
                "context": delimited("context", context or "(The product has no related sources.)"),
            }
            streamed = await StreamingGenerator(settings, uow).stream(
                GenerationRequest(
                    feature=PROMPT_KEY,
                    prompt_key=prompt.key,
                    prompt_version=prompt.version,
                    organization_id=organization_id,
                    messages=render_messages(prompt, values),
                ),
                on_text,
            )
            body = streamed.text.strip() + "\n"
            if sources:
                body += "\n## Sources\n\n" + "\n".join(f"- [{source.label}]" for source in sources) + "\n"
            current = await uow.scalar(
                tenant_select(_DOCUMENT, organization_id, _DOCUMENT.c.version).where(_DOCUMENT.c.id == document_id)
            )
            if current is None:
                raise NotFoundError("The PRD's document was deleted while it was written.")
            saved = await DocumentService(uow, viewer).update(document_id, int(current), DocumentChanges(body=body))
            await uow.commit()
        final = PrdMessage(
            sequence=sequence + 1,
            status="SUCCEEDED",
            text=saved.body,
            sources=sources,
            offline=streamed.offline,
            document_id=str(saved.id),
        )
    except PrismError as error:
        await publish(
            PrdMessage(sequence=sequence + 1, status="FAILED", text=text, sources=sources, error=error.message)
        )
        raise
    except Exception:
        await publish(
            PrdMessage(
                sequence=sequence + 1, status="FAILED", text=text, sources=sources, error="The generation failed."
            )
        )
        raise
    await publish(final)
    return final
