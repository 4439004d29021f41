"""Generating user stories from a brief, grounded in the product's own requirements, and accepting them.

`generate` retrieves the product's requirements (and documents, once indexed) nearest the brief from the vector
index (tenant-filtered, then read again through row-level security), puts them in the organization's
`generate_stories` prompt, and asks the gateway for validated stories: offline by default, one `ai_run`.
`accept` creates the stories a person kept as STORY requirements under an epic or in a product, all in the
request's one transaction, through RequirementService (so history, events and index jobs follow).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, create_model

from prism.ai.completion import GenerationRequest, Generator
from prism.ai.prompts import delimited, render_messages
from prism.auth.rbac import Viewer, require_ai
from prism.db.tables import Document, Requirement
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.domain.enums import RequirementKind
from prism.domain.stories import Scenario, gherkin, statement
from prism.errors import Code, NotFoundError, PrismError, ValidationError
from prism.runtime import Runtime
from prism.services.ai_prompts import current_prompt
from prism.services.requirements import RequirementDraft, RequirementService
from prism.services.validation import clean_brief

__all__ = [
    "MAX_ACCEPTED",
    "MAX_STORIES",
    "AcceptedStory",
    "EpicText",
    "GeneratedStories",
    "GeneratedStory",
    "Source",
    "StoryGenerationService",
    "StoryRejectedError",
]

PROMPT_KEY = "generate_stories"
MAX_STORIES = 10
"""The most stories one generation writes."""
MAX_ACCEPTED = 20
"""The most stories one acceptance creates."""
SOURCES = 5
"""How many of the product's nearest requirements and documents ground a generation."""
_REQUIREMENTS = Requirement.__table__  # type: ignore[attr-defined]
_DOCUMENTS = Document.__table__  # type: ignore[attr-defined]


class GherkinScenario(BaseModel):
    """One acceptance scenario."""

    name: str = Field(min_length=1, max_length=200)
    given: str = Field(min_length=1, max_length=500)
    when: str = Field(min_length=1, max_length=500)
    then: str = Field(min_length=1, max_length=500)


class StoryDraft(BaseModel):
    """A story as the model writes it."""

    title: str = Field(min_length=3, max_length=255)
    persona: str = Field(min_length=1, max_length=100, description="Who wants it, like 'sprint manager'.")
    goal: str = Field(min_length=1, max_length=500, description="What they want (the 'I want' part).")
    benefit: str = Field(min_length=1, max_length=500, description="Why (the 'so that' part).")
    scenarios: list[GherkinScenario] = Field(min_length=1, max_length=4)
    estimate: Literal[1, 2, 3, 5, 8, 13]
    source_keys: list[str] = Field(default_factory=list, max_length=10)
    notes: str = Field(default="", max_length=1000, description="What the story draws on, in a sentence.")


class StoryDrafts(BaseModel):
    """The answer asked for: the stories."""

    stories: list[StoryDraft] = Field(min_length=1, max_length=MAX_STORIES)


@cache
def drafts_model(count: int) -> type[StoryDrafts]:
    """The answer for `count` stories: one to `count` (the schema says how many, so models, offline too, know)."""
    return create_model(
        "StoryDrafts", __base__=StoryDrafts, stories=(list[StoryDraft], Field(min_length=1, max_length=count))
    )


@dataclass(frozen=True)
class EpicText:
    """The epic stories are generated under: its id and text."""

    id: UUID
    title: str
    description: str


@dataclass(frozen=True)
class Source:
    """A requirement or document that grounded a generation, with its similarity to the brief."""

    id: UUID
    kind: str
    key: str | None
    title: str
    score: float
    text: str


@dataclass(frozen=True)
class GeneratedStory:
    """A generated story, with its statement and acceptance criteria as text, ready to accept."""

    draft: StoryDraft
    statement: str
    acceptance_criteria: str
    source_keys: list[str]


@dataclass(frozen=True)
class GeneratedStories:
    """A generation's stories, the sources it used, and who answered."""

    stories: list[GeneratedStory]
    sources: list[Source]
    offline: bool
    cached: bool
    model: str
    prompt_version: str


@dataclass(frozen=True)
class AcceptedStory:
    """A story a person keeps, as text (possibly edited)."""

    title: str
    description: str
    acceptance_criteria: str
    estimate: float | None


class StoryRejectedError(ValidationError):
    """One story of an acceptance breaks a rule; `index` says which (from 0), `field` which of its fields."""

    def __init__(self, index: int, error: PrismError) -> None:
        super().__init__(f"Story {index + 1}: {error.message}", field=error.field, code=error.code)
        self.index = index


def _source_block(source: Source) -> str:
    attributes = {"kind": source.kind, "score": f"{source.score:.2f}"}
    if source.key is not None:
        attributes = {"key": source.key, **attributes}
    return delimited("source", f"{source.title}\n{source.text}"[:2000], **attributes)


class StoryGenerationService:
    def __init__(self, runtime: Runtime, uow: UnitOfWork, viewer: Viewer, requirements: RequirementService) -> None:
        self._runtime = runtime
        self._uow = uow
        self._viewer = viewer
        self._requirements = requirements

    @property
    def _org(self) -> UUID:
        return self._viewer.organization_id

    async def sources(self, product_id: UUID, product_key: str, text: str, exclude: UUID | None) -> list[Source]:
        """The product's requirements and documents nearest `text`, best first, as the viewer's organization may read
        them (a vector whose row is gone, or not this organization's, is dropped)."""
        async with self._uow.without_connection():  # embedding the text may call a model
            hits = await self._runtime.ai.index.search(
                self._org, text, limit=SOURCES, product_id=product_id, exclude=exclude
            )
        hits = [hit for hit in hits if hit.score > 0]
        requirement_ids = [hit.id for hit in hits if hit.kind == "requirement"]
        document_ids = [hit.id for hit in hits if hit.kind == "document"]
        rows: dict[UUID, Any] = {}
        if requirement_ids:
            columns = (_REQUIREMENTS.c.id, _REQUIREMENTS.c.number, _REQUIREMENTS.c.title, _REQUIREMENTS.c.description)
            statement_ = tenant_select(_REQUIREMENTS, self._org, *columns, _REQUIREMENTS.c.acceptance_criteria)
            found = await self._uow.all(
                statement_.where(_REQUIREMENTS.c.id.in_(requirement_ids), _REQUIREMENTS.c.product_id == product_id)
            )
            rows |= {row.id: row for row in found}
        if document_ids:
            found = await self._uow.all(
                tenant_select(_DOCUMENTS, self._org, _DOCUMENTS.c.id, _DOCUMENTS.c.title, _DOCUMENTS.c.body).where(
                    _DOCUMENTS.c.id.in_(document_ids), _DOCUMENTS.c.product_id == product_id
                )
            )
            rows |= {row.id: row for row in found}
        sources: list[Source] = []
        for hit in hits:
            row = rows.get(hit.id)
            if row is None:
                continue
            if hit.kind == "requirement":
                text_ = "\n".join(part for part in (row.description, row.acceptance_criteria) if part)
                key = f"{product_key}-{row.number}"
            else:
                text_, key = row.body, None
            sources.append(Source(hit.id, hit.kind, key, row.title, round(hit.score, 4), text_))
        return sources

    async def generate(
        self,
        product_id: UUID,
        product_key: str,
        brief: str,
        count: int,
        epic: EpicText | None = None,
    ) -> GeneratedStories:
        """Up to `count` stories for `brief` in the product (under `epic`, when given)."""
        require_ai(self._viewer, viewers_allowed=self._runtime.settings.ai_viewers_may_use_models)
        brief = clean_brief(brief)
        if not 1 <= count <= MAX_STORIES:
            raise ValidationError(
                f"count must be between 1 and {MAX_STORIES}.", field="count", code=Code.BAD_USER_INPUT
            )
        epic_text = "" if epic is None else f"{epic.title}\n{epic.description}"
        sources = await self.sources(
            product_id, product_key, f"{brief}\n{epic_text}", None if epic is None else epic.id
        )
        prompt = await current_prompt(self._uow, self._org, PROMPT_KEY)
        values = {
            "count": str(count),
            "product": product_key,
            "epic": "" if epic is None else "The stories go under this epic:\n" + delimited("epic", epic_text),
            "brief": delimited("brief", brief),
            "sources": "\n".join(_source_block(s) for s in sources) or "(The product has no related requirements.)",
        }
        generator = Generator(self._runtime.settings, self._uow, cache=self._runtime.kv)
        answer = await generator.generate(
            GenerationRequest(
                feature=PROMPT_KEY,
                prompt_key=prompt.key,
                prompt_version=prompt.version,
                organization_id=self._org,
                messages=render_messages(prompt, values),
            ),
            drafts_model(count),
        )
        known = {s.key for s in sources if s.key is not None}
        drafts = answer.output.stories[:count]
        stories = [
            GeneratedStory(
                draft=draft,
                statement=statement(draft.persona, draft.goal, draft.benefit),
                acceptance_criteria=gherkin([Scenario(s.name, s.given, s.when, s.then) for s in draft.scenarios]),
                # A key the model made up, or one of another product, is not a source.
                source_keys=[key for key in dict.fromkeys(draft.source_keys) if key in known],
            )
            for draft in drafts
        ]
        return GeneratedStories(stories, sources, answer.offline, answer.cached, answer.model, prompt.version)

    async def accept(
        self, product_id: UUID | None, epic_id: UUID | None, stories: Sequence[AcceptedStory]
    ) -> list[Requirement]:
        """Create `stories` as STORY requirements under the epic (or in the product), in order, in this unit of work:
        a story that breaks a rule is StoryRejectedError and, the boundary rolling back, none is created."""
        if not stories:
            raise ValidationError("Give at least one story.", field="stories", code=Code.BAD_USER_INPUT)
        if len(stories) > MAX_ACCEPTED:
            raise ValidationError(f"Accept at most {MAX_ACCEPTED} stories at once.", field="stories")
        if epic_id is not None:
            found = await self._uow.all(
                tenant_select(_REQUIREMENTS, self._org, _REQUIREMENTS.c.product_id).where(_REQUIREMENTS.c.id == epic_id)
            )
            if not found:
                raise NotFoundError("No Requirement with this id.", field="epicId")
            if product_id is not None and product_id != found[0].product_id:
                raise ValidationError("The epic is not in this product.", field="epicId", code=Code.INVALID_PARENT)
            product_id = found[0].product_id
        if product_id is None:
            raise ValidationError("Give epicId or productId.", field="productId", code=Code.BAD_USER_INPUT)
        created: list[Requirement] = []
        for index, story in enumerate(stories):
            try:
                created.append(
                    await self._requirements.create(
                        RequirementDraft(
                            product_id=product_id,
                            kind=RequirementKind.STORY,
                            title=story.title,
                            description=story.description,
                            acceptance_criteria=story.acceptance_criteria,
                            parent_id=epic_id,
                            estimate=story.estimate,
                        )
                    )
                )
            except PrismError as error:
                if error.code in (Code.FORBIDDEN, Code.UNAUTHENTICATED):
                    raise
                if error.field in ("parentId", "productId"):
                    # The epic or the product itself is refused (not found, archived, not a parent of stories).
                    field = "epicId" if epic_id is not None else "productId"
                    raise type(error)(error.message, field=field, code=error.code) from None
                raise StoryRejectedError(index, error) from None
        return created
