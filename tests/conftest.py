"""Fixtures: a fresh PostgreSQL database per test run, the app over it, and GraphQL helpers.

The database is created on the server named by TEST_DATABASE_URL (CI: 127.0.0.1:5432/test) or on an embedded
PostgreSQL when that is unset. Each run creates its own database and drops it afterwards, so data already on the
server is neither read nor touched. Tests stay independent by signing up fresh organizations (see `account`).
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy.engine import make_url
from starlette.applications import Starlette

from prism.app import build_app
from prism.auth.mailer import RecordingMailer
from prism.config import Settings
from prism.db import migrate
from prism.db.roles import drop_database, ensure_login_role, url_for_role
from tests.helpers import Account, GraphQLClient, app_with, sign_up
from tests.object_stores import S3Server, running_seaweedfs

REQUIRE_SERVICES = os.environ.get("PRISM_TEST_REQUIRE_SERVICES") == "1"


async def _create_database(server_url: str, name: str) -> str:
    parsed = make_url(server_url).set(drivername="postgresql")
    conn = await asyncpg.connect(parsed.render_as_string(hide_password=False))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return parsed.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def prism_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prism-home")


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The PostgreSQL server tests run on: TEST_DATABASE_URL, else an embedded one started for this run."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    if REQUIRE_SERVICES:
        pytest.fail("PRISM_TEST_REQUIRE_SERVICES=1 needs TEST_DATABASE_URL pointing at a real PostgreSQL")
    from prism.db.embedded import start_embedded_postgres

    embedded = start_embedded_postgres(Path(os.environ.get("PRISM_TEST_HOME", tmp_path_factory.mktemp("pg"))))
    try:
        yield embedded.url
    finally:
        embedded.stop()


@pytest.fixture(scope="session")
async def database_url(server_url: str) -> AsyncIterator[str]:
    """A database of its own for this test run, migrated to head, dropped at the end."""
    name = f"prism_test_{uuid.uuid4().hex[:12]}"
    try:
        url = await _create_database(server_url, name)
    except (OSError, asyncpg.PostgresError) as error:
        pytest.fail(f"PostgreSQL at {make_url(server_url).render_as_string()} is not usable: {error}")
    await asyncio.to_thread(migrate.upgrade, url)
    try:
        yield url
    finally:
        await drop_database(server_url, name)


@pytest.fixture
def empty_database(server_url: str) -> Iterator[str]:
    """A database of its own on the test server, with no migration applied; dropped afterwards (a sync fixture, for
    tests that run commands which start event loops of their own)."""
    name = f"prism_empty_{uuid.uuid4().hex[:8]}"
    url = asyncio.run(_create_database(server_url, name))
    try:
        yield url
    finally:
        asyncio.run(drop_database(server_url, name))


APP_ROLE = f"prism_test_api_{uuid.uuid4().hex[:8]}"
"""This run's login role: one per database, as in production (a role shared by two databases could read both)."""


@pytest.fixture(scope="session")
async def app_database_url(database_url: str) -> AsyncIterator[str]:
    """The test database as the server sees it: through a login role that row-level security binds."""
    await ensure_login_role(database_url, APP_ROLE)
    try:
        yield url_for_role(database_url, APP_ROLE)
    finally:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(f"DROP ROLE IF EXISTS {APP_ROLE}")
        finally:
            await conn.close()


@pytest.fixture(scope="session")
def settings(database_url: str, app_database_url: str, prism_home: Path) -> Settings:
    return Settings(
        database_url=app_database_url,
        database_admin_url=database_url,
        home=prism_home,
        environment="test",
        auto_migrate=False,
        log_format="console",
        secret_key="test-secret-key-that-is-long-enough-1234567890",
        # The whole suite signs up and resets from one client address; tests/test_account_limits.py tries the limits
        # on apps of their own. The per-address limits stay as shipped: tests use fresh addresses.
        sign_up_limit_per_ip="100000/hour",
        password_reset_request_limit_per_ip="100000/hour",
        password_reset_limit_per_ip="100000/hour",
        # The relay's passes are driven by tests/test_event_log.py itself, so none races the tests that check it.
        event_relay_interval_seconds=3600,
        # Qdrant's local mode on disk admits one client per directory, and tests build more than one app on this
        # home: each app's vector index lives in memory (tests/test_ai_retrieval.py tries the disk through the CLI).
        qdrant_path=":memory:",
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = build_app(settings)
    async with LifespanManager(application):
        # Sign-ups are confirmed with a mailed token: tests read it from here (tests.helpers.verification_token).
        application.state.runtime().mailer = RecordingMailer()
        yield application


@pytest.fixture(scope="session")
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://prism.test") as client:
        yield client


@pytest.fixture(scope="module")
async def planned(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An app on the test database with the planned executor, one per test module (the planner's tests)."""
    async with app_with(settings, planner=True) as client:
        yield client


@pytest.fixture(scope="module")
async def resolvers(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An app on the same database without it: the resolvers, the planner's reference. One per test module."""
    async with app_with(settings, planner=False) as client:
        yield client


@pytest.fixture
def gql(http: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(http)


@pytest.fixture
async def account(gql: GraphQLClient) -> Account:
    """A fresh user owning a fresh organization."""
    return await sign_up(gql)


@pytest.fixture
async def other_account(gql: GraphQLClient) -> Account:
    """A second, unrelated organization, for isolation tests."""
    return await sign_up(gql)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3-compatible server (SeaweedFS) for this run; skipped when it cannot start, unless
    PRISM_TEST_REQUIRE_SERVICES=1, when that fails the test."""
    try:
        with running_seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
            yield server
    except RuntimeError as error:
        if REQUIRE_SERVICES:
            pytest.fail(f"an S3 server is required (PRISM_TEST_REQUIRE_SERVICES=1): {error}")
        pytest.skip(f"no S3 server: {error}")
