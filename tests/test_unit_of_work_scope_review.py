"""The statement that asks the member's role also opens the unit's transaction and its scope (prism/db/unit_of_work.py,
`member_role`), and `close()` ends both before the connection goes back to the pool: the next unit on that
connection starts unscoped, in no transaction."""

import sqlalchemy as sa
from starlette.applications import Starlette

from prism.db.unit_of_work import UnitOfWork
from tests.helpers import Account, uuid_of

STATE = sa.text("SELECT pg_backend_pid(), (SELECT state FROM pg_stat_activity WHERE pid = :pid)")
SETTINGS = sa.text(
    "SELECT current_setting('prism.org_id', true), current_setting('prism.user_id', true), pg_backend_pid()"
)


async def test_the_role_look_up_opens_the_scope_and_close_ends_it_before_the_pool_reuses_the_connection(
    app: Starlette, account: Account
) -> None:
    engine = app.state.runtime().engine
    organization, user = uuid_of(account.organization_id), uuid_of(account.user_id)
    unit = UnitOfWork(engine, organization, user)
    try:
        assert await unit.member_role() == "OWNER"
        org_setting, user_setting, pid = tuple((await unit.all(SETTINGS))[0])
        assert (org_setting, user_setting) == (str(organization), str(user))
    finally:
        await unit.close()
    # The connection, back in the pool: outside a transaction (so the transaction-local scope is gone) whoever holds
    # it next. Other work of the shared test app may have taken it meanwhile, so look at it from wherever we are.
    async with engine.connect() as conn:
        mine, state = (await conn.execute(STATE, {"pid": pid})).one()
        if mine == pid:
            found = (await conn.execute(SETTINGS)).one()
            assert not found[0]
            assert not found[1]
        else:
            assert state in ("idle", "active"), state  # not "idle in transaction": close() ended it
