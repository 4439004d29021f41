"""generateStories and acceptGeneratedStories: user stories from a brief, grounded in the product's requirements.

The use case is StoryGenerationService's (prism/services/story_generation.py); this module shapes the answer and the
acceptance. Generating writes nothing but its `ai_run`; accepting creates the stories a person kept, all or none.
"""

from typing import Annotated, Any

import strawberry
from strawberry import relay

from prism.errors import NotFoundError, PrismError
from prism.services import story_generation as generation
from prism.services.story_generation import MAX_ACCEPTED, MAX_STORIES, AcceptedStory, EpicText, StoryRejectedError
from resolvers.common import UserError, decode_id, user_errors, user_errors_field
from resolvers.connections import payload
from resolvers.context import Context
from resolvers.list_bounds import max_items
from resolvers.node import find_node, load_node
from resolvers.permissions import CanUseAi, CanWrite
from resolvers.requirements import Requirement

__all__ = ["AiStoriesMutation", "AiStoriesQuery"]

Info = strawberry.Info[Context, None]


@strawberry.type(description="One acceptance scenario of a generated story, in Gherkin's Given/When/Then.")
class GherkinScenario:
    name: str = strawberry.field(description="What the scenario checks.")
    given: str = strawberry.field(description="The situation before (Given).")
    when: str = strawberry.field(description="What the person does (When).")
    then: str = strawberry.field(description="What they can check after (Then).")


@strawberry.type(description="A requirement or document that grounded an AI answer: the source to cite.")
class StorySource:
    id: strawberry.ID = strawberry.field(description="Its global id (a Requirement or a Document).")
    kind: str = strawberry.field(description="requirement or document.")
    key: str | None = strawberry.field(description="Its key, like PRISM-12; null for a document.")
    title: str = strawberry.field(description="Its title.")
    score: float = strawberry.field(description="Cosine similarity of its text to the brief (1: the same words).")

    @classmethod
    def from_source(cls, source: generation.Source) -> "StorySource":
        type_name = "Requirement" if source.kind == "requirement" else "Document"
        return cls(
            id=strawberry.ID(str(relay.GlobalID(type_name, str(source.id)))),
            kind=source.kind,
            key=source.key,
            title=source.title,
            score=source.score,
        )


@strawberry.type(description="A user story the AI wrote: a suggestion until acceptGeneratedStories creates it.")
class GeneratedStory:
    title: str = strawberry.field(description="A short title.")
    persona: str = strawberry.field(description="Who wants it (As a ...).")
    goal: str = strawberry.field(description="What they want (I want ...).")
    benefit: str = strawberry.field(description="Why (so that ...).")
    statement: str = strawberry.field(description='The story: "As a <persona>, I want <goal>, so that <benefit>."')
    scenarios: list[GherkinScenario] = strawberry.field(description="Its acceptance scenarios.", metadata=max_items(4))
    acceptance_criteria: str = strawberry.field(description="The scenarios as Gherkin text, ready to accept.")
    estimate: int = strawberry.field(description="Story points, a Fibonacci number: 1, 2, 3, 5, 8 or 13.")
    source_keys: list[str] = strawberry.field(
        description="Keys of the sources it builds on (only keys of `sources`).", metadata=max_items(10)
    )
    notes: str = strawberry.field(description="What it draws on; starts with [offline] from the offline model.")

    @classmethod
    def from_story(cls, story: generation.GeneratedStory) -> "GeneratedStory":
        draft = story.draft
        return cls(
            title=draft.title,
            persona=draft.persona,
            goal=draft.goal,
            benefit=draft.benefit,
            statement=story.statement,
            scenarios=[GherkinScenario(name=s.name, given=s.given, when=s.when, then=s.then) for s in draft.scenarios],
            acceptance_criteria=story.acceptance_criteria,
            estimate=draft.estimate,
            source_keys=story.source_keys,
            notes=draft.notes,
        )


@strawberry.type(description="Stories generated from a brief, and the product's requirements they were grounded in.")
class GeneratedStories:
    stories: list[GeneratedStory] = strawberry.field(
        description="The stories, at most `count`.", metadata=max_items(MAX_STORIES)
    )
    sources: list[StorySource] = strawberry.field(
        description="The product's requirements (and documents) nearest the brief, best first, given to the model.",
        metadata=max_items(10),
    )
    offline: bool = strawberry.field(description="True when the offline model wrote them (extracts, not judgement).")
    cached: bool = strawberry.field(description="True when the answer came from the response cache, at no cost.")
    prompt_version: str = strawberry.field(description="The version of the prompt used (aiPrompts, aiUsage).")

    @classmethod
    def from_result(cls, result: generation.GeneratedStories) -> "GeneratedStories":
        return cls(
            stories=[GeneratedStory.from_story(story) for story in result.stories],
            sources=[StorySource.from_source(source) for source in result.sources],
            offline=result.offline,
            cached=result.cached,
            prompt_version=result.prompt_version,
        )


@strawberry.input(description="A generated story to create, as generateStories gave it or edited.")
class AcceptedStoryInput:
    title: str = strawberry.field(description="Its title, 1-255 characters (a GeneratedStory's title).")
    description: str = strawberry.field(default="", description="Its description (a GeneratedStory's statement).")
    acceptance_criteria: str = strawberry.field(
        default="", description="Its acceptance criteria (a GeneratedStory's acceptanceCriteria)."
    )
    estimate: float | None = strawberry.field(default=None, description="Story points, 0-1000.")


@strawberry.input(description="Generated stories to create as STORY requirements, all or none.")
class AcceptGeneratedStoriesInput:
    epic_id: strawberry.ID | None = strawberry.field(default=None, description="The epic to create them under.")
    product_id: strawberry.ID | None = strawberry.field(
        default=None, description="The product, when there is no epic (or to check the epic's product)."
    )
    stories: list[AcceptedStoryInput] = strawberry.field(description="The stories, in order: 1-20.")


@strawberry.type(description="The result of accepting generated stories.")
class AcceptGeneratedStoriesPayload:
    requirements: list[Requirement] | None = strawberry.field(
        description="The STORY requirements created, in the order given; null on failure.",
        metadata=max_items(MAX_ACCEPTED),
    )
    user_errors: list[UserError] = user_errors_field(
        'Why nothing was created; a story problem has the field path ["input", "stories", "<index>", "<field>"].'
    )


def _story_errors(error: PrismError) -> list[UserError]:
    if isinstance(error, StoryRejectedError):
        path = ["input", "stories", str(error.index)] + ([error.field] if error.field else [])
        return [UserError(field=path, message=error.message, code=error.code.value)]
    return user_errors(error)


@strawberry.type
class AiStoriesQuery:
    @strawberry.field(
        description=(
            "User stories for a brief in a product (under an epic when given), with Gherkin acceptance criteria and "
            "Fibonacci estimates, grounded in the product's nearest requirements (`sources`). A suggestion: nothing "
            "is created until acceptGeneratedStories. Another organization's product or epic is NOT_FOUND; an empty "
            "brief is BAD_USER_INPUT, a longer one than 10,000 characters TOO_LONG; a spent AI budget is "
            "AI_BUDGET_EXHAUSTED. It spends the organization's AI budget: a VIEWER (or an API key without the `ai` "
            "scope) gets FORBIDDEN."
        ),
        permission_classes=[CanUseAi],
    )
    async def generate_stories(
        self,
        info: Info,
        product_id: Annotated[strawberry.ID, strawberry.argument(description="The product to write stories for.")],
        brief: Annotated[str, strawberry.argument(description="What the stories are for (1-10,000 characters).")],
        epic_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="An epic of the product the stories go under.")
        ] = None,
        count: Annotated[int, strawberry.argument(description="How many stories at most, 1-10.")] = 3,
    ) -> GeneratedStories:
        from resolvers.products import Product

        product = await load_node(info, Product, decode_id(product_id, "Product", "productId"))
        if product is None:
            raise NotFoundError("No Product with this id.", field="productId")
        epic = None
        if epic_id is not None:
            epic = await find_node(info, Requirement, epic_id)
            if epic.product_id != product.uuid:
                raise NotFoundError("No epic with this id in this product.", field="epicId")
        service = info.context.services.story_generation
        found = await service.generate(
            product.uuid,
            product.key,
            brief,
            count,
            epic=None if epic is None else EpicText(epic.uuid, epic.title, epic.description),
        )
        return GeneratedStories.from_result(found)


@strawberry.type
class AiStoriesMutation:
    @strawberry.mutation(
        description=(
            "Create generated stories (as generateStories gave them, or edited) as STORY requirements under an epic "
            "or in a product, in order, in one transaction: if one is refused, none is created."
        ),
        permission_classes=[CanWrite],
    )
    async def accept_generated_stories(
        self, info: Info, input: AcceptGeneratedStoriesInput
    ) -> AcceptGeneratedStoriesPayload:
        async def accept() -> Any:
            epic = None if input.epic_id is None else decode_id(input.epic_id, "Requirement", "epicId")
            product = None if input.product_id is None else decode_id(input.product_id, "Product", "productId")
            stories = [AcceptedStory(s.title, s.description, s.acceptance_criteria, s.estimate) for s in input.stories]
            return await info.context.services.story_generation.accept(product, epic, stories)

        return await payload(
            AcceptGeneratedStoriesPayload,
            accept,
            errors=_story_errors,
            requirements=lambda rows: [Requirement.from_row(row) for row in rows],
        )
