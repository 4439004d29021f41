"""The benchmark's PostgreSQL: which server, a fresh database on it, what PostgreSQL counted, and cleaning up."""

import asyncio
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from sqlalchemy.engine import make_url

from prism.db.roles import drop_database, ensure_login_role, url_for_role

__all__ = [
    "BenchDatabase",
    "DatabaseCounters",
    "PostgresServer",
    "create_database",
    "open_server",
]


IDLE_WAIT_SECONDS = 10.0
APP_ROLE = "prism_bench"
"""The login role the benchmark's servers connect as: created once per PostgreSQL server, and a member of the group
role of the benchmark's current database (each dropped with its database)."""


def _plain(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@dataclass
class PostgresServer:
    """A PostgreSQL server the benchmark may create a database on, and how to stop it if the benchmark started it."""

    admin_url: str
    description: str
    stop: Callable[[], None] | None = None


def open_server(embedded_home: Path) -> PostgresServer:
    """BENCH_DATABASE_URL, else DATABASE_URL, else an embedded PostgreSQL kept under `embedded_home`."""
    for variable in ("BENCH_DATABASE_URL", "DATABASE_URL"):
        url = os.environ.get(variable)
        if url:
            shown = make_url(_plain(url)).render_as_string(hide_password=True)
            return PostgresServer(admin_url=_plain(url), description=f"{variable} ({shown})")
    from prism.db.embedded import start_embedded_postgres

    embedded = start_embedded_postgres(embedded_home)
    return PostgresServer(
        admin_url=_plain(embedded.url, "postgres"),
        description=f"embedded PostgreSQL ({embedded_home / 'pgdata'})",
        stop=embedded.stop,
    )


@dataclass(frozen=True)
class DatabaseCounters:
    """PostgreSQL's cumulative counters for one database (pg_stat_database, and pg_stat_statements when loaded)."""

    transactions: int
    sessions: int | None
    active_time_ms: float | None
    rows_fetched: int
    statements: dict[str, int] | None
    """Calls per normalised statement text (pg_stat_statements), when the server preloads it."""

    def minus(self, earlier: "DatabaseCounters") -> "DatabaseCounters":
        """What happened between `earlier` and this reading."""

        def delta(now: Any, then: Any) -> Any:
            return None if now is None or then is None else now - then

        return DatabaseCounters(
            transactions=self.transactions - earlier.transactions,
            sessions=delta(self.sessions, earlier.sessions),
            active_time_ms=delta(self.active_time_ms, earlier.active_time_ms),
            rows_fetched=self.rows_fetched - earlier.rows_fetched,
            statements=None
            if self.statements is None or earlier.statements is None
            else {
                query: calls - earlier.statements.get(query, 0)
                for query, calls in self.statements.items()
                if calls != earlier.statements.get(query, 0)
            },
        )

    @property
    def statement_count(self) -> int | None:
        """Statements PostgreSQL ran, BEGIN and ROLLBACK included, when pg_stat_statements is loaded."""
        return None if self.statements is None else sum(self.statements.values())


@dataclass
class BenchDatabase:
    """A database of the benchmark's own (bench_<random>) on `server`, dropped at the end."""

    server: PostgresServer
    name: str
    statement_stats: bool = False
    app_url: str | None = None
    """Where the server connects: as APP_ROLE (bound by row-level security) once `use_app_role` ran."""

    @property
    def url(self) -> str:
        """The database as the administrator that created it (migrations, seeding, statistics)."""
        return _plain(self.server.admin_url, self.name)

    @property
    def server_url(self) -> str:
        """The database as PRISM's server sees it."""
        return self.app_url or self.url

    async def use_app_role(self) -> str:
        """Let the server connect as APP_ROLE, as production does; the role PRISM's server will connect as.

        When that role cannot log in (a server that wants passwords), the server connects as the administrator and
        row-level security does not apply; the report says so.
        """
        await ensure_login_role(self.url, APP_ROLE)
        candidate = url_for_role(self.url, APP_ROLE)
        try:
            conn = await asyncpg.connect(_plain(candidate))
        except (OSError, asyncpg.PostgresError):
            self.app_url = self.url
            return str(make_url(self.url).username)
        await conn.close()
        self.app_url = candidate
        return APP_ROLE

    async def _admin(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.server.admin_url)

    async def drop(self) -> None:
        """Drop the database, disconnecting whatever is still connected to it, and its group role."""
        await drop_database(self.server.admin_url, self.name)

    async def server_version(self) -> str:
        conn = await self._admin()
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    async def vacuum_analyze(self) -> None:
        """Fresh planner statistics and visibility maps, so autovacuum stays out of the measurements."""
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()

    async def enable_statement_stats(self) -> bool:
        """Install pg_stat_statements in the database when the server preloads it; whether it is now usable."""
        conn = await asyncpg.connect(self.url)
        try:
            preload = str(await conn.fetchval("SHOW shared_preload_libraries"))
            if "pg_stat_statements" not in preload:
                return False
            try:
                await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            except asyncpg.PostgresError:
                return False
            self.statement_stats = True
            return True
        finally:
            await conn.close()

    async def counters(self) -> DatabaseCounters:
        """The database's counters now (read from the admin database, so the reading itself is not counted)."""
        conn = await self._admin()
        try:
            raw = await conn.fetchval("SELECT to_jsonb(d)::text FROM pg_stat_database d WHERE datname = $1", self.name)
        finally:
            await conn.close()
        stats = orjson.loads(raw)
        statements = await self._statement_calls() if self.statement_stats else None
        return DatabaseCounters(
            transactions=int(stats["xact_commit"]) + int(stats["xact_rollback"]),
            sessions=stats.get("sessions"),
            active_time_ms=stats.get("active_time"),
            rows_fetched=int(stats["tup_fetched"]),
            statements=statements,
        )

    async def _statement_calls(self) -> dict[str, int]:
        # This reading runs in the bench database: it leaves itself out, but it is one session and one transaction
        # there, which the caller accounts for.
        conn = await asyncpg.connect(self.url)
        try:
            rows = await conn.fetch(
                "SELECT query, sum(calls)::bigint AS calls FROM pg_stat_statements "
                "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND query NOT LIKE '%pg_stat_statements%' GROUP BY query"
            )
            return {str(row["query"]): int(row["calls"]) for row in rows}
        finally:
            await conn.close()

    async def wait_until_idle(self) -> bool:
        """Wait (up to IDLE_WAIT_SECONDS) until no connection to the database is left.

        A backend reports its statistics when it exits, so PostgreSQL's counters are complete only after that.
        """
        deadline = time.monotonic() + IDLE_WAIT_SECONDS
        conn = await self._admin()
        try:
            while time.monotonic() < deadline:
                left = await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", self.name)
                if left == 0:
                    # A backend leaves pg_stat_activity a moment before it reports its last counters.
                    await asyncio.sleep(0.3)
                    return True
                await asyncio.sleep(0.05)
            return False
        finally:
            await conn.close()


async def create_database(server: PostgresServer) -> BenchDatabase:
    """Create a fresh, empty bench_<random> database on the server."""
    name = f"bench_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(server.admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return BenchDatabase(server=server, name=name)
