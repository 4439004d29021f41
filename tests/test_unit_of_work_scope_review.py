"""The statement that asks the member's role also opens the unit's transaction and its scope (prism/db/unit_of_work.py,
`member_role`), and `close()` ends both before the connection goes back to the pool: the next unit on that
connection starts unscoped, in no transaction."""

import sqlalchemy as sa
from starlette.applications import Starlette

from prism.db.unit_of_work import UnitOfWork
from tests.helpers import Account, uuid_of

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
    # The same pooled connection (a pool hands back the last one returned), now unscoped and outside a transaction.
    for _ in range(4):
        async with engine.connect() as conn:
            found = (await conn.execute(SETTINGS)).one()
            assert not found[0]
            assert not found[1]
            if found[2] == pid:
                break
    else:
        raise AssertionError("the pool never handed the unit's connection back")
