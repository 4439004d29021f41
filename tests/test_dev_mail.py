"""Trying PRISM without SMTP: mail that would be sent is readable at /dev/mail, with `prism mail list` and in the
console log; the development log stays readable."""

import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from click.testing import CliRunner
from starlette.applications import Starlette

from prism.app import build_app
from prism.cli import main
from prism.config import Settings
from prism.observability.logging import ConsoleFormatter
from tests.helpers import GraphQLClient


@pytest.fixture
async def laptop(settings: Settings, tmp_path: Path) -> AsyncIterator[Starlette]:
    """The app as `make run` starts it on a laptop: development, no SMTP, its own PRISM_HOME."""
    app = build_app(settings.model_copy(update={"environment": "development", "home": tmp_path}))
    async with LifespanManager(app):
        yield app


async def test_a_sign_up_mail_is_readable_at_dev_mail_and_with_prism_mail_list(
    laptop: Starlette, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    transport = httpx.ASGITransport(app=laptop)
    email = f"laptop-{uuid.uuid4().hex[:8]}@example.com"
    async with httpx.AsyncClient(transport=transport, base_url="http://prism.test") as http:
        with caplog.at_level(logging.INFO, logger="prism.mail"):
            signed_up = await GraphQLClient(http)(
                "mutation($i: SignUpInput!) { signUp(input: $i) { emailVerificationRequired userErrors { code } } }",
                {"i": {"email": email, "password": "correct-horse-battery", "name": "Lap", "organizationName": "Top"}},
            )
        assert signed_up["signUp"] == {"emailVerificationRequired": True, "userErrors": []}
        listed = (await http.get("/dev/mail")).json()["messages"]
        page = await http.get("/dev/mail", headers={"accept": "text/html"})
    [verification] = [m for m in listed if m["to"] == email]
    assert "PRISM" in verification["subject"]
    assert verification["links"], verification["body"]
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert verification["subject"] in page.text
    assert [r.links for r in caplog.records if r.getMessage().startswith("mail kept")] == [  # type: ignore[attr-defined]
        " ".join(verification["links"])
    ]
    assert oct((tmp_path / "mail").stat().st_mode & 0o777) == "0o700"

    monkeypatch.setenv("PRISM_HOME", str(tmp_path))
    result = CliRunner().invoke(main, ["mail", "list", "--limit", "5"])
    assert result.exit_code == 0, result.output
    assert f"to {email}" in result.output
    assert verification["links"][0] in result.output


async def test_production_serves_no_mailbox(settings: Settings) -> None:
    app = build_app(settings.model_copy(update={"environment": "production", "metrics_token": None, "graphiql": False}))
    assert "/dev/mail" not in {getattr(route, "path", None) for route in app.routes}
    development = build_app(settings.model_copy(update={"environment": "development"}))
    assert "/dev/mail" in {getattr(route, "path", None) for route in development.routes}


def test_the_development_log_shows_method_path_status_and_duration_and_no_none_outside_a_request() -> None:
    formatter = ConsoleFormatter()
    access = logging.LogRecord("prism.access", logging.INFO, __file__, 1, "request", None, None)
    access.__dict__.update(
        method="POST", path="/graphql", status=200, duration_ms=12.5, sql_statements=4, request_id="abc123"
    )
    assert formatter.format(access).endswith("prism.access [abc123] POST /graphql 200 12.5 ms 4 SQL")
    outside = logging.LogRecord("prism", logging.INFO, __file__, 1, "PRISM started", None, None)
    outside.__dict__.update(request_id=None, graphql="/graphql")
    line = formatter.format(outside)
    assert "[None]" not in line
    assert line.endswith("prism PRISM started graphql=/graphql")
