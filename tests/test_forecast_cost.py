"""What a forecast costs and where it runs: one more per trial in the cost model (resolvers/cost.py, declared with
`FORECAST_COST`) and in the budget, and the simulation in a worker thread, a few at once, never on the event loop.

Review finding: a forecast was charged as one field whatever its `trials`, so one cheap-looking query asked for
thousands of forecasts at 100,000 trials each, and monte_carlo (prism/domain/forecast.py) ran them on the event loop.
"""

import asyncio
import threading
from typing import Any

import pytest
from starlette.applications import Starlette

import resolvers.forecasts
from resolvers.forecasts import DEFAULT_TRIALS, MAX_TRIALS
from tests.helpers import Account, create_product, create_release

RELEASE_FORECASTS = """
query($trials: Int!) {
  products(first: 100) {
    nodes {
      releases(first: 100) {
        nodes { forecast(options: {trials: $trials, historyWeeks: 104}) { completionDate85 } }
      }
    }
  }
}
"""

PRODUCT_FORECASTS = """
query($trials: Int!, $ids: [ID!]!) {
  products(first: 100) {
    nodes { forecast(requirementIds: $ids, options: {trials: $trials}) { completionDate85 } }
  }
}
"""


async def test_ten_thousand_release_forecasts_at_the_maximum_trials_are_refused_as_too_complex(
    account: Account,
) -> None:
    result = await account.run(RELEASE_FORECASTS, {"trials": MAX_TRIALS})
    # 100 x 100 forecasts x 100,000 trials = 10^9 simulated futures in one request.
    assert result.codes == ["QUERY_TOO_COMPLEX"]


async def test_a_hundred_product_forecasts_at_the_maximum_trials_are_refused_as_too_complex(
    account: Account,
) -> None:
    result = await account.run(PRODUCT_FORECASTS, {"trials": MAX_TRIALS, "ids": ["UmVxdWlyZW1lbnQ6MQ=="]})
    assert result.codes == ["QUERY_TOO_COMPLEX"]


async def costed(account: Account, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = await account.gql.http.post(
        "/graphql",
        json={"query": query, "variables": variables, "extensions": {"cost": True}},
        headers={"Authorization": f"Bearer {account.token}"},
    )
    body: dict[str, Any] = response.json()
    return body


RELEASE_FORECAST = "query($id: ID!) { release(id: $id) { forecast(options: {trials: 700}) { remaining } } }"
RELEASE_FORECAST_WITH = """query($id: ID!, $options: ForecastOptions) {
  release(id: $id) { forecast(options: $options) { remaining } }
}"""


async def test_a_forecast_costs_one_more_per_trial_given_inline_as_a_variable_or_by_default(account: Account) -> None:
    product = await create_product(account)
    release = await create_release(account, product["id"])
    # release 1, forecast 1 + its trials, remaining 1.
    body = await costed(account, RELEASE_FORECAST, {"id": release["id"]})
    assert body["data"] == {"release": {"forecast": {"remaining": 0}}}, body
    assert body["extensions"]["cost"]["requested"] == 3 + 700
    # The budget is charged the trials too, not only the three fields of the answer.
    assert body["extensions"]["cost"]["actual"] == 3 + 700
    for options, trials in (({"trials": 2_000}, 2_000), ({"seed": 3}, DEFAULT_TRIALS), (None, DEFAULT_TRIALS)):
        body = await costed(account, RELEASE_FORECAST_WITH, {"id": release["id"], "options": options})
        assert body["extensions"]["cost"]["requested"] == 3 + trials, (options, body)
        assert body["extensions"]["cost"]["actual"] == 3 + trials, (options, body)


async def test_trials_past_the_maximum_are_refused_as_bad_input_not_costed_past_the_limit(account: Account) -> None:
    product = await create_product(account)
    release = await create_release(account, product["id"])
    body = await costed(account, RELEASE_FORECAST_WITH, {"id": release["id"], "options": {"trials": 10**15}})
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body
    assert body["extensions"]["cost"]["requested"] == 3 + MAX_TRIALS


async def test_forecasts_run_in_worker_threads_at_most_forecast_threads_at_once(
    app: Starlette, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = app.state.runtime().settings.forecast_threads
    assert limit == 2
    simulate = resolvers.forecasts.monte_carlo
    lock, threads, calls, running, most = threading.Lock(), set(), [0], [0], [0]
    # The first two simulations meet here: they can only if both run at once, each in a thread of its own, off the
    # event loop (a simulation on the loop would hold it, and the second request could never reach this point).
    both = threading.Barrier(limit, timeout=30)

    def recording(*args: Any, **kwargs: Any) -> Any:
        with lock:
            threads.add(threading.get_ident())
            calls[0] += 1
            running[0] += 1
            most[0] = max(most[0], running[0])
            meets = calls[0] <= limit
        if meets:
            both.wait()
        with lock:
            running[0] -= 1
        return simulate(*args, **kwargs)

    monkeypatch.setattr(resolvers.forecasts, "monte_carlo", recording)
    product = await create_product(account)
    release = await create_release(account, product["id"])
    answers = await asyncio.gather(*(account(RELEASE_FORECAST, {"id": release["id"]}) for _ in range(limit + 1)))
    assert answers == [{"release": {"forecast": {"remaining": 0}}}] * (limit + 1)
    assert not both.broken
    assert threading.get_ident() not in threads
    assert most[0] == limit
