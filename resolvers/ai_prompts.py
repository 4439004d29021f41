"""The organization's AI prompts: what each feature asks the model, and admins' overrides of the defaults."""

import enum
from datetime import UTC, datetime
from typing import Annotated

import strawberry

from prism.services.ai_prompts import PromptView
from prism.services.ai_usage import MAX_GROUPS, PromptUsage
from resolvers.common import UserError, user_errors_field, zoned_time
from resolvers.connections import payload
from resolvers.context import Context
from resolvers.list_bounds import max_items
from resolvers.permissions import CanManageAi, CanRead

__all__ = ["AiPromptMutation", "AiPromptQuery"]

Info = strawberry.Info[Context, None]

MAX_PROMPTS = 20
"""More than the AI features PRISM has: each has one prompt."""


@strawberry.enum(description="Where the prompt a feature uses comes from.")
class AiPromptSource(enum.Enum):
    DEFAULT = strawberry.enum_value("DEFAULT", description="The template PRISM ships (prism/ai/prompts).")
    OVERRIDE = strawberry.enum_value("OVERRIDE", description="The organization's own, saved by an admin.")


@strawberry.type(description="A placeholder a prompt template may use, like {brief}.")
class AiPromptPlaceholder:
    name: str = strawberry.field(description="Its name, written {name} in the template.")
    description: str = strawberry.field(description="The value PRISM puts there.")
    required: bool = strawberry.field(description="Whether every template of this prompt must use it.")


@strawberry.type(description="The prompt template one AI feature uses in the organization.")
class AiPrompt:
    key: str = strawberry.field(description="The feature it serves, like generate_stories.")
    description: str = strawberry.field(description="What the feature asks the model.")
    version: str = strawberry.field(
        description="The version runs record (aiUsage): <key>-<n> for a default, <key>-org-<revision> for an override."
    )
    source: AiPromptSource = strawberry.field(description="Whether it is PRISM's default or the organization's.")
    text: str = strawberry.field(description="The template: text with {placeholder} fields; {{ and }} for braces.")
    default_version: str = strawberry.field(description="The version of PRISM's default template.")
    default_text: str = strawberry.field(description="PRISM's default template, to start an override from.")
    placeholders: list[AiPromptPlaceholder] = strawberry.field(
        description="The placeholders the template may use.", metadata=max_items(10)
    )
    updated_at: datetime | None = strawberry.field(description="When the override was saved; null for the default.")

    @classmethod
    def from_view(cls, view: PromptView) -> "AiPrompt":
        template = view.default
        return cls(
            key=view.current.key,
            description=template.description,
            version=view.current.version,
            source=AiPromptSource.OVERRIDE if view.current.overridden else AiPromptSource.DEFAULT,
            text=view.current.text,
            default_version=template.version_label,
            default_text=template.text,
            placeholders=[
                AiPromptPlaceholder(name=name, description=text, required=name in template.required)
                for name, text in template.placeholders.items()
            ],
            updated_at=view.updated_at,
        )


@strawberry.type(description="What one AI feature's runs with one prompt version came to in a time range.")
class AiPromptUsage:
    feature: str = strawberry.field(description="The AI feature, like recommend_priorities.")
    prompt_key: str = strawberry.field(description="The prompt's key (aiPrompts).")
    prompt_version: str = strawberry.field(description="The prompt's version, like recommend-priorities-org-2.")
    runs: int = strawberry.field(description="Calls made (each an ai_run), failed and cached ones included.")
    failed_runs: int = strawberry.field(description="Calls no model answered usably.")
    cached_runs: int = strawberry.field(description="Calls answered from the response cache, at no cost.")
    offline_runs: int = strawberry.field(description="Calls the offline model answered.")
    input_tokens: int = strawberry.field(description="Tokens sent, in total.")
    output_tokens: int = strawberry.field(description="Tokens received, in total.")
    cost_usd: float = strawberry.field(description="What the calls cost, in USD (LiteLLM's price table; 0 offline).")
    latency_p50_ms: int | None = strawberry.field(
        description="Median latency of the calls that reached a model, in ms; null when all were cache hits."
    )
    latency_p95_ms: int | None = strawberry.field(
        description="95th-percentile latency of the calls that reached a model, in ms; null when all were cache hits."
    )

    @classmethod
    def from_usage(cls, usage: PromptUsage) -> "AiPromptUsage":
        return cls(**vars(usage))


@strawberry.input(description="A new prompt template for one AI feature of the organization.")
class SetAiPromptOverrideInput:
    key: str = strawberry.field(description="The feature's prompt key, as aiPrompts lists it.")
    text: str = strawberry.field(
        description="The template, at most 20,000 characters, using only the prompt's placeholders (BAD_USER_INPUT)."
    )


@strawberry.input(description="An AI feature whose prompt goes back to PRISM's default.")
class ResetAiPromptOverrideInput:
    key: str = strawberry.field(description="The feature's prompt key, as aiPrompts lists it.")


@strawberry.type(description="The result of changing an AI prompt.")
class AiPromptPayload:
    prompt: AiPrompt | None = strawberry.field(description="The prompt the feature now uses; null on failure.")
    user_errors: list[UserError] = user_errors_field()


@strawberry.type
class AiPromptQuery:
    @strawberry.field(
        description="Every AI feature's prompt as the organization uses it: PRISM's default or its override.",
        permission_classes=[CanRead],
        metadata=max_items(MAX_PROMPTS),
    )
    async def ai_prompts(self, info: Info) -> list[AiPrompt]:
        return [AiPrompt.from_view(view) for view in await info.context.services.ai_prompts.prompts()]

    @strawberry.field(
        description=(
            "The organization's AI runs from `since` to `until` grouped by feature and prompt version, the most "
            "used first (at most 200 groups): runs, tokens, cost and latency, to compare two prompt versions. "
            "`until` before `since` is BAD_USER_INPUT."
        ),
        permission_classes=[CanRead],
        metadata=max_items(MAX_GROUPS),
    )
    async def ai_usage(
        self,
        info: Info,
        since: Annotated[
            datetime | None,
            strawberry.argument(
                description="From this time (inclusive, with a zone); the 1st of this month (UTC) if omitted."
            ),
        ] = None,
        until: Annotated[
            datetime | None,
            strawberry.argument(description="Until this time (exclusive, with a zone); now if omitted."),
        ] = None,
    ) -> list[AiPromptUsage]:
        now = datetime.now(UTC)
        start = zoned_time(since, "since") or now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = zoned_time(until, "until") or now
        found = await info.context.services.ai_prompts.usage(start, end)
        return [AiPromptUsage.from_usage(usage) for usage in found]


@strawberry.type
class AiPromptMutation:
    @strawberry.mutation(
        description=(
            "Use another template for one AI feature in the organization (OWNER and ADMIN). Each save is a new "
            "version; a template with an unknown or malformed placeholder is refused with BAD_USER_INPUT."
        ),
        permission_classes=[CanManageAi],
    )
    async def set_ai_prompt_override(self, info: Info, input: SetAiPromptOverrideInput) -> AiPromptPayload:
        return await payload(
            AiPromptPayload,
            lambda: info.context.services.ai_prompts.set_override(input.key, input.text),
            prompt=AiPrompt.from_view,
        )

    @strawberry.mutation(
        description="Go back to PRISM's default prompt for one AI feature (OWNER and ADMIN).",
        permission_classes=[CanManageAi],
    )
    async def reset_ai_prompt_override(self, info: Info, input: ResetAiPromptOverrideInput) -> AiPromptPayload:
        return await payload(
            AiPromptPayload,
            lambda: info.context.services.ai_prompts.reset_override(input.key),
            prompt=AiPrompt.from_view,
        )
