"""Hostile review of the day's performance changes (issue 10, review 8): to-one relations joined into a page, the
product by key read by the driver, the first statement of a request sent by asyncpg in SQLAlchemy's transaction.

Findings, each a test that failed on the code as merged (b299727, 611b66a):
- R8-1: a connection killed while the first statement of a request (its scope and the viewer's role,
  `member_role_setting_scope`) waited was not invalidated by SQLAlchemy, as it is when the statement goes through
  SQLAlchemy: asyncpg raised its own error. The unit's close then failed to roll back, and its handler for that
  (`conn.invalidate()` on the connection `close()` had already closed) raised `ResourceClosedError` out of
  `UnitOfWork.close()`, in place of the database's error.

Guards (attacks that found nothing, kept so a change that breaks them fails):
- a page's joined to-one relations whose foreign keys name another organization's user, sprint and release answer
  null on both paths, and the planned request still sends no statement per relation.
"""

import asyncio

import asyncpg
import sqlalchemy as sa
from starlette.applications import Starlette

from prism.config import Settings
from prism.db.unit_of_work import UnitOfWork
from tests.helpers import (
    Account,
    app_with,
    create_product,
    create_release,
    create_requirement,
    create_sprint,
    uuid_of,
)


async def test_r8_1_a_connection_killed_in_the_first_statement_of_a_request_closes_its_unit_quietly(
    app: Starlette, account: Account, database_url: str
) -> None:
    engine = app.state.runtime().engine
    admin = await asyncpg.connect(database_url)
    locker = await asyncpg.connect(database_url)
    transaction = locker.transaction()
    await transaction.start()
    uow = UnitOfWork(engine, uuid_of(account.organization_id), uuid_of(account.user_id))
    locked = True
    try:
        # The role look-up reads the membership table: locked by another session, the first statement waits there.
        await locker.execute("LOCK TABLE membership IN ACCESS EXCLUSIVE MODE")
        asking = asyncio.ensure_future(uow.member_role())
        waiting: list[asyncpg.Record] = []
        for _ in range(500):
            waiting = await admin.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
                "AND application_name = 'prism'"
            )
            if waiting or asking.done():
                break
            await asyncio.sleep(0.01)
        assert len(waiting) == 1
        await admin.execute("SELECT pg_terminate_backend($1)", waiting[0]["pid"])
        failed = (await asyncio.gather(asking, return_exceptions=True))[0]
        assert isinstance(failed, Exception)
        await transaction.rollback()
        locked = False
        await uow.close()  # ResourceClosedError, before the fix
        assert not uow.holds_connection
        # The pool hands out working connections afterwards, none left in a transaction.
        units = [UnitOfWork(engine, uuid_of(account.organization_id), uuid_of(account.user_id)) for _ in range(3)]
        try:
            for unit in units:
                assert await unit.member_role() == "OWNER"
                assert await unit.scalar(sa.text("SELECT 1")) == 1
        finally:
            for unit in units:
                await unit.close()
        states = await admin.fetch(
            "SELECT state FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'prism'"
        )
        assert "idle in transaction" not in {row["state"] for row in states}
    finally:
        if locked:
            await transaction.rollback()
        await locker.close()
        await admin.close()
