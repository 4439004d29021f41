"""The unit of work: one request's (or job's) database work on at most one pooled connection.

Why it exists (docs/architecture.md, "One unit of work per request"):
- A request that holds one connection and asks the pool for a second deadlocks the pool under concurrency, so a
  request's reads and writes share one connection, checked out lazily on the first statement.
- Strawberry resolves sibling fields concurrently and an asyncpg connection runs one statement at a time, so
  statements take turns under a lock. A read runs in a task of its own, shielded from cancellation: when
  graphql-core cancels the siblings of a failing field, a statement already sent finishes and the connection stays
  usable instead of being torn mid-protocol.
- Services never commit: they take a session from `session()` and flush. The boundary that owns the use case (a
  mutation field, a job, a CLI command, an SSO callback) commits or rolls back, so a use case spanning several
  services is one transaction. Work to do only once the change is durable (mail, events) is registered with
  `after_commit` and dropped on rollback.
- Every change to an entity becomes an event in the same transaction (prism/db/outbox.py): the session's flushes are
  recorded, and `commit()` writes the recorded changes to the event log just before COMMIT, then hands the numbered
  events to `publish` (the broker) once they are durable, and marks them published.
- `close()` waits for a statement in flight, rolls back whatever is open and gives the connection back; a
  connection goes back to the pool only outside a transaction (one that cannot be rolled back is discarded), and a
  closed unit of work refuses further statements rather than opening a connection nobody will close.
- `without_connection()` holds no connection for a while (a call to a model, which may take seconds): the read
  transaction open so far ends and the connection goes back to the pool; a statement during the block checks one
  out for its own short transaction and gives it back. A unit with uncommitted writes refuses it.
- `end_failed_read()` ends a read transaction a failed statement aborted (the planned executor's, before the
  resolvers answer the request in a new one, in the same scope); a unit with uncommitted writes keeps it.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from prism.db.engine import set_tenant
from prism.db.lookups import member_role_setting_scope
from prism.db.outbox import RECORDER, Actor, ChangeRecorder, mark_published, write_events
from prism.db.tenancy import UNIT_ORGANIZATION
from prism.domain.events import DomainEvent

__all__ = ["AfterCommit", "UnitOfWork", "UnitOfWorkClosedError"]

logger = logging.getLogger("prism.db")

T = TypeVar("T")
Scope = tuple[UUID | None, UUID | None]
AfterCommit = Callable[[], Awaitable[None]]
Publish = Callable[[Sequence[DomainEvent]], Awaitable[None]]
"""Hands committed events to the broker; raises when it could not (the relay publishes them later)."""


class UnitOfWorkClosedError(RuntimeError):
    """A statement arrived after its request ended (a sibling of a failed field, still running)."""


class UnitOfWork:
    """One request's database work: a lazily opened connection, one transaction at a time, a scope to set.

    `organization_id` and `user_id` are the scope reads run in (row-level security reads them from the
    transaction's settings); `session(organization_id, user_id)` may name another scope for a block of writes
    (signing in happens before an organization is known).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        organization_id: UUID | None = None,
        user_id: UUID | None = None,
        *,
        actor: Actor | None = None,
        publish: Publish | None = None,
    ) -> None:
        self._engine = engine
        self.organization_id = organization_id
        self.user_id = user_id
        self.actor = actor or Actor(user_id=user_id)
        self._publish = publish
        self._changes = ChangeRecorder()
        self._conn: AsyncConnection | None = None
        self._applied: Scope | None = None
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._session: AsyncSession | None = None
        self._after_commit: list[AfterCommit] = []
        self._closed = False
        self._wrote = False
        self._detached = 0

    @property
    def scope(self) -> Scope:
        return (self.organization_id, self.user_id)

    # Reads ----------------------------------------------------------------------------------------------------

    async def all(self, statement: sa.Executable, parameters: dict[str, Any] | None = None) -> Sequence[sa.Row[Any]]:
        """Run a select in the unit's scope (with the values of its bound `parameters`) and return every row."""

        async def run(conn: AsyncConnection) -> Sequence[sa.Row[Any]]:
            return (await conn.execute(statement, self._bound(parameters))).all()

        return await self._read(run)

    async def scalar(self, statement: sa.Executable) -> Any:
        """Run a select in the unit's scope and return the first column of the first row."""

        async def run(conn: AsyncConnection) -> Any:
            return (await conn.execute(statement, self._bound(None))).scalar()

        return await self._read(run)

    def _bound(self, parameters: dict[str, Any] | None) -> dict[str, Any]:
        """`parameters` and the value of `prism.db.tenancy.unit_organization()`: the organization of the scope the
        statement runs in (the one row-level security reads), none when no organization is applied (no row then)."""
        applied = self._applied
        organization = applied[0] if applied is not None else None
        return {**parameters, UNIT_ORGANIZATION: organization} if parameters else {UNIT_ORGANIZATION: organization}

    async def _read(self, run: Callable[[AsyncConnection], Coroutine[Any, Any, T]]) -> T:
        if self._owner is not None and self._owner is asyncio.current_task():
            # A service reading inside its own session block: it holds the connection, in the block's scope.
            assert self._conn is not None
            return await run(self._conn)

        async def locked() -> T:
            async with self._exclusive():
                try:
                    return await run(await self._connection(self.scope))
                finally:
                    await self._give_back_if_detached()

        task = asyncio.ensure_future(locked())
        task.add_done_callback(_retrieve)
        return await asyncio.shield(task)

    async def member_role(self) -> str | None:
        """The role of the unit's user in its organization (None: not a member), asked by the statement that opens
        the unit's scope: authentication of a request costs no connection and no round trip of its own.

        The unit keeps its connection and open transaction, as after any read; whoever asked closes the unit (also
        when the answer refuses the caller). The look-up reads no tenant row.
        """
        organization_id, user_id = self.scope
        if organization_id is None or user_id is None:
            raise ValueError("member_role() needs a unit scoped to an organization and a user")

        async def locked() -> str | None:
            async with self._exclusive():
                conn = await self._connection(None, begin=False)  # the look-up below begins the transaction
                role = await member_role_setting_scope(conn, organization_id, user_id)
                self._applied = (organization_id, user_id)
                return role

        task = asyncio.ensure_future(locked())
        task.add_done_callback(_retrieve)
        return await asyncio.shield(task)

    # Writes ---------------------------------------------------------------------------------------------------

    @asynccontextmanager
    async def session(
        self, organization_id: UUID | None = None, user_id: UUID | None = None
    ) -> AsyncIterator[AsyncSession]:
        """A session for one step of a use case, in the given scope; flushed at the end of the block, never committed.

        Blocks nest (a service calling another shares its session); the outer block's scope is restored after an
        inner block that named another.
        """
        scope = (organization_id, user_id)
        async with self._exclusive():
            outer = self._session
            outer_scope = self._applied if outer is not None else None
            if outer is not None and outer_scope != scope:
                # What the outer block has pending was written in its scope: flush it before the scope changes.
                await outer.flush()
            conn = await self._connection(scope)
            self._wrote = True
            if outer is None:
                self._session = AsyncSession(bind=conn, expire_on_commit=False, autoflush=True)
                self._session.sync_session.info[RECORDER] = self._changes
            session = self._session
            assert session is not None
            restore = outer_scope if outer is not None and outer_scope is not None and outer_scope != scope else None
            try:
                yield session
                await session.flush()
            except BaseException:
                if restore is not None:
                    # The outer block may catch the error and go on: it must not go on in this block's scope.
                    await self._restore_scope(conn, restore)
                raise
            else:
                if restore is not None:
                    await set_tenant(conn, *restore)
                    self._applied = restore
            finally:
                if outer is None:
                    self._session = None
                    await session.close()

    async def _restore_scope(self, conn: AsyncConnection, scope: Scope) -> None:
        try:
            await set_tenant(conn, *scope)
            self._applied = scope
        except DBAPIError:
            # The transaction is aborted: nothing runs in it until the boundary rolls it back, which resets the
            # scope. Marked unknown, so the next statement through this unit sets it again.
            self._applied = None

    def after_commit(self, action: AfterCommit) -> None:
        """Run `action` once the unit commits (mail, events); it is dropped if the unit rolls back."""
        self._after_commit.append(action)

    async def keep_despite_refusal(self) -> None:
        """Commit what the use case wrote so far, because it answers with a refusal that must not undo it.

        The one exception to "services never commit", for security records the answer depends on: the session
        revoked when a used refresh token comes back, the MFA challenge a log-in hands out with a user error.
        """
        await self.commit()

    @asynccontextmanager
    async def without_connection(self) -> AsyncIterator[None]:
        """Hold no connection during the block (a model call): the read transaction open so far ends and the
        connection goes back to the pool; statements in the block each take one for a short transaction of their own.

        One request then never pins a pooled connection while it waits for something slow outside the database.
        Refused (RuntimeError) with uncommitted writes: ending their transaction would lose them.
        """
        async with self._exclusive():
            if self._wrote:
                raise RuntimeError("without_connection() with uncommitted writes: commit or roll back first")
            self._detached += 1
            try:
                await self._give_back_if_detached()
            except BaseException:
                self._detached -= 1
                raise
        try:
            yield
        finally:
            self._detached -= 1

    @property
    def holds_connection(self) -> bool:
        """Whether a pooled connection is checked out for this unit right now."""
        return self._conn is not None

    # Boundaries -----------------------------------------------------------------------------------------------

    async def commit(self) -> None:
        """End the open transaction, keeping its changes, then run what waited for the commit."""
        if self._session is not None and self._owner is asyncio.current_task():
            # The rest of the block would run in a new transaction without its scope.
            raise RuntimeError("commit() inside a session() block: end the block first")
        events: list[DomainEvent] = []
        async with self._exclusive():
            if self._conn is not None and self._conn.in_transaction():
                if self._changes:
                    events = await write_events(self._conn, self._changes, self.actor, scoped_to=self._applied)
                await self._conn.commit()
            self._changes.clear()
            self._applied = None
            self._wrote = False
            await self._give_back_if_detached()
        if events:
            await self._publish_events(events)
        actions, self._after_commit = self._after_commit, []
        for action in actions:
            try:
                await action()
            except Exception:
                # The change is durable; what followed it failed and is logged (the outbox will retry events).
                logger.exception("an action after commit failed")

    async def _publish_events(self, events: list[DomainEvent]) -> None:
        """Hand committed events to the broker and mark them published; on failure the relay publishes them later."""
        if self._publish is None:
            return
        try:
            await self._publish(events)
            by_organization: dict[UUID, list[int]] = {}
            for event in events:
                by_organization.setdefault(event.organization_id, []).append(event.sequence)
            async with self._exclusive():
                for organization_id, sequences in by_organization.items():
                    # One short transaction, opened directly in the events' organization.
                    conn = await self._connection((organization_id, self.user_id))
                    await mark_published(conn, organization_id, sequences)
                assert self._conn is not None
                await self._conn.commit()
                self._applied = None
                await self._give_back_if_detached()
        except Exception:
            # Durable in the log, not yet (known to be) on the broker: the relay takes it from here.
            logger.warning("events committed but not published; the relay will publish them", exc_info=True)
            async with self._exclusive():
                await self._end_transaction()

    async def rollback(self) -> None:
        """End the open transaction, dropping its changes and what waited for its commit."""
        self._after_commit = []
        self._changes.clear()
        async with self._exclusive():
            await self._end_transaction()

    async def end_failed_read(self) -> bool:
        """End the open transaction after a read failed in the database (a statement timeout, a lost connection), so
        the next statement starts a new one in the unit's scope, on a sound connection (one that cannot roll back is
        discarded). Only a unit that wrote nothing: False, and nothing done, with uncommitted writes."""
        async with self._exclusive():
            if self._wrote or self._session is not None or self._closed:
                return False
            await self._end_transaction()
            return True

    async def close(self) -> None:
        """Roll back what is open and give the connection back; later statements are refused."""
        self._after_commit = []
        self._changes.clear()
        async with self._exclusive():
            self._closed = True
            conn = self._conn
            if conn is None:
                return
            self._conn = None
            self._applied = None
            self._wrote = False
            try:
                # One call: SQLAlchemy rolls back the open transaction, then returns the connection to the pool.
                await conn.close()
            except Exception:
                # A connection that cannot end its transaction must never serve another request.
                logger.warning("discarding a connection that could not roll back", exc_info=True)
                await conn.invalidate()
                await conn.close()

    async def __aenter__(self) -> "UnitOfWork":
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        """As a context manager the unit is its own boundary: commit on success, roll back on error, then close."""
        try:
            if exc_type is None:
                await self.commit()
        finally:
            await self.close()

    # Internals ------------------------------------------------------------------------------------------------

    @asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        """The connection, for one task at a time; the task holding it may enter again (nested service calls)."""
        task = asyncio.current_task()
        if self._owner is not None and self._owner is task:
            yield
            return
        async with self._lock:
            self._owner = task
            try:
                yield
            finally:
                self._owner = None

    async def _connection(self, scope: Scope | None, *, begin: bool = True) -> AsyncConnection:
        """The unit's connection in an open transaction, scoped to `scope` (None: the caller scopes it itself).

        `begin=False`: the caller's next statement begins the transaction (SQLAlchemy's autobegin: the same `BEGIN`,
        one call into SQLAlchemy fewer); only for a caller that runs a statement on the connection at once.
        """
        if self._closed:
            raise UnitOfWorkClosedError("This request has ended; its database work is over.")
        if self._conn is None:
            self._conn = await self._engine.connect()
        if not self._conn.in_transaction():
            if begin:
                await self._conn.begin()
            # Settings made with set_config(..., true) end with their transaction: a new one is unscoped.
            self._applied = (None, None)
        if scope is not None and self._applied != scope:
            await set_tenant(self._conn, *scope)
            self._applied = scope
        return self._conn

    async def _give_back_if_detached(self) -> None:
        """Inside `without_connection()`, end the (read) transaction and return the connection to the pool."""
        if not self._detached or self._wrote or self._session is not None or self._conn is None:
            return
        await self._end_transaction()
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def _end_transaction(self) -> None:
        conn = self._conn
        self._applied = None
        self._wrote = False
        if conn is None or not conn.in_transaction():
            return
        try:
            await conn.rollback()
        except Exception:
            # A connection that cannot end its transaction must never serve another request.
            logger.warning("discarding a connection that could not roll back", exc_info=True)
            await conn.invalidate()
            self._conn = None
            await conn.close()

    # Reads straight from the driver (the planned executor) ----------------------------------------------------

    @property
    def server_major_version(self) -> int | None:
        """The PostgreSQL server's major version (16), as the engine learned it when it first connected (None before
        that)."""
        version = self._engine.dialect.server_version_info
        return int(version[0]) if version else None

    async def driver_rows(self, statement: sa.Select[Any], parameters: dict[str, Any] | None = None) -> list[Any]:
        """`all(statement, parameters)`, read by asyncpg itself: `DriverRow`s (by position, by column name and, slower,
        by attribute), without SQLAlchemy's result and row objects. Same connection, transaction and scope as
        `all`, counted as it counts. A `kept` statement only (compiled once for the driver); one asyncpg cannot run
        as is, or whose values SQLAlchemy would convert, runs through SQLAlchemy and comes back as `MappedRow`s.
        """
        # Imported here: this method is the planned executor's alone, and keeps its change to this file in one place.
        from prism.db.engine import counted, transaction_driver
        from prism.db.statements import DriverRow, driver_form, mapped

        form = driver_form(statement, self._engine.dialect)

        async def run(conn: AsyncConnection) -> list[Any]:
            driver = await transaction_driver(conn) if form is not None and form.exact else None
            if driver is None or form is None:
                result = await conn.execute(statement, self._bound(parameters))
                if form is not None and form.exact is None:
                    form.learn(result)
                return mapped(result.all())
            arguments = form.arguments(self._bound(parameters))
            return await driver.fetch(counted(form.sql), *arguments, record_class=DriverRow)  # type: ignore[no-any-return]

        return await self._read(run)


def _retrieve(task: "asyncio.Future[Any]") -> None:
    """Mark a shielded read's outcome as seen: its awaiter may have been cancelled and gone."""
    if not task.cancelled():
        task.exception()
