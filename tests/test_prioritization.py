"""Prioritisation arithmetic: exact RICE, WSJF and MoSCoW scores, estimated inputs marked, ties, bad divisors."""

from fractions import Fraction

import pytest

from prism.domain.prioritization import (
    Framework,
    Moscow,
    PriorityInputError,
    moscow_of_priority,
    rank,
    rice,
    score,
    wsjf,
)


def test_rice_is_reach_times_impact_times_confidence_over_effort() -> None:
    # 500 people * 2 (high impact) * 80% / 4 points = 200
    assert rice(Fraction(500), Fraction(2), Fraction(4, 5), Fraction(4)) == 200
    # 10 * 3 * 50% / 3 = 5
    assert rice(Fraction(10), Fraction(3), Fraction(1, 2), Fraction(3)) == 5
    # 7 * 1 * 1 / 3 = 7/3, kept exact
    assert rice(Fraction(7), Fraction(1), Fraction(1), Fraction(3)) == Fraction(7, 3)


def test_wsjf_is_the_cost_of_delay_over_job_size() -> None:
    # (8 + 5 + 3) / 2 = 8
    assert wsjf(Fraction(8), Fraction(5), Fraction(3), Fraction(2)) == 8
    # (1 + 2 + 3) / 4 = 3/2
    assert wsjf(Fraction(1), Fraction(2), Fraction(3), Fraction(4)) == Fraction(3, 2)


@pytest.mark.parametrize("divisor", [Fraction(0), Fraction(-1)])
def test_a_zero_or_negative_effort_is_refused_with_a_clear_error(divisor: Fraction) -> None:
    with pytest.raises(PriorityInputError, match="effort must be greater than 0"):
        rice(Fraction(1), Fraction(1), Fraction(1), divisor)
    with pytest.raises(PriorityInputError, match="job size must be greater than 0"):
        wsjf(Fraction(1), Fraction(1), Fraction(1), divisor)
    with pytest.raises(PriorityInputError, match="effort"):
        score(Framework.RICE, "A", {"effort": divisor}, {"reach": 1, "impact": 1, "confidence": 1})  # type: ignore[dict-item]


def test_given_inputs_win_and_missing_ones_are_estimated_and_marked() -> None:
    given = {"effort": Fraction(5), "reach": None}
    estimates = {"reach": Fraction(100), "impact": Fraction(2), "confidence": Fraction(1, 2), "effort": Fraction(1)}
    result = score(Framework.RICE, "A", given, estimates)
    assert result.score == 20  # 100 * 2 * 1/2 / 5: the given effort, not the estimated 1
    assert [(i.name, i.value, i.estimated) for i in result.inputs] == [
        ("reach", 100, True),
        ("impact", 2, True),
        ("confidence", Fraction(1, 2), True),
        ("effort", 5, False),
    ]


def test_a_missing_effort_is_estimated_and_one_with_no_estimate_is_an_error() -> None:
    estimates = {"reach": Fraction(3), "impact": Fraction(1), "confidence": Fraction(1), "effort": Fraction(2)}
    result = score(Framework.RICE, "A", {"effort": None}, estimates)
    assert result.score == Fraction(3, 2)
    assert result.inputs[-1].estimated is True
    del estimates["effort"]
    with pytest.raises(PriorityInputError, match="effort is neither given nor estimated"):
        score(Framework.RICE, "A", {}, estimates)


def test_moscow_is_a_category_given_by_the_priority_or_estimated() -> None:
    assert [moscow_of_priority(p) for p in ("URGENT", "HIGH", "MEDIUM", "LOW", "NONE")] == [
        Moscow.MUST,
        Moscow.SHOULD,
        Moscow.COULD,
        Moscow.COULD,
        None,
    ]
    must = score(Framework.MOSCOW, "A", {"category": Moscow.MUST}, {"category": Moscow.WONT})
    wont = score(Framework.MOSCOW, "B", {"category": None}, {"category": Moscow.WONT})
    assert (must.category, must.score, must.inputs[0].estimated) == (Moscow.MUST, 4, False)
    assert (wont.category, wont.score, wont.inputs[0].estimated) == (Moscow.WONT, 1, True)


def test_ranking_is_by_score_and_ties_keep_the_backlog_order() -> None:
    def wsjf_of(item: str, value: int, size: int) -> object:
        inputs = {"business_value": value, "time_criticality": 0, "risk_reduction": 0, "job_size": size}
        return score(Framework.WSJF, item, {k: Fraction(v) for k, v in inputs.items()}, {})

    scored = [wsjf_of("A", 2, 2), wsjf_of("B", 6, 2), wsjf_of("C", 3, 3), wsjf_of("D", 9, 1)]
    assert [s.item for s in rank(scored)] == ["D", "B", "A", "C"]  # 9, 3, then 1 and 1 in backlog order
