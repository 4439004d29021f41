"""Operating PRISM: start-up guards, the embedded database's recovery after a crash, migrations under a lock."""

import asyncio
import base64
import json
import os
import socket
import sys
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest
from alembic.script import ScriptDirectory
from asgi_lifespan import LifespanManager
from click.testing import CliRunner, Result
from pydantic import SecretStr

from prism import cli
from prism.app import build_app
from prism.auth.mailer import Message
from prism.auth.smtp import SmtpMailer, mailer_from_settings
from prism.config import JwtKey, Settings
from prism.db import migrate
from prism.db.embedded import _forget_dead_owners
from prism.db.roles import database_group_role, drop_database
from tests.conftest import _create_database
from tests.helpers import GraphQLClient, sign_up


async def test_production_refuses_to_start_without_a_database_url(tmp_path: Path) -> None:
    app = build_app(Settings(environment="production", database_url=None, home=tmp_path, log_format="console"))
    with pytest.raises(RuntimeError, match="DATABASE_URL is required in production"):
        async with LifespanManager(app):
            pass
    assert not (tmp_path / "pgdata").exists(), "no embedded server may have been started"


def test_a_crashed_owner_of_the_embedded_server_is_forgotten_so_the_next_shutdown_stops_it(tmp_path: Path) -> None:
    owners = tmp_path / ".handle_pids.json"
    dead = 2**22 + 12345  # above the default pid_max of 4194304 on Linux: no process has it
    owners.write_text(json.dumps([os.getpid(), dead]))
    _forget_dead_owners(tmp_path)
    assert json.loads(owners.read_text()) == [os.getpid()]


def test_the_shutdown_grace_period_comes_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRISM_SHUTDOWN_GRACE_SECONDS", "7")
    assert Settings().shutdown_grace_seconds == 7


async def test_two_migrators_starting_together_both_succeed(server_url: str) -> None:
    name = f"prism_migrate_race_{uuid.uuid4().hex[:8]}"
    url = await _create_database(server_url, name)
    try:
        # Two processes, like two replicas starting at once (alembic itself is not thread-safe).
        command = [sys.executable, "-c", f"from prism.db import migrate; migrate.upgrade({url!r})"]
        migrators = [await asyncio.create_subprocess_exec(*command, stderr=asyncio.subprocess.PIPE) for _ in range(2)]
        results = [await process.communicate() for process in migrators]
        assert [process.returncode for process in migrators] == [0, 0], results
        head = ScriptDirectory.from_config(migrate.alembic_config(url)).get_current_head()
        assert await asyncio.to_thread(migrate.current_revision, url) == head
    finally:
        await drop_database(server_url, name)


async def test_the_running_app_signs_with_the_first_configured_key_and_mails_over_smtp(settings: Settings) -> None:
    configured = settings.model_copy(
        update={
            "jwt_keys": [
                JwtKey(kid="2026-11", secret=SecretStr("n" * 40)),
                JwtKey(kid="2026-10", secret=SecretStr("o" * 40)),
            ],
            "smtp_url": SecretStr("smtp://127.0.0.1:2525"),
        }
    )
    app = build_app(configured)
    async with LifespanManager(app):
        runtime = app.state.runtime()
        token, _ = runtime.tokens.issue(uuid.uuid4(), uuid.uuid4())
        assert jwt_header(token)["kid"] == "2026-11"
        assert isinstance(runtime.mailer, SmtpMailer)


def jwt_header(token: str) -> dict[str, object]:
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))  # type: ignore[no-any-return]


async def test_without_smtp_production_logs_that_mail_was_due_but_never_its_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mailer = mailer_from_settings(Settings(environment="production", smtp_url=None))
    with caplog.at_level("INFO", logger="prism.mail"):
        await mailer.send(Message(to="a@example.com", subject="Reset", body="token: s3cr3t-token"))
    assert "mail not sent (no SMTP configured)" in [r.getMessage() for r in caplog.records]
    assert all("s3cr3t-token" not in str(vars(r)) for r in caplog.records)


async def test_when_every_database_connection_is_busy_requests_get_503_not_500(settings: Settings) -> None:
    app = build_app(
        settings.model_copy(
            update={"database_pool_size": 1, "database_max_overflow": 0, "database_pool_timeout_seconds": 0.3}
        )
    )
    async with LifespanManager(app):
        engine = app.state.runtime().engine
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://prism.test") as client:
            token = (await sign_up(GraphQLClient(client))).token
            async with engine.connect():  # the only connection, held
                response = await client.post(
                    "/graphql",
                    json={"query": "{ products { totalCount } }"},
                    headers={"Authorization": f"Bearer {token}"},
                )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"


def test_prism_db_ensure_app_role_creates_a_member_of_the_databases_group_with_its_password(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from prism.cli import main

    name = f"prism_cli_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("DATABASE_ADMIN_URL", database_url)
    monkeypatch.setenv("PRISM_APP_ROLE_PASSWORD", "it's a p@ss'word")
    group = asyncio.run(database_group_role(database_url))
    assert group is not None
    assert group.startswith("prism_app_prism_test_")
    runner = CliRunner()
    for _ in range(2):  # running it again only updates the password
        result = runner.invoke(main, ["db", "ensure-app-role", name])
        assert result.exit_code == 0, result.output
        assert f"role {name} is a member of {group}" in result.output
    assert "p@ss" not in result.output

    async def inspect() -> tuple[object, ...]:
        conn = await asyncpg.connect(database_url)
        try:
            row = await conn.fetchrow(
                "SELECT r.rolcanlogin, r.rolsuper, r.rolbypassrls, r.rolpassword IS NOT NULL AS has_password, "
                "pg_has_role(r.rolname, prism_app_role(), 'MEMBER') AS member FROM pg_authid r WHERE r.rolname = $1",
                name,
            )
            await conn.execute(f'DROP ROLE "{name}"')
            return tuple(row.values())
        finally:
            await conn.close()

    assert asyncio.run(inspect()) == (True, False, False, True, True)


def serve_on_a_taken_port(*options: str) -> Result:
    """`prism serve` on a port already in use: a command that passes its other checks stops at the port check (before
    uvicorn starts, before any migration), so the test never serves."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        return CliRunner().invoke(cli.main, ["serve", "--host", "127.0.0.1", "--port", port, *options])


def stopped_by_the_port_check(result: Result) -> bool:
    return result.exit_code == 1 and " is in use (another PRISM, or another server)" in result.output


def test_several_workers_without_redis_are_refused_because_logouts_and_limits_would_not_be_shared(
    monkeypatch: pytest.MonkeyPatch, app_database_url: str
) -> None:
    monkeypatch.setenv("PRISM_ENVIRONMENT", "test")
    monkeypatch.setenv("DATABASE_URL", app_database_url)
    monkeypatch.delenv("REDIS_URL", raising=False)

    refused = serve_on_a_taken_port("--workers", "2")

    assert refused.exit_code == 2
    assert "a token logged out on one worker still works on another" in refused.output
    assert "Set REDIS_URL, or pass --accept-per-worker-state" in refused.output

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/15")
    with_redis = serve_on_a_taken_port("--workers", "2")
    assert stopped_by_the_port_check(with_redis), with_redis.output
    assert "REDIS_URL" not in with_redis.output


def test_an_operator_may_accept_per_worker_state_explicitly_and_is_warned(
    monkeypatch: pytest.MonkeyPatch, app_database_url: str
) -> None:
    monkeypatch.setenv("PRISM_ENVIRONMENT", "test")
    monkeypatch.setenv("DATABASE_URL", app_database_url)
    monkeypatch.delenv("REDIS_URL", raising=False)

    accepted = serve_on_a_taken_port("--workers", "2", "--accept-per-worker-state")

    assert stopped_by_the_port_check(accepted), accepted.output
    assert accepted.stderr.startswith("Warning: Several workers without REDIS_URL each keep their own")
    assert "Set REDIS_URL" not in accepted.output
