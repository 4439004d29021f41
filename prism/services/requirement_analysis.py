"""Analysing a requirement: PRISM's deterministic rules (prism.domain.requirement_analysis) and a model's review.

The rules always run and are exact; the model (offline by default, one `ai_run`) is told what they found and asked
for anything else; the two are merged, the most severe first. Offline, the model adds nothing and says so.
"""

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from prism.ai.completion import GenerationRequest, Generator
from prism.ai.prompts import delimited, render_messages
from prism.auth.rbac import Viewer, require_ai
from prism.db.unit_of_work import UnitOfWork
from prism.domain import requirement_analysis as rules
from prism.runtime import Runtime
from prism.services.ai_prompts import current_prompt

__all__ = ["Analysis", "AnalysisService", "ModelFindings"]

PROMPT_KEY = "analyze_requirement"


class ModelFinding(BaseModel):
    """One problem a model found."""

    category: Literal["INVEST", "AMBIGUITY", "ACCEPTANCE_CRITERIA", "SIZE"]
    severity: Literal["LOW", "MEDIUM", "HIGH"]
    field: Literal["title", "description", "acceptanceCriteria", "estimate"] | None = None
    message: str = Field(min_length=1, max_length=500)
    suggested_rewrite: str = Field(min_length=1, max_length=2000)


class ModelFindings(BaseModel):
    """A model's review: its findings beyond the rules', and a summary."""

    findings: list[ModelFinding] = Field(default_factory=list, max_length=10)
    summary: str = Field(max_length=1000)


@dataclass(frozen=True)
class Analysis:
    """The merged findings, the model's summary, and who answered."""

    findings: list[rules.Finding]
    summary: str
    offline: bool
    cached: bool
    prompt_version: str


def _listed(findings: list[rules.Finding]) -> str:
    return "\n".join(f"- {f.category.value} {f.severity.value} ({f.field}): {f.message}" for f in findings) or "nothing"


class AnalysisService:
    def __init__(self, runtime: Runtime, uow: UnitOfWork, viewer: Viewer) -> None:
        self._runtime = runtime
        self._uow = uow
        self._viewer = viewer

    async def analyze(self, text: rules.RequirementText) -> Analysis:
        """The requirement's findings: the rules', then the model's that add something, the most severe first."""
        require_ai(self._viewer, viewers_allowed=self._runtime.settings.ai_viewers_may_use_models)
        organization_id: UUID = self._viewer.organization_id
        found = rules.analyze(text)
        prompt = await current_prompt(self._uow, organization_id, PROMPT_KEY)
        body = "\n".join(
            part
            for part in (f"{text.title}.", text.description, "Acceptance criteria:", text.acceptance_criteria)
            if part
        )
        values = {
            "kind": text.kind,
            "estimate": "none" if text.estimate is None else f"{text.estimate:g} points",
            "requirement": delimited("requirement", body),
            "rule_findings": _listed(found),
        }
        generator = Generator(self._runtime.settings, self._uow, cache=self._runtime.kv)
        answer = await generator.generate(
            GenerationRequest(
                feature=PROMPT_KEY,
                prompt_key=prompt.key,
                prompt_version=prompt.version,
                organization_id=organization_id,
                messages=render_messages(prompt, values),
            ),
            ModelFindings,
        )
        extra = [
            rules.Finding(
                rule=None,
                category=rules.FindingCategory(f.category),
                severity=rules.Severity(f.severity),
                field=f.field,
                message=f.message,
                suggested_rewrite=f.suggested_rewrite,
            )
            for f in answer.output.findings
        ]
        return Analysis(
            findings=rules.merge(found, extra),
            summary=answer.output.summary,
            offline=answer.offline,
            cached=answer.cached,
            prompt_version=prompt.version,
        )
