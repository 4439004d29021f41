"""The `prism` command: serve, run jobs, manage the database, seed demo data and export the schema."""

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from prism.config import ConfigurationError, Settings, load_settings
from prism.operator_commands import api_keys, members, users

if TYPE_CHECKING:
    from procrastinate import App

    from prism.db.migrate import MigrationStatus

__all__ = ["main", "server_options"]


UNSHARED_STATE = (
    "Several workers without REDIS_URL each keep their own session revocations, log-in throttling and rate limits: "
    "a token logged out on one worker still works on another, and every limit counts per worker."
)


@contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """The owner's URL for administrative commands: DATABASE_ADMIN_URL, else DATABASE_URL (either checked first, so a
    mistake in it is one sentence), else the embedded server's (started for the command, stopped after)."""
    from prism.preflight import check_database

    setting = "DATABASE_ADMIN_URL" if settings.database_admin_url else "DATABASE_URL"
    configured = settings.database_admin_url or settings.database_url
    if configured:
        asyncio.run(check_database(configured, setting))
        yield configured
        return
    from prism.db.embedded import start_embedded_postgres

    embedded = start_embedded_postgres(settings.home_path)
    try:
        yield embedded.url
    finally:
        embedded.stop()


class PrismCommands(click.Group):
    """The `prism` group: a configuration mistake found by any command ends it with one `Error:` line, no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigurationError as error:
            raise click.ClickException(str(error)) from None


@click.group(cls=PrismCommands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="prism", prog_name="prism", message="%(prog)s %(version)s")
def main() -> None:
    """PRISM: a product-management platform served as a GraphQL API.

    Configuration comes from the environment (DATABASE_URL, PRISM_*); see README.md.
    """


@main.command()
@click.option("--host", default=None, help="Interface to bind (default: PRISM_HOST or 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port to listen on (default: PRISM_PORT or 8000).")
@click.option("--reload", is_flag=True, help="Restart when code changes (development only).")
@click.option(
    "--workers", default=1, show_default=True, help="Worker processes (needs DATABASE_URL and REDIS_URL when > 1)."
)
@click.option(
    "--accept-per-worker-state",
    is_flag=True,
    help=(
        "Run several workers without REDIS_URL anyway: each worker then keeps its own session revocations, log-in "
        "throttling and rate limits."
    ),
)
def serve(host: str | None, port: int | None, reload: bool, workers: int, accept_per_worker_state: bool) -> None:
    """Run the HTTP server: GraphQL and GraphiQL at /graphql, /healthz, /readyz, /metrics."""
    import uvicorn

    from prism.preflight import check_port
    from prism.production import production_refusals

    settings = load_settings()
    refusals = production_refusals(settings)
    if refusals:
        raise click.ClickException(" ".join(refusals))
    if workers > 1 and not settings.database_url:
        raise click.UsageError("Several workers need a shared DATABASE_URL; the embedded database serves one.")
    if workers > 1 and not settings.redis_url:
        if not accept_per_worker_state:
            raise click.UsageError(
                f"{UNSHARED_STATE} Set REDIS_URL, or pass --accept-per-worker-state to run like this anyway."
            )
        click.echo(f"Warning: {UNSHARED_STATE} (--accept-per-worker-state)", err=True)
    host, port = host or settings.host, port or settings.port
    # Before uvicorn: its lifespan migrates the database before it binds the port.
    check_port(host, port)
    asyncio.run(check_backing_services(settings))
    uvicorn.run(
        "prism.main:app",
        host=host,
        port=port,
        reload=reload,
        workers=workers,
        **server_options(settings),
    )


async def check_backing_services(settings: Settings) -> None:
    """What the server connects to answers: DATABASE_URL, DATABASE_ADMIN_URL when it migrates, REDIS_URL when set.
    (The embedded PostgreSQL, used without DATABASE_URL, is started by the server itself.)"""
    from prism.preflight import check_database, check_redis

    if settings.database_url:
        await check_database(settings.database_url, "DATABASE_URL")
        if settings.database_admin_url and settings.auto_migrate:
            await check_database(settings.database_admin_url, "DATABASE_ADMIN_URL")
    if settings.redis_url:
        await check_redis(settings.redis_url)


def server_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn options `prism serve` always uses.

    No `Server: uvicorn` header, and no proxy headers at uvicorn's level: by default uvicorn believes
    X-Forwarded-For from any proxy on 127.0.0.1, whereas the app believes it only from PRISM_TRUSTED_PROXIES.
    """
    return {
        "log_config": None,
        "access_log": False,
        "server_header": False,
        "proxy_headers": False,
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
        # A WebSocket message (a subscribe with its document) is bounded like an HTTP body.
        "ws_max_size": settings.max_body_bytes,
        # No per-message compression (as the reference graphql-ws server): GraphQL results are small, and a zlib
        # context on each connection cost about 40 KiB of an idle subscription's 100 (bench/fanout.py).
        "ws_per_message_deflate": False,
        # uvicorn's websockets-sansio protocol keeping less per connection (prism/web/ws_protocol.py).
        "ws": "prism.web.ws_protocol:WebSocketProtocol",
        # uvicorn's httptools protocol writing each response's head with its body (prism/web/http_protocol.py).
        "http": "prism.web.http_protocol:HttpProtocol",
    }


def _job_database(settings: Settings, command: str) -> str:
    """The database a separate job process works on: DATABASE_URL; the embedded one belongs to the server."""
    if not settings.database_url:
        raise click.UsageError(
            f"`prism {command}` needs DATABASE_URL: the embedded PostgreSQL belongs to `prism serve`, which runs jobs "
            "itself (PRISM_EMBEDDED_WORKER)."
        )
    return settings.database_url


async def _require_job_queue(app: "App") -> None:
    """The database has the job queue's tables (migration 0017), or a ConfigurationError saying what to run."""
    if not await app.check_connection_async():
        raise ConfigurationError(
            "The database at DATABASE_URL has no job queue yet (migration 0017): run `prism db upgrade` first."
        )


@main.command()
@click.option(
    "--concurrency", type=click.IntRange(1, 100), default=None, help="Jobs at once (PRISM_WORKER_CONCURRENCY)."
)
def worker(concurrency: int | None) -> None:
    """Run background jobs (the event relay, retention, sprint snapshots, reports) until SIGTERM or Ctrl-C.

    Needs DATABASE_URL and REDIS_URL (the relay publishes to the broker the servers listen to). On SIGTERM it takes no
    new job and lets running ones finish for PRISM_SHUTDOWN_GRACE_SECONDS. A worker that stops by itself (a lost
    database connection) is started again.
    """
    import signal

    from prism.ai.gateway import build_gateway
    from prism.db.engine import build_engine
    from prism.events.broker import open_broker
    from prism.events.publisher import EventPublisher
    from prism.jobs import JobResources, build_job_app, keep_running, run_worker
    from prism.observability.logging import configure_logging
    from prism.preflight import check_database, check_redis
    from prism.storage import open_storage

    settings = load_settings()
    if concurrency is not None:
        settings = settings.model_copy(update={"worker_concurrency": concurrency})
    url = _job_database(settings, "worker")
    if not settings.redis_url:
        raise click.UsageError(
            "`prism worker` needs REDIS_URL: it relays events to subscribers through the broker the servers listen "
            "to. Without Redis, run jobs inside the server (PRISM_EMBEDDED_WORKER=true)."
        )
    asyncio.run(check_database(url, "DATABASE_URL"))
    asyncio.run(check_redis(settings.redis_url))
    configure_logging(
        settings.log_level, settings.log_format or ("json" if settings.environment == "production" else "console")
    )

    async def run() -> None:
        engine = build_engine(
            url,
            pool_size=settings.worker_concurrency + 1,
            max_overflow=2,
            statement_timeout=settings.job_statement_timeout_seconds,
        )
        broker = open_broker(settings.redis_url)
        app = build_job_app(settings, url, pool_size=settings.worker_concurrency + 2)
        gateway = build_gateway(settings)
        storage = open_storage(settings)
        try:
            await storage.start()
            async with app.open_async():
                await _require_job_queue(app)
                resources = JobResources(
                    settings=settings, engine=engine, publisher=EventPublisher(broker), ai=gateway, storage=storage
                )
                # Started again if it stops by itself (prism/jobs/worker.py keep_running); SIGTERM or Ctrl-C cancels
                # it, which lets running jobs finish for PRISM_SHUTDOWN_GRACE_SECONDS.
                task = asyncio.ensure_future(
                    keep_running(lambda: run_worker(app, resources, install_signal_handlers=False))
                )
                loop = asyncio.get_running_loop()
                for received in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(received, task.cancel)
                try:
                    await task
                except asyncio.CancelledError:
                    click.echo("worker stopped", err=True)
        finally:
            await gateway.close()
            await broker.close()
            await engine.dispose()

    asyncio.run(run())


@main.command()
def scheduler() -> None:
    """Defer the periodic jobs as they fall due, and run none (workers do that too; see docs/operations.md).

    Needs DATABASE_URL. Stops on SIGTERM or Ctrl-C.
    """
    import signal

    from prism.jobs import build_job_app, run_scheduler
    from prism.observability.logging import configure_logging
    from prism.preflight import check_database

    settings = load_settings()
    url = _job_database(settings, "scheduler")
    asyncio.run(check_database(url, "DATABASE_URL"))
    configure_logging(
        settings.log_level, settings.log_format or ("json" if settings.environment == "production" else "console")
    )

    async def run() -> None:
        app = build_job_app(settings, url, pool_size=2)
        async with app.open_async():
            await _require_job_queue(app)
            task = asyncio.ensure_future(run_scheduler(app))
            loop = asyncio.get_running_loop()
            for received in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(received, task.cancel)
            try:
                await task
            except asyncio.CancelledError:
                click.echo("scheduler stopped", err=True)

    asyncio.run(run())


@main.group()
def db() -> None:
    """Apply, revert and inspect database migrations."""


@db.command()
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from prism.db import migrate

    with database_url(load_settings()) as url:
        migrate.upgrade(url, revision)
        click.echo(f"database at {migrate.current_revision(url)}")


@db.command()
@click.argument("revision", default="-1")
def downgrade(revision: str) -> None:
    """Revert migrations down to REVISION (default: one step back; 'base' reverts all)."""
    from prism.db import migrate

    with database_url(load_settings()) as url:
        migrate.downgrade(url, revision)
        click.echo(f"database at {migrate.current_revision(url) or 'base'}")


@db.command("ensure-app-role")
@click.argument("name", default="prism_api")
def ensure_app_role(name: str) -> None:
    """Create the login role the server connects as (in the database's group role, bound by row-level security).

    Its password is read from PRISM_APP_ROLE_PASSWORD, never from the command line. Run it after `prism db upgrade`
    (which creates the group, prism_app_<database>) as the tables' owner; running it again only updates the password
    and moves a role made before migration 0007 from the shared prism_app to the database's own group.
    """
    from prism.db.roles import ensure_login_role

    settings = load_settings()
    password = settings.app_role_password.get_secret_value() if settings.app_role_password else None
    with database_url(settings) as url:
        group = asyncio.run(ensure_login_role(url, name, password))
    click.echo(f"role {name} is a member of {group}" + ("" if password else " (no password set)"))


@db.command()
@click.option("--check", is_flag=True, help="Exit with status 1 unless the database is at head.")
def current(check: bool) -> None:
    """Print the revision the database is at, and the migrations it still needs."""
    from prism.db import migrate

    with database_url(load_settings()) as url:
        state = migrate.status(url)
    click.echo(describe_migrations(state))
    if check and not state.at_head:
        sys.exit(1)


def describe_migrations(state: "MigrationStatus") -> str:
    """What `prism db current` says: the revision, and what is pending or why the revision is unknown."""
    at = state.current or "base (no migration applied)"
    if not state.known:
        return (
            f"database at {at}, a revision this PRISM does not know (head is {state.head}): a newer PRISM migrated "
            f"it; run that version, or its `prism db downgrade {state.head}`"
        )
    if state.at_head:
        return f"database at {at} (head): up to date"
    count = len(state.pending)
    lines = [f"database at {at}, {count} migration{'s' if count > 1 else ''} behind head {state.head}:"]
    lines += [f"  {migration.revision}  {migration.title}" for migration in state.pending]
    lines.append(f"run `prism db upgrade` to apply {'them' if count > 1 else 'it'}")
    return "\n".join(lines)


@main.command()
@click.option("--demo", is_flag=True, required=True, help="Create the demo organization.")
@click.option("--force", is_flag=True, help="Seed even when PRISM_ENVIRONMENT is production.")
def seed(demo: bool, force: bool) -> None:
    """Create a realistic demo organization (log in as demo@prism.dev with the published demo password
    prism-demo-password). Refused in production unless --force."""
    from prism.db import migrate
    from prism.seed import DEMO_EMAIL, DEMO_PASSWORD, seed_demo

    settings = load_settings()
    if settings.environment == "production":
        if not force:
            raise click.ClickException(
                "PRISM_ENVIRONMENT is production and the demo accounts share a published password "
                f"({DEMO_PASSWORD}): anyone could sign in as their owner; pass --force to seed them anyway."
            )
        click.echo(
            "Warning: seeding the demo organization in production (--force): anyone who has read PRISM's README can "
            f"sign in as {DEMO_EMAIL} with {DEMO_PASSWORD}.",
            err=True,
        )
    with database_url(settings) as url:
        migrate.upgrade(url)
        summary = asyncio.run(seed_demo(url))
        click.echo(summary)


@main.group()
def ai() -> None:
    """AI: the vector index retrieval searches."""


@ai.command("reindex")
@click.option("--organization", "organization", default=None, help="Only this organization's id; every one if unset.")
def ai_reindex(organization: str | None) -> None:
    """Embed every requirement and document again and replace the organization's vectors (after changing the
    embedder)."""
    from uuid import UUID

    from prism.ai.gateway import build_gateway
    from prism.ai.retrieval import Reindexed, organization_ids, reindex_organization
    from prism.db.engine import build_engine

    settings = load_settings()

    async def run(url: str) -> list[tuple[UUID, Reindexed]]:
        engine = build_engine(url, pool_size=2, max_overflow=0)
        gateway = build_gateway(settings)
        try:
            targets = [UUID(organization)] if organization else await organization_ids(engine)
            return [(target, await reindex_organization(gateway.index, engine, target)) for target in targets]
        finally:
            await gateway.close()
            await engine.dispose()

    with database_url(settings) as url:
        done = asyncio.run(run(url))
    for target, count in done:
        click.echo(f"organization {target}: {count.requirements} requirements indexed, {count.documents} documents")


main.add_command(users)
main.add_command(members)
main.add_command(api_keys)


@main.group()
def mail() -> None:
    """The development mailbox: mail PRISM would have sent without SMTP."""


@mail.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 200), help="How many messages.")
def mail_list(limit: int) -> None:
    """Print the newest messages of the development mailbox (PRISM_HOME/mail), newest first."""
    from datetime import UTC, datetime

    from prism.auth.mailbox import read_mailbox
    from prism.auth.smtp import mailbox_path

    messages = read_mailbox(mailbox_path(Settings()), limit)
    if not messages:
        click.echo("No mail in the development mailbox.")
    for message in messages:
        click.echo(f"--- {datetime.fromtimestamp(message.sent_at, UTC):%Y-%m-%d %H:%M:%S} UTC to {message.to}")
        click.echo(f"Subject: {message.subject}\n\n{message.body.rstrip()}\n")


@main.group()
def schema() -> None:
    """The GraphQL schema."""


@schema.command("export")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File to write (default: standard output).",
)
def export(output: Path | None) -> None:
    """Print the schema in SDL, as committed in schema.graphql."""
    from resolvers.schema import build_schema, schema_sdl

    sdl = schema_sdl(build_schema())
    if output is None:
        sys.stdout.write(sdl)
    else:
        output.write_text(sdl)
        click.echo(f"wrote {output}", err=True)
