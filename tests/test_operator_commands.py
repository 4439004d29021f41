"""`prism users create`, `prism members add`, `prism api-keys create`: operators' commands, through the same services,
rules, audit entries and row-level security as the API.

The commands connect as the server's login role (DATABASE_URL is the test database through `prism_test_api`, which
row-level security binds), and what they did is checked through the API. Each runs in a thread: it starts an event
loop of its own, as it does for an operator.
"""

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner, Result

from prism.cli import main
from prism.db import migrate
from tests.helpers import Account, GraphQLClient, join_organization, sign_up, uuid_of

PASSWORD = "operator-chosen-password"
HEAD = ScriptDirectory.from_config(migrate.alembic_config("postgresql://unused/unused")).get_current_head()
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


def organization_of(account: Account) -> str:
    return str(uuid_of(account.organization_id))


# --- prism users create ---------------------------------------------------------------------------------------------


async def test_users_create_makes_an_account_owning_a_new_organization_and_audits_it_as_the_cli(
    operator_env: dict[str, str], gql: GraphQLClient
) -> None:
    email = new_email()

    result = await prism(
        "users", "create", "--email", email, "--name", "Ada Ops", "--organization", "Acme Ops",
        env={"PRISM_USER_PASSWORD": PASSWORD, "USER": "someone-else", "LOGNAME": "someone-else"},
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
    operator = pwd.getpwuid(os.geteuid()).pw_name  # the OS account, not what USER claims
    assert entry["userAgent"] == f"prism-cli/{version('prism')} ({operator}@{socket.gethostname()})"
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


async def test_users_create_asks_for_the_password_only_once_the_database_answers(
    operator_env: dict[str, str], empty_database: str
) -> None:
    result = await prism(
        "users", "create", "--email", new_email(), "--name", "Early", env={"DATABASE_URL": empty_database}
    )

    assert result.exit_code == 1
    assert "Password" not in result.output
    assert result.output.startswith("Error: The database is at base")


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
    assert result.output == "Error: --email: An account with this email exists.\n"


# --- prism members add ----------------------------------------------------------------------------------------------


async def test_members_add_gives_an_existing_account_a_role_in_the_name_of_an_owner(
    operator_env: dict[str, str], account: Account, gql: GraphQLClient
) -> None:
    newcomer = await sign_up(gql, organization="Elsewhere")

    result = await prism(
        "members", "add", "--organization", organization_of(account), "--email", newcomer.email, "--role", "ADMIN",
        "--by", account.email,
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert result.output == f"Added {newcomer.email} to 'Test Org' as ADMIN, by {account.email}.\n"
    signed_in = await log_in(gql, newcomer.email, newcomer.password, organization=account.organization_id)
    assert (await gql("{ viewer { role } }", token=signed_in["accessToken"]))["viewer"]["role"] == "ADMIN"
    (entry,) = await audit_entries(gql, account.token, "member.added")
    assert entry["actor"] == {"email": account.email}
    assert entry["userAgent"].startswith("prism-cli/")
    assert entry["details"] == {"role": "ADMIN"}


async def test_a_user_created_without_an_organization_signs_in_once_a_member_adds_them(
    operator_env: dict[str, str], account: Account, gql: GraphQLClient
) -> None:
    email = new_email()
    created = await prism("users", "create", "--email", email, "--name", "Loner", env={"PRISM_USER_PASSWORD": PASSWORD})
    assert created.exit_code == 0, created.output
    assert len(created.stdout.splitlines()) == 1, "no organization was created"
    assert (await log_in(gql, email))["userErrors"] == [
        {
            "field": ["input", "organizationId"],
            "message": "You are not a member of this organization.",
            "code": "NOT_FOUND",
        }
    ]

    added = await prism(
        "members", "add", "--organization", organization_of(account), "--email", email, "--role", "viewer",
        "--by", account.email,
    )  # fmt: skip

    assert added.exit_code == 0, added.output
    signed_in = await log_in(gql, email)
    assert signed_in["organization"] == {"name": "Test Org"}
    viewer = await gql("{ viewer { role } }", token=signed_in["accessToken"])
    assert viewer["viewer"]["role"] == "VIEWER"


async def test_members_add_finds_the_organization_by_its_slug(operator_env: dict[str, str], gql: GraphQLClient) -> None:
    owner = new_email()
    created = await prism(
        "users", "create", "--email", owner, "--name", "Slug Owner", "--organization", "Slug Co",
        env={"PRISM_USER_PASSWORD": PASSWORD},
    )  # fmt: skip
    slug = created.stdout.split("(slug ")[1].split(",")[0]
    newcomer = await sign_up(gql)

    result = await prism("members", "add", "--organization", slug, "--email", newcomer.email, "--by", owner)

    assert result.exit_code == 0, result.output
    assert result.output == f"Added {newcomer.email} to 'Slug Co' as MEMBER, by {owner}.\n"


async def test_members_add_follows_the_role_rules_of_the_member_it_acts_for(
    operator_env: dict[str, str], account: Account, gql: GraphQLClient, database_url: str
) -> None:
    admin = await join_organization(gql, database_url, account, role="ADMIN", name="Admin")
    member = await join_organization(gql, database_url, account, role="MEMBER", name="Member")
    newcomer = await sign_up(gql)
    organization = organization_of(account)

    as_admin = await prism(
        "members", "add", "--organization", organization, "--email", newcomer.email, "--role", "OWNER",
        "--by", admin.email,
    )  # fmt: skip
    as_member = await prism(
        "members", "add", "--organization", organization, "--email", newcomer.email, "--by", member.email
    )

    assert as_admin.exit_code == 1
    assert as_admin.output == f"Error: --by {admin.email}: Your role (ADMIN) cannot grant or revoke the OWNER role.\n"
    assert as_member.exit_code == 1
    assert as_member.output == (
        f"Error: --by {member.email}: Your organization role (MEMBER) does not allow this (manage_members).\n"
    )
    viewer = await log_in(gql, newcomer.email, newcomer.password, organization=account.organization_id)
    assert viewer["userErrors"][0]["code"] == "NOT_FOUND", "nobody was added"


async def test_members_add_refuses_a_member_twice_and_strangers(
    operator_env: dict[str, str], account: Account, other_account: Account, gql: GraphQLClient
) -> None:
    organization = organization_of(account)

    twice = await prism(
        "members", "add", "--organization", organization, "--email", account.email, "--by", account.email
    )
    stranger = await prism(
        "members", "add", "--organization", organization, "--email", account.email, "--by", other_account.email
    )
    nobody = await prism(
        "members", "add", "--organization", organization, "--email", new_email(), "--by", account.email
    )

    assert twice.output == "Error: --email: This account is a member already.\n"
    assert stranger.output == (
        f"Error: --by: {other_account.email} is not a member of an organization with the slug or id {organization!r}.\n"
    )
    assert nobody.output.startswith("Error: --email: No account has the email ")
    assert [twice.exit_code, stranger.exit_code, nobody.exit_code] == [1, 1, 1]


# --- prism api-keys create ------------------------------------------------------------------------------------------


async def test_api_keys_create_prints_the_key_once_and_it_works_within_its_scopes(
    operator_env: dict[str, str], account: Account, gql: GraphQLClient
) -> None:
    result = await prism(
        "api-keys", "create", "--organization", organization_of(account), "--by", account.email, "--name", "CI",
        "--scope", "read",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert key.startswith("prism_")
    assert result.stderr.startswith("Created API key 'CI' (prefix ")
    assert "scopes read, never expires) in 'Test Org', by " in result.stderr
    assert key not in result.stderr
    read = await gql.run("{ products(first: 1) { totalCount } }", token=key)
    assert read.errors == []
    write = await gql.run('mutation { createProduct(input: {key: "CLI", name: "No"}) { product { id } } }', token=key)
    assert write.codes == ["FORBIDDEN"]
    (entry,) = await audit_entries(gql, account.token, "api_key.created")
    assert entry["actor"] == {"email": account.email}
    assert entry["userAgent"].startswith("prism-cli/")
    assert entry["details"]["scopes"] == ["read"]


async def test_api_keys_create_sets_an_expiry_by_date_or_days(operator_env: dict[str, str], account: Account) -> None:
    organization = organization_of(account)

    dated = await prism(
        "api-keys", "create", "--organization", organization, "--by", account.email, "--name", "Dated",
        "--scope", "read", "--expires-at", "2099-01-31",
    )  # fmt: skip
    counted = await prism(
        "api-keys", "create", "--organization", organization, "--by", account.email, "--name", "Counted",
        "--scope", "read", "--scope", "write", "--expires-in-days", "30",
    )  # fmt: skip

    assert dated.exit_code == 0, dated.output
    assert "scopes read, expires 2099-01-31T00:00:00+00:00)" in dated.stderr
    assert counted.exit_code == 0, counted.output
    assert "scopes read, write, expires " in counted.stderr


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (["--scope", "root"], "Error: --scope: Unknown scopes: root.\n"),
        (["--scope", "read", "--expires-at", "2001-01-01"], "Error: --expires-at: expiresAt must be in the future.\n"),
        (["--scope", "read", "--expires-at", "tomorrow"], None),
        (["--scope", "read", "--name", " "], "Error: --name: name must not be empty.\n"),
    ],
    ids=["scope", "past", "unreadable", "name"],
)
async def test_api_keys_create_applies_the_rules_of_the_api(
    operator_env: dict[str, str], account: Account, options: list[str], error: str | None
) -> None:
    result = await prism(
        "api-keys", "create", "--organization", organization_of(account), "--by", account.email, "--name", "K",
        *options,
    )  # fmt: skip

    assert result.exit_code in (1, 2)
    if error is None:
        assert (
            "Error: Invalid value for --expires-at: write a date (2027-01-31) or a time with its zone" in result.output
        )
    else:
        assert result.output == error


async def test_api_keys_are_created_only_in_the_name_of_an_owner_or_admin(
    operator_env: dict[str, str], account: Account, gql: GraphQLClient, database_url: str
) -> None:
    member = await join_organization(gql, database_url, account, role="MEMBER", name="Member")

    result = await prism(
        "api-keys", "create", "--organization", organization_of(account), "--by", member.email, "--name", "Mine",
        "--scope", "read",
    )  # fmt: skip

    assert result.exit_code == 1
    assert result.output == (
        f"Error: --by {member.email}: Your organization role (MEMBER) does not allow this (manage_api_keys).\n"
    )


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
        == f"Error: The database is at base, behind this PRISM's head {HEAD}: run `prism db upgrade` first.\n"
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
    assert "is not bound by row-level security" in refused.output
    assert "superuser" in refused.output
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
        == f"Error: The database is at base, behind this PRISM's head {HEAD}: run `prism db upgrade` first.\n"
    )

    assert run("db", "upgrade").returncode == 0
    created = run(*create)
    assert created.returncode == 0, created.stderr
    assert created.stderr == ""
    slug = created.stdout.split("(slug ")[1].split(",")[0]
    key = run("api-keys", "create", "--organization", slug, "--by", email, "--name", "Local", "--scope", "read")
    assert key.returncode == 0, key.stderr
    assert key.stdout.startswith("prism_")
