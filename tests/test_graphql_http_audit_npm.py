"""The GraphQL-over-HTTP audit of the `graphql-http` package from npm (`auditServer`), unmodified, against a real
`prism serve` process: every audit must pass, and pass again when every text it sends has been answered before
(resolvers/known_queries.py then answers the queries among them).

tests/js_http holds the audit script and its pinned dependencies (package.json, package-lock.json); `npm ci`
installs them once per lockfile into a directory of the system's temporary directory, outside the repository.
Without Node.js and npm the test skips, unless services are required (PRISM_TEST_REQUIRE_SERVICES=1, as in CI):
then it fails.
"""

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from prism.config import Settings
from tests.processes import ServerProcess, npm_installed, running_servers, server_environment

pytestmark = pytest.mark.slow

AUDIT_DIRECTORY = Path(__file__).parent / "js_http"
AUDIT_FILES = ("package.json", "package-lock.json", "audit.mjs")
# graphql-http 1.23.1 (tests/js_http/package-lock.json) has 61 audits.
AUDITS = 61


@pytest.fixture(scope="module")
def audit_script() -> Path:
    """The audit script, next to the node_modules `npm ci` installed from tests/js_http's lockfile."""
    return npm_installed(AUDIT_DIRECTORY, AUDIT_FILES, "graphql-http-audit") / "audit.mjs"


@pytest.fixture(scope="module")
async def server(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServerProcess]:
    """One `prism serve` on the test database (no Redis: its stores are in process)."""
    directory = tmp_path_factory.mktemp("graphql-http-audit")
    environment = server_environment(settings, None, directory / "home")
    async with running_servers(1, environment, directory) as (process,):
        yield process


async def test_the_graphql_http_audit_passes_twice_in_a_row(server: ServerProcess, audit_script: Path) -> None:
    environment = dict(os.environ)
    audit = await asyncio.create_subprocess_exec(
        str(shutil.which("node")),
        str(audit_script),
        f"{server.url}/graphql",
        "2",
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(120):
        out, errors = await audit.communicate()
    assert audit.returncode == 0, errors.decode()
    runs = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert [(run["total"], run["ok"], run["failures"]) for run in runs] == [(AUDITS, AUDITS, []), (AUDITS, AUDITS, [])]
