"""`prism users create`: an operator's command, through the same services, rules, audit entries and row-level
security as the API.

The commands connect as the server's login role (DATABASE_URL is the test database through `prism_test_api`, which
row-level security binds), and what they did is checked through the API. Each runs in a thread: it starts an event
loop of its own, as it does for an operator.
"""

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from prism.cli import main
from tests.helpers import Account, GraphQLClient

PASSWORD = "operator-chosen-password"
LOG_IN = """
mutation($input: LogInInput!) {
  logIn(input: $input) { accessToken organization { name } userErrors { field message code } }
}
"""
AUDIT_LOG = """
query($filter: AuditLogFilter) {
  auditLog(filter: $filter, first: 50) { nodes { action targetType ip userAgent details actor { email } } }
}
"""


@pytest.fixture
def operator_env(app_database_url: str, prism_home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment of an operator's shell on the server: the server's own DATABASE_URL, no admin URL."""
    for name in ("DATABASE_ADMIN_URL", "PRISM_USER_PASSWORD", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    env = {
        "DATABASE_URL": app_database_url,
        "PRISM_HOME": str(prism_home),
        "PRISM_ENVIRONMENT": "test",
        "PRISM_SECRET_KEY": "test-secret-key-that-is-long-enough-1234567890",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


async def prism(*arguments: str, input: str | None = None, env: Mapping[str, str] | None = None) -> Result:
    """Run a `prism` command as an operator would (in a thread: it runs an event loop of its own)."""
    return await asyncio.to_thread(CliRunner().invoke, main, list(arguments), input=input, env=env)


def new_email() -> str:
    return f"ops-{uuid.uuid4().hex[:10]}@example.com"


async def log_in(gql: GraphQLClient, email: str, password: str = PASSWORD, organization: str | None = None) -> Any:
    variables = {"email": email, "password": password, **({"organizationId": organization} if organization else {})}
    return (await gql(LOG_IN, {"input": variables}))["logIn"]


async def audit_entries(gql: GraphQLClient, token: str, action: str) -> list[dict[str, Any]]:
    data = await gql(AUDIT_LOG, {"filter": {"actions": [action]}}, token=token)
    return data["auditLog"]["nodes"]  # type: ignore[no-any-return]


# --- prism users create ---------------------------------------------------------------------------------------------


async def test_users_create_makes_an_account_owning_a_new_organization_and_audits_it_as_the_cli(
    operator_env: dict[str, str], gql: GraphQLClient
) -> None:
    email = new_email()

    result = await prism(
        "users", "create", "--email", email, "--name", "Ada Ops", "--organization", "Acme Ops",
        env={"PRISM_USER_PASSWORD": PASSWORD},
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    created_user, created_organization = result.stdout.splitlines()
    assert created_user.startswith(f"Created user {email} (id ")
    assert created_organization.startswith("Created organization 'Acme Ops' (slug acme-ops-")
    assert created_organization.endswith(f"owned by {email}.")
    signed_in = await log_in(gql, email)
    assert signed_in["userErrors"] == []
    assert signed_in["organization"] == {"name": "Acme Ops"}
    viewer = await gql(
        "{ viewer { role user { name } } accountSecurity { emailVerifiedAt } }", token=signed_in["accessToken"]
    )
    assert viewer == {
        "viewer": {"role": "OWNER", "user": {"name": "Ada Ops"}},
        "accountSecurity": {"emailVerifiedAt": None},
    }
    (entry,) = await audit_entries(gql, signed_in["accessToken"], "organization.created")
    assert entry["actor"] is None
    assert entry["ip"] is None
    assert entry["userAgent"].startswith("prism-cli/0.1.0 (")
    assert entry["details"]["owner"] == email


async def test_users_create_reads_the_password_from_standard_input(
    operator_env: dict[str, str], gql: GraphQLClient
) -> None:
    email = new_email()

    result = await prism(
        "users", "create", "--email", email, "--name", "Stdin", "--organization", "Piped", "--password-stdin",
        input=f"{PASSWORD}\n",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert (await log_in(gql, email))["userErrors"] == []


async def test_users_create_prompts_for_the_password_twice_without_echoing_it(
    operator_env: dict[str, str], gql: GraphQLClient
) -> None:
    email = new_email()

    result = await prism(
        "users", "create", "--email", email, "--name", "Prompted", "--organization", "Asked",
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "Password: \nRepeat for confirmation: \n" in result.output
    assert PASSWORD not in result.output
    assert (await log_in(gql, email))["userErrors"] == []


async def test_users_create_takes_no_password_argument_that_ps_would_show(operator_env: dict[str, str]) -> None:
    result = await prism("users", "create", "--email", new_email(), "--name", "X", "--password", PASSWORD)

    assert result.exit_code == 2
    assert "No such option '--password'" in result.output


@pytest.mark.parametrize(
    ("arguments", "password", "error"),
    [
        (["--email", "not-an-address"], PASSWORD, "Error: --email: email is not a valid address."),
        ([], "short", "Error: password must be 10 to 256 characters long."),
        (["--name", " "], PASSWORD, "Error: --name: name must not be empty."),
    ],
    ids=["email", "password", "name"],
)
async def test_users_create_applies_the_rules_of_sign_up(
    operator_env: dict[str, str], arguments: list[str], password: str, error: str
) -> None:
    base = {"--email": new_email(), "--name": "Rules", "--organization": "Rules"}
    base.update(dict(zip(arguments[::2], arguments[1::2], strict=True)))
    flat = [part for pair in base.items() for part in pair]

    result = await prism("users", "create", *flat, env={"PRISM_USER_PASSWORD": password})

    assert result.exit_code == 1
    assert result.output == error + "\n"


async def test_users_create_refuses_an_email_that_has_an_account(
    operator_env: dict[str, str], account: Account
) -> None:
    result = await prism(
        "users", "create", "--email", account.email.upper(), "--name", "Twin", env={"PRISM_USER_PASSWORD": PASSWORD}
    )

    assert result.exit_code == 1
    assert result.output == "Error: --email: An account with this email exists; log in instead.\n"


# --- how the commands connect ---------------------------------------------------------------------------------------


async def test_operator_commands_refuse_a_database_behind_the_code(
    operator_env: dict[str, str], empty_database: str
) -> None:
    result = await prism(
        "users", "create", "--email", new_email(), "--name", "Early",
        env={"DATABASE_URL": empty_database, "PRISM_USER_PASSWORD": PASSWORD},
    )  # fmt: skip

    assert result.exit_code == 1
    assert (
        result.output
        == "Error: The database is at base, behind this PRISM's head 0005: run `prism db upgrade` first.\n"
    )


async def test_operator_commands_warn_when_their_role_bypasses_row_level_security_and_refuse_it_in_production(
    operator_env: dict[str, str], database_url: str, gql: GraphQLClient
) -> None:
    """The test server's superuser stands for a misconfigured DATABASE_URL."""
    refused_email, warned_email = new_email(), new_email()
    as_superuser = {"DATABASE_URL": database_url, "PRISM_USER_PASSWORD": PASSWORD}

    refused = await prism(
        "users", "create", "--email", refused_email, "--name", "Prod", "--organization", "P",
        env={**as_superuser, "PRISM_ENVIRONMENT": "production"},
    )  # fmt: skip
    warned = await prism(
        "users", "create", "--email", warned_email, "--name", "Dev", "--organization", "D", env=as_superuser
    )

    assert refused.exit_code == 1
    assert refused.output.startswith("Error: The database role ")
    assert "bypasses row-level security" in refused.output
    assert (await log_in(gql, refused_email))["userErrors"][0]["code"] == "INVALID_CREDENTIALS", "nothing created"
    assert warned.exit_code == 0, warned.output
    assert warned.stderr.startswith("Warning: The database role ")
    assert (await log_in(gql, warned_email))["userErrors"] == []


@pytest.fixture
def embedded_home() -> Iterator[Path]:
    """A PRISM_HOME outside pytest's temporary directories. Run as root, the embedded server runs as a system user that
    must traverse the path to its data, and each pytest session starting on the machine sets the root of those
    directories back to mode 700."""
    path = Path(tempfile.mkdtemp(prefix="prism-embedded-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
def test_without_database_url_the_commands_use_the_embedded_server_through_its_login_role(embedded_home: Path) -> None:
    """As `make run` does: the embedded PostgreSQL, reached as the role row-level security binds (no warning)."""
    prism_command = str(Path(sys.executable).parent / "prism")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PRISM_", "DATABASE_", "REDIS_"))}
    env = {**base, "PRISM_HOME": str(embedded_home), "PRISM_USER_PASSWORD": PASSWORD}

    def run(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [prism_command, *arguments], env=env, capture_output=True, text=True, timeout=300, check=False
        )

    email = new_email()
    create = ["users", "create", "--email", email, "--name", "Embedded", "--organization", "Local Co"]
    before = run(*create)
    assert before.returncode == 1
    assert (
        before.stderr
        == "Error: The database is at base, behind this PRISM's head 0005: run `prism db upgrade` first.\n"
    )

    assert run("db", "upgrade").returncode == 0
    created = run(*create)
    assert created.returncode == 0, created.stderr
    assert created.stderr == ""
