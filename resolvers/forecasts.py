"""Monte Carlo forecasts of when a release, or any set of a product's requirements, will be finished
(prism.domain.forecast; the method is in docs/analytics.md)."""

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial
from uuid import UUID

import anyio.to_thread
import strawberry

from loaders.flow import WeeklyFinishedByProductLoader, WeeklyKey
from loaders.forecasts import RequirementSet, UnfinishedCountByReleaseLoader, UnfinishedCountByRequirementsLoader
from prism.domain import flow
from prism.domain.forecast import monte_carlo
from prism.errors import NotFoundError, ValidationError
from resolvers.common import decode_id
from resolvers.context import Context
from resolvers.cost import cost_from_argument
from resolvers.date_bounds import check_date
from resolvers.execution import charge_work
from resolvers.list_bounds import max_items

__all__ = [
    "DEFAULT_TRIALS",
    "FORECAST_COST",
    "MAX_FORECAST_REQUIREMENTS",
    "MAX_HISTORY_WEEKS",
    "MAX_TRIALS",
    "Forecast",
    "ForecastOptions",
    "release_forecast",
    "requirements_forecast",
]

Info = strawberry.Info[Context, None]

DEFAULT_TRIALS = 10_000
MAX_TRIALS = 100_000
"""The most trials one forecast runs: beyond, the percentiles no longer move."""
MIN_TRIALS = 100
MAX_HISTORY_WEEKS = 104
MAX_FORECAST_REQUIREMENTS = 1_000
"""The most requirement ids one forecast takes."""
FORECAST_COST = cost_from_argument("options", "trials", default=DEFAULT_TRIALS, maximum=MAX_TRIALS)
"""A forecast field's metadata: it costs one more per trial, since a trial takes about what resolving a field does
(up to 520 weekly draws when the history is thin)."""


@strawberry.type(
    description=(
        "When the work left will be finished, from the product's weekly throughput, by Monte Carlo simulation: "
        "dates at 50, 85 and 95% confidence and the chance of meeting a target date. The same arguments give the "
        "same answer (see docs/analytics.md)."
    )
)
class Forecast:
    remaining: int = strawberry.field(description="Requirements left to finish: neither DONE nor CANCELED.")
    trials: int = strawberry.field(description="How many simulated futures were drawn.")
    seed: int = strawberry.field(description="The seed of the random draws.")
    start_date: date = strawberry.field(description="The day the simulated futures start from.")
    weekly_throughput: list[int] = strawberry.field(
        description="The finished requirements of each full ISO week of history, oldest first: what was sampled.",
        metadata=max_items(MAX_HISTORY_WEEKS),
    )
    completion_date50: date | None = strawberry.field(
        description="Finished by this date in half the trials; null if they ran past ten years."
    )
    completion_date85: date | None = strawberry.field(
        description="Finished by this date in 85% of the trials; null if they ran past ten years."
    )
    completion_date95: date | None = strawberry.field(
        description="Finished by this date in 95% of the trials; null if they ran past ten years."
    )
    target_date: date | None = strawberry.field(description="The date the probability is for; null when none.")
    probability_on_target: float | None = strawberry.field(
        description="The share of trials (0-1) finished on or before the target date; null without a target."
    )


@strawberry.input(description="How to run a forecast; every field has a default.")
class ForecastOptions:
    target_date: date | None = strawberry.field(
        default=None,
        description=(
            "The date to give the probability for (a release's own target date by default; 1900-01-01 to 9000-12-31)."
        ),
    )
    seed: int = strawberry.field(default=1, description="The seed of the random draws: the same seed, the same answer.")
    trials: int = strawberry.field(
        default=DEFAULT_TRIALS, description=f"Simulated futures ({MIN_TRIALS}-{MAX_TRIALS}; default {DEFAULT_TRIALS})."
    )
    history_weeks: int = strawberry.field(
        default=12, description=f"Full ISO weeks of throughput to sample from, the latest (1-{MAX_HISTORY_WEEKS})."
    )
    start_date: date | None = strawberry.field(
        default=None,
        description=(
            "The day the futures start from, and whose week ends the history (today by default; 1900-01-01 to "
            "9000-12-31)."
        ),
    )


def _check(options: ForecastOptions) -> None:
    if not MIN_TRIALS <= options.trials <= MAX_TRIALS:
        raise ValidationError(f"trials must be between {MIN_TRIALS} and {MAX_TRIALS}.", field="trials")
    if not 1 <= options.history_weeks <= MAX_HISTORY_WEEKS:
        raise ValidationError(f"historyWeeks must be between 1 and {MAX_HISTORY_WEEKS}.", field="historyWeeks")
    if not 0 <= options.seed < 2**63:
        raise ValidationError("seed must be between 0 and 2^63 - 1.", field="seed")
    check_date(options.start_date, "startDate")
    check_date(options.target_date, "targetDate")


async def _forecast(
    info: Info,
    product_id: UUID,
    options: ForecastOptions,
    target: date | None,
    remaining: Callable[[], Awaitable[int]],
) -> Forecast:
    _check(options)
    start = options.start_date or datetime.now(UTC).date()
    # The week holding `start` is not over: the history is the full weeks before it.
    moment = datetime(start.year, start.month, start.day, tzinfo=UTC) - timedelta(weeks=1)
    mondays = flow.last_weeks(options.history_weeks, moment)
    counts = await info.context.loaders.get(WeeklyFinishedByProductLoader).load(
        WeeklyKey(product_id, mondays[0], mondays[-1])
    )
    history = [week.count for week in flow.weekly(counts, weeks=options.history_weeks, now=moment)]
    left = await remaining()
    # CPU-bound (about a second at the most trials): in a worker thread, so the event loop serves other requests,
    # and at most `forecast_threads` at once in this process.
    found = await anyio.to_thread.run_sync(
        partial(monte_carlo, left, history, start=start, trials=options.trials, seed=options.seed, target=target),
        limiter=info.context.runtime.simulations,
    )
    charge_work(options.trials)
    return Forecast(
        remaining=found.remaining,
        trials=found.trials,
        seed=options.seed,
        start_date=found.start,
        weekly_throughput=list(found.history),
        completion_date50=found.p50,
        completion_date85=found.p85,
        completion_date95=found.p95,
        target_date=found.target,
        probability_on_target=found.probability,
    )


async def release_forecast(
    info: Info, product_id: UUID, release_id: UUID, release_target: date | None, options: ForecastOptions
) -> Forecast:
    """The forecast of a release's unfinished requirements, against its target date unless another is given."""

    async def remaining() -> int:
        return await info.context.loaders.get(UnfinishedCountByReleaseLoader).load(release_id)

    return await _forecast(info, product_id, options, options.target_date or release_target, remaining)


async def requirements_forecast(
    info: Info, product_id: UUID, ids: list[strawberry.ID], options: ForecastOptions
) -> Forecast:
    """The forecast of a set of a product's requirements; an id not of the product is NOT_FOUND."""
    if not 1 <= len(ids) <= MAX_FORECAST_REQUIREMENTS:
        raise ValidationError(f"requirementIds must hold 1 to {MAX_FORECAST_REQUIREMENTS} ids.", field="requirementIds")
    wanted = RequirementSet(sorted({decode_id(i, "Requirement", "requirementIds") for i in ids}))

    async def remaining() -> int:
        found, left = await info.context.loaders.get(UnfinishedCountByRequirementsLoader).load((product_id, wanted))
        if found != len(wanted):
            raise NotFoundError("No requirement of this product with one of these ids.", field="requirementIds")
        return left

    return await _forecast(info, product_id, options, options.target_date, remaining)
