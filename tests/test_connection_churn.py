"""A server under a burst of concurrent requests keeps the PostgreSQL sessions it opened: none is closed when it goes
back to the pool and opened again for the next burst (issue 10: overflow connections used to be)."""

import asyncio
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import event

from prism.app import build_app
from prism.auth.mailer import RecordingMailer
from prism.config import Settings
from tests.helpers import GraphQLClient, create_product, sign_up

BURSTS = 4
CALLERS = 3
PER_CALLER = 8
"""Each caller may have 8 requests in progress (PRISM_MAX_REQUESTS_IN_PROGRESS_PER_CALLER's default): three callers
put 24 requests in flight at once, more than the former pool of 10 and as many as the connections it could open."""

QUERY = "{ products(first: 20) { nodes { key name requirements(first: 5) { totalCount } } } }"


async def test_bursts_of_concurrent_requests_open_no_new_postgresql_session_after_the_first(
    settings: Settings,
) -> None:
    # The pool settings are the shipped defaults: only the limits that would refuse the burst are lifted.
    app = build_app(settings.model_copy(update={"rate_limit_enabled": False}))
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://prism.test") as http,
    ):
        runtime = app.state.runtime()
        runtime.mailer = RecordingMailer()
        gql = GraphQLClient(http)
        accounts = [await sign_up(gql) for _ in range(CALLERS)]
        for account in accounts:
            await create_product(account)

        sessions: list[int] = []

        def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
            # A new connection is a new PostgreSQL session: its backend's process id.
            sessions.append(dbapi_connection.driver_connection.get_server_pid())

        event.listen(runtime.engine.sync_engine, "connect", on_connect)
        opened_per_burst = []
        answers = []
        for _ in range(BURSTS):
            before = len(sessions)
            results = await asyncio.gather(
                *(gql.run(QUERY, token=account.token) for account in accounts for _ in range(PER_CALLER))
            )
            answers += [(result.status, result.errors) for result in results]
            opened_per_burst.append(len(sessions) - before)

        assert answers == [(200, [])] * (BURSTS * CALLERS * PER_CALLER)
        assert len(set(sessions)) == len(sessions)
        # Whatever the first burst had to open stays open: later bursts reuse it.
        assert opened_per_burst[1:] == [0] * (BURSTS - 1), opened_per_burst
