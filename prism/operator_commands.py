"""The operators' commands of `prism`: `users create`, `members add`, `api-keys create`.

They connect the way the server does, as its login role (DATABASE_URL, or the embedded server's), so row-level
security binds them as it binds the API, and run one use case of `prism.services.operators` inside a unit of work
that commits when the command succeeds. A rule the services enforce (validation, roles, duplicates) ends the command
with one `Error:` line naming the option concerned.
"""

import asyncio
import os
import pwd
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import version
from typing import TYPE_CHECKING

import click

from prism.config import ConfigurationError, Settings, load_settings
from prism.domain.enums import Role
from prism.errors import ForbiddenError, PrismError

if TYPE_CHECKING:  # the services and migrations take a second to import: `prism --help` needs neither
    from prism.db.migrate import MigrationStatus
    from prism.services.audit import RequestMeta
    from prism.services.operators import OperatorService

__all__ = ["api_keys", "members", "operator_meta", "users"]

OPTIONS = {
    "email": "--email",
    "userId": "--email",
    "name": "--name",
    "organizationName": "--organization",
    "organization": "--organization",
    "by": "--by",
    "role": "--role",
    "scopes": "--scope",
    "expiresAt": "--expires-at",
}
"""The option a service's error field (named for the GraphQL input) stands for on the command line."""


def operator_meta() -> "RequestMeta":
    """How the audit log names the command line as the client: `prism-cli/<version> (<OS user>@<host>)`, no IP."""
    from prism.services.audit import RequestMeta

    # The account the process runs as, from the password database: USER and LOGNAME are whatever the shell says.
    uid = os.geteuid()
    try:
        who = pwd.getpwuid(uid).pw_name
    except KeyError:  # a container user with no entry
        who = f"uid {uid}"
    return RequestMeta(ip=None, user_agent=f"prism-cli/{version('prism')} ({who}@{socket.gethostname()})")


@contextmanager
def server_database(settings: Settings) -> Iterator[str]:
    """The URL the server itself uses: DATABASE_URL, else the embedded server's login role (started for the
    command). Checked first: it answers, and its migrations are at head."""
    from prism.db import migrate
    from prism.preflight import check_database

    if settings.database_url:
        asyncio.run(check_database(settings.database_url, "DATABASE_URL"))
        require_head(migrate.status(settings.database_url))
        yield settings.database_url
        return
    from prism.db.embedded import start_embedded_postgres
    from prism.db.roles import ensure_login_role, url_for_role

    embedded = start_embedded_postgres(settings.home_path)
    try:
        require_head(migrate.status(embedded.url))
        asyncio.run(ensure_login_role(embedded.url, settings.database_app_role))
        yield url_for_role(embedded.url, settings.database_app_role)
    finally:
        embedded.stop()


def require_head(state: "MigrationStatus") -> None:
    """Refuse to write to a database whose schema is not the one this code expects."""
    at = state.current or "base"
    if not state.known:
        raise ConfigurationError(
            f"The database is at {at}, a revision this PRISM does not know: run the PRISM that migrated it."
        )
    if not state.at_head:
        raise ConfigurationError(
            f"The database is at {at}, behind this PRISM's head {state.head}: run `prism db upgrade` first."
        )


@asynccontextmanager
async def operator_service(settings: Settings, url: str) -> AsyncIterator["OperatorService"]:
    """The operator use cases on one unit of work, committed when the block ends without an error."""
    from prism.auth.attempt_limits import AttemptLimits
    from prism.auth.smtp import mailer_from_settings
    from prism.auth.tokens import issuer_from_settings
    from prism.db.engine import build_engine
    from prism.db.roles import check_connection_role
    from prism.events.broker import open_broker
    from prism.kv import open_store
    from prism.runtime import Runtime, load_secret_key
    from prism.services.operators import OperatorService

    engine = build_engine(url, pool_size=1, max_overflow=0)
    try:
        role = await check_connection_role(engine)
        if not role.safe:
            message = (
                f"The database role {role.name!r} is not bound by row-level security as PRISM's server must be: "
                f"{'; '.join(role.problems)}. The database would not check this command's tenant; connect as a "
                "login role made by `prism db ensure-app-role` (docs/security.md)."
            )
            if settings.environment == "production":
                raise ConfigurationError(message)
            click.echo(f"Warning: {message}", err=True)
        runtime = Runtime(
            settings=settings,
            engine=engine,
            tokens=issuer_from_settings(settings, load_secret_key(settings)),
            kv=open_store(settings.redis_url),
            mailer=mailer_from_settings(settings),
            attempts=AttemptLimits(settings),
            broker=open_broker(settings.redis_url),
        )
        try:
            async with runtime.unit_of_work() as uow:
                yield OperatorService(runtime, uow, operator_meta())
        finally:
            await runtime.kv.close()
            await runtime.broker.close()
    finally:
        await engine.dispose()


@contextmanager
def refusals_as_errors(by: str | None = None) -> Iterator[None]:
    """A rule a service enforces ends the command with one line, naming the option it concerns (for a refused role,
    the member acted for: the service's "your role" is theirs)."""
    try:
        yield
    except PrismError as error:
        option = f"--by {by}" if by and isinstance(error, ForbiddenError) else OPTIONS.get(error.field or "")
        raise click.ClickException(f"{option}: {error.message}" if option else error.message) from None


def read_password(settings: Settings, from_stdin: bool) -> str:
    """The new account's password: standard input's first line, PRISM_USER_PASSWORD, or a hidden prompt."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if settings.user_password is not None:
        return settings.user_password.get_secret_value()
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@click.group()
def users() -> None:
    """Accounts: create one for a person, with an organization they own if you like."""


@users.command("create")
@click.option("--email", required=True, help="The person's email address; they sign in with it.")
@click.option("--name", required=True, help="Their name, as others see it.")
@click.option(
    "--organization", "organization_name", default=None, help="Also create an organization of this name, owned by them."
)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
def create_user(email: str, name: str, organization_name: str | None, password_stdin: bool) -> None:
    """Create an account, as signing up does (same rules; a verification link is mailed), without signing in.

    The password comes from --password-stdin, else PRISM_USER_PASSWORD, else a prompt: never from an argument, which
    `ps` would show to every user of the machine.
    """
    settings = load_settings()

    async def create(url: str, password: str) -> None:
        async with operator_service(settings, url) as operators:
            account = await operators.create_user(
                email=email, name=name, password=password, organization_name=organization_name
            )
        click.echo(f"Created user {account.user.email} (id {account.user.id}); a link to verify the address was sent.")
        if account.organization is not None:
            organization = account.organization
            click.echo(
                f"Created organization {organization.name!r} (slug {organization.slug}, id {organization.id}), "
                f"owned by {account.user.email}."
            )

    with refusals_as_errors(), server_database(settings) as url:
        # Asked once the database is known to answer, so a typed password is not wasted on a configuration mistake.
        asyncio.run(create(url, read_password(settings, password_stdin)))


@click.group()
def members() -> None:
    """Members of an organization."""


ORGANIZATION = click.option("--organization", required=True, help="The organization's slug or id.")
BY = click.option(
    "--by",
    required=True,
    metavar="EMAIL",
    help="An OWNER or ADMIN of the organization in whose name you act: their role's limits apply, the audit log "
    "names them.",
)


@members.command("add")
@ORGANIZATION
@click.option("--email", required=True, help="The account to add (it must exist: see `prism users create`).")
@click.option(
    "--role",
    type=click.Choice([role.value for role in Role], case_sensitive=False),
    default=Role.MEMBER.value,
    show_default=True,
    help="Their role in the organization.",
)
@BY
def add_member(organization: str, email: str, role: str, by: str) -> None:
    """Add an existing account to an organization with a role (only an OWNER may add an OWNER)."""
    settings = load_settings()

    async def add(url: str) -> None:
        async with operator_service(settings, url) as operators:
            user, acting = await operators.add_member(
                organization=organization, by=by, email=email, role=Role(role.upper())
            )
        click.echo(f"Added {user.email} to {acting.organization.name!r} as {role.upper()}, by {acting.user.email}.")

    with refusals_as_errors(by), server_database(settings) as url:
        asyncio.run(add(url))


@click.group("api-keys")
def api_keys() -> None:
    """API keys integrators send as `Authorization: Bearer prism_...`."""


def expiry(expires_at: str | None, expires_in_days: int | None) -> datetime | None:
    """When a new key expires: a date (midnight UTC) or a time with its zone, or a number of days from now."""
    if expires_at is not None and expires_in_days is not None:
        raise click.UsageError("Give --expires-at or --expires-in-days, not both.")
    if expires_in_days is not None:
        return datetime.now(UTC) + timedelta(days=expires_in_days)
    if expires_at is None:
        return None
    try:
        if len(expires_at) == len("2027-01-31"):
            return datetime.combine(date.fromisoformat(expires_at), datetime.min.time(), tzinfo=UTC)
        return datetime.fromisoformat(expires_at)
    except ValueError:
        raise click.BadParameter(
            "write a date (2027-01-31) or a time with its zone (2027-01-31T09:00:00+00:00)", param_hint="--expires-at"
        ) from None


@api_keys.command("create")
@ORGANIZATION
@BY
@click.option("--name", required=True, help="What the key is for, such as CI or Roadmap sync.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help="What the key may do: read, write, admin or ai (repeat for several); capped by the role of --by.",
)
@click.option("--expires-at", default=None, help="Expiry: a date (midnight UTC) or a time with its zone.")
@click.option("--expires-in-days", type=click.IntRange(min=1), default=None, help="Expiry, in days from now.")
def create_api_key(
    organization: str, by: str, name: str, scopes: tuple[str, ...], expires_at: str | None, expires_in_days: int | None
) -> None:
    """Create an API key of an organization and print it, once: PRISM keeps only its hash.

    The key goes to standard output alone (`KEY=$(prism api-keys create ...)`); what it is, to standard error. It
    acts with the role of the member who created it (--by), narrowed by its scopes, and never expires unless told.
    """
    settings = load_settings()
    expires = expiry(expires_at, expires_in_days)

    async def create(url: str) -> None:
        async with operator_service(settings, url) as operators:
            created, acting = await operators.create_api_key(
                organization=organization, by=by, name=name, scopes=list(scopes), expires_at=expires
            )
        row = created.row
        until = f"expires {row.expires_at.isoformat()}" if row.expires_at else "never expires"
        click.echo(created.key)
        click.echo(
            f"Created API key {row.name!r} (prefix {row.prefix}, scopes {', '.join(row.scopes)}, {until}) in "
            f"{acting.organization.name!r}, by {acting.user.email}. It is shown once, above: store it now.",
            err=True,
        )

    with refusals_as_errors(by), server_database(settings) as url:
        asyncio.run(create(url))
