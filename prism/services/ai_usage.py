"""AI usage: an organization's runs, tokens, cost and latency per feature and prompt version, over a time range."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import sqlalchemy as sa

from prism.db.tables import AiRun
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.errors import Code, ValidationError

__all__ = ["MAX_GROUPS", "PromptUsage", "usage_by_prompt"]

MAX_GROUPS = 200
"""The most (feature, prompt version) groups one answer holds, the most used first."""

_RUN = AiRun.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class PromptUsage:
    """What one feature's runs with one prompt version came to. Latencies leave out cache hits (which did not call a
    model) and are None when every run was one."""

    feature: str
    prompt_key: str
    prompt_version: str
    runs: int
    failed_runs: int
    cached_runs: int
    offline_runs: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_p50_ms: int | None
    latency_p95_ms: int | None


async def usage_by_prompt(
    uow: UnitOfWork, organization_id: UUID, since: datetime, until: datetime
) -> list[PromptUsage]:
    """The organization's runs from `since` (inclusive) to `until` (exclusive), grouped by feature and prompt version;
    `until` before `since` is BAD_USER_INPUT."""
    if until < since:
        raise ValidationError("until is before since.", field="until", code=Code.BAD_USER_INPUT)
    called = sa.case((_RUN.c.cached, None), else_=_RUN.c.latency_ms)  # percentiles skip nulls: cache hits
    runs = sa.func.count()
    statement = (
        tenant_select(
            _RUN,
            organization_id,
            _RUN.c.feature,
            _RUN.c.prompt_key,
            _RUN.c.prompt_version,
            runs.label("runs"),
            sa.func.count().filter(sa.not_(_RUN.c.succeeded)).label("failed_runs"),
            sa.func.count().filter(_RUN.c.cached).label("cached_runs"),
            sa.func.count().filter(_RUN.c.offline).label("offline_runs"),
            sa.func.coalesce(sa.func.sum(_RUN.c.input_tokens), 0).label("input_tokens"),
            sa.func.coalesce(sa.func.sum(_RUN.c.output_tokens), 0).label("output_tokens"),
            sa.func.coalesce(sa.func.sum(_RUN.c.cost_usd), 0.0).label("cost_usd"),
            sa.func.percentile_disc(0.5).within_group(called).label("p50"),
            sa.func.percentile_disc(0.95).within_group(called).label("p95"),
        )
        .where(_RUN.c.created_at >= since, _RUN.c.created_at < until)
        .group_by(_RUN.c.feature, _RUN.c.prompt_key, _RUN.c.prompt_version)
        .order_by(runs.desc(), _RUN.c.feature, _RUN.c.prompt_version)
        .limit(MAX_GROUPS)
    )
    return [
        PromptUsage(
            feature=row.feature,
            prompt_key=row.prompt_key,
            prompt_version=row.prompt_version,
            runs=row.runs,
            failed_runs=row.failed_runs,
            cached_runs=row.cached_runs,
            offline_runs=row.offline_runs,
            input_tokens=int(row.input_tokens),
            output_tokens=int(row.output_tokens),
            cost_usd=float(row.cost_usd),
            latency_p50_ms=None if row.p50 is None else int(row.p50),
            latency_p95_ms=None if row.p95 is None else int(row.p95),
        )
        for row in await uow.all(statement)
    ]
