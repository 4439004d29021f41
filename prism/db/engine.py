"""The database engine, statement counting and the tenant setting of a transaction (see unit_of_work.py)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

__all__ = [
    "StatementCounter",
    "async_url",
    "build_engine",
    "count_statements",
    "counted",
    "set_tenant",
    "statement_counter",
    "statements_observed",
    "transaction_driver",
]


@dataclass
class StatementCounter:
    """Counts SQL statements sent while it is the current counter (one per request, or one per test)."""

    count: int = 0
    statements: list[str] = field(default_factory=list)


statement_counter: ContextVar[StatementCounter | None] = ContextVar("statement_counter", default=None)


def async_url(url: str) -> str:
    """Normalise a PostgreSQL URL to the asyncpg driver SQLAlchemy expects."""
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must be a postgresql:// URL")


def build_engine(
    url: str,
    *,
    pool_size: int = 20,
    max_overflow: int = 0,
    pool_timeout: float = 30.0,
    statement_timeout: float | None = None,
    idle_in_transaction_timeout: float | None = None,
    reset_on_return: bool = False,
) -> AsyncEngine:
    """An engine over asyncpg whose statements are counted per request.

    `reset_on_return=True` restores SQLAlchemy's default rollback-on-release (for `PRISM_PERF_BASELINE` only).

    The pool keeps every connection it opens: SQLAlchemy closes an overflow connection when it comes back, so a
    server under steady load with `max_overflow` above 0 opens and closes PostgreSQL sessions all the time (issue 10
    measured 80-200 per 10 s at concurrency 50). Size `pool_size` for the concurrency instead, with no overflow; a
    request that finds every connection busy waits up to `pool_timeout`, then is answered 503 (the overload error).
    """
    server_settings = {"application_name": "prism"}
    if statement_timeout is not None:
        server_settings["statement_timeout"] = str(int(statement_timeout * 1000))
    if idle_in_transaction_timeout is not None:
        server_settings["idle_in_transaction_session_timeout"] = str(int(idle_in_transaction_timeout * 1000))
    engine = create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_pre_ping=False,
        # Connections come back after their COMMIT or ROLLBACK, so the pool has nothing to reset. (SQLAlchemy's
        # asyncpg adapter skips the reset's ROLLBACK when no transaction is open, and it never runs asyncpg's own
        # pool reset, RESET ALL; UNLISTEN *; ...: docs/performance.md shows the statements each setting sends.)
        pool_reset_on_return="rollback" if reset_on_return else None,
        connect_args={"server_settings": server_settings},
        # Statement parameters are user input: never in the text of an error (prism/db/errors.py).
        hide_parameters=True,
    )
    event.listen(engine.sync_engine, "before_cursor_execute", _count_statement)
    return engine


def statements_observed(engine: AsyncEngine) -> bool:
    """Whether anything besides PRISM's own statement counter (the one listener `build_engine` registers) watches
    the engine's statements: tracing's SQLAlchemy instrumentation, a test capturing SQL. Reads that asyncpg could
    run itself (`UnitOfWork.driver_rows`) then go through SQLAlchemy, so every statement still has its span."""
    dispatch = engine.sync_engine.dispatch
    return len(dispatch.before_cursor_execute) > 1 or len(dispatch.after_cursor_execute) > 0


async def transaction_driver(conn: AsyncConnection) -> Any | None:
    """The asyncpg connection under `conn`, in the transaction `conn` has begun (begun now if none is open), for a
    statement sent by the driver itself, without SQLAlchemy's execution machinery (an execution context, a cursor,
    a result: about twice the client's CPU of the round trip for a one-row statement); None when the statement must
    go through SQLAlchemy: something besides PRISM's counter watches the engine's statements (tracing, a test), or
    there is no usable driver connection. The caller counts what it sends (`counted`)."""
    if statements_observed(conn.engine):
        return None
    if not conn.in_transaction():
        await conn.begin()
    sync = conn.sync_connection
    # The pooled connection the AsyncConnection holds (SQLAlchemy's own call for it costs a greenlet switch).
    pooled = sync.connection if sync is not None and not sync.closed and not sync.invalidated else None
    raw = pooled or await conn.get_raw_connection()
    adapter = raw.dbapi_connection
    driver = raw.driver_connection
    if driver is None or driver.is_closed():
        # A pooled connection the server has closed (a restart, a terminated backend, an idle session timeout):
        # SQLAlchemy's path finds it lost and invalidates it. asyncpg's own error here would leave it in the pool,
        # where it failed every request that got it (review 8).
        return None
    if getattr(adapter, "_transaction", False) is None:
        # SQLAlchemy's asyncpg adapter sends BEGIN with the transaction's first statement; this statement is the
        # driver's, so the adapter sends it now (what its own first statement would do). A private method of
        # SQLAlchemy 2.1's adapter: without it, the statement goes through SQLAlchemy as before
        # (tests/test_driver_rows.py notices).
        start = getattr(adapter, "_start_transaction", None)
        if start is None:
            return None
        try:
            await start()
        except Exception:
            if driver.is_closed():
                await conn.invalidate()  # lost on the way: as SQLAlchemy does when its own BEGIN finds it so
            raise
    if not driver.is_in_transaction():
        return None
    return driver


def counted(sql: str) -> str:
    """`sql`, counted as a statement of the current request (as SQLAlchemy's statements are, by the listener)."""
    counter = statement_counter.get()
    if counter is not None:
        counter.count += 1
        counter.statements.append(sql)
    return sql


def _count_statement(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
    counter = statement_counter.get()
    if counter is not None:
        counter.count += 1
        counter.statements.append(statement)


@asynccontextmanager
async def count_statements() -> AsyncIterator[StatementCounter]:
    """Count the SQL statements sent inside the block."""
    counter = StatementCounter()
    token = statement_counter.set(counter)
    try:
        yield counter
    finally:
        statement_counter.reset(token)


_SET_TENANT = (  # unscoped: sets the scope row-level security reads, reads no table
    "SELECT set_config('prism.org_id', $1, true), set_config('prism.user_id', $2, true)"
)


async def set_tenant(conn: AsyncConnection, organization_id: UUID | None, user_id: UUID | None = None) -> None:
    """Scope the current transaction to one organization and user; row-level security policies read both.

    `set_config(..., true)` is SET LOCAL: the values end with the transaction, so a pooled connection never carries
    them over to the next request. Sent as driver SQL (asyncpg's `$n` parameters), through SQLAlchemy's connection
    (so its transaction has begun and the statement is counted), without SQLAlchemy compiling a text clause: about
    a third of the statement's cost in the client (docs/performance.md, "The fixed cost of a request").
    """
    scope = (str(organization_id or ""), str(user_id or ""))
    await conn.exec_driver_sql(_SET_TENANT, scope)  # unscoped: sets the scope, reads no table
