"""Analytics date arguments stay away from the ends of the calendar (resolvers/date_bounds.py): outside 1900-01-01 to
9000-12-31 they are refused with BAD_USER_INPUT naming the argument.

Review finding: dates at the edge of what Python and PostgreSQL hold (year 9999, year 1) were accepted and then
overflowed while the answer was computed: INTERNAL_SERVER_ERROR instead of a coded error.
"""

from datetime import date
from typing import Any

import pytest

from prism.domain.cumulative_flow import cumulative_flow
from tests.helpers import Account, create_product, create_requirement

FLOW = """query($p: ID!, $since: Date, $until: Date, $interval: FlowInterval!) {
  product(id: $p) { cumulativeFlow(since: $since, until: $until, interval: $interval) { date total } }
}"""
FORECAST = """query($p: ID!, $ids: [ID!]!, $start: Date, $target: Date) {
  product(id: $p) {
    forecast(requirementIds: $ids, options: {startDate: $start, targetDate: $target}) { completionDate85 }
  }
}"""


@pytest.mark.parametrize(
    ("since", "until", "interval", "field"),
    [
        ("9999-12-01", "9999-12-31", "DAY", "since"),
        ("9999-01-01", "9999-12-31", "WEEK", "since"),
        ("9000-12-01", "9001-01-01", "DAY", "until"),
        ("0001-01-01", "0001-01-30", "DAY", "since"),
        ("1899-12-31", "1900-01-10", "DAY", "since"),
    ],
)
async def test_a_cumulative_flow_at_the_edge_of_the_calendar_is_refused_naming_the_date(
    account: Account, since: str, until: str, interval: str, field: str
) -> None:
    product = await create_product(account)
    result = await account.run(FLOW, {"p": product["id"], "since": since, "until": until, "interval": interval})
    assert result.codes == ["BAD_USER_INPUT"], result.body
    assert result.errors[0]["extensions"]["field"] == field, result.body


async def test_a_cumulative_flow_up_to_the_last_day_accepted_answers_every_point(account: Account) -> None:
    product = await create_product(account)
    await create_requirement(account, product["id"])
    variables = {"p": product["id"], "since": "9000-12-01", "until": "9000-12-31", "interval": "DAY"}
    days = (await account(FLOW, variables))["product"]["cumulativeFlow"]
    assert (len(days), days[0]["date"], days[-1]["date"]) == (31, "9000-12-01", "9000-12-31")
    assert {day["total"] for day in days} == {1}
    first = {"p": product["id"], "since": "1900-01-01", "until": "1900-01-08", "interval": "WEEK"}
    assert [d["total"] for d in (await account(FLOW, first))["product"]["cumulativeFlow"]] == [0, 0]


@pytest.mark.parametrize(
    ("start", "target", "field"),
    [
        ("0001-01-01", None, "startDate"),
        ("9999-12-31", None, "startDate"),
        (None, "9999-12-31", "targetDate"),
        (None, "0001-01-01", "targetDate"),
    ],
)
async def test_a_forecast_at_the_edge_of_the_calendar_is_refused_naming_the_date(
    account: Account, start: Any, target: Any, field: str
) -> None:
    product = await create_product(account)
    requirement = await create_requirement(account, product["id"], "Left to do")
    variables = {"p": product["id"], "ids": [requirement["id"]], "start": start, "target": target}
    result = await account.run(FORECAST, variables)
    assert result.codes == ["BAD_USER_INPUT"], result.body
    assert result.errors[0]["extensions"]["field"] == field, result.body


@pytest.mark.parametrize("start", ["1900-01-01", "9000-12-31"])
async def test_a_forecast_from_the_first_or_last_day_accepted_is_answered(account: Account, start: str) -> None:
    product = await create_product(account)
    requirement = await create_requirement(account, product["id"], "Left to do")
    variables = {"p": product["id"], "ids": [requirement["id"]], "start": start, "target": "9000-12-31"}
    result = await account.run(FORECAST, variables)
    # Nothing was finished before it: the forecast itself answers, with its own code.
    assert result.codes == ["INSUFFICIENT_HISTORY"], result.body


def test_the_points_of_a_cumulative_flow_may_end_on_the_calendars_last_day() -> None:
    days = cumulative_flow({"BACKLOG": 2}, [], since=date(9999, 12, 25), until=date.max, interval=3)
    assert [day.day for day in days] == [date(9999, 12, 25), date(9999, 12, 28), date(9999, 12, 31)]
    assert {day.counts[0][1] for day in days} == {2}
    assert cumulative_flow({}, [], since=date(2026, 3, 2), until=date(2026, 3, 1), interval=1) == []


CYCLE_TIME = """query($p: ID!, $since: DateTime) { product(id: $p) { cycleTime(since: $since) { finished } } }"""


@pytest.mark.parametrize(
    ("since", "codes"),
    [
        ("0001-01-01T00:00:00+14:00", ["OUT_OF_RANGE"]),
        ("9999-12-31T23:59:59-14:00", ["OUT_OF_RANGE"]),
        ("0001-01-01T00:00:00Z", []),
        ("9999-12-31T23:59:59Z", []),
    ],
)
async def test_a_cycle_time_since_a_moment_utc_cannot_hold_is_out_of_range(
    account: Account, since: str, codes: list[str]
) -> None:
    product = await create_product(account)
    result = await account.run(CYCLE_TIME, {"p": product["id"], "since": since})
    assert result.codes == codes, result.body
    if codes:
        assert result.errors[0]["extensions"]["field"] == "since", result.body
    else:
        assert result.data == {"product": {"cycleTime": {"finished": 0}}}


ADOPTION = """query($id: ID!, $since: DateTime, $until: DateTime) {
  node(id: $id) {
    ... on Feature { adoption(since: $since, until: $until) { since until featureUsers daily { start } } }
  }
}"""
CREATE_FEATURE = """mutation($input: CreateFeatureInput!) {
  createFeature(input: $input) { feature { id } userErrors { field code } }
}"""


@pytest.mark.parametrize(
    ("since", "until", "field"),
    [
        ("0001-01-01T00:00:00+14:00", "0001-01-02T00:00:00Z", "since"),
        ("9999-12-31T00:00:00Z", "9999-12-31T23:59:59-14:00", "until"),
        (None, "0001-01-01T00:00:00Z", "until"),  # the default window (28 days before until) starts before year 1
        (None, "0001-01-10T00:00:00+05:00", "until"),
    ],
)
async def test_a_feature_adoption_window_utc_cannot_hold_is_out_of_range(
    account: Account, since: Any, until: Any, field: str
) -> None:
    product = await create_product(account)
    created = await account(CREATE_FEATURE, {"input": {"productId": product["id"], "key": "edge", "name": "Edge"}})
    feature = created["createFeature"]["feature"]
    result = await account.run(ADOPTION, {"id": feature["id"], "since": since, "until": until})
    assert result.codes == ["OUT_OF_RANGE"], result.body
    assert result.errors[0]["extensions"]["field"] == field, result.body


async def test_a_feature_adoption_window_at_the_ends_of_utc_is_answered(account: Account) -> None:
    product = await create_product(account)
    created = await account(CREATE_FEATURE, {"input": {"productId": product["id"], "key": "edge", "name": "Edge"}})
    feature_id = created["createFeature"]["feature"]["id"]
    first = {"id": feature_id, "since": "0001-01-01T00:00:00Z", "until": "0001-01-03T00:00:00Z"}
    adoption = (await account(ADOPTION, first))["node"]["adoption"]
    assert ([d["start"] for d in adoption["daily"]], adoption["featureUsers"]) == (["0001-01-01", "0001-01-02"], 0)
    last = {"id": feature_id, "since": "9999-12-30T00:00:00Z", "until": "9999-12-31T23:59:59Z"}
    adoption = (await account(ADOPTION, last))["node"]["adoption"]
    assert [d["start"] for d in adoption["daily"]] == ["9999-12-30", "9999-12-31"]


AI_USAGE = """query($since: DateTime, $until: DateTime) { aiUsage(since: $since, until: $until) { runs } }"""


@pytest.mark.parametrize(
    ("since", "until", "codes", "field"),
    [
        ("0001-01-01T00:00:00+14:00", None, ["OUT_OF_RANGE"], "since"),
        ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00", ["OUT_OF_RANGE"], "until"),
        (None, "0001-01-01T00:00:00Z", ["BAD_USER_INPUT"], "until"),  # before the 1st of this month
        ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", [], None),
    ],
)
async def test_ai_usage_at_the_ends_of_the_calendar_is_answered_or_refused_naming_the_time(
    account: Account, since: Any, until: Any, codes: list[str], field: str | None
) -> None:
    result = await account.run(AI_USAGE, {"since": since, "until": until})
    assert result.codes == codes, result.body
    if field:
        assert result.errors[0]["extensions"]["field"] == field, result.body
    else:
        assert result.data == {"aiUsage": []}
