"""Writes a `DataBuilder`'s rows in one transaction, in the scopes row-level security asks for."""

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from prism.db.adoption_tables import UsageEvent
from prism.db.tables import Organization, User
from prism.db.unit_of_work import UnitOfWork
from prism.db.usage_days import number_users, rebuild_usage_days
from prism.seed.builder import WRITE_ORDER, DataBuilder

__all__ = ["write_rows"]

BATCH = 2_000
"""Rows per INSERT statement: asyncpg takes at most 32,767 parameters in one."""


def _table(model: Any) -> sa.Table:
    return model.__table__  # type: ignore[no-any-return]


async def write_rows(engine: AsyncEngine, builder: DataBuilder) -> None:
    """Insert every row built, in one transaction: each new person in their own scope, the rest in the organization's.

    A person who already exists (same id) is kept as they are: several organizations may share people.
    """
    organization_id = builder.organization_id
    async with UnitOfWork(engine, organization_id) as uow:
        async with uow.session(organization_id) as session:
            organizations = [row.model_dump() for row in builder.all(Organization)]
            if organizations:
                await (await session.connection()).execute(sa.insert(_table(Organization)), organizations)
        for user in builder.all(User):
            async with uow.session(organization_id, user.id) as own:
                if await own.get(User, user.id) is None:
                    await (await own.connection()).execute(sa.insert(_table(User)), [user.model_dump()])
        async with uow.session(organization_id) as session:
            conn = await session.connection()
            for model in WRITE_ORDER:
                if model in (Organization, User):
                    continue
                rows = [row.model_dump() for row in builder.all(model)]
                if model is UsageEvent and rows:
                    # Recording numbers each event's user before inserting it: the daily rollup holds numbers.
                    numbers = await number_users(conn, organization_id, {row["user_key"] for row in rows})
                    rows = [{**row, "user_number": numbers[row["user_key"]]} for row in rows]
                for start in range(0, len(rows), BATCH):
                    await conn.execute(sa.insert(_table(model)), rows[start : start + BATCH])
            if builder.all(UsageEvent):
                # The daily rollup recording usage keeps, computed from the events as migration 0026 does.
                await conn.execute(rebuild_usage_days(organization_id))
