"""The reference `graphql-ws` client from npm, unmodified, against a real `prism serve` process.

tests/js holds the client script and its pinned dependencies (package.json, package-lock.json); `npm ci` installs
them once per lockfile into a directory of the system's temporary directory, outside the repository. Without Node.js
and npm the tests skip, unless services are required (PRISM_TEST_REQUIRE_SERVICES=1, as in CI): then they fail.
"""

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from prism.config import Settings
from tests.helpers import Account, GraphQLClient, create_product, create_requirement, uuid_of
from tests.processes import ServerProcess, npm_installed, running_servers, server_environment
from tests.test_subscriptions import REQUIREMENTS, update_title

pytestmark = pytest.mark.slow

CLIENT_DIRECTORY = Path(__file__).parent / "js"
CLIENT_FILES = ("package.json", "package-lock.json", "subscribe.mjs")


@pytest.fixture(scope="module")
def graphql_ws_client() -> Path:
    """The client script, next to the node_modules `npm ci` installed from tests/js's lockfile."""
    return npm_installed(CLIENT_DIRECTORY, CLIENT_FILES, "graphql-ws-client") / "subscribe.mjs"


@pytest.fixture(scope="module")
async def server(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServerProcess]:
    """One `prism serve` on the test database (no Redis: its broker is in process)."""
    directory = tmp_path_factory.mktemp("graphql-ws-npm")
    environment = server_environment(settings, None, directory / "home")
    async with running_servers(1, environment, directory) as (process,):
        yield process


async def run_client(
    script: Path, url: str, token: str | None, variables: dict[str, Any], count: int
) -> "asyncio.subprocess.Process":
    environment = {name: value for name, value in os.environ.items() if name != "PRISM_TOKEN"}
    if token is not None:
        environment["PRISM_TOKEN"] = token
    return await asyncio.create_subprocess_exec(
        str(shutil.which("node")),
        str(script),
        url,
        REQUIREMENTS,
        json.dumps(variables),
        str(count),
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def next_line(client: "asyncio.subprocess.Process") -> dict[str, Any]:
    assert client.stdout is not None
    async with asyncio.timeout(30):
        line = await client.stdout.readline()
    assert line, f"the client ended early: {(await client.stderr.read()).decode() if client.stderr else ''}"
    return json.loads(line)  # type: ignore[no-any-return]


async def rest_of(client: "asyncio.subprocess.Process") -> tuple[list[dict[str, Any]], int]:
    """What the client printed until it exited, and its exit status."""
    async with asyncio.timeout(30):
        out, _errors = await client.communicate()
    assert client.returncode is not None
    lines = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    return lines, client.returncode


async def test_the_reference_graphql_ws_client_receives_changes_as_they_are_committed(
    app: Starlette, account: Account, server: ServerProcess, graphql_ws_client: Path
) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        owner = replace(account, gql=GraphQLClient(http))
        product = await create_product(owner)
        since = str(await app.state.runtime().hub.position(uuid_of(account.organization_id)))
        client = await run_client(
            graphql_ws_client, server.ws_url, account.token, {"product": product["id"], "since": since}, 2
        )
        try:
            assert await next_line(client) == {"event": "connected"}
            requirement = await create_requirement(owner, product["id"], title="From Python")
            # An event shows the requirement as it is when it is delivered (docs/api.md: "the object now"), so the
            # rename waits for the creation's event: sent before it, it may show in that event already.
            created = await next_line(client)
            await update_title(owner, requirement, "Renamed")
            rest, status = await rest_of(client)
            lines = [created, *rest]
        finally:
            if client.returncode is None:
                client.kill()
                await client.wait()
    changes = [line["payload"]["data"]["requirementChanged"] for line in lines if line["event"] == "next"]
    assert [(c["action"], c["requirementId"], c["requirement"]["title"]) for c in changes] == [
        ("CREATED", requirement["id"], "From Python"),
        ("UPDATED", requirement["id"], "Renamed"),
    ]
    assert int(changes[1]["cursor"]) == int(changes[0]["cursor"]) + 1
    assert {"event": "complete"} in lines
    assert status == 0


async def test_the_reference_graphql_ws_client_is_refused_without_a_valid_credential(
    server: ServerProcess, graphql_ws_client: Path
) -> None:
    for credential in (None, "not-a-token"):
        client = await run_client(graphql_ws_client, server.ws_url, credential, {"product": "UHJvZHVjdDox"}, 1)
        lines, status = await rest_of(client)
        assert [line for line in lines if line["event"] == "closed"] == [
            {"event": "closed", "code": 4403, "reason": "Forbidden"}
        ], lines
        assert status == 1
