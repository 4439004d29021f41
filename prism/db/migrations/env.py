"""Alembic environment: runs PRISM's migrations over the async engine."""

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import prism.db.access_tables
import prism.db.tables  # noqa: F401  (registers every table on the metadata)
from prism.db.engine import build_engine
from prism.db.migrate import include_object

target_metadata = SQLModel.metadata


MIGRATION_LOCK = 0x707269736D  # "prism": one migrator at a time, whatever process or replica starts it


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection, target_metadata=target_metadata, compare_type=True, include_object=include_object
    )
    with context.begin_transaction():
        # Replicas or workers starting together would otherwise apply the same migration twice.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = build_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


def run() -> None:
    """Entry point alembic calls; the URL comes from the config PRISM builds in `prism.db.migrate`."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "prism.db.migrate sets sqlalchemy.url"
    asyncio.run(_run_async(url))


if context.is_offline_mode():
    raise SystemExit("PRISM runs migrations online only")
run()
