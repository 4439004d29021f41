"""The database engine, per-request read connections and per-mutation transactions."""

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

__all__ = [
    "StatementCounter",
    "TenantReader",
    "async_url",
    "build_engine",
    "count_statements",
    "set_tenant",
    "statement_counter",
    "transaction",
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
    pool_size: int = 10,
    max_overflow: int = 10,
    pool_timeout: float = 30.0,
    reset_on_return: bool = False,
) -> AsyncEngine:
    """An engine over asyncpg whose statements are counted per request.

    `reset_on_return=True` restores SQLAlchemy's default rollback-on-release (for `PRISM_PERF_BASELINE` only).
    """
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
        connect_args={"server_settings": {"application_name": "prism"}},
        # Statement parameters are user input: never in the text of an error (prism/db/errors.py).
        hide_parameters=True,
    )
    event.listen(engine.sync_engine, "before_cursor_execute", _count_statement)
    return engine


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


async def set_tenant(conn: AsyncConnection, organization_id: UUID | None, user_id: UUID | None = None) -> None:
    """Scope the current transaction to one organization and user; row-level security policies read both.

    `set_config(..., true)` is SET LOCAL: the values end with the transaction, so a pooled connection never carries
    them over to the next request.
    """
    await conn.execute(
        sa.text("SELECT set_config('prism.org_id', :org, true), set_config('prism.user_id', :user, true)"),
        {"org": str(organization_id or ""), "user": str(user_id or "")},
    )


@asynccontextmanager
async def transaction(
    engine: AsyncEngine, organization_id: UUID | None, user_id: UUID | None = None
) -> AsyncIterator[AsyncSession]:
    """One unit of work: a session in a transaction scoped to an organization (and user), committed on success."""
    async with engine.connect() as conn, conn.begin():
        await set_tenant(conn, organization_id, user_id)
        session = AsyncSession(bind=conn, expire_on_commit=False, autoflush=True)
        try:
            yield session
            await session.flush()
        finally:
            await session.close()


class TenantReader:
    """A request's read connection: opened on first use, scoped to the organization, used by one loader at a time.

    Strawberry resolves sibling fields concurrently and an asyncpg connection runs one statement at a time, so the
    loaders of a request take turns on this connection instead of each borrowing one from the pool.

    A statement runs to its end even when the field that asked for it is cancelled: graphql-core cancels the
    siblings of a field whose error nulls their parent, and an asyncpg connection interrupted mid-statement can
    neither run the next statement nor roll back (the request answered HTTP 500 and its connection was lost).
    """

    def __init__(self, engine: AsyncEngine, organization_id: UUID | None, user_id: UUID | None = None) -> None:
        self._engine = engine
        self._organization_id = organization_id
        self._user_id = user_id
        self._conn: AsyncConnection | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    async def all(self, statement: sa.Executable) -> Sequence[sa.Row[Any]]:
        """Run a select and return every row."""
        rows: Sequence[sa.Row[Any]] = await self._uninterrupted(statement, lambda result: result.all())
        return rows

    async def scalar(self, statement: sa.Executable) -> Any:
        """Run a select and return the first column of the first row."""
        return await self._uninterrupted(statement, lambda result: result.scalar())

    async def _uninterrupted(self, statement: sa.Executable, read: Callable[[sa.CursorResult[Any]], Any]) -> Any:
        # The statement runs in a task of its own that holds the lock until it ends; cancelling the caller stops
        # only the wait for it.
        task = asyncio.ensure_future(self._run(statement, read))
        task.add_done_callback(_retrieve)
        return await asyncio.shield(task)

    async def _run(self, statement: sa.Executable, read: Callable[[sa.CursorResult[Any]], Any]) -> Any:
        async with self._lock:
            if self._closed:
                # A loader batch scheduled by a field that was then cancelled may start after the request ended:
                # it must not open a connection nobody will close.
                raise ReaderClosedError("The request's read connection is closed.")
            conn = await self._connection()
            return read(await conn.execute(statement))

    async def _connection(self) -> AsyncConnection:
        if self._conn is None:
            conn = await self._engine.connect()
            await conn.begin()
            await set_tenant(conn, self._organization_id, self._user_id)
            self._conn = conn
        return self._conn

    async def close(self) -> None:
        """End the read transaction and give the connection back to the pool, once no statement runs on it."""
        async with self._lock:
            self._closed = True
            if self._conn is not None:
                conn, self._conn = self._conn, None
                try:
                    await conn.rollback()
                finally:
                    await conn.close()


class ReaderClosedError(RuntimeError):
    """A statement asked for after its request's read connection was closed."""


def _retrieve(task: "asyncio.Future[Any]") -> None:
    # The result of a statement whose caller was cancelled is nobody's; reading its exception keeps asyncio from
    # reporting it as never retrieved.
    if not task.cancelled():
        task.exception()
