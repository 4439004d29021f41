"""Production refuses to start with settings that would leave it open, and says why in one sentence."""

import base64
import random
import re
import secrets
import socket
import string
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager
from click.testing import CliRunner
from pydantic import SecretStr

from prism import cli
from prism.app import build_app
from prism.auth.weak_secrets import PUBLISHED_SECRETS, key_weakness
from prism.config import JwtKey, Settings

ROOT = Path(__file__).resolve().parent.parent
FORMER_COMPOSE_KEY = "local-development-only-secret-key-0123456789"


def production(settings: Settings, **overrides: object) -> Settings:
    """The test settings (a database role bound by row-level security) as production, with a random key."""
    values: dict[str, object] = {"environment": "production", "secret_key": SecretStr(secrets.token_urlsafe(48))}
    return settings.model_copy(update=values | overrides)


async def refusal(settings: Settings) -> str:
    """The message the app's start-up refuses `settings` with."""
    app = build_app(settings)
    with pytest.raises(RuntimeError) as refused:
        async with LifespanManager(app):
            pass
    return str(refused.value)


async def test_production_refuses_the_signing_key_the_compose_file_used_to_ship(settings: Settings) -> None:
    message = await refusal(production(settings, secret_key=SecretStr(FORMER_COMPOSE_KEY)))

    assert message.startswith("PRISM_SECRET_KEY is published in PRISM's repository")
    assert "secrets.token_urlsafe(48)" in message, "the message says how to make a good key"
    assert FORMER_COMPOSE_KEY not in message, "the key itself is never repeated"


@pytest.mark.parametrize(
    "key",
    [
        "x" * 40,
        "secret" * 6,
        "1234567890" * 4,
        "abcdefghijklmnopqrstuvwxyz0123456789",
        "changeme-changeme-changeme-changeme",
        "passwordpasswordpasswordpassword1",
    ],
)
async def test_production_refuses_predictable_signing_keys(settings: Settings, key: str) -> None:
    message = await refusal(production(settings, secret_key=SecretStr(key)))

    assert message.startswith("PRISM_SECRET_KEY is too predictable")


async def test_production_refuses_a_published_key_anywhere_in_the_jwt_key_list(settings: Settings) -> None:
    keys = [
        JwtKey(kid="2026-11", secret=SecretStr(secrets.token_urlsafe(48))),
        JwtKey(kid="2026-10", secret=SecretStr(FORMER_COMPOSE_KEY)),
    ]
    message = await refusal(production(settings, jwt_keys=keys))

    assert message.startswith("PRISM_JWT_KEYS key '2026-10' is published in PRISM's repository")


async def test_production_refuses_a_metrics_token_anyone_could_guess(settings: Settings) -> None:
    predictable = "metrics" * 5
    message = await refusal(production(settings, metrics_token=SecretStr(predictable)))

    assert message.startswith("PRISM_METRICS_TOKEN is too predictable")


async def test_production_refuses_database_passwords_from_the_repository(settings: Settings) -> None:
    message = await refusal(
        production(
            settings,
            database_url="postgresql://prism_api:prism-api-local-password@postgres:5432/prism",
            database_admin_url="postgresql://prism:prism-local-password@postgres:5432/prism",
        )
    )

    assert message == (
        "DATABASE_URL uses a password published in PRISM's repository; choose a secret one. "
        "DATABASE_ADMIN_URL uses a password published in PRISM's repository; choose a secret one."
    )


async def test_production_starts_with_a_random_key_and_a_role_bound_by_row_level_security(settings: Settings) -> None:
    app = build_app(production(settings))
    async with LifespanManager(app):
        assert app.state.runtime().settings.environment == "production"


async def test_outside_production_a_published_key_is_accepted_for_local_work(settings: Settings) -> None:
    app = build_app(settings.model_copy(update={"secret_key": SecretStr(FORMER_COMPOSE_KEY)}))
    async with LifespanManager(app):
        assert app.state.runtime().settings.environment == "test"


def test_prism_serve_refuses_a_published_key_with_one_sentence_and_no_traceback(
    monkeypatch: pytest.MonkeyPatch, app_database_url: str
) -> None:
    monkeypatch.setenv("PRISM_ENVIRONMENT", "production")
    monkeypatch.setenv("DATABASE_URL", app_database_url)
    monkeypatch.setenv("PRISM_SECRET_KEY", FORMER_COMPOSE_KEY)

    # The port is taken: were the refusal missing, uvicorn would fail to bind and the test fail, not serve forever.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli.main, ["serve", "--host", "127.0.0.1", "--port", str(port)])

    assert result.exit_code == 1
    assert result.output.splitlines()[0].startswith("Error: PRISM_SECRET_KEY is published in PRISM's repository")
    assert len(result.output.splitlines()) == 1
    assert FORMER_COMPOSE_KEY not in result.output


@pytest.mark.parametrize(
    "make_key",
    [
        lambda rng: rng.randbytes(16).hex(),  # secrets.token_hex(16): 32 characters, 128 bits
        lambda rng: rng.randbytes(32).hex(),
        lambda rng: base64.urlsafe_b64encode(rng.randbytes(32)).rstrip(b"=").decode(),  # token_urlsafe(32)
        lambda rng: base64.b64encode(rng.randbytes(32)).decode(),  # openssl rand -base64 32
        lambda rng: "".join(rng.choice(string.digits) for _ in range(40)),
    ],
    ids=["hex-32", "hex-64", "urlsafe-43", "base64-44", "digits-40"],
)
def test_keys_made_by_the_usual_generators_are_accepted(make_key: Callable[[random.Random], str]) -> None:
    rng = random.Random(7)  # seeded: the same thousand keys on every run
    refused = [key for key in (make_key(rng) for _ in range(1000)) if key_weakness(key)]
    assert refused == []


# --- every secret the repository publishes is refused -------------------------------------------------------------

SECRET_NAME = r"[A-Z0-9_]*(?:PASSWORD|SECRET|SECRET_KEY|TOKEN)"
ANYWHERE = [
    # JSON: "secret": "...", "client_secret": "..."
    re.compile(r"\"(?:client_)?secret\":[ \t]*\"([^\"]+)\""),
    # passwords in URLs: scheme://user:password@host
    re.compile(r"\w+://[^:/\s@\"'`]+:([^@\s/\"'`]+)@"),
]
OUTSIDE_PYTHON = [
    # `${VAR:-default}` in compose files
    re.compile(rf"\$\{{{SECRET_NAME}:-([^}}]+)\}}"),
    # VAR=value (env files, shell examples) and VAR: value (YAML), quoted or not
    re.compile(rf"\b{SECRET_NAME}[ \t]*[=:][ \t]*[\"']?([^\s\"'`${{}}?-][^\s\"'`${{}}]*)"),
]
IN_PYTHON = [
    # secret_key="...", SECRET_KEY = "...", SecretStr("...")
    re.compile(r"(?:\b(?:secret_key|SECRET_KEY)[ \t]*=[ \t]*|SecretStr\()\"([^\"]+)\""),
]
PLACEHOLDER = re.compile(r"\.\.\.|^<.*>$|^[A-Z_]+$|://|\$\{")


def literal_secrets() -> dict[str, set[str]]:
    """Every literal secret value in the repository's tracked text files, with the files it appears in."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    found: dict[str, set[str]] = {}
    for name in listed.decode().split("\0"):
        path = ROOT / name
        if not name or name.startswith("prism/web/static/") or not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        patterns = ANYWHERE + (IN_PYTHON if name.endswith(".py") else OUTSIDE_PYTHON)
        for pattern in patterns:
            for value in pattern.findall(text):
                if len(value) >= 4 and not PLACEHOLDER.search(value):
                    found.setdefault(value, set()).add(name)
    return found


def test_every_secret_written_in_the_repository_is_on_the_list_production_refuses() -> None:
    found = literal_secrets()
    assert "tests/conftest.py" in found.get("test-secret-key-that-is-long-enough-1234567890", set()), "scanner works"
    unlisted = {value: sorted(files) for value, files in found.items() if value not in PUBLISHED_SECRETS}
    assert not unlisted, f"add these to prism.auth.weak_secrets.PUBLISHED_SECRETS: {unlisted}"


async def test_production_refuses_an_s3_secret_from_the_repository(settings: Settings) -> None:
    message = await refusal(
        production(
            settings,
            s3_endpoint="https://s3.example.com",
            s3_secret_key=SecretStr("prism-test-secret-0123456789abcdef"),
        )
    )

    assert message == "S3_SECRET_ACCESS_KEY uses a password published in PRISM's repository; choose a secret one."
