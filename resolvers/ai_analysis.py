"""analyzeRequirement: a requirement's findings on INVEST, ambiguity, acceptance criteria and size.

The rules are prism.domain.requirement_analysis's, the use case AnalysisService's (prism/services/
requirement_analysis.py); this module shapes the answer.
"""

import enum
from typing import Annotated

import strawberry

from prism.domain import requirement_analysis as rules
from resolvers.context import Context
from resolvers.list_bounds import max_items
from resolvers.node import find_node
from resolvers.permissions import CanUseAi
from resolvers.requirements import Requirement

__all__ = ["AiAnalysisQuery", "RequirementAnalysis"]

Info = strawberry.Info[Context, None]

MAX_FINDINGS = 60
"""More than the rules and a model can find together (the model gives at most 10)."""


@strawberry.enum(description="What a finding is about.")
class FindingCategory(enum.Enum):
    INVEST = strawberry.enum_value(
        "INVEST", description="Independent, negotiable, valuable, estimable, small, testable."
    )
    AMBIGUITY = strawberry.enum_value("AMBIGUITY", description="Vague words nobody can check (fast, easy, several).")
    ACCEPTANCE_CRITERIA = strawberry.enum_value(
        "ACCEPTANCE_CRITERIA", description="Acceptance criteria missing, or not checkable (no Then ...)."
    )
    SIZE = strawberry.enum_value("SIZE", description="Too large for one story (more than 8 points).")


@strawberry.enum(description="How much a finding matters.")
class FindingSeverity(enum.Enum):
    LOW = strawberry.enum_value("LOW", description="Worth a look.")
    MEDIUM = strawberry.enum_value("MEDIUM", description="Fix it before the work is planned.")
    HIGH = strawberry.enum_value("HIGH", description="Nobody can tell when it is done, or it cannot fit a sprint.")


@strawberry.enum(description="Who found it.")
class FindingSource(enum.Enum):
    RULE = strawberry.enum_value("RULE", description="PRISM's deterministic rules (exact, always run).")
    AI = strawberry.enum_value("AI", description="The model's review (none offline).")


@strawberry.type(description="One problem of a requirement, and a better wording.")
class RequirementFinding:
    source: FindingSource = strawberry.field(description="Whether a rule or the model found it.")
    rule: str | None = strawberry.field(description="The rule's id, like ambiguous-term; null for the model's.")
    category: FindingCategory = strawberry.field(description="What it is about.")
    severity: FindingSeverity = strawberry.field(description="How much it matters.")
    field: str | None = strawberry.field(
        description="The field concerned: title, description, acceptanceCriteria or estimate."
    )
    message: str = strawberry.field(description="What is wrong, for a person.")
    suggested_rewrite: str = strawberry.field(description="A better wording, or what to do.")

    @classmethod
    def from_finding(cls, finding: rules.Finding) -> "RequirementFinding":
        return cls(
            source=FindingSource.RULE if finding.rule is not None else FindingSource.AI,
            rule=finding.rule,
            category=FindingCategory(finding.category.value),
            severity=FindingSeverity(finding.severity.value),
            field=finding.field,
            message=finding.message,
            suggested_rewrite=finding.suggested_rewrite,
        )


@strawberry.type(description="What an analysis of a requirement found.")
class RequirementAnalysis:
    requirement: Requirement = strawberry.field(description="The requirement analysed.")
    findings: list[RequirementFinding] = strawberry.field(
        description="The findings, the most severe first; the rules' before the model's within a severity.",
        metadata=max_items(MAX_FINDINGS),
    )
    summary: str = strawberry.field(description="The model's summary; offline, a note that no model reviewed it.")
    offline: bool = strawberry.field(description="True when the offline model answered (it adds no findings).")
    cached: bool = strawberry.field(description="True when the model's answer came from the response cache.")
    prompt_version: str = strawberry.field(description="The version of the prompt used (aiPrompts, aiUsage).")


@strawberry.type
class AiAnalysisQuery:
    @strawberry.field(
        description=(
            "Findings on a requirement's quality: INVEST, ambiguity, missing or untestable acceptance criteria and "
            "size, each with a severity and a suggested rewrite, from PRISM's rules and the model's review. Another "
            "organization's requirement is NOT_FOUND; a spent AI budget is AI_BUDGET_EXHAUSTED. It spends the "
            "organization's AI budget: a VIEWER (or an API key without the `ai` scope) gets FORBIDDEN."
        ),
        permission_classes=[CanUseAi],
    )
    async def analyze_requirement(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The requirement to analyse.")],
    ) -> RequirementAnalysis:
        requirement = await find_node(info, Requirement, id)
        text = rules.RequirementText(
            kind=requirement.kind.name,
            title=requirement.title,
            description=requirement.description,
            acceptance_criteria=requirement.acceptance_criteria,
            estimate=requirement.estimate,
        )
        found = await info.context.services.analysis.analyze(text)
        return RequirementAnalysis(
            requirement=requirement,
            findings=[RequirementFinding.from_finding(finding) for finding in found.findings],
            summary=found.summary,
            offline=found.offline,
            cached=found.cached,
            prompt_version=found.prompt_version,
        )
