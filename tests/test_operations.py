"""Operating PRISM: start-up guards, the embedded database's recovery after a crash, migrations under a lock."""

import asyncio
import base64
import json
import os
import sys
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest
from alembic.script import ScriptDirectory
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from prism.app import build_app
from prism.auth.mailer import Message
from prism.auth.smtp import SmtpMailer, mailer_from_settings
from prism.config import JwtKey, Settings
from prism.db import migrate
from prism.db.embedded import _forget_dead_owners
from tests.conftest import _create_database, _drop_database


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
        await _drop_database(server_url, name)


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
            signed_up = await client.post(
                "/graphql",
                json={
                    "query": "mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }",
                    "variables": {
                        "i": {
                            "email": f"pool-{uuid.uuid4().hex[:8]}@example.com",
                            "password": "correct-horse-battery",
                            "name": "Pool",
                            "organizationName": "Pool",
                        }
                    },
                },
            )
            token = signed_up.json()["data"]["signUp"]["accessToken"]
            async with engine.connect():  # the only connection, held
                response = await client.post(
                    "/graphql",
                    json={"query": "{ products { totalCount } }"},
                    headers={"Authorization": f"Bearer {token}"},
                )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"


def test_prism_db_ensure_app_role_creates_a_member_of_prism_app_with_its_password(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from prism.cli import main

    name = f"prism_cli_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("DATABASE_ADMIN_URL", database_url)
    monkeypatch.setenv("PRISM_APP_ROLE_PASSWORD", "it's a p@ss'word")
    runner = CliRunner()
    for _ in range(2):  # running it again only updates the password
        result = runner.invoke(main, ["db", "ensure-app-role", name])
        assert result.exit_code == 0, result.output
        assert f"role {name} is a member of prism_app" in result.output
    assert "p@ss" not in result.output

    async def inspect() -> tuple[object, ...]:
        conn = await asyncpg.connect(database_url)
        try:
            row = await conn.fetchrow(
                "SELECT r.rolcanlogin, r.rolsuper, r.rolbypassrls, r.rolpassword IS NOT NULL AS has_password, "
                "pg_has_role(r.rolname, 'prism_app', 'MEMBER') AS member FROM pg_authid r WHERE r.rolname = $1",
                name,
            )
            await conn.execute(f'DROP ROLE "{name}"')
            return tuple(row.values())
        finally:
            await conn.close()

    assert asyncio.run(inspect()) == (True, False, False, True, True)
