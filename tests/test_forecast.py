"""The Monte Carlo forecast's method (prism.domain.forecast) on histories whose answers can be worked out by hand."""

from datetime import date, timedelta

import pytest

from prism.domain.forecast import MAX_WEEKS, monte_carlo
from prism.errors import Code, ValidationError

START = date(2026, 3, 30)


def test_a_steady_throughput_finishes_on_one_date_in_every_trial() -> None:
    # Two a week, ten left: five weeks in every trial, whatever the draws.
    found = monte_carlo(10, [2, 2, 2, 2], start=START, trials=1000, seed=3, target=START + timedelta(weeks=5))
    assert (found.p50, found.p85, found.p95) == (START + timedelta(weeks=5),) * 3
    assert found.probability == 1.0
    assert monte_carlo(10, [2, 2], start=START, trials=1000, seed=3, target=START + timedelta(days=34)).probability == 0


def test_the_same_seed_gives_the_same_forecast_and_the_shares_follow_the_history() -> None:
    history = [0, 1, 3, 0, 2, 5, 1, 0]
    first = monte_carlo(12, history, start=START, trials=20_000, seed=42, target=START + timedelta(weeks=8))
    assert monte_carlo(12, history, start=START, trials=20_000, seed=42, target=START + timedelta(weeks=8)) == first
    assert None not in (first.p50, first.p85, first.p95)
    assert first.p50 <= first.p85 <= first.p95  # type: ignore[operator]
    # A mean of 1.5 a week: twelve take eight weeks on average, so about half the trials make the eighth week.
    assert first.probability is not None
    assert 0.4 < first.probability < 0.7


def test_nothing_left_is_finished_on_the_start_date() -> None:
    found = monte_carlo(0, [1], start=START, trials=100, seed=1, target=START - timedelta(days=1))
    assert (found.p50, found.p95, found.probability) == (START, START, 1.0)
    # Nothing left needs no history either.
    assert monte_carlo(0, [], start=START, trials=100, seed=1).p85 == START


def test_trials_that_never_finish_have_no_date() -> None:
    # One in a hundred weeks finishes one item: ten thousand items would take far longer than ten years.
    found = monte_carlo(10_000, [1] + [0] * 99, start=START, trials=100, seed=1, target=START + timedelta(weeks=1))
    assert (found.p50, found.p95, found.probability) == (None, None, 0.0)
    assert MAX_WEEKS == 520


def test_a_history_without_finished_work_is_insufficient() -> None:
    for history in ([], [0, 0, 0]):
        with pytest.raises(ValidationError) as raised:
            monte_carlo(3, history, start=START, trials=100, seed=1)
        assert raised.value.code is Code.INSUFFICIENT_HISTORY
