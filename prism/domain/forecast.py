"""When will a set of requirements be finished? A Monte Carlo forecast from the team's weekly throughput.

The method (the one Troy Magennis and ActionableAgile popularised, and Jira and Linear plug-ins draw):

1. History: how many requirements the product finished in each of its last full ISO weeks (prism.domain.flow's
   rules: last status DONE, counted at the last DONE). Weeks with none count, as 0.
2. One trial: draw weeks from that history at random, with replacement, and add up their counts until they reach
   the number of requirements left to finish; the trial finishes after that many weeks, on `start + 7 * weeks` days.
3. Many trials (10,000 by default) give a distribution of finishing dates. The date at 85% confidence is the one by
   which 85% of the trials have finished (nearest rank, as for cycle time); the probability of meeting a target
   date is the share of trials finished on or before it.

Draws come from numpy's PCG64 generator seeded with the `seed` given, so the same history, remaining count, start,
trials and seed give the same forecast. Without any finished requirement in the history the forecast cannot say
anything: INSUFFICIENT_HISTORY (unless nothing is left to finish: then every date is the start). A trial that has
not finished after MAX_WEEKS weeks is counted as never finishing (its date is null, and it misses every target).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from prism.errors import Code, ValidationError

__all__ = ["MAX_WEEKS", "Forecast", "monte_carlo"]

MAX_WEEKS = 520
"""Ten years: a trial still running after this many weeks counts as never finishing."""
_CHUNK = 26


@dataclass(frozen=True)
class Forecast:
    """Finishing dates at 50, 85 and 95% confidence, and the chance of meeting a target date."""

    remaining: int
    trials: int
    history: tuple[int, ...]
    start: date
    p50: date | None
    p85: date | None
    p95: date | None
    target: date | None
    probability: float | None


def _weeks_needed(remaining: int, history: np.ndarray, trials: int, rng: np.random.Generator) -> np.ndarray:
    """For each trial, the number of sampled weeks whose counts first add up to `remaining` (MAX_WEEKS + 1: never)."""
    needed = np.full(trials, MAX_WEEKS + 1, dtype=np.int64)
    if remaining <= 0:
        return np.zeros(trials, dtype=np.int64)
    done = np.zeros(trials, dtype=np.int64)
    running = np.ones(trials, dtype=bool)
    weeks = 0
    while weeks < MAX_WEEKS and running.any():
        draws = rng.choice(history, size=(trials, _CHUNK))
        totals = done[:, None] + np.cumsum(draws, axis=1)
        reached = totals >= remaining
        first = np.argmax(reached, axis=1)
        finished_now = running & reached.any(axis=1)
        needed[finished_now] = weeks + first[finished_now] + 1
        running &= ~finished_now
        done = totals[:, -1]
        weeks += _CHUNK
    needed[needed > MAX_WEEKS] = MAX_WEEKS + 1
    return needed


def monte_carlo(
    remaining: int,
    history: Sequence[int],
    *,
    start: date,
    trials: int,
    seed: int,
    target: date | None = None,
) -> Forecast:
    """The forecast for `remaining` requirements from weekly finished counts (see the module's method)."""
    if remaining <= 0:  # finished already: nothing to simulate, whatever the history
        done = None if target is None else 1.0
        return Forecast(0, trials, tuple(history), start, start, start, start, target, done)
    if not history or sum(history) == 0:
        raise ValidationError(
            "No requirement was finished in the weeks of history: there is nothing to forecast from.",
            field="historyWeeks",
            code=Code.INSUFFICIENT_HISTORY,
        )
    rng = np.random.Generator(np.random.PCG64(seed))
    needed = np.sort(_weeks_needed(remaining, np.asarray(history, dtype=np.int64), trials, rng))

    def at_confidence(percent: int) -> date | None:
        weeks = int(needed[max(1, math.ceil(percent * trials / 100)) - 1])
        return None if weeks > MAX_WEEKS else start + timedelta(weeks=weeks)

    probability = None
    if target is not None:
        within = (target - start).days // 7
        probability = float(np.count_nonzero(needed <= within)) / trials if within >= 0 else float(remaining <= 0)
    return Forecast(
        remaining=remaining,
        trials=trials,
        history=tuple(history),
        start=start,
        p50=at_confidence(50),
        p85=at_confidence(85),
        p95=at_confidence(95),
        target=target,
        probability=probability,
    )
