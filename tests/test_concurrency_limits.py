"""One caller cannot take every database connection of a process: its requests in progress are capped, the rest
wait their turn holding nothing, then are refused."""

import asyncio
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from prism.app import build_app
from prism.config import Settings
from prism.web.concurrency import CallerBusyError, ConcurrencyLimiter, caller_key
from tests.helpers import GraphQLClient, sign_up


async def test_a_callers_requests_beyond_its_share_wait_then_are_refused_while_others_pass() -> None:
    limiter = ConcurrencyLimiter(per_caller=2, wait_seconds=0.05)
    release = asyncio.Event()
    other_entered = asyncio.Event()
    entered: list[str] = []

    async def request(key: str) -> str:
        try:
            async with limiter.slot(key):
                entered.append(key)
                if key == "b":
                    other_entered.set()
                await release.wait()
                return "served"
        except CallerBusyError:
            return "refused"

    greedy = [asyncio.create_task(request("a")) for _ in range(4)]
    await asyncio.sleep(0.2)  # let the two waiters give up
    other = asyncio.create_task(request("b"))
    await asyncio.wait_for(other_entered.wait(), timeout=5)  # not held up by the first caller's queue
    assert limiter.in_progress("a") == 2
    assert limiter.in_progress("b") == 1
    release.set()
    assert sorted(await asyncio.gather(*greedy)) == ["refused", "refused", "served", "served"]
    assert await other == "served"
    assert entered.count("a") == 2
    assert limiter.in_progress("a") == 0


def test_only_a_valid_token_names_a_caller_and_anything_else_counts_against_the_address() -> None:
    def verify(credential: str) -> str | None:
        return {"good-token": "u1", "other-token": "u2"}.get(credential)

    assert caller_key("Bearer good-token", "10.0.0.1", verify) == "user:u1"
    assert caller_key("Bearer good-token", "10.0.0.2", verify) == "user:u1"
    assert caller_key("Bearer other-token", "10.0.0.1", verify) == "user:u2"
    # Spellings of one header, invented credentials and none at all all count against the address.
    spellings = ["bearer made-up", "Bearer  made-up", "BEARER other-made-up", "Basic xyz", None, ""]
    assert {caller_key(h, "10.0.0.1", verify) for h in spellings} == {"ip:10.0.0.1"}
    assert caller_key("Bearer good-token", None, lambda credential: None) == "ip:unknown"


async def test_over_http_a_caller_past_its_share_gets_429_while_another_is_served(settings: Settings) -> None:
    app = build_app(
        settings.model_copy(
            update={
                "database_pool_size": 1,
                "database_max_overflow": 0,
                "database_pool_timeout_seconds": 30,
                "max_requests_in_progress_per_caller": 1,
                "request_queue_wait_seconds": 0.2,
                "rate_limit_enabled": False,
            }
        )
    )
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://prism.test") as http,
    ):
        greedy, other = await sign_up(GraphQLClient(http)), await sign_up(GraphQLClient(http))

        def query(token: str) -> Any:
            return http.post(
                "/graphql", json={"query": "{ viewer { role } }"}, headers={"Authorization": f"Bearer {token}"}
            )

        engine = app.state.runtime().engine
        held = await engine.connect()  # the only connection: the first request waits for it inside its slot
        try:
            first = asyncio.create_task(query(greedy.token))
            await asyncio.sleep(0.05)
            second = await query(greedy.token)  # its caller's one slot is taken
            third = asyncio.create_task(query(other.token))  # another caller has a slot of its own
            await asyncio.sleep(0.05)
        finally:
            await held.close()
        assert second.status_code == 429
        assert second.headers["retry-after"] == "1"
        assert second.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert (await first).json() == {"data": {"viewer": {"role": "OWNER"}}}
        assert (await third).json() == {"data": {"viewer": {"role": "OWNER"}}}


@pytest.mark.parametrize("limit", [0])
def test_the_setting_refuses_a_share_of_nothing(limit: int) -> None:
    with pytest.raises(ValueError, match="max_requests_in_progress_per_caller"):
        Settings(max_requests_in_progress_per_caller=limit)
